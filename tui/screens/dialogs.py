"""Small modal dialogs: removing a mailbox, trusting a certificate, showing an error; and the
centred frame every dialog stands in (`CentredDialog`).

Each returns its answer through `dismiss`, so callers use `push_screen(dialog, callback)`.
Safe answers have the initial focus (Cancel, Refuse), so a stray Enter never destroys or trusts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.core.text import clean
from tui.screens.escape_keys import cancel_key, close_key
from tui.widgets.action_button import action_button
from tui.widgets.safe_text import safe_content

if TYPE_CHECKING:
    from tui.core.net import CertificateInfo

DIALOG_BREAKPOINTS = [(0, "-narrow"), (80, "-normal")]
"""Below 80 columns a dialog's buttons do not fit on one line: `-narrow` stacks them
(app.tcss), so none is cut off, the safe Cancel least of all."""

AnswerType = TypeVar("AnswerType")


class CentredDialog(ModalScreen[AnswerType]):
    """A dialog in the middle of the screen, over the one that opened it; its frame is the
    `.dialog` rule of app.tcss. (Not every `ModalScreen`: the command palette keeps its place.)"""

    DEFAULT_CSS = """
    CentredDialog {
        align: center middle;
    }
    """


class DeleteChoice(StrEnum):
    """What happens to the mail already fetched from a mailbox that is removed."""

    KEEP_MAIL = "keep"
    """The account is archived; its messages stay readable."""
    DROP_MAIL = "drop"
    """The account and every message fetched from it are deleted here (never on the server)."""


def _common_name(subject: str) -> str:
    """The CN of an RFC 4514 subject ("O=Example,CN=mail.example.test"), or ""."""
    parts = [part.strip() for part in clean(subject).split(",")]
    return next((part[3:] for part in parts if part.upper().startswith("CN=")), "")


def certificate_names(cert: CertificateInfo) -> list[str]:
    """The names the certificate is for, each once (case does not make a new name): its
    subject alternative names, or its subject's CN when it has none."""
    names = [clean(name) for name in cert.san] or [_common_name(cert.subject)]
    seen: set[str] = set()
    unique = []
    for name in names:
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            unique.append(name)
    return unique


class ConfirmDeleteDialog(CentredDialog[DeleteChoice | None]):
    """Asks before removing a mailbox, and whether its fetched mail goes too."""

    AUTO_FOCUS = "#cancel"
    HORIZONTAL_BREAKPOINTS = DIALOG_BREAKPOINTS

    DEFAULT_CSS = """
    ConfirmDeleteDialog #delete-text {
        margin-top: 1;
    }
    """

    BINDINGS = [
        Binding(
            "k",
            "choose('keep')",
            "Remove, keep mail",
            id="delete-keep-mail",
            tooltip="Remove the mailbox but keep the mail fetched from it",
        ),
        Binding(
            "x",
            "choose('drop')",
            "Remove with mail",
            id="delete-drop-mail",
            tooltip="Remove the mailbox and delete the mail fetched from it (here only)",
        ),
        cancel_key("delete-cancel", "Keep the mailbox", action="dismiss(None)", keys="escape,n"),
    ]

    def __init__(self, name: str, email: str, message_count: int, *, is_active: bool) -> None:
        super().__init__()
        self._mailbox_name = name
        self._email = email
        self._count = message_count
        self._is_active = is_active

    def compose(self) -> ComposeResult:
        name = clean(self._mailbox_name)
        mail = (
            "No mail has been fetched from it yet."
            if self._count == 0
            else f"{self._count:,} fetched message{'s' if self._count != 1 else ''} "
            "are stored here. Keep them to read later, or delete them for good."
        )
        lines = [
            Content.assemble("Remove the mailbox ", (name, "bold"), f" ({clean(self._email)})?"),
            Content(mail),
            Content("Nothing on the mail server is touched; the password is forgotten."),
        ]
        if self._is_active:
            lines.append(Content("It is the active mailbox: the next one becomes active."))
        with Vertical(id="delete-dialog", classes="dialog -error"):
            yield Static("Remove mailbox", classes="dialog-title")
            yield Static(Content("\n").join(lines), id="delete-text")
            with Horizontal(classes="dialog-buttons"):
                yield action_button(
                    "Remove, keep mail (k)", "screen.choose('keep')", id="keep-mail"
                )
                yield action_button(
                    "Remove and delete mail (x)",
                    "screen.choose('drop')",
                    id="drop-mail",
                    variant="error",
                )
                yield action_button(
                    "Cancel (Esc)", "screen.dismiss(None)", id="cancel", variant="primary"
                )

    def action_choose(self, choice: str) -> None:
        self.dismiss(DeleteChoice(choice))


def format_fingerprint_lines(fingerprint: str, pairs_per_line: int = 16) -> str:
    """A SHA-256 fingerprint in two lines of 16 pairs, so it fits 80 columns and reads easily."""
    pairs = fingerprint.split(":")
    return "\n".join(
        ":".join(pairs[start : start + pairs_per_line])
        for start in range(0, len(pairs), pairs_per_line)
    )


def _when(value: datetime | None) -> str:
    if value is None:
        return "unknown"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return f"{value:%Y-%m-%d %H:%M} UTC"


class CertificateTrustDialog(CentredDialog[bool]):
    """Shows an untrusted certificate and asks whether to pin it; True means pin."""

    AUTO_FOCUS = "#refuse"
    HORIZONTAL_BREAKPOINTS = DIALOG_BREAKPOINTS

    DEFAULT_CSS = """
    CertificateTrustDialog #certificate-reason, CertificateTrustDialog #certificate-details {
        margin-top: 1;
    }
    CertificateTrustDialog .field-heading {
        text-style: bold;
    }
    CertificateTrustDialog #certificate-fingerprint {
        text-style: bold;
        padding-left: 2;
    }
    """

    BINDINGS = [
        Binding(
            "p",
            "answer(True)",
            "Pin",
            id="certificate-pin",
            tooltip="Trust exactly this certificate for this mailbox from now on",
        ),
        Binding(
            "escape,r",
            "answer(False)",
            "Refuse",
            id="certificate-refuse",
            tooltip="Do not trust the certificate; nothing is saved",
        ),
    ]

    def __init__(self, certificate: CertificateInfo, *, host: str, port: int) -> None:
        super().__init__()
        self.certificate = certificate
        self._server = f"{host}:{port}"

    def compose(self) -> ComposeResult:
        cert = self.certificate
        reason = clean(cert.reason) or "it could not be verified"
        names = certificate_names(cert)
        subject = clean(cert.subject)
        # A subject that is only "CN=<one of the names>" would list that name twice.
        subject_is_a_name = subject == f"CN={_common_name(subject)}" and _common_name(
            subject
        ).casefold() in {name.casefold() for name in names}
        details = Content.assemble(
            ("Server      ", "dim"),
            clean(self._server),
            "\n",
            *(() if subject_is_a_name else (("Subject     ", "dim"), subject or "(none)", "\n")),
            ("Issuer      ", "dim"),
            clean(cert.issuer) or "(none)",
            " (self-signed)" if cert.self_signed else "",
            "\n",
            ("Valid       ", "dim"),
            f"{_when(cert.not_before)} to {_when(cert.not_after)}",
            "\n",
            ("Names       ", "dim"),
            ", ".join(names) or "(none)",
        )
        with Vertical(id="certificate-dialog", classes="dialog -warning"):
            yield Static("Untrusted certificate", classes="dialog-title")
            yield Static(
                safe_content(f"The server's certificate is not trusted: {reason}.", multiline=True),
                id="certificate-reason",
            )
            yield Static(details, id="certificate-details")
            yield Static("SHA-256 fingerprint", classes="field-heading")
            yield Static(
                Content(format_fingerprint_lines(clean(cert.sha256))),
                id="certificate-fingerprint",
            )
            yield Static(
                "Pin it only if this fingerprint matches the one your provider or administrator "
                "gave you. Pinned, poptui accepts exactly this certificate and refuses any other.",
                id="certificate-advice",
                classes="dialog-hint",
            )
            with Horizontal(classes="dialog-buttons"):
                yield action_button(
                    "Pin this certificate (p)", "screen.answer(True)", id="pin", variant="warning"
                )
                yield action_button(
                    "Refuse (Esc)", "screen.answer(False)", id="refuse", variant="primary"
                )

    def action_answer(self, pin: bool) -> None:
        self.dismiss(pin)


class ErrorDialog(CentredDialog[None]):
    """A failure that needs reading, not a toast that vanishes: title, details, OK."""

    AUTO_FOCUS = "#ok"
    HORIZONTAL_BREAKPOINTS = DIALOG_BREAKPOINTS

    BINDINGS = [
        close_key("error-close", "Close", action="dismiss(None)", keys="escape,enter"),
    ]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self._title = title
        self._message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="error-dialog", classes="dialog"):
            yield Static(safe_content(self._title), classes="dialog-title")
            yield Static(safe_content(self._message, multiline=True), id="error-text")
            with Horizontal(classes="dialog-buttons"):
                yield action_button("OK", "screen.dismiss(None)", id="ok", variant="primary")
