"""The Import screen: the fetchmail, getmail, mpop and Thunderbird setups found in the usual
places, a dry-run preview of the one highlighted (what would be created, what cannot be mapped,
which file held a clear-text password), and an Import button that creates exactly that.

Reading and importing run in a thread worker; the core (`tui.core.imports`) does both and words
the outcome, so the screen shows the same lines `poptui import` prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from tui.core.errors import PoptuiError
from tui.core.imports import ImportPlan, Peer, apply_plan, found_setups, outcome_lines, plan_import
from tui.core.imports.apply import outline
from tui.core.imports.files import shown
from tui.core.storage.models import database_proxy
from tui.core.text import one_line
from tui.screens.escape_keys import back_key
from tui.services import Services
from tui.widgets.safe_text import safe_content
from tui.widgets.status_line import StatusLine

WORKER_GROUP = "import"
NOTHING_FOUND = (
    "No fetchmail, getmail, mpop or Thunderbird setup was found in the usual places "
    "(~/.fetchmailrc, ~/.getmail/, ~/.config/getmail/, ~/.mpoprc, ~/.config/mpop/config, "
    "~/.thunderbird/*/prefs.js). For a setup elsewhere run: poptui import PROGRAM PATH"
)


@dataclass
class Previewed(Message):
    """A setup was read and its dry run worded (or it could not be read: `error`)."""

    plan: ImportPlan | None
    lines: list[str]
    error: PoptuiError | None = None


@dataclass
class Imported(Message):
    """The import ran (or failed and changed nothing: `error`)."""

    lines: list[str]
    created: int
    error: PoptuiError | None = None


class ImportScreen(Screen[int]):
    """Lists the setups found; previews the highlighted one; imports it. Dismisses with the
    number of mailboxes created."""

    SUB_TITLE = "Import"

    BINDINGS = [
        back_key("import-close", "Back to the mailboxes", action="close", keys="escape"),
        Binding(
            "ctrl+s",
            "run_import",
            "Import",
            id="import-run",
            tooltip="Create the mailboxes the preview shows",
        ),
    ]

    DEFAULT_CSS = """
    ImportScreen {
        #import-body {
            height: 1fr;
            padding: 0 1;
        }
        #import-intro {
            height: auto;
            color: $text-muted;
        }
        #import-sources {
            height: auto;
            max-height: 8;
            border: round $panel;
        }
        #import-preview-scroll {
            height: 1fr;
            border: round $panel;
            padding: 0 1;
        }
        #import-buttons {
            height: auto;
            Button {
                margin-right: 2;
            }
        }
    }
    """

    def __init__(self, services: Services) -> None:
        super().__init__()
        self._services = services
        self._plan: ImportPlan | None = None
        self._created = 0

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="import-body"):
            yield Static(
                "Take over another program's setup and the mail it already fetched. "
                "Nothing changes until you press Import.",
                id="import-intro",
            )
            yield OptionList(id="import-sources")
            with VerticalScroll(id="import-preview-scroll"):
                yield Static(id="import-preview")
            with Horizontal(id="import-buttons"):
                yield Button("Import", id="import-button", variant="primary", disabled=True)
                yield Button("Close", id="import-close-button")
            yield StatusLine(id="import-status")
        yield Footer()

    def on_mount(self) -> None:
        sources = self.query_one("#import-sources", OptionList)
        setups = found_setups()
        for peer, path in setups:
            label = safe_content(f"{peer.value:<12} {shown(path)}")
            sources.add_option(Option(label, id=f"{peer.value}|{path}"))
        if not setups:
            sources.display = False
            self._show(NOTHING_FOUND)
        else:
            sources.highlighted = 0
            sources.focus()

    @property
    def status(self) -> StatusLine:
        return self.query_one("#import-status", StatusLine)

    def _show(self, text: str) -> None:
        self.query_one("#import-preview", Static).update(safe_content(text, multiline=True))

    @on(OptionList.OptionHighlighted, "#import-sources")
    def _source_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        peer, _, path = (event.option.id or "").partition("|")
        self._plan = None
        self.query_one("#import-button", Button).disabled = True
        self.status.busy("Reading the setup (dry run)…")
        self._preview(Peer(peer), Path(path))

    @work(thread=True, exclusive=True, exit_on_error=False, group=WORKER_GROUP)
    def _preview(self, peer: Peer, path: Path) -> None:
        try:
            plan = plan_import(peer, path)
            with database_proxy.connection_context():
                lines = outcome_lines(outline(plan, self._services.accounts))
        except PoptuiError as error:
            self.post_message(Previewed(None, [], error))
        else:
            self.post_message(Previewed(plan, lines))

    @on(Previewed)
    def _previewed(self, message: Previewed) -> None:
        if message.error is not None:
            self._show(message.error.in_words())
            self.status.error("This setup cannot be imported; nothing was changed.")
            return
        self._plan = message.plan
        self._show("\n".join(message.lines))
        can_import = bool(message.plan and message.plan.importable)
        self.query_one("#import-button", Button).disabled = not can_import
        self.status.ok("Dry run: nothing changed yet." if can_import else "Nothing to import here.")

    @on(Button.Pressed, "#import-button")
    def _import_pressed(self) -> None:
        self.action_run_import()

    @on(Button.Pressed, "#import-close-button")
    def _close_pressed(self) -> None:
        self.action_close()

    def action_run_import(self) -> None:
        if self._plan is None or not self._plan.importable:
            return
        self.query_one("#import-button", Button).disabled = True
        self.status.busy("Importing…")
        self._import(self._plan)

    @work(thread=True, exclusive=True, exit_on_error=False, group=WORKER_GROUP)
    def _import(self, plan: ImportPlan) -> None:
        services = self._services
        try:
            with database_proxy.connection_context():
                outcome = apply_plan(plan, services.accounts, lambda: services.secrets)
        except PoptuiError as error:
            self.post_message(Imported([], 0, error))
        except Exception as error:  # a database failure: worded, the transaction rolled back
            worded = PoptuiError(f"Import failed: {one_line(str(error), 200)}")
            self.post_message(Imported([], 0, worded))
        else:
            self.post_message(Imported(outcome_lines(outcome), len(outcome.created)))

    @on(Imported)
    def _imported(self, message: Imported) -> None:
        if message.error is not None:
            self._show(message.error.in_words())
            self.status.error("Import failed; nothing was changed.")
            self.query_one("#import-button", Button).disabled = False
            return
        self._plan = None
        self._created += message.created
        self._show("\n".join(message.lines))
        self.status.ok(f"Imported: {message.created} new mailboxes.")

    def action_close(self) -> None:
        self.dismiss(self._created)
