"""The account form's "Test & save" for a mailbox that signs in with OAuth2.

Settings are tested against the servers before they are saved, OAuth2 ones too: the form gets
an access token first (the token command's, one renewed from the refresh token the edited
mailbox keeps, or a sign-in in `SignInDialog`, which hands its tokens back without saving),
logs in to the incoming server with XOAUTH2/OAUTHBEARER and to the outgoing one with XOAUTH2,
and only then saves the settings and the refresh token. A failure saves nothing; an outgoing
failure after a good incoming login offers "save with the incoming server verified".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from textual import on, work
from textual.message import Message
from textual.widgets import Input
from textual.worker import get_current_worker

from tui.core.errors import PoptuiError
from tui.core.net.pop3.auth import BearerToken
from tui.core.oauth.errors import SignInRequired
from tui.core.oauth.tokens import TokenSet
from tui.core.settings import AccountSettings
from tui.core.storage.models import Account
from tui.core.sync.outcome import error_text
from tui.screens.account_form_messages import (
    AccountSaved,
    CheckFailed,
    FormOutcome,
    Submission,
)
from tui.screens.form_screen import FormScreen
from tui.screens.signin_dialog import SignedIn, SignInDialog
from tui.services import Services, TestResult


@dataclass
class SignInNeeded(Message, bubble=False):
    """The edited mailbox's saved sign-in does not work (any more): sign in, then test."""

    submission: Submission


class OAuthTestScreen(FormScreen[FormOutcome | None]):
    """The form's OAuth2 side of "Test & save"; `AccountFormScreen` derives from it."""

    WORKER_GROUP = "account-form"
    _services: Services
    _secret_key: str | None
    _base: AccountSettings
    _signed_in: tuple[AccountSettings, TokenSet] | None = None
    """The last sign-in in this form and the settings it was made for: its access token is
    used again when Test & save runs again (a certificate pinned, a field corrected)."""

    # ------------------------------------------------------------------ the form's hooks

    def _save(self, submission: Submission, *, tested: bool, message: str) -> FormOutcome:
        raise NotImplementedError

    def _check_outgoing(
        self, submission: Submission, incoming_password: str | BearerToken
    ) -> TestResult | None:
        raise NotImplementedError

    # ------------------------------------------------------------------ starting

    def test_oauth_and_save(self, submission: Submission) -> None:
        """On the UI thread: test with a token at hand, or sign in first."""
        from tui.core.oauth.signin import same_sign_in

        settings = submission.settings
        if settings.oauth_token_command:
            self._oauth_test(submission, None)
        elif self._signed_in is not None and same_sign_in(self._signed_in[0], settings):
            self._oauth_test(submission, self._signed_in[1])
        elif self._secret_key is not None and same_sign_in(self._base, settings):
            self._oauth_test(submission, None)
        else:
            self._sign_in_first(submission)

    def _sign_in_first(self, submission: Submission) -> None:
        self.status.busy("Sign in, then the servers are tested…")
        dialog = SignInDialog(
            self._services, settings=submission.settings, secret_key=self._secret_key
        )

        def signed_in(result: SignedIn | None) -> None:
            settings = submission.settings
            client_id = dialog.typed_client_id
            if client_id and client_id != settings.oauth_client_id:
                settings = dataclasses.replace(settings, oauth_client_id=client_id)
                self.query_one("#oauth-client-id", Input).value = client_id
            if result is None:
                self.status.error("Not saved: the sign-in did not finish.")
                self.query_one("#save-anyway").display = True
                return
            self._signed_in = (settings, result.tokens)
            self.status.busy("Signed in; testing the servers…")
            self._oauth_test(dataclasses.replace(submission, settings=settings), result.tokens)

        self.app.push_screen(dialog, signed_in)

    # ------------------------------------------------------------------ the worker

    @work(thread=True, exclusive=True, exit_on_error=False, group="account-form")
    def _oauth_test(self, submission: Submission, tokens: TokenSet | None) -> None:
        """In a thread: an access token, the incoming login with it, the outgoing login with
        it (XOAUTH2), then save; nothing is saved when any of it fails."""
        from tui.core.oauth.signin import form_bearer

        settings = submission.settings
        try:
            bearer = form_bearer(
                settings, self._services.secrets, secret_key=self._secret_key, tokens=tokens
            )
        except SignInRequired:
            if tokens is None and not settings.oauth_token_command:
                self.post_message(SignInNeeded(submission))
                return
            raise
        except PoptuiError as error:
            self.post_message(CheckFailed(TestResult(ok=False, message=error_text(error))))
            return
        self._log_in_and_save(submission, bearer)

    def _log_in_and_save(self, submission: Submission, secret: str | BearerToken) -> None:
        """In the worker: log in to the incoming server, then the outgoing one, and save only
        if both worked and the form is still open — with a password or a bearer token alike."""
        result = self._services.tester(submission.settings, secret)
        if not result.ok:
            self.post_message(CheckFailed(result))
            return
        if get_current_worker().is_cancelled:
            return
        message = result.message
        outgoing = self._check_outgoing(submission, secret)
        if outgoing is not None and not outgoing.ok:
            self.post_message(CheckFailed(outgoing, outgoing=True, verified=submission))
            return
        if outgoing is not None:
            message = f"{message} {outgoing.message}"
        if not get_current_worker().is_cancelled:
            self.post_message(AccountSaved(self._save(submission, tested=True, message=message)))

    @on(SignInNeeded)
    def _sign_in_needed(self, needed: SignInNeeded) -> None:
        self._sign_in_first(needed.submission)

    # ------------------------------------------------------------------ saving

    def keep_oauth_secrets(self, submission: Submission, account: Account) -> None:
        """In the saving worker: the client secret typed and the refresh token of this form's
        sign-in into the secret store (never the database)."""
        from tui.core.oauth.signin import keep_client_secret, same_sign_in, save_sign_in

        settings = submission.settings
        if not settings.uses_oauth2:
            return
        secrets = self._services.secrets
        if settings.oauth_client_secret:
            keep_client_secret(
                secrets, account.secret_key, account.name, settings.oauth_client_secret
            )
        if self._signed_in is None or settings.oauth_token_command:
            return
        signed_for, tokens = self._signed_in
        if same_sign_in(signed_for, settings):
            save_sign_in(account, secrets, tokens)


def settings_to_store(settings: AccountSettings) -> AccountSettings:
    """What goes into the database: everything but the OAuth2 client secret."""
    from tui.core.oauth.signin import split_client_secret

    return split_client_secret(settings)[0]
