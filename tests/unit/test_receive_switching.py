"""The receive loop's two threads hand the GIL to each other within 1 ms (issue #11)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tui.core.sync import receive


@pytest.fixture
def interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("interval")
def test_the_default_interval_is_lowered() -> None:
    sys.setswitchinterval(0.005)
    receive._hand_over_sooner()
    assert sys.getswitchinterval() == pytest.approx(receive.SWITCH_INTERVAL)


@pytest.mark.usefixtures("interval")
def test_a_lower_interval_set_by_someone_else_is_kept() -> None:
    sys.setswitchinterval(0.0002)
    receive._hand_over_sooner()
    assert sys.getswitchinterval() == pytest.approx(0.0002)
