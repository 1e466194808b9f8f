"""The password editor's save: log in with each new password (if asked), then store them.

Runs in the editor's thread worker (`PasswordEditorScreen._save`) and answers with one of the
messages below; kept apart so the screen module is about what is shown and typed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from textual.message import Message
from textual.worker import get_current_worker

from tui.core.secrets import SecretStoreError
from tui.core.storage.accounts import settings_of
from tui.core.storage.models import database_proxy
from tui.services import SecretKind, Services, TestResult


@dataclass(frozen=True)
class PasswordChange:
    """The new passwords, handed to the worker; empty means "keep the stored one"."""

    incoming: str = field(default="", repr=False)
    outgoing: str = field(default="", repr=False)


# The worker's messages to its screen (posted from the thread; never bubble to the app).


@dataclass
class PasswordRejected(Message, bubble=False):
    """Verification failed: nothing was saved."""

    kind: SecretKind
    result: TestResult


@dataclass
class PasswordsSaved(Message, bubble=False):
    kinds: tuple[SecretKind, ...]
    verified: tuple[str, ...]
    """The testers' words for what was verified (empty when saved without verifying)."""
    enabled: bool
    """The mailbox was disabled and is enabled again."""
    problem: str = ""
    """Set when storing a password failed (after those in `kinds` were stored)."""


def verify_and_store(
    services: Services,
    account_id: int,
    change: PasswordChange,
    *,
    verify: bool,
    post: Callable[[Message], object],
) -> None:
    """In a worker thread: verify (if asked), store, and `post` the outcome as one message."""
    with database_proxy.connection_context():
        account = services.accounts.get_by_id(account_id)
    settings = settings_of(account)
    verified: list[str] = []
    if verify:
        for kind, password, tester in (
            (SecretKind.INCOMING, change.incoming, services.tester),
            (SecretKind.OUTGOING, change.outgoing, services.outgoing_tester),
        ):
            if not password:
                continue
            result = tester(settings, password)
            if not result.ok:
                post(PasswordRejected(kind, result))
                return
            verified.append(result.message)
    if get_current_worker().is_cancelled:
        return
    saved: list[SecretKind] = []
    problem = ""
    store = services.secrets
    for kind, password in (
        (SecretKind.INCOMING, change.incoming),
        (SecretKind.OUTGOING, change.outgoing),
    ):
        if not password:
            continue
        try:
            store.set(account.secret_key, kind, password, mailbox=account.name)
        except SecretStoreError as error:
            problem = str(error)
            break
        saved.append(kind)
    with database_proxy.connection_context():
        enabled = services.accounts.enable_if_fixed(
            account.name, new_incoming_password=SecretKind.INCOMING in saved
        )
    post(PasswordsSaved(tuple(saved), tuple(verified), enabled, problem))
