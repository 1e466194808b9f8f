"""The device sign-in of the installed `poptui` in a real terminal (tmux), as over SSH: the
address and the code on the screen, the test approving as the person, then a fetch."""

from __future__ import annotations

import re
import sqlite3

import pytest

from tests.integration.fetch_helpers import make_message
from tests.servers.dovecot import DovecotServer
from tests.servers.oauth_server import CLIENT_ID, OAuthServer
from tests.terminal.conftest import EXIT_MARKER, TmuxSession, poptui_command, run_poptui
from tests.terminal.test_tmux import database_path

CODE = re.compile(r"\(([A-Z]{4}-[A-Z]{4})\)")


@pytest.mark.dovecot
def test_device_sign_in_in_a_terminal_then_fetch(
    tmux: TmuxSession,
    poptui_env: dict[str, str],
    oauth_server: OAuthServer,
    dovecot_oauth: DovecotServer,
    oauth_user: str,
) -> None:
    dovecot_oauth.deliver(oauth_user, make_message(1))
    run_poptui(
        poptui_env,
        "account",
        "add",
        "Work",
        "--email",
        oauth_user,
        "--incoming-host",
        "127.0.0.1",
        "--incoming-port",
        str(dovecot_oauth.tls_port),
        "--pin-fingerprint",
        dovecot_oauth.cert_fingerprint,
        "--oauth2",
        "--provider",
        "generic",
        "--client-id",
        CLIENT_ID,
        "--device-url",
        oauth_server.device_url,
        "--token-url",
        oauth_server.token_url,
        "--scope",
        "mail offline_access",
    )
    tmux.start([*poptui_command(), "account", "signin", "Work"], size=(100, 50))
    screen = tmux.wait_for(lambda s: CODE.search(s) is not None)
    assert oauth_server.base_url + "/device" in screen
    assert "scan this with a phone" in screen  # a tall enough terminal: the QR code too
    assert sum("█" in line for line in screen.splitlines()) >= 10
    code = CODE.search(screen)
    assert code is not None
    spaced = " ".join(code.group(1))
    assert spaced in screen  # the code, large enough to read off a screen
    oauth_server.approve_device(code.group(1), oauth_user)
    screen = tmux.wait_for(f"{EXIT_MARKER} 0]", timeout=30)
    assert "Signed in: Work" in screen
    fetched = run_poptui(poptui_env, "fetch", "--account", "Work")
    assert fetched.startswith("Work: 1 new message")
    with sqlite3.connect(database_path(poptui_env)) as db:
        rows = db.execute("SELECT * FROM account").fetchall()
    for token in oauth_server.issued_tokens():
        assert token not in repr(rows)
        assert token not in screen
