"""The one connection check (`tui.core.sync.check_incoming`) against the scriptable POP3 server,
and the words for its outcomes: the provider's advice on a rejected password, a hostile server's
capabilities, the form's sentence and `poptui fetch --test`'s output."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.integration.fetch_helpers import make_message
from tests.servers.certs import CertMaterial
from tests.servers.fake_pop3 import FakePop3Server
from tui.cli.fetch import run_connection_test
from tui.core.net import pop3
from tui.core.secrets import MemoryStore, SecretKind
from tui.core.settings import AccountSettings, Security
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.sync import (
    FetchControl,
    FetchOptions,
    IncomingServer,
    InvalidServerSettings,
    MissingPassword,
    check_incoming,
    fetch_account,
    summary_line,
)
from tui.core.sync.outcome import (
    check_sentence,
    describe_failure,
    error_text,
    with_provider_hint,
)
from tui.services import pop3_tester

MICROSOFT = "outlook.office365.com"
GMAIL = "pop.gmail.com"


def server_at(port: int, *, host: str = "127.0.0.1", **changes: Any) -> IncomingServer:
    fields: dict[str, Any] = dict(
        name="Work", host=host, port=port, security=Security.NONE, username="alice"
    )
    fields.update(changes)
    return IncomingServer(**fields)


def settings_at(host: str, port: int, *, name: str = "Work") -> AccountSettings:
    return AccountSettings(
        name=name,
        email="alice@example.com",
        incoming_host=host,
        incoming_port=port,
        incoming_security=Security.NONE,
        username="alice",
    )


@pytest.fixture
def resolve_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Provider host names reach the local fake server, as if DNS pointed them at it."""
    connect = socket.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        return connect(("127.0.0.1", address[1]), *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)


# ---------------------------------------------------------------- the provider's advice


@pytest.mark.parametrize(
    ("host", "words"),
    [(MICROSOFT, "OAuth"), ("pop-mail.outlook.com", "OAuth"), (GMAIL, "Gmail")],
)
def test_a_rejected_password_at_a_big_provider_carries_its_advice(host: str, words: str) -> None:
    error = pop3.AuthenticationFailed(f"The password was rejected by {host}.")
    assert words in with_provider_hint(error, host).hint


@pytest.mark.parametrize("host", ["pop.example.com", "127.0.0.1", "mail.outlook.com.evil.test"])
def test_other_hosts_get_no_provider_advice(host: str) -> None:
    error = pop3.AuthenticationFailed(f"The password was rejected by {host}.")
    assert not with_provider_hint(error, host).hint
    assert error_text(error) == error.message


@pytest.mark.parametrize(("host", "words"), [(MICROSOFT, "OAuth"), (GMAIL, "app password")])
def test_the_check_adds_the_advice_for_a_provider(
    resolve_to_loopback: None, host: str, words: str
) -> None:
    with FakePop3Server() as fake:
        report = check_incoming(server_at(fake.port, host=host), "wrong", timeout=5)
    assert isinstance(report.error, pop3.AuthenticationFailed)
    assert words in report.error.hint
    assert words in check_sentence(report)  # the form's words
    notice = describe_failure("Work", report.error, None, polling=False)  # the app's words
    assert notice.text.startswith("Work: password rejected, change it with p.")
    assert words in notice.text


def test_the_check_adds_no_advice_for_any_other_server() -> None:
    with FakePop3Server() as fake:
        report = check_incoming(server_at(fake.port), "wrong", timeout=5)
    assert isinstance(report.error, pop3.AuthenticationFailed)
    assert not report.error.hint
    assert check_sentence(report) == report.error.message


def test_the_form_tester_keeps_its_interface(resolve_to_loopback: None) -> None:
    with FakePop3Server([make_message(1)]) as fake:
        settings = settings_at(MICROSOFT, fake.port)
        rejected = pop3_tester(settings, "wrong")
        accepted = pop3_tester(settings, "secret")
    assert not rejected.ok and "OAuth" in rejected.message
    assert not rejected.untrusted_certificate
    assert accepted.ok
    assert (
        accepted.message
        == f"Logged in to {MICROSOFT}:{fake.port}: 1 message waiting on the server."
    )


# ---------------------------------------------------------------- what the check learns


def test_a_passing_check_counts_the_mail_and_changes_nothing() -> None:
    with FakePop3Server([make_message(i) for i in range(3)]) as fake:
        report = check_incoming(server_at(fake.port), "secret", timeout=5)
        verbs = fake.last.verbs
    assert report.ok and report.logged_in and report.message_count == 3
    assert verbs[-2:] == ["STAT", "QUIT"]
    assert not {"RETR", "DELE", "TOP"} & set(verbs)
    lines = report.lines
    assert lines[0] == f"Connected to 127.0.0.1:{fake.port} without encryption."
    assert lines[1] == "No TLS: the password and mail travel unencrypted."
    assert lines[2].startswith("Capabilities: ") and "PIPELINING" in lines[2]
    assert lines[3] == "Logged in as alice with PLAIN."
    assert lines[4].startswith("3 messages (") and lines[4].endswith(" on the server.")


def test_without_a_password_the_check_stops_before_logging_in() -> None:
    with FakePop3Server() as fake:
        report = check_incoming(server_at(fake.port), None, timeout=5)
        verbs = fake.last.verbs
    assert isinstance(report.error, MissingPassword)
    assert "poptui password set 'Work' --incoming" in report.error.message
    assert report.connected and not report.logged_in
    assert not {"USER", "PASS", "AUTH"} & set(verbs)
    assert any(line.startswith("Capabilities:") for line in report.lines)


def test_an_untrusted_certificate_is_reported_for_pinning(cert_material: CertMaterial) -> None:
    with FakePop3Server(implicit_tls=cert_material.server_context()) as fake:
        report = check_incoming(server_at(fake.port, security=Security.SSL), "secret", timeout=5)
    assert isinstance(report.error, pop3.UntrustedCertificate)
    assert report.untrusted_certificate is not None
    assert report.untrusted_certificate.sha256 == cert_material.fingerprint
    assert report.lines == [f"Reached 127.0.0.1:{fake.port} with SSL/TLS."]


def test_a_pinned_certificate_is_shown_as_pinned(cert_material: CertMaterial) -> None:
    with FakePop3Server(implicit_tls=cert_material.server_context()) as fake:
        server = server_at(
            fake.port, security=Security.SSL, pinned_fingerprint=cert_material.fingerprint
        )
        report = check_incoming(server, "secret", timeout=5)
    assert report.ok and report.untrusted_certificate is None
    assert f"TLS certificate (pinned): SHA-256 {cert_material.fingerprint}" in report.lines


def test_unusable_settings_are_a_worded_error_not_a_crash() -> None:
    report = check_incoming(server_at(0), "secret", timeout=5)
    assert isinstance(report.error, InvalidServerSettings)
    assert "port" in report.error.message and report.lines == []


def test_a_stopped_check_says_so() -> None:
    control = FetchControl()

    def stat(session: object, args: list[str]) -> bytes:
        control.cancel()  # quitting the app while the server is answering STAT
        return b"+OK 0 0\r\n"

    with FakePop3Server(handlers={"STAT": stat}) as fake:
        report = check_incoming(server_at(fake.port), "secret", timeout=5, control=control)
    assert not report.ok
    assert "stopped" in error_text(report.error or Exception())
    assert control.attached.is_set()


def test_a_hostile_servers_capabilities_reach_no_terminal_raw() -> None:
    """Escape sequences (a clipboard write, a screen clear) and a bidi override in CAPA."""
    evil = ("UIDL", "X-EVIL \x1b]52;c;ZXZpbA==\x07 \x1b[2J \u202egnp.exe", "USER")
    with FakePop3Server(capa=evil) as fake:
        report = check_incoming(server_at(fake.port), "secret", timeout=5)
    text = "\n".join(report.lines)
    assert "X-EVIL" in text
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text


# ---------------------------------------------------------------- `poptui fetch --test`


class Console:
    def __init__(self) -> None:
        self.out, self.err = io.StringIO(), io.StringIO()

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def warn(self, text: str) -> None:
        self.err.write(text + "\n")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AccountStore]:
    db = open_database(f"sqlite:///{tmp_path}/check.db")
    yield AccountStore("tester")
    db.close()


def test_fetch_test_prints_what_it_learnt_and_the_reason_it_failed(
    store: AccountStore, resolve_to_loopback: None
) -> None:
    with FakePop3Server([make_message(1)]) as fake:
        account = store.create(settings_at(GMAIL, fake.port, name="Box"))
        secrets = MemoryStore()
        args = SimpleNamespace(timeout=5.0, ca_file=None)
        console = Console()
        missing = run_connection_test(args, console, account, lambda: secrets)
        assert missing == 1
        assert "poptui password set 'Box' --incoming" in console.err.getvalue()
        secrets.set(account.secret_key, SecretKind.INCOMING, "wrong")
        console = Console()
        assert run_connection_test(args, console, account, lambda: secrets) == 1
        said = console.out.getvalue()
        assert said.startswith(f"Connecting to {GMAIL}:{fake.port} (None (unencrypted))…\n")
        assert "Capabilities: " in console.out.getvalue()
        reason = console.err.getvalue()
        assert reason.startswith(f"poptui: The password was rejected by {GMAIL}.")
        assert " — " in reason and "app password" in reason
        secrets.set(account.secret_key, SecretKind.INCOMING, "secret")
        console = Console()
        assert run_connection_test(args, console, account, lambda: secrets) == 0
        assert "Logged in as alice with PLAIN.\n1 message (" in console.out.getvalue()
        assert console.err.getvalue() == ""


def test_a_fetch_rejected_by_a_provider_records_its_advice(
    store: AccountStore,
    resolve_to_loopback: None,
    tmp_path: Path,
) -> None:
    with FakePop3Server([make_message(1)]) as fake:
        account = store.create(settings_at(GMAIL, fake.port, name="Box"))
        options = FetchOptions(lock_dir=tmp_path / "locks", timeout=5)
        result = fetch_account(account, "wrong", options=options)
    assert isinstance(result.error, pop3.AuthenticationFailed)
    assert "app password" in result.error.hint
    assert "app password" in summary_line(result)
    assert "app password" in store.get("Box").last_fetch_error
