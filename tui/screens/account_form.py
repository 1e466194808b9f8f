"""The add/edit mailbox screen: the fields, and "Test & save", which saves only what works.

"Test & save" logs in through the injected testers in a thread worker (incoming, then
outgoing) and saves only when that works; a failure saves nothing and offers "Save anyway"; an
untrusted certificate opens the trust dialog. Passwords go to the secret store, never into the
database. The fields themselves (presets, checks as you type) are `AccountFields`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import Header, Input
from textual.worker import get_current_worker

from tui.commands import MailboxCommands, PaletteCommand
from tui.core.delivery import TargetInvalid, list_targets, set_targets
from tui.core.net.pop3.auth import BearerToken
from tui.core.oauth.providers import signs_in_instead
from tui.core.settings import AUTH_OAUTH2, AccountSettings
from tui.core.setup.form_rules import ServerPin, outgoing_login
from tui.core.setup.validation import has_errors
from tui.core.storage.accounts import settings_of
from tui.core.storage.models import Account, database_proxy
from tui.screens.account_form_messages import (
    AccountSaved,
    CheckFailed,
    FormOutcome,
    OutgoingCheckStarted,
    Submission,
    incoming_side,
)
from tui.screens.account_form_oauth import OAuthTestScreen, settings_to_store
from tui.screens.dialogs import CertificateTrustDialog
from tui.screens.escape_keys import cancel_key
from tui.screens.field_keys import field_focus_bindings
from tui.screens.form_screen import (
    error_words,
    form_buttons,
    verb_button,
)
from tui.screens.ready import PreparedScreen
from tui.screens.signin_dialog import SignInDialog
from tui.screens.store_prompt import STORE_STILL_MISSING, choose_store, store_missing
from tui.services import SecretKind, Services, TestResult
from tui.widgets.account_fields import AccountFields
from tui.widgets.delivery_targets import DeliveryTargetsField
from tui.widgets.footer import Footer
from tui.widgets.oauth_fields import sign_in_settings_ok
from tui.widgets.safe_text import safe_content
from tui.widgets.status_line import StatusLine

INCOMING_VERIFIED_OFFER = " Ctrl+S saves it with the incoming server verified."


__all__ = ["AccountFormScreen", "FormOutcome"]


class AccountFormScreen(PreparedScreen[FormOutcome | None], OAuthTestScreen):
    """Add a mailbox, or edit one (`account` given: password fields empty mean unchanged)."""

    COMMANDS = {MailboxCommands}
    WORKER_GROUP = "account-form"
    BINDINGS = [
        cancel_key("form-cancel", "Close the form; nothing is saved"),
        Binding(
            "ctrl+t",
            "test_and_save",
            "Test & save",
            id="form-test-save",
            tooltip="Log in to the incoming (then the outgoing) server; save only if that works",
        ),
        Binding(
            "ctrl+s",
            "save_incoming_verified",
            "Save (incoming verified)",
            id="form-save-incoming-verified",
            tooltip="The incoming login worked but the outgoing check failed: save anyway",
        ),
        Binding(
            "ctrl+l",
            "choose_store",
            "Password store",
            id="form-choose-store",
            tooltip="Choose where poptui keeps passwords (offered when there is none yet)",
        ),
        *field_focus_bindings(
            "form", next_action="screen.next_field", previous_action="screen.previous_field"
        ),
    ]

    def __init__(self, services: Services, *, account: Account | None = None) -> None:
        super().__init__()
        self._services = services
        self._editing_name: str | None = account.name if account is not None else None
        self._secret_key: str | None = account.secret_key if account is not None else None
        self._base = settings_of(account) if account is not None else AccountSettings()
        self._targets = list_targets(account) if account is not None else []
        self._incoming_passed: AccountSettings | None = None
        """The settings whose incoming login passed when only the outgoing check failed."""
        self.sub_title = "Edit mailbox" if account is not None else "Add a mailbox"
        self._verified: tuple[Submission, str] | None = None
        """After an outgoing check failed: what passed the incoming login, and why the
        outgoing check failed; it can then be saved with the incoming server verified."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield AccountFields(
            self._base,
            editing_name=self._editing_name,
            existing_names=self._services.accounts.names(),
            id="form-body",
            classes="form-body",
        )
        yield StatusLine(id="form-status")
        yield form_buttons(
            verb_button("Test & save", "test_and_save", id="test-save", variant="primary"),
            verb_button("Save anyway", "save_anyway", id="save-anyway", variant="warning"),
            verb_button(
                "Save (incoming verified)",
                "save_incoming_verified",
                id="save-incoming-verified",
                variant="warning",
            ),
        )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#save-anyway").display = False
        self.query_one("#save-incoming-verified").display = False
        self.query_one("#name", Input).focus()
        self.fields.add_section(DeliveryTargetsField(self._targets, id="delivery-targets"))

    @on(events.ScreenResume)
    def _shown(self) -> None:
        self.fields.shown(self._services.accounts.names())

    @property
    def fields(self) -> AccountFields:
        return self.query_one(AccountFields)

    def busy_changed(self, busy: bool) -> None:
        super().busy_changed(busy)
        if busy:
            self.query_one("#save-anyway").display = False
            self._offer_incoming_verified(None)

    def _check_verified(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "save_incoming_verified":
            return self._verified is not None
        return super().check_action(action, parameters)

    def _offer_incoming_verified(self, verified: tuple[Submission, str] | None) -> None:
        self._verified = verified
        self.query_one("#save-incoming-verified").display = verified is not None
        self.refresh_bindings()

    # ------------------------------------------------------------------ verbs

    async def action_next_field(self) -> None:
        """Tab: the fields after the address may not be mounted yet; mount them first."""
        await self.fields.ensure_built()
        self.focus_next()

    async def action_previous_field(self) -> None:
        await self.fields.ensure_built()
        self.focus_previous()

    # ------------------------------------------------------------------ the password store

    def _store_missing(self) -> bool:
        return store_missing(self._services)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "choose_store":
            return self._store_missing()
        return self._check_verified(action, parameters)

    def _store_first(self, then: Callable[[], object]) -> bool:
        """Before saving a typed password with no store to keep it: choose (or unlock) one,
        then carry on with `then`. The form, and the password in it, stay meanwhile."""
        fields = self.fields
        if not self._store_missing() or not (fields.password or fields.outgoing_password):
            return False
        self.status.show(Content("First choose where poptui keeps passwords."))
        self._choose_store(then)
        return True

    def action_choose_store(self) -> None:
        self._choose_store(None)

    def _choose_store(self, then: Callable[[], object] | None) -> None:
        def chosen() -> None:
            self.refresh_bindings()
            if self._store_missing():
                self.status.error(STORE_STILL_MISSING)
            elif then is not None:
                self.call_later(then)
            else:
                self.status.clear()

        choose_store(self.app, self._services, chosen)

    # ------------------------------------------------------------------ verbs (continued)

    async def action_test_and_save(self) -> None:
        submission = await self._ready_submission(self.action_test_and_save)
        if submission is not None:
            self._start_test(submission)

    async def _ready_submission(self, retry: Callable[[], object]) -> Submission | None:
        """What a save verb acts on: the whole form built, a password store to save into (else
        `retry` runs once one exists), not busy, and fields that pass their checks."""
        await self.fields.ensure_built()
        if self._store_first(retry):
            return None
        return None if self.busy else self._submission()

    def _start_test(self, submission: Submission) -> None:
        settings = submission.settings
        server = f"{settings.incoming_host}:{settings.incoming_port}"
        self.status.busy(f"Testing {server} ({settings.incoming_security.label})…")
        if settings.uses_oauth2:
            self.test_oauth_and_save(submission)  # a token first (signing in if need be)
        else:
            self._test_and_save(submission)

    async def action_save_anyway(self) -> None:
        submission = await self._ready_submission(self.action_save_anyway)
        if submission is not None:
            self.status.busy("Saving without a successful test…")
            if submission.settings == self._incoming_passed:
                message = "Saved: the incoming server passed its test, the outgoing server did not."
            else:
                message = "Saved without a successful test."
            self._save_untested(submission, message)

    async def action_save_incoming_verified(self) -> None:
        """Save what passed the incoming login although the outgoing check failed, as long as
        the incoming side is still what was tested."""
        await self.fields.ensure_built()
        if self._store_first(self.action_save_incoming_verified):
            return
        verified = self._verified
        submission = None if self.busy or verified is None else self._submission()
        if verified is None or submission is None:
            return
        tested, why = verified
        if incoming_side(submission) != incoming_side(tested):
            self._offer_incoming_verified(None)
            self.status.error(
                "The incoming server settings changed since they were tested: "
                "press Test & save again."
            )
            return
        self.status.busy("Saving with the incoming server verified…")
        self._save_incoming_verified(submission, why)

    def _submission(self) -> Submission | None:
        """The values to test/save, or None (with the problems shown) when they cannot be."""
        fields = self.fields
        settings, problems = fields.check_all()
        if has_errors(problems):
            self.status.error("Nothing saved: fix the fields marked ✗ first.")
            fields.focus_field(next(problem for problem in problems if problem.is_error).field)
            return None
        if self._editing_name is None and not fields.password and signs_in_instead(settings):
            settings = dataclasses.replace(settings, auth_method=AUTH_OAUTH2)
        if not sign_in_settings_ok(settings, self.status, fields):
            return None
        try:
            targets = tuple(self.query_one(DeliveryTargetsField).targets())
        except TargetInvalid:
            self.status.error("Nothing saved: fix the delivery targets (Also deliver to) first.")
            return None
        return Submission(
            settings, fields.password, fields.outgoing_password, fields.accepted_outgoing, targets
        )

    # ------------------------------------------------------------------ the worker

    @work(thread=True, exclusive=True, exit_on_error=False, group=WORKER_GROUP)
    def _test_and_save(self, submission: Submission) -> None:
        """In a thread: log in (incoming, then outgoing), and save only if that worked (and
        the form is still open)."""
        password = submission.password or self._stored(SecretKind.INCOMING, submission)
        self._log_in_and_save(submission, password)

    def _stored(self, kind: SecretKind, submission: Submission) -> str:
        """In the worker: the stored password of the mailbox being edited ("" when none)."""
        if self._secret_key is None:
            return ""
        mailbox = submission.settings.name
        return self._services.secrets.get(self._secret_key, kind, mailbox=mailbox) or ""

    def _check_outgoing(
        self, submission: Submission, incoming_password: str | BearerToken
    ) -> TestResult | None:
        """In the worker, once the incoming login worked: log in to the outgoing server, if
        one is set, as `outgoing_login` decides."""
        login = outgoing_login(
            submission.settings,
            incoming_password=incoming_password,
            outgoing_password=lambda: (
                submission.outgoing_password or self._stored(SecretKind.OUTGOING, submission)
            ),
        )
        if login is None:
            return None
        settings = login.settings
        host, port = settings.outgoing_host, settings.outgoing_port
        accepted = submission.accepted_outgoing
        fingerprint = accepted.fingerprint if accepted and accepted.is_for(host, port) else ""
        self.post_message(
            OutgoingCheckStarted(
                f"Incoming server OK; testing {host}:{port} ({settings.outgoing_security.label})…"
            )
        )
        result = self._services.outgoing_tester(
            settings, login.password, trusted_fingerprint=fingerprint
        )
        note = login.note
        if result.ok and fingerprint:
            note += " Its certificate is pinned for this mailbox."
        return dataclasses.replace(result, message=result.message + note) if note else result

    @work(thread=True, exclusive=True, exit_on_error=False, group=WORKER_GROUP)
    def _save_untested(self, submission: Submission, message: str) -> None:
        if not get_current_worker().is_cancelled:
            outcome = self._save(submission, tested=False, message=message)
            self.post_message(AccountSaved(outcome))

    @work(thread=True, exclusive=True, exit_on_error=False, group=WORKER_GROUP)
    def _save_incoming_verified(self, submission: Submission, why: str) -> None:
        if not get_current_worker().is_cancelled:
            message = (
                "Saved with the incoming server verified; the outgoing server check failed: " + why
            )
            self.post_message(AccountSaved(self._save(submission, tested=True, message=message)))

    def _save(self, submission: Submission, *, tested: bool, message: str) -> FormOutcome:
        """Store the settings, then the passwords (which need the account's secret key)."""
        store = self._services.accounts
        settings = settings_to_store(submission.settings)  # no OAuth2 client secret in there
        with database_proxy.connection_context():
            if self._editing_name is None:
                account = store.create(settings)
            else:
                account = store.update(self._editing_name, settings)
            set_targets(account, list(submission.targets))
            signed_in = self._signed_in is not None and settings.uses_oauth2
            store.enable_if_fixed(
                account.name,
                tested=tested,
                new_incoming_password=bool(submission.password) or signed_in,
            )
        password_problem = ""
        try:
            self.keep_oauth_secrets(submission, account)
            secrets = self._services.secrets
            for kind, password in (
                (SecretKind.INCOMING, submission.password),
                (SecretKind.OUTGOING, submission.outgoing_password),
            ):
                if password:
                    secrets.set(account.secret_key, kind, password, mailbox=account.name)
        except Exception as error:  # any store failure: the settings are saved, say what is not
            password_problem = (
                f"The settings were saved, but the password could not be stored: {error}. "
                "Set it with p (password) on the mailbox list."
            )
        return FormOutcome(
            account_id=int(account.id),
            name=account.name,
            created=self._editing_name is None,
            tested=tested,
            message=message,
            password_problem=password_problem,
        )

    # ------------------------------------------------------------------ what came of it

    @on(OutgoingCheckStarted)
    def _outgoing_check_started(self, started: OutgoingCheckStarted) -> None:
        if self.busy:
            self.status.show(Content(started.text))

    @on(AccountSaved)
    def _saved(self, saved: AccountSaved) -> None:
        self.dismiss(saved.outcome)
        account = self._services.accounts.get_by_id(saved.outcome.account_id)
        switched = not self._base.uses_oauth2 or self._base.incoming_host != account.incoming_host
        untested = not saved.outcome.tested and not account.oauth_token_command
        untested = untested and self._signed_in is None
        if account.auth_method == AUTH_OAUTH2 and untested and (saved.outcome.created or switched):
            self.app.push_screen(SignInDialog(self._services, account))

    def worker_failed(self, error: BaseException) -> None:
        self._check_failed(CheckFailed(TestResult(ok=False, message=error_words(error))))

    @on(CheckFailed)
    def _check_failed(self, failed: CheckFailed) -> None:
        """The one place a failed test (or save) turns into words, or into the certificate
        dialog when only trust is missing."""
        result = failed.result
        if failed.verified is not None:
            self._offer_incoming_verified((failed.verified, result.message))
        settings, _ = self.fields.settings()
        self._incoming_passed = settings if failed.outgoing else None
        if failed.outgoing:
            host, port = settings.outgoing_host, settings.outgoing_port
        else:
            host, port = settings.incoming_host, settings.incoming_port
        certificate = result.certificate
        if certificate is not None and (
            failed.outgoing or certificate.sha256 != settings.pinned_fingerprint
        ):
            said = f"Incoming server OK. {result.message}" if failed.outgoing else result.message
            self.status.show(safe_content(said, "$text-warning", multiline=True))
            offered = ServerPin(host, port, certificate.sha256)
            self.app.push_screen(
                CertificateTrustDialog(certificate, host=host, port=port),
                partial(self._certificate_answered, offered, outgoing=failed.outgoing),
            )
        elif failed.outgoing:
            self._not_saved(
                "the incoming server works, but the outgoing server check failed: "
                + result.message
                + INCOMING_VERIFIED_OFFER
            )
        else:
            self._not_saved(result.message)

    def _not_saved(self, why: str) -> None:
        self.status.error(f"Not saved: {why}")
        self.query_one("#save-anyway").display = True

    def _certificate_answered(
        self, offered: ServerPin, pin: bool | None, *, outgoing: bool
    ) -> None:
        if not pin:
            which = "the outgoing server's certificate" if outgoing else "the certificate"
            offer = INCOMING_VERIFIED_OFFER if outgoing and self._verified is not None else ""
            self._not_saved(f"{which} was refused.{offer}")
            return
        if outgoing:
            self.fields.accepted_outgoing = offered
            again = "Outgoing certificate accepted; testing again…"
        else:
            self.fields.pin_incoming(offered.fingerprint)
            again = "Certificate pinned; testing again…"
        submission = self._submission()
        if submission is not None:
            self._start_test(submission)
            self.status.busy(again)

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(
                "Test & save", self.action_test_and_save, "Log in, and save only if that works"
            ),
            PaletteCommand("Cancel", self.action_cancel, "Close the form without saving"),
        ]
