"""The words for every fetch and connection-check outcome, for `poptui fetch` and the app alike.

The command line prints `summary_line` and the check's `check_lines`; the app shows `Notice`s
from `describe_success` / `describe_failure`, whose advice names the app's keys (p, t, e, s).
Sizes are `tui.core.text.human_bytes`; anything a server wrote passes through `clean`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tui.core.errors import PoptuiError
from tui.core.net import pop3
from tui.core.secrets import SecretStoreError
from tui.core.settings import AUTH_OAUTH2, Security
from tui.core.storage.accounts import AccountNotFound
from tui.core.storage.models import Account
from tui.core.sync.errors import AccountDisabled, FetchCancelled, MissingPassword
from tui.core.sync.lock import AlreadyFetching
from tui.core.text import clean, human_bytes, one_line

if TYPE_CHECKING:
    from tui.core.sync.check import CheckReport, IncomingServer
    from tui.core.sync.engine import FetchResult

Severity = Literal["information", "warning", "error"]


def plural(count: int, word: str) -> str:
    """ "1 message", "2 messages"."""
    return f"{count} {word}{'' if count == 1 else 's'}"


# ---------------------------------------------------------------- errors


def message_and_hint(error: BaseException) -> tuple[str, str]:
    """What happened and what to do about it ("" when there is no advice)."""
    if isinstance(error, PoptuiError):
        return error.message, error.hint
    return str(error) or type(error).__name__, ""


def with_provider_hint(error: pop3.AuthenticationFailed, host: str) -> pop3.AuthenticationFailed:
    """`error` with the provider's advice for a rejected password as its hint (an app password,
    OAuth only at Outlook.com and Gmail Workspace), when `host` is a provider with such advice."""
    from tui.core.setup.providers import hint_for_auth_failure  # provider tables: only now

    hint = hint_for_auth_failure(host, error.server_text)
    if hint and error.provider_advice:
        error.hint = hint
    return error


def error_text(error: BaseException) -> str:
    """One line: the message, then " — " and the hint when there is one."""
    message, hint = message_and_hint(error)
    return f"{message} — {hint}" if hint else message


# ---------------------------------------------------------------- a fetch


def fetch_details(result: FetchResult) -> list[str]:
    """What else a fetch did besides storing new mail, worth a mention."""
    counted = (
        (result.deleted_on_server, "deleted on the server"),
        (result.skipped_too_large, "skipped as too large"),
        (result.left_for_next_time, "left for the next fetch by the per-fetch limit"),
        (result.duplicates_by_message_id, "already here under the same Message-ID"),
    )
    details = [f"{count:,} {words}" for count, words in counted if count]
    if result.uidl_reset_suspected:
        details.append("the server renumbered its messages, so nothing was deleted")
    details += listing_warnings(result)
    return details


def listing_warnings(result: FetchResult) -> list[str]:
    """What the server's listing hid or blurred: worth a warning, not an error."""
    warnings = []
    if result.skipped_malformed:
        warnings.append(
            f"{plural(result.skipped_malformed, 'message')} skipped: "
            "the server's listing line was malformed"
        )
    if result.shared_uidl:
        warnings.append(
            f"{plural(result.shared_uidl, 'message')} shared a unique-id with another on the "
            "server, stored apart by content"
        )
    if result.not_deleted_unconfirmed:
        warnings.append(
            f"{result.not_deleted_unconfirmed:,} not deleted on the server: "
            "they no longer matched what is stored here"
        )
    if result.size_mismatches:
        warnings.append(size_mismatch_words(result.size_mismatches))
    if result.delivery is not None:
        warnings.extend(result.delivery.warnings())
    return warnings


def size_mismatch_words(skipped: list[pop3.MessageSizeMismatch]) -> str:
    """ "2 skipped as not the size the server announced (message 3: 120 of 500 bytes, ...)"."""
    shown = ", ".join(
        f"message {e.number}: {e.received:,} of {e.expected:,} bytes" for e in skipped[:5]
    )
    more = f", {len(skipped) - 5:,} more" if len(skipped) > 5 else ""
    shorter = sum(1 for e in skipped if e.received < e.expected)
    kinds = [
        f"{count:,} {word}"
        for count, word in ((shorter, "shorter"), (len(skipped) - shorter, "longer"))
        if count
    ]
    return (
        f"{len(skipped):,} skipped as not the size the server announced "
        f"({' and '.join(kinds)}: {shown}{more}); kept on the server and tried again next time"
    )


def summary_line(result: FetchResult) -> str:
    """ "Box: 3 new messages, 12.1 KB in 0.4s", or "Box: <what went wrong>" (the CLI's line)."""
    if result.error is not None:
        return f"{result.account}: {error_text(result.error)}"
    parts = [plural(result.new_messages, "new message")]
    if result.bytes_fetched:
        parts.append(human_bytes(result.bytes_fetched))
    parts += fetch_details(result)
    return f"{result.account}: " + ", ".join(parts) + f" in {result.seconds:.1f}s"


def pin_advice(account_name: str, certificate: pop3.CertificateInfo) -> str:
    """The command that trusts exactly this certificate for the mailbox."""
    return (
        "If you trust this certificate, pin it: poptui account edit "
        f"{account_name!r} --pin-fingerprint {certificate.sha256}"
    )


# ---------------------------------------------------------------- the app's notices


@dataclass(frozen=True)
class Notice:
    """One outcome in words: a notification, and the short line the status bar keeps."""

    text: str
    severity: Severity
    status: str
    """One line for the status bar, without the account name."""
    retry_seconds: float | None = None
    """Set for a server that asked us to come back later (LOGIN-DELAY)."""


def _retry_words(account: Account | None, *, polling: bool) -> str:
    if polling and account is not None and account.is_active and not account.disabled:
        return f"retrying later (next try in {max(1, account.poll_minutes)} min)"
    return "retrying later: press f to try again in a few minutes"


def describe_success(
    name: str, result: FetchResult, account: Account | None, *, manual: bool
) -> Notice:
    """ "Work: 3 new messages"; `text` is empty when a background fetch found nothing worth
    a notification (the status line still says how it went)."""
    count = result.new_messages
    headline = f"{name}: {plural(count, 'new message')}" if count else ""
    details = fetch_details(result)
    status = f"{count} new" if count else "no new mail"
    status += f", {human_bytes(result.bytes_fetched)}" if result.bytes_fetched else ""
    if not headline and not details and not manual:
        return Notice("", "information", status)
    text = headline or f"{name}: no new mail"
    if details:
        text += " (" + "; ".join(details) + ")"
    severity: Severity = "warning" if listing_warnings(result) else "information"
    if manual and account is not None and not account.is_active:
        text += (
            f". {name} is not the active mailbox, so it is fetched only when you press f"
            " (s makes it active)"
        )
    return Notice(text, severity, status)


_FIXED_FAILURES: tuple[tuple[type[BaseException], str, Severity, str], ...] = (
    (
        MissingPassword,
        "{name}: no password is stored, so nothing was fetched; set it with p.",
        "error",
        "no password stored, set it with p",
    ),
    (
        AlreadyFetching,
        "{name} is already being fetched by another poptui (this app elsewhere or a "
        "scheduled `poptui fetch`); its mail shows up here when that fetch finishes.",
        "warning",
        "being fetched elsewhere",
    ),
    (FetchCancelled, "{name}: {error.message}", "warning", "stopped"),
    (
        SecretStoreError,
        "{name}: the password could not be read from the password store: {error}",
        "error",
        "password store unavailable",
    ),
    (AccountNotFound, "{name} was removed; nothing was fetched.", "warning", "removed"),
)
"""Failures worded the same every time: (kind, text with {name} and {error}, severity, status).
Checked in this order, after the failures whose words depend on the account or the server."""


def enable_advice(name: str, auth_method: str) -> str:
    """How a disabled mailbox is enabled again, for its kind of login: an OAuth2 mailbox has
    no password to fix, it signs in again. Worded for the terminal and the app alike."""
    if auth_method == AUTH_OAUTH2:
        return (
            f"Sign in again (poptui account signin {name!r}, or p then Ctrl+G in the app) to "
            "enable it."
        )
    return (
        f"Fix the password (poptui password set {name!r} --incoming) or the settings to enable it."
    )


def describe_failure(
    name: str, error: BaseException, account: Account | None, *, polling: bool
) -> Notice:
    """A fetch or check failure in the app's words, with what to do about it."""
    if isinstance(error, pop3.AuthenticationFailed) and not error.provider_advice:
        # OAuth2: a refused token, or a sign-in the provider no longer accepts.
        reason = getattr(error, "reason", "") or "sign in again"
        return Notice(f"{name}: {error_text(error)}", "error", f"{reason}: p, then Ctrl+G")
    if isinstance(error, pop3.AuthenticationFailed):
        text = f"{name}: password rejected, change it with p. {error_text(error)}"
        if account is not None and account.disabled:
            text += (
                f" After {account.consecutive_auth_failures} failed logins in a row it is "
                "disabled until the password is changed."
            )
        return Notice(text, "error", "password rejected, change it with p")
    if isinstance(error, pop3.UntrustedCertificate):
        reason = error.certificate.reason if error.certificate is not None else ""
        reason = reason or "it could not be verified"
        return Notice(
            f"{name}: the server's certificate is not trusted ({reason}); nothing was fetched. "
            "Press t to see it and pin it if its fingerprint is the one your provider gave you.",
            "error",
            "certificate not trusted: t shows it and can pin it",
        )
    if isinstance(error, pop3.MailboxInUse | pop3.LoginDelay | pop3.ServerTemporaryError):
        return _server_busy(name, error, account, polling=polling)
    if (
        isinstance(error, AccountDisabled)
        and account is not None
        and account.auth_method == "oauth2"
    ):
        return Notice(
            f"{name} is disabled: {account.disabled_reason or 'too many failures in a row.'} "
            "It is not fetched until it is signed in again: p, then Ctrl+G.",
            "error",
            "disabled: sign in again (p, then Ctrl+G)",
        )
    if isinstance(error, AccountDisabled):
        reason = account.disabled_reason if account is not None else ""
        return Notice(
            f"{name} is disabled: {reason or 'too many failures in a row.'} It is not fetched "
            "until fixed: change the password with p, or correct the settings with e (Test & "
            "save), and it is enabled again.",
            "error",
            "disabled, not fetched until fixed (p for the password, e to edit)",
        )
    for kind, text, severity, status in _FIXED_FAILURES:
        if isinstance(error, kind):
            return Notice(text.format(name=name, error=error), severity, status)
    message, _hint = message_and_hint(error)
    detail = error_text(error)
    if isinstance(error, pop3.Pop3Error):
        if polling and account is not None and account.is_active:
            detail += f" Trying again in {max(1, account.poll_minutes)} min."
        return Notice(f"{name}: {detail}", "error", message)
    return Notice(f"{name}: {detail}", "error", one_line(message, 120))


def _server_busy(
    name: str,
    error: pop3.MailboxInUse | pop3.LoginDelay | pop3.ServerTemporaryError,
    account: Account | None,
    *,
    polling: bool,
) -> Notice:
    """[IN-USE], [LOGIN-DELAY], [SYS/TEMP]: nothing is wrong here, try again later."""
    retry = _retry_words(account, polling=polling)
    delay: float | None = None
    if isinstance(error, pop3.MailboxInUse):
        what = "the mailbox is in use by another mail program [IN-USE]"
    elif isinstance(error, pop3.LoginDelay):
        delay = float(error.delay_seconds) if error.delay_seconds else None
        every = f" every {round(delay / 60)} min" if delay else " every few minutes"
        what = f"the server allows a login only{every} [LOGIN-DELAY]"
        if delay and polling:
            retry = f"retrying later (not before {max(1, round(delay / 60))} min)"
    else:
        what = f"the server has a temporary problem ({error.server_text or 'SYS/TEMP'})"
    return Notice(f"{name}: {what}; {retry}.", "warning", f"server busy, {retry}", delay)


# ---------------------------------------------------------------- a connection check


def how_secured(security: Security) -> str:
    return "without encryption" if security is Security.NONE else f"with {security.label}"


def connecting_line(server: IncomingServer) -> str:
    """Shown before the check starts (it can take up to its timeout)."""
    return f"Connecting to {server.address} ({server.security.label})…"


def check_lines(report: CheckReport) -> list[str]:
    """What the check learnt, line by line (server-supplied text cleaned)."""
    server = report.server
    if not report.connected:
        if report.untrusted_certificate is None:
            return []
        return [f"Reached {server.address} {how_secured(server.security)}."]
    lines = [f"Connected to {server.address} {how_secured(server.security)}."]
    certificate = report.certificate
    if certificate is not None:
        pinned = " (pinned)" if server.pinned_fingerprint else ""
        lines.append(f"TLS certificate{pinned}: SHA-256 {certificate.sha256}")
        lines.append(f"  subject: {clean(certificate.subject)}")
    else:
        lines.append("No TLS: the password and mail travel unencrypted.")
    capabilities = " ".join(
        " ".join([name, *values]) for name, values in sorted(report.capabilities.items())
    )
    lines.append(f"Capabilities: {clean(capabilities) or '(the server does not support CAPA)'}")
    if report.logged_in:
        how = f" with {report.mechanism}" if report.mechanism else ""
        lines.append(f"Logged in as {clean(server.username)}{how}.")
    if report.message_count is not None:
        count, size = report.message_count, human_bytes(report.mailbox_bytes or 0)
        lines.append(f"{count:,} message{'' if count == 1 else 's'} ({size}) on the server.")
    return lines


BEARER_WORDS = ("XOAUTH2", "OAUTHBEARER")
"""OAuth2 logins name their mechanism in the test's sentence (the form, `fetch --test`)."""


def check_sentence(report: CheckReport) -> str:
    """The outcome in one sentence: what the account form shows after "Test & save"."""
    if report.error is not None:
        return error_text(report.error)
    waiting = plural(report.message_count or 0, "message")
    how = f" with {report.mechanism}" if report.mechanism in BEARER_WORDS else ""
    return f"Logged in to {report.server.address}{how}: {waiting} waiting on the server."


def certificate_lines(certificate: pop3.CertificateInfo) -> list[str]:
    """An untrusted certificate's details, for deciding whether to pin it."""
    return [
        f"subject:     {clean(certificate.subject)}",
        f"issuer:      {clean(certificate.issuer)}",
        f"valid:       {certificate.not_before} to {certificate.not_after}",
        f"fingerprint: SHA-256 {certificate.sha256}",
    ]
