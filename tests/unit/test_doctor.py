"""`poptui doctor`'s checks: what a server or another program wrote reaches the terminal clean."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_message_query import make_account
from tui.core.secrets import KeyringHealth, KeyringProblem
from tui.core.setup.doctor import run_checks
from tui.core.storage.accounts import current_user
from tui.core.storage.db import open_database
from tui.core.storage.models import Account

HOSTILE = "\x1b]52;c;ZXZpbA==\x07-ERR \x1b[2Jlogin\r\nDELE 1 \u202eexe.txt \x9eok"


def healthy() -> KeyringHealth:
    return KeyringHealth(KeyringProblem.OK, "test.Backend", "Passwords go to the test keyring.")


def test_server_text_in_the_report_loses_its_escape_sequences(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/doctor.db"
    db = open_database(url)
    failing = make_account("Failing")
    disabled = make_account("Disabled")
    Account.update(owner=current_user()).execute()
    Account.update(last_fetch_status="error", last_fetch_error=HOSTILE).where(
        Account.id == failing.id
    ).execute()
    Account.update(disabled=True, disabled_reason=HOSTILE).where(
        Account.id == disabled.id
    ).execute()
    db.close()

    checks = {check.title: check for check in run_checks(url, probe=healthy)}
    assert checks["Password store"].status == "ok"
    shown = [checks["Account Failing"].detail, checks["Account Disabled"].detail]
    assert shown == [
        "last fetch failed: -ERR login DELE 1 exe.txt ok",
        "disabled: -ERR login DELE 1 exe.txt ok",
    ]
