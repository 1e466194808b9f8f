"""The form's "Also deliver to" section, and the mailbox list's lines about delivery.

One target per line (`maildir:~/Mail`, `mbox:/var/mail/me`, `mda:procmail`,
`lmtp:/run/dovecot/lmtp`), checked by the core's `parse_target`; an empty box means the mail
stays in poptui only. The mailbox detail shows each target and, in red, why its last delivery
failed (cleaned: paths and errors can hold anything).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from tui.core.delivery import DeliveryTarget, TargetInvalid, list_targets, parse_target
from tui.core.text import clean, one_line

HELP = (
    "One per line: maildir:PATH, mbox:PATH, mda:COMMAND or lmtp:SOCKET (or HOST:PORT). "
    "Mail is deleted on the server only once every target has it."
)


class DeliveryTargetsField(Vertical):
    """Where a mailbox's new mail is also delivered (the targets as written, one per line)."""

    DEFAULT_CSS = """
    DeliveryTargetsField {
        height: auto;
    }
    DeliveryTargetsField > TextArea {
        height: 4;
        margin: 0 1;
    }
    DeliveryTargetsField > .field-help, DeliveryTargetsField > #delivery-targets-error {
        margin: 0 1;
        color: $text-muted;
    }
    DeliveryTargetsField > #delivery-targets-error {
        color: $text-error;
    }
    """

    def __init__(self, targets: list[DeliveryTarget], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._initial = "\n".join(clean(t.spec) for t in targets)

    def compose(self) -> ComposeResult:
        # Imported here: the forms need it, the mailbox list (`with_delivery`) does not.
        from textual.widgets import TextArea

        yield Static("Also deliver to", classes="section-title")
        yield TextArea(self._initial, id="delivery-targets-text", soft_wrap=False)
        yield Static(HELP, classes="field-help", markup=False)
        yield Static(id="delivery-targets-error", markup=False)

    def targets(self) -> list[DeliveryTarget]:
        """The targets written, in order; raises `TargetInvalid` (and shows it) for a bad line."""
        from textual.widgets import TextArea

        error = self.query_one("#delivery-targets-error", Static)
        found: list[DeliveryTarget] = []
        text = self.query_one("#delivery-targets-text", TextArea).text
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                found.append(parse_target(line))
            except TargetInvalid as problem:
                error.update(f"✗ Line {number}: {problem.message}")
                raise
        error.update("")
        return found


def delivery_lines(account_id: int) -> list[Content]:
    """For the mailbox detail: "Deliver Maildir ~/Mail" per target, with its last failure."""
    lines = []
    for target in list_targets(account_id):
        line = Content.assemble(("Deliver ", "dim"), one_line(target.describe(), 60))
        if target.last_error:
            line = Content.assemble(
                line, ("  ✗ " + one_line(target.last_error, 120), "$text-error")
            )
        lines.append(line)
    return lines


def with_delivery(detail: Content, account_id: int) -> Content:
    """The mailbox detail with its delivery lines under it."""
    return Content("\n").join([detail, *delivery_lines(account_id)])
