"""A dialog's frame sits in the middle of the screen, not at its top left."""

from __future__ import annotations

from textual.geometry import Region


def assert_centred(frame: Region, screen_width: int) -> None:
    left, right = frame.x, screen_width - frame.right
    assert left > 0 and abs(left - right) <= 1, (left, right)
