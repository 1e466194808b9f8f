"""Textual's footer, rebuilt only when the keys it shows change.

Textual's `Footer` rebuilds all its key widgets after every bindings update of its screen
(focus moved, the stack changed, a widget refreshed its bindings), one rebuild per update even
when several are queued and nothing it shows changed. Opening the add form queued six of them,
about 60 ms on the 2-core machine, and each key typed meanwhile waited for them. This footer
rebuilds once per burst of updates, and only when what it would show differs.

Its keys are also born in the footer's style: Textual's each start compact, then follow the
footer, restyling themselves twice as they mount; on the mailbox list that was a quarter of the
time from start to the first frame.

At start-up the keys are built just after the app's first frame, as Textual's footer builds
them (it waits for a refresh): the mailboxes show first, the keys a frame later.
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer as TextualFooter
from textual.widgets._footer import FooterKey


class Footer(TextualFooter):
    """A `textual.widgets.Footer` that skips rebuilds which would draw the same keys."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._shown: Hashable = None
        """What the last compose showed; None before the bindings were ready."""
        self._rebuild_queued = False

    def _what_is_shown(self) -> Hashable:
        """Everything `Footer.compose` reads: the shown bindings, their state and display."""
        app = self.app
        keys = tuple(
            (
                binding.key,
                app.get_key_display(binding),
                binding.description,
                binding.action,
                binding.group,
                enabled,
                tooltip,
            )
            for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
            if binding.show
        )
        palette = self.show_command_palette and app.ENABLE_COMMAND_PALETTE
        return (keys, palette, self.combine_groups)

    def compose(self) -> ComposeResult:
        self._shown = self._what_is_shown() if self._bindings_ready else None
        compact = self.compact
        for widget in super().compose():
            if isinstance(widget, FooterKey) and "compact" in (widget._reactive_connect or {}):
                # What `data_bind(compact=Footer.compact)` and its watcher would do once
                # mounted, set before: no watcher runs, so no restyle. (The palette's key is
                # not bound: it stays compact, as Textual makes it.)
                widget.set_reactive(FooterKey.compact, compact)
                widget.set_class(compact, "-compact", update=False)
            yield widget

    def bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or self._rebuild_queued:
            return
        if self.is_attached and screen is self.screen:
            self._rebuild_queued = True
            if not screen.app._dom_ready:  # Textual sets it once the first frame is drawn
                # After the app's first frame, as Textual's own footer does (`build_now`
                # may come sooner).
                self.call_after_refresh(self._rebuild_if_changed)
            else:
                # Through the footer's own queue, not after the screen's next refresh: a
                # screen under a dialog is not refreshed, and its footer would stay empty.
                self.call_later(self._rebuild_if_changed)

    def build_now(self) -> None:
        """Build the keys at once if a build waits for the first frame to be drawn (the app
        calls this when it is: Textual's "after the next refresh" could come 100-200 ms later
        on a busy machine)."""
        if self._rebuild_queued:
            self.call_later(self._rebuild_if_changed)

    async def _rebuild_if_changed(self) -> None:
        self._rebuild_queued = False
        if self.is_attached and self._what_is_shown() != self._shown:
            await self.recompose()
