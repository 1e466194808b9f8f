"""`poptui account add --oauth2`, `poptui account signin` (device code and paste-back, as a
person does in an SSH session) and `poptui fetch` / `fetch --test`, as real programs."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.fetch_helpers import make_message
from tests.servers.dovecot import DovecotServer
from tests.servers.oauth_server import CLIENT_ID, OAuthServer

POPTUI = [sys.executable, "-m", "tui"]
pytestmark = pytest.mark.dovecot


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = dict(
        os.environ,
        POPTUI_DATABASE=f"sqlite:///{tmp_path}/cli.db",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        POPTUI_SECRETS_PASSPHRASE="cli-oauth-passphrase",
    )
    assert run(env, "secrets", "use", "file").returncode == 0
    return env


def run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*POPTUI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def add_oauth_account(
    env: dict[str, str], dovecot: DovecotServer, oauth: OAuthServer, user: str, *extra: str
) -> None:
    added = run(
        env,
        "account",
        "add",
        "Box",
        "--email",
        user,
        "--incoming-host",
        "127.0.0.1",
        "--incoming-port",
        str(dovecot.tls_port),
        "--pin-fingerprint",
        dovecot.cert_fingerprint,
        "--oauth2",
        "--provider",
        "generic",
        "--client-id",
        CLIENT_ID,
        "--token-url",
        oauth.token_url,
        "--authorize-url",
        oauth.authorize_url,
        "--scope",
        "mail offline_access",
        *extra,
    )
    assert added.returncode == 0, added.stderr
    assert "poptui account signin 'Box'" in added.stdout


def read_until(proc: subprocess.Popen[str], pattern: str, timeout: float = 30) -> re.Match[str]:
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen += line
        found = re.search(pattern, seen)
        if found:
            return found
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"{pattern!r} never came; the program said:\n{seen}")


def test_device_signin_then_fetch_and_test(
    env: dict[str, str], oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str
) -> None:
    dovecot_oauth.deliver_many(oauth_user, [make_message(1), make_message(2)])
    add_oauth_account(
        env, dovecot_oauth, oauth_server, oauth_user, "--device-url", oauth_server.device_url
    )
    signin = subprocess.Popen(
        [*POPTUI, "account", "signin", "Box"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        shown = read_until(signin, r"\(([A-Z]{4}-[A-Z]{4})\)")
        oauth_server.approve_device(shown.group(1), oauth_user)
        out, err = signin.communicate(timeout=60)
    finally:
        signin.kill()
    assert signin.returncode == 0, err
    assert "Signed in: Box" in out
    tested = run(env, "fetch", "--test", "Box")
    assert tested.returncode == 0, tested.stderr
    assert f"Logged in as {oauth_user} with OAUTHBEARER." in tested.stdout
    fetched = run(env, "fetch", "--account", "Box")
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.startswith("Box: 2 new messages")
    shown_account = run(env, "account", "show", "Box", "--json")
    assert '"method": "oauth2"' in shown_account.stdout
    database = Path(env["POPTUI_DATABASE"].removeprefix("sqlite:///")).read_bytes()
    words = out + err + tested.stdout + tested.stderr + fetched.stdout + shown_account.stdout
    for token in oauth_server.issued_tokens():
        assert token.encode() not in database
        assert token not in words


def test_paste_back_signin_over_ssh(
    env: dict[str, str], oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str
) -> None:
    dovecot_oauth.deliver(oauth_user, make_message(1))
    add_oauth_account(env, dovecot_oauth, oauth_server, oauth_user)
    signin = subprocess.Popen(
        [*POPTUI, "account", "signin", "Box"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        address = read_until(signin, r"    (http://\S+/authorize\?\S+)").group(1)
        # The browser is on the person's laptop: its loopback redirect does not reach poptui.
        ended_on = oauth_server.approve_authorization(address, oauth_user)
        out, err = signin.communicate(ended_on + "\n", timeout=60)
    finally:
        signin.kill()
    assert signin.returncode == 0, err
    assert "Signed in: Box" in out
    fetched = run(env, "fetch", "--account", "Box")
    assert fetched.stdout.startswith("Box: 1 new message"), fetched.stderr


def test_without_a_sign_in_fetch_says_sign_in_again(
    env: dict[str, str], oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str
) -> None:
    add_oauth_account(env, dovecot_oauth, oauth_server, oauth_user)
    fetched = run(env, "fetch", "--account", "Box")
    assert fetched.returncode == 1
    assert "sign in again" in fetched.stderr.lower()
    assert "poptui account signin 'Box'" in fetched.stderr
    listed = run(env, "account", "list")
    assert "error: sign in again" in listed.stdout
    doctor = run(env, "doctor")
    assert "sign in again" in (doctor.stdout + doctor.stderr).lower()
    assert "poptui account signin 'Box'" in doctor.stdout + doctor.stderr


def test_oauth_options_need_oauth2(env: dict[str, str]) -> None:
    refused = run(
        env,
        "account",
        "add",
        "X",
        "--email",
        "x@example.test",
        "--incoming-host",
        "h.test",
        "--client-id",
        "abc",
    )
    assert refused.returncode == 1
    assert "need --oauth2" in refused.stderr


def test_ctrl_c_cancels_the_device_sign_in_and_saves_nothing(
    env: dict[str, str], oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str
) -> None:
    add_oauth_account(
        env, dovecot_oauth, oauth_server, oauth_user, "--device-url", oauth_server.device_url
    )
    signin = subprocess.Popen(
        [*POPTUI, "account", "signin", "Box"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        read_until(signin, r"Ctrl\+C cancels")
        signin.send_signal(signal.SIGINT)
        _out, err = signin.communicate(timeout=30)
    finally:
        signin.kill()
    assert signin.returncode == 1
    assert "Sign-in cancelled; nothing was saved" in err
    fetched = run(env, "fetch", "--account", "Box")
    assert "not been signed in yet" in fetched.stderr


def test_a_password_cannot_overwrite_the_sign_in(
    env: dict[str, str], oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str
) -> None:
    add_oauth_account(env, dovecot_oauth, oauth_server, oauth_user)
    refused = run(env, "password", "set", "Box", "--incoming", "--stdin", stdin="hunter2\n")
    assert refused.returncode == 1
    assert "signs in with OAuth2" in refused.stderr


def test_a_disabled_oauth2_mailbox_says_sign_in_again_not_fix_the_password(
    env: dict[str, str], tmp_path: Path, oauth_server: OAuthServer, dovecot_oauth: DovecotServer
) -> None:
    add_oauth_account(env, dovecot_oauth, oauth_server, "nobody@example.test")
    db = sqlite3.connect(tmp_path / "cli.db")
    with db:
        db.execute("UPDATE account SET disabled = 1, disabled_reason = '3 failed logins.'")
    db.close()
    fetched = run(env, "fetch", "--account", "Box")
    assert fetched.returncode == 1
    assert "Box is disabled: 3 failed logins. Sign in again" in fetched.stderr
    assert "poptui account signin 'Box'" in fetched.stderr
    assert "password" not in fetched.stderr.lower()
    doctor = run(env, "doctor")
    said = doctor.stdout + doctor.stderr
    assert "poptui account signin 'Box'" in said
    assert "Fix the password" not in said


def test_tenant_and_client_secret_from_the_command_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    added = run(
        env,
        "account",
        "add",
        "Work",
        "--email",
        "ana@contoso.example",
        "--incoming-host",
        "outlook.office365.com",
        "--oauth2",
        "--provider",
        "microsoft",
        "--client-id",
        "registered-app",
        "--tenant",
        "contoso.onmicrosoft.com",
        "--client-secret",
        "never-in-the-database",
    )
    assert added.returncode == 0, added.stderr
    stored = (tmp_path / "cli.db").read_bytes()
    assert b"never-in-the-database" not in stored
    db = sqlite3.connect(tmp_path / "cli.db")
    (token_url,) = db.execute("SELECT oauth_token_url FROM account").fetchone()
    db.close()
    assert token_url == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    refused = run(env, "account", "edit", "Work", "--tenant", "../common")
    assert refused.returncode == 1
    assert "tenant" in refused.stderr


def test_a_clear_text_token_endpoint_is_refused(env: dict[str, str]) -> None:
    refused = run(
        env,
        "account",
        "add",
        "X",
        "--email",
        "x@corp.example",
        "--incoming-host",
        "pop.corp.example",
        "--oauth2",
        "--provider",
        "generic",
        "--client-id",
        "app",
        "--token-url",
        "http://login.corp.example/token",
    )
    assert refused.returncode == 1
    assert "--token-url" in refused.stderr and "https://" in refused.stderr
    assert "X" not in run(env, "account", "list").stdout.split()
