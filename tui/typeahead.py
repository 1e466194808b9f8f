"""Type-ahead: every key reaches the widget that has focus once the keys before it are handled.

Textual hands each key from the terminal to the widget focused *at that moment* and goes on to
the next key at once; a binding (such as `a` opening the add form) runs only after its key has
bubbled up to the app, and the screen it pushes gets focus only after it is mounted. So "aWork"
typed in one go lost "Work": those keys went to the mailbox table (where `o` even opened the
messages), and keys arriving while the form was mounting went to a screen with nothing focused.

`TypeAheadApp` takes keys (and pastes) one at a time: the next one is handed over only when
the previous one has been handled all the way up to the app (a marker follows it along the same
path), and when the current screen (perhaps a new one) has finished mounting and focusing (a
second marker goes through that screen's queue, behind its mount and auto-focus). Nothing is
dropped or reordered; a key's handling is never delayed by more than those two queue trips.

While keys wait behind the one being handled, the screen is not redrawn (an app batch): keys
typed in one burst (a word, a paste of keystrokes) are drawn in one frame once the last is
handled, as a plain Textual app draws them. Handed over one by one, each key had its own
layout and frame, a few milliseconds each on a full form. A hold lasts FRAME_HOLD_LIMIT at
most, so keys arriving faster than they are handled still show progress.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TypeVar

from textual import events, on
from textual.app import App
from textual.message import Message
from textual.message_pump import MessagePump
from textual.screen import Screen

ReturnType = TypeVar("ReturnType")

FRAME_HOLD_LIMIT = 0.1
"""Seconds at most that frames are held while keys wait: keys coming faster than they are
handled (a held-down arrow on a busy machine) are drawn as before, a frame between keys,
until the waiting keys are all handled."""

HANDOVER_TIMEOUT = 5.0
"""Seconds after which the next key goes out even if no marker came back: the last resort, so
the keyboard never stalls. (A marker lost because its widget was removed with its screen is
covered sooner: a screen change starts the wait for the new screen.) Under a heavy load the
handling of one key can take seconds, so this is far above what a key normally takes."""


@dataclass
class KeyHandled(Message):
    """Follows a key along the path it took; back at the app, that key has been handled."""

    serial: int


@dataclass
class ScreenSettled(Message):
    """Sent through a screen's queue; back at the app, that screen has mounted and focused."""

    serial: int
    screen: Screen[object]


class TypeAheadApp(App[ReturnType]):
    """An app whose keys are handed to widgets in order, each after the previous one is done."""

    def __init__(self) -> None:
        super().__init__()
        self._typed: deque[events.Key | events.Paste] = deque()
        self._serial = 0
        self._handing_over = False
        self._deadline = 0.0
        self.last_key_at = 0.0
        """`time.monotonic()` when the last key (or paste) arrived: idle work waits for a pause."""
        self._holding_frames = False
        """Frames are held (an app batch) while typed keys wait: released when none waits."""
        self._held_since = 0.0
        self._hold_frames = True
        """False after a hold reached FRAME_HOLD_LIMIT, until no key waits."""

    def _on_mount(self, event: events.Mount) -> None:
        self.set_interval(HANDOVER_TIMEOUT / 4, self._check_stalled)
        self.screen_change_signal.subscribe(self, self._screen_changed, immediate=True)

    def _screen_changed(self, screen: Screen[object]) -> None:
        """A key opened or closed a screen: wait for the new one (the key's marker may have
        been queued in a screen that is gone)."""
        if self._handing_over:
            self._settle(self._serial)

    @property
    def keys_waiting(self) -> int:
        """Keys typed but not yet handed to a widget (the benchmarks and tests read this)."""
        return len(self._typed) + int(self._handing_over)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.Paste) and not event.is_forwarded:
            self.last_key_at = time.monotonic()
            self._typed.append(event)
            if not self._handing_over:
                await self._hand_over_next()
            elif not self._holding_frames and self._hold_frames:
                self._holding_frames = True
                self._held_since = time.monotonic()
                self._begin_batch()
            return
        await super().on_event(event)

    async def _hand_over_next(self) -> None:
        """Give the oldest waiting key to the focused widget (or a priority binding)."""
        if not self._typed:
            self._handing_over = False
            self._release_frames()
            self._hold_frames = True
            return
        if self._holding_frames and time.monotonic() - self._held_since > FRAME_HOLD_LIMIT:
            self._release_frames()
            self._hold_frames = False
        self._handing_over = True
        self._serial += 1
        serial = self._serial
        event = self._typed.popleft()
        target: MessagePump = self.focused or self.screen
        self._deadline = time.monotonic() + HANDOVER_TIMEOUT
        await super().on_event(event)
        if not target.post_message(KeyHandled(serial)):
            self._settle(serial)

    @on(KeyHandled)
    def _key_handled(self, handled: KeyHandled) -> None:
        handled.stop()
        if handled.serial == self._serial:
            self._settle(handled.serial)

    def _settle(self, serial: int) -> None:
        """Wait for the current screen to finish what is queued (mounting, focusing)."""
        screen = self.screen
        if not screen.post_message(ScreenSettled(serial, screen)):
            self._release(serial)

    @on(ScreenSettled)
    def _screen_settled(self, settled: ScreenSettled) -> None:
        settled.stop()
        if settled.serial != self._serial:
            return
        if settled.screen is not self.screen:
            self._settle(settled.serial)  # the key opened or closed a screen meanwhile
        else:
            self._release(settled.serial)

    def _release_frames(self) -> None:
        """Draw again: the keys typed in a burst are all handled (or one stalled)."""
        if self._holding_frames:
            self._holding_frames = False
            self._end_batch()
            if self.screen_stack:
                self.screen.check_idle()  # its idle handler draws the frame held back

    def _check_stalled(self) -> None:
        if self._handing_over and time.monotonic() > self._deadline:
            self._release_frames()
            self._release(self._serial)

    def _release(self, serial: int) -> None:
        if serial == self._serial:
            self._serial += 1  # later markers of this key are stale
            self._handing_over = False
            # Through the queue, so focus changes queued by the handling land first.
            self.call_later(self._resume)

    async def _resume(self) -> None:
        if not self._handing_over:
            await self._hand_over_next()
