"""Command-palette provider: the verbs of the current screen ("Switch active mailbox: Work" ...).

A screen offers its verbs by having a `palette_commands()` method, so this module needs no
screen imports and any screen can join in. Titles may hold account names, so they are shown
through `safe_text`, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

from tui.core.text import clean
from tui.widgets.safe_text import highlight_match


@dataclass(frozen=True)
class PaletteCommand:
    """One verb: its title (may contain untrusted names), what it runs, and a static help line."""

    title: str
    run: Callable[[], object]
    help: str
    """Shown as markup by the palette: keep it to fixed text."""


@runtime_checkable
class OffersCommands(Protocol):
    def palette_commands(self) -> Sequence[PaletteCommand]: ...


class MailboxCommands(Provider):
    """Offers whatever the screen the palette was opened on says it can do (`OffersCommands`)."""

    def _commands(self) -> Sequence[PaletteCommand]:
        screen = self.screen
        return screen.palette_commands() if isinstance(screen, OffersCommands) else []

    async def discover(self) -> Hits:
        for command in self._commands():
            title = clean(command.title)
            yield DiscoveryHit(Content(title), command.run, text=title, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            title = clean(command.title)
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score,
                    highlight_match(matcher, title),
                    command.run,
                    text=title,
                    help=command.help,
                )
