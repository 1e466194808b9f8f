"""The checks every parser's accounts pass before they may be created: a host name that is a
host name, a user name without control characters, a port, a name fit for the mailbox list.

A file written by a stranger may hold anything; what fails here leaves that account out, with
the reason, rather than storing it (the import of the others goes on).
"""

from __future__ import annotations

import re

from tui.core.imports.found import FoundAccount
from tui.core.text import has_unsafe, one_line, quoted

_HOST = re.compile(r"[A-Za-z0-9._:\[\]-]{1,253}")
_FINGERPRINT = re.compile(r"([0-9A-F]{2}:){31}[0-9A-F]{2}")
MAX_NAME = 60


def sha256_pin(value: str) -> str | None:
    """A SHA-256 fingerprint in poptui's spelling (AB:CD:…), from hex with or without colons;
    None for anything else (an MD5 or SHA-1 fingerprint cannot be pinned)."""
    digits = value.replace(":", "").strip().upper()
    if not re.fullmatch(r"[0-9A-F]{64}", digits):
        return None
    return ":".join(digits[i : i + 2] for i in range(0, 64, 2))


def check(account: FoundAccount) -> None:
    """Leave `account` out (`not_imported`) when its settings cannot be used as they are."""
    s = account.settings
    s.incoming_host = s.incoming_host.strip()
    if account.not_imported:
        return
    if not s.incoming_host:
        account.not_imported = "no server name"
    elif not _HOST.fullmatch(s.incoming_host):
        account.not_imported = f"the server name {quoted(s.incoming_host)} is not a host name"
    elif not s.username.strip():
        account.not_imported = "no user name"
    elif has_unsafe(s.username) or len(s.username.encode()) > 320:
        account.not_imported = f"the user name {quoted(s.username)} cannot be sent to a server"
    elif not 0 < s.incoming_port < 65536:
        account.not_imported = f"port {s.incoming_port} is not a port"
    elif s.pinned_fingerprint and not _FINGERPRINT.fullmatch(s.pinned_fingerprint):
        account.not_imported = "the certificate fingerprint is not a SHA-256 digest"
    if account.password is not None and (not account.password or "\n" in account.password):
        account.unmapped.append("a password that is empty or spans lines: not kept")
        account.password = None
    s.name = mailbox_name(s.name) or mailbox_name(f"{s.username}@{s.incoming_host}")
    if not s.email:
        account.unmapped.append("email address: none in this setup; add it in the form")
    account.deletion_words()


def mailbox_name(text: str) -> str:
    """A name from a stranger's file, safe to show and store: no escapes, one line, short."""
    return one_line(text, MAX_NAME).strip()
