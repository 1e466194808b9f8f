"""Shared pieces for the fetch tests: a database per test, accounts aimed at the test Dovecot,
and realistic messages."""

from __future__ import annotations

import email.utils
import os
from pathlib import Path
from typing import Any

from tests.servers.dovecot import DovecotServer
from tui.core.net.pop3 import Secret
from tui.core.settings import AccountSettings, DeletePolicy, Security
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.storage.models import Account, Message, MessageSource, database_proxy
from tui.core.storage.source_files import read_source
from tui.core.sync import FetchOptions, FetchResult, fetch_account


def make_message(index: int, *, body: bytes | None = None, extra_headers: str = "") -> bytes:
    date = email.utils.format_datetime(email.utils.localtime())
    text = body if body is not None else f"Hello {index}, this is message {index}.\r\n".encode()
    head = (
        f"From: Sender {index} <sender{index}@example.org>\r\n"
        f"To: you@example.com\r\n"
        f"Subject: Message number {index}\r\n"
        f"Date: {date}\r\n"
        f"Message-ID: <msg{index}.{id(text)}@example.org>\r\n"
        f"{extra_headers}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    return head.encode() + text


def open_test_db(tmp_path: Path) -> Any:
    return open_database(f"sqlite:///{tmp_path}/fetch.db")


def dovecot_account(
    dovecot: DovecotServer,
    user: str,
    *,
    name: str = "Test",
    security: Security = Security.SSL,
    port: int | None = None,
    host: str = "127.0.0.1",
    pin: bool = True,
    **changes: Any,
) -> Account:
    ports = {
        Security.SSL: dovecot.tls_port,
        Security.STARTTLS: dovecot.starttls_port,
        Security.NONE: dovecot.plain_port,
    }
    settings = AccountSettings(
        name=name,
        email=f"{user}@example.com",
        incoming_host=host,
        incoming_port=port or ports[security],
        incoming_security=security,
        username=user,
        pinned_fingerprint=changes.pop(
            "pinned_fingerprint",
            dovecot.cert_fingerprint if pin and security is not Security.NONE else "",
        ),
        delete_policy=changes.pop("delete_policy", DeletePolicy.LEAVE),
        **changes,
    )
    return AccountStore("tester").create(settings)


def fetch(account: Account, password: Secret | None, tmp_path: Path, **kwargs: Any) -> FetchResult:
    options = kwargs.pop("options", None) or FetchOptions(lock_dir=tmp_path / "locks", timeout=10)
    fresh = Account.get_by_id(account.id)
    return fetch_account(fresh, password, options=options, **kwargs)


def stored_sources(account: Account) -> list[bytes]:
    """The account's stored messages, in storing order, wherever their bytes are."""
    query = (
        Message.select(Message.id)
        .join(MessageSource)
        .where(Message.account == account)
        .order_by(Message.id)
    )
    ids = [row.id for row in query]
    return [read_source(database_proxy.obj, message_id) or b"" for message_id in ids]


def crlf(raw: bytes) -> bytes:
    """What a POP3 server serves for a maildir file: CRLF line ends, ending in CRLF."""
    served = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return served if served.endswith(b"\r\n") else served + b"\r\n"


def cli_environment(home: Path) -> dict[str, str]:
    """The environment of a `poptui` command run as cron runs it: its home, database and XDG
    folders all in `home`, and this checkout's `tui` on the path."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "POPTUI_DATABASE": f"sqlite:///{home}/poptui.db",
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
