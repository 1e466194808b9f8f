"""Opening the user's secret store when the app starts, in a worker, so the app shows at once
even when the keyring hangs or is missing (over SSH).

What is opened, and what is missing, is decided by `tui.core.secrets.opening.open_configured`;
this module only turns its outcome into the app's state: the store in use, the passphrase
dialog, or a notification and the setup screen saying what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.worker import get_current_worker

from tui.core.secrets import SecretStore, UnavailableStore
from tui.core.secrets.opening import (
    OPENING_ADVICE,
    SecretStoreConfig,
    StartOutcome,
    locked_reason,
    open_configured,
)
from tui.core.secrets.unavailable import PendingStore
from tui.core.text import clean
from tui.screens.passphrase_dialog import PassphraseDialog
from tui.screens.secret_store_setup import IN_APP_HINT, SecretStoreSetupScreen, use_store
from tui.services import Services

START_GROUP = "secret-store-start"


def open_store_at_start(app: App[Any], services: Services, config: SecretStoreConfig) -> None:
    """Open the configured store in a thread worker on `app`; the UI runs on meanwhile.

    Until it is open `services.secrets` is a `PendingStore` saying so. Afterwards: the
    store is used; or the passphrase dialog asks for the encrypted file's passphrase; or
    (no usable keyring) a notification and the setup screen say what to do.
    """
    pending = PendingStore(OPENING_ADVICE, config.probe_timeout)
    services.secrets = pending

    def run() -> None:
        worker = get_current_worker()
        try:
            outcome = open_configured(config, lambda: worker.is_cancelled)
        except Exception as error:  # e.g. the database: say so rather than wait forever
            reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            outcome = StartOutcome(advice=f"The password store could not be opened ({reason}).")
        if worker.is_cancelled:
            return
        try:
            app.call_from_thread(_opened_at_start, app, services, config, outcome, pending)
        except RuntimeError:  # the app is already gone
            return

    app.run_worker(
        run, name="open-secret-store", group=START_GROUP, thread=True, exit_on_error=False
    )


def _opened_at_start(
    app: App[Any],
    services: Services,
    config: SecretStoreConfig,
    outcome: StartOutcome,
    pending: PendingStore,
) -> None:
    if outcome.store is not None:
        pending.settle(outcome.store)
        use_store(app, services, outcome.store)
        return
    path = outcome.passphrase_file
    if path is not None:
        pending.settle(lock(app, services, path))
        ask_passphrase(app, services, path, creating=outcome.creating, problem=outcome.problem)
        return
    unavailable = UnavailableStore(f"{outcome.advice} {IN_APP_HINT}")
    pending.settle(unavailable)
    services.secrets = unavailable
    app.notify(
        f"{clean(outcome.advice)} Choose where poptui keeps passwords.",
        title="No password store",
        markup=False,
        severity="warning",
        timeout=8,
    )
    app.push_screen(SecretStoreSetupScreen(services, config, advice=outcome.advice))


UNLOCK_HINT = "Press u on the mailbox list (or ctrl+p, Unlock passwords) to enter it."


class LockedFileStore(UnavailableStore):
    """The encrypted password file, while its passphrase was not entered (the dialog was
    cancelled): every call says so and how to unlock; `u` asks the passphrase again."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{locked_reason(path)} {UNLOCK_HINT}")
        self.path = path


def lock(app: App[Any], services: Services, path: Path) -> LockedFileStore:
    """Passwords are locked until the passphrase of `path` is entered; the screens say so."""
    locked = LockedFileStore(path)
    use_store(app, services, locked)
    return locked


def ask_passphrase(
    app: App[Any],
    services: Services,
    path: Path,
    *,
    creating: bool = False,
    problem: str = "",
    then: Callable[[SecretStore | None], object] | None = None,
) -> None:
    """The passphrase dialog for `path`; unlocked, its store is used from then on. `then`
    gets the store (None: still locked) once the dialog is closed."""

    def unlocked(store: SecretStore | None) -> None:
        if store is None:
            app.notify(
                f"The password file stays locked. {UNLOCK_HINT}",
                markup=False,
                severity="warning",
            )
        else:
            use_store(app, services, store)
            app.notify(f"Passwords unlocked ({clean(store.describe())}).", markup=False)
        if then is not None:
            then(store)

    app.push_screen(PassphraseDialog(path, creating=creating, problem=problem), unlocked)
