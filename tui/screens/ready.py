"""Screens composed ahead of their key: `a`, `p` and `o` push a screen that is already built.

Pushing a new screen makes Textual compose it, mount every widget (one message queue each) and
style them before the first frame: most of what made the add form and the password editor
open 3-5 times slower than a one-field screen. A screen prepared here in the idle time after
start-up is registered with the app the way `App.push_screen` registers a new screen (so it
composes and mounts, off screen), and pushing it later only lays it out and draws it.

A prepared screen is used once: `take` hands it over (when it still fits what is asked) and
forgets it; the app prepares the next one when the user is back on the mailbox list.

Textual restyles every widget of a screen when it is pushed (the screen under it may have
changed the look); a `PreparedScreen` taken from here skips that once when the app looks as it
did when the screen was prepared: its widgets were styled as they mounted, and restyling them
all again was a quarter of what `p` cost after the key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from textual import events
from textual.app import App
from textual.screen import Screen, ScreenResultType

ADD_FORM = "add-form"
"""The add form (`a`)."""
PASSWORD_EDITOR = "password-editor"
"""The password editor (`p`) of the highlighted mailbox."""
MESSAGES = "messages"
"""The message browser (`o`) of the highlighted mailbox."""

ScreenT = TypeVar("ScreenT", bound=Screen[Any])

_prepared: WeakKeyDictionary[App[Any], dict[str, Screen[Any]]] = WeakKeyDictionary()


def _look(app: App[Any]) -> Hashable:
    """What a screen's styles depend on outside the screen: the theme and the app's classes
    and pseudo-classes (focus, dark or light, ANSI colours)."""
    return (app.theme, app.app_focus, app.ansi_color, frozenset(app.classes))


def composing(app: App[Any]) -> bool:
    """True while a screen prepared for `app` is still composing (attached, not yet mounted)."""
    return any(s.is_attached and not s.is_mounted for s in _prepared.get(app, {}).values())


async def settle(app: App[Any], timeout: float = 2.0) -> None:
    """Wait (at most `timeout` seconds) until every screen prepared for `app` has mounted.

    For the app's shut-down: Textual closes every widget it has registered in no set order,
    and a widget closed while its screen is still composing mounts none of its own children,
    so the mount handlers of that screen's widgets (Textual's `Header` too) miss them."""
    deadline = asyncio.get_running_loop().time() + timeout
    for screen in list(_prepared.get(app, {}).values()):
        while screen.is_attached and not screen.is_mounted:
            if asyncio.get_running_loop().time() > deadline:
                return
            await asyncio.sleep(0.005)


class PreparedScreen(Screen[ScreenResultType]):
    """A screen that may be prepared here: shown from here, it is not restyled again."""

    _styled_look: Hashable = None
    """The app's look when it was prepared; None (shown before): restyle as usual."""

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Runs before `Screen._on_screen_resume` (handlers are called subclass first).
        look, self._styled_look = self._styled_look, None
        if look is not None and look == _look(self.app):
            event.refresh_styles = False


def prepare(app: App[Any], key: str, screen: Screen[Any]) -> None:
    """Compose and mount `screen` now, off screen, as the one prepared under `key`."""
    discard(app, key)
    # What `App.push_screen` does first for a screen it has not seen (`App._get_screen`):
    # register it, which starts its queue (compose, mount), without putting it on the stack.
    app._register(app, screen)
    if isinstance(screen, PreparedScreen):
        screen._styled_look = _look(app)
    _prepared.setdefault(app, {})[key] = screen


def prepared(app: App[Any], key: str) -> Screen[Any] | None:
    """The screen prepared under `key`, if any (it stays prepared)."""
    return _prepared.get(app, {}).get(key)


def take(
    app: App[Any], key: str, kind: type[ScreenT], fits: Callable[[ScreenT], bool] = lambda _: True
) -> ScreenT | None:
    """The screen prepared under `key` if it is a `kind` that `fits`, else None (and a
    prepared one that does not fit is removed)."""
    screen = _prepared.get(app, {}).pop(key, None)
    if screen is None:
        return None
    # Perhaps still composing (a key pressed right after it was prepared): pushing it then
    # waits for that, as for a new screen.
    if isinstance(screen, kind) and screen.is_attached and fits(screen):
        return screen
    _remove(screen)
    return None


def discard(app: App[Any], key: str) -> None:
    """Drop the screen prepared under `key` (it no longer fits)."""
    screen = _prepared.get(app, {}).pop(key, None)
    if screen is not None:
        _remove(screen)


def _remove(screen: Screen[Any]) -> None:
    if not screen.is_attached or screen.is_active:
        return
    if screen.is_mounted:
        screen.remove()
    else:  # still composing: removed once it is mounted (its queue runs that after mounting)
        screen.call_later(screen.remove)
