"""What the secret stores raise, and the helpers that keep secrets out of those words.

Every message is meant for the user and names the mailbox by its name: never a password, a
passphrase, or the secret key a password is filed under (a uuid the user never sees).
"""

from __future__ import annotations

from collections.abc import Iterable

from tui.core.errors import PoptuiError
from tui.core.text import one_line


class SecretStoreError(PoptuiError):
    """A secret store could not do what was asked; ``str()`` is the user-facing message."""


class KeyringUnavailableError(SecretStoreError):
    """The keyring backend cannot keep passwords (fail or null backend, none installed)."""


class UnsafeBackendError(SecretStoreError):
    """The keyring backend would store passwords in clear text or prompt on the terminal."""


class SecretStoreTimeoutError(SecretStoreError):
    """The store did not answer in time (a locked keyring, a password command waiting)."""


class WrongPassphraseError(SecretStoreError):
    """The passphrase does not open the encrypted password file."""


class ReadOnlyStoreError(SecretStoreError):
    """The store only reads passwords (password commands); change them at their source."""


class PasswordCommandError(SecretStoreError):
    """A password command could not be run, failed, timed out or printed nothing."""


REDACTED = "***"


def redact(text: str, hidden: Iterable[str]) -> str:
    """Remove every listed secret, in the spellings a library might print it, from text."""
    for secret in hidden:
        if not secret:
            continue
        spellings = {secret, repr(secret)[1:-1], ascii(secret)[1:-1]}
        spellings.add(repr(secret.encode("utf-8", "backslashreplace"))[2:-1])
        for spelling in sorted(spellings, key=len, reverse=True):
            text = text.replace(spelling, REDACTED)
    return text


def safe_detail(exc: BaseException, hidden: Iterable[str] = ()) -> str:
    """`Type: message` of a library exception, with secrets removed, on one short line."""
    message = one_line(redact(str(exc), hidden))
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def failed_to(
    action: str, what: str, where: str, exc: Exception, hidden: Iterable[str] = ()
) -> SecretStoreError:
    """ "Could not read the incoming password of Work in the system keyring (...)."

    `what` comes from `tui.core.secrets.base.password_words`. An OSError is said by its
    strerror ("Permission denied"), not its str with errno and path; anything else by
    `safe_detail`, with the `hidden` secrets removed.
    """
    if isinstance(exc, OSError):
        return SecretStoreError(
            f"Could not {action} the {what} in the {where}: {exc.strerror or type(exc).__name__}."
        )
    return SecretStoreError(
        f"Could not {action} the {what} in the {where} ({safe_detail(exc, hidden)})."
    )
