"""What can go wrong signing in or getting a token, worded for the person.

`SignInRequired` is an `AuthenticationFailed`: the engine counts it toward auto-disable like a
rejected password, and the list, the notification and `poptui doctor` say "sign in again".
`TokenServiceUnreachable` is a `ConnectFailed`: the provider's token service could not be
reached, which says nothing about the account.
"""

from __future__ import annotations

from typing import ClassVar

from tui.core.errors import PoptuiError
from tui.core.net.pop3.errors import AuthenticationFailed, ConnectFailed
from tui.core.text import one_line

SIGN_IN_AGAIN = "sign in again"


def signin_hint(mailbox: str) -> str:
    name = one_line(mailbox, 80)
    return (
        f"Run `poptui account signin {name!r}`, or choose “Sign in again” in the password "
        "editor (p)."
    )


class SignInRequired(AuthenticationFailed):
    """No usable refresh token: never signed in, or the provider revoked or expired it."""

    provider_advice: ClassVar[bool] = False

    def __init__(self, mailbox: str, why: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"{SIGN_IN_AGAIN.capitalize()}: {why}.",
            hint=signin_hint(mailbox) if hint is None else hint,
            server_text="",
        )
        self.in_sync = True


class TokenServiceUnreachable(ConnectFailed):
    """The provider's token endpoint could not be reached or answered nonsense."""


class SignInFailed(PoptuiError):
    """A sign-in (device code or browser) did not give a token: denied, expired, cancelled,
    a pasted address that is not the right one, or the provider refusing the request."""


class SignInCancelled(SignInFailed):
    """The person pressed cancel while poptui waited."""
