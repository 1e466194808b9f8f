"""Delivery failures, worded for a person: which target, and what the system said."""

from __future__ import annotations

from tui.core.errors import PoptuiError


class DeliveryError(PoptuiError):
    """A message could not be handed to one target; the mail stays on the server."""

    temporary: bool = True
    """Worth trying again on the next fetch (every failure is retried; this only words it)."""


class TargetInvalid(PoptuiError):
    """A delivery target as written (`maildir:PATH`, …) that cannot be one."""

    hint = "Write maildir:PATH, mbox:PATH, mda:'COMMAND ARGS' or lmtp:[RCPT@]SOCKET-or-HOST:PORT"
