"""What the screens that edit and save something share: a status line that shows the work
running in a thread, verbs that wait for it, and Esc that stops it and closes (their Tab keys
come from `tui.screens.field_keys`).

The account form and the password editor derive from `FormScreen`; the worker of each posts
typed messages (saved, rejected), and the screen's handlers for those are the one place that
turns an outcome into words.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual import events, on
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button
from textual.widgets.button import ButtonVariant
from textual.worker import Worker, WorkerState

from tui.widgets.status_line import StatusLine

ResultT = TypeVar("ResultT")


def error_words(error: BaseException) -> str:
    """An unexpected failure in a sentence: its message, else at least its kind."""
    return str(error) or type(error).__name__


def verb_button(label: str, action: str, *, id: str, variant: ButtonVariant = "default") -> Button:
    """A button for one of the form's verbs: it runs `screen.<action>`, and waits while the
    form is busy (the `verb` class)."""
    return Button(
        label, id=id, variant=variant, compact=True, classes="verb", action=f"screen.{action}"
    )


def form_buttons(*verbs: Button) -> Horizontal:
    """The row under a form: its verbs, then Cancel (which never waits)."""
    cancel = Button("Cancel", id="cancel", compact=True, action="screen.cancel")
    return Horizontal(*verbs, cancel, classes="form-buttons")


class FormScreen(Screen[ResultT]):
    """A form whose saving runs in the thread worker group `WORKER_GROUP`.

    Subclasses compose one `StatusLine`; buttons with the class `verb` are disabled while it is
    busy. The worker posts its outcomes as messages; if it raises instead, `worker_failed` says
    so. `action_cancel` stops the worker (its later steps check `is_cancelled`) and closes the
    screen with `cancelled_result()`.
    """

    WORKER_GROUP: ClassVar[str] = "form"

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    @property
    def busy(self) -> bool:
        """True while the worker runs: verbs are ignored until it has answered."""
        return self.status.is_busy

    @on(events.Mount)
    def _follow_busy(self) -> None:
        self.watch(self.status, "is_busy", self.busy_changed)

    def busy_changed(self, busy: bool) -> None:
        for button in self.query(".verb").results(Button):
            button.disabled = busy

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == self.WORKER_GROUP and event.state is WorkerState.ERROR:
            self.worker_failed(worker.error or RuntimeError())

    def worker_failed(self, error: BaseException) -> None:
        """The worker raised instead of posting its outcome: nothing (more) was saved."""
        self.status.error(f"Not saved: {error_words(error)}")

    def cancelled_result(self) -> ResultT | None:
        return None

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, self.WORKER_GROUP)
        self.dismiss(self.cancelled_result())
