"""`poptui doctor`: what works, what does not, and what to do about it, in plain words."""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tui.core.secrets import KeyringHealth, probe_keyring
from tui.core.secrets.setup import CHOOSE_HINT, saved_store_choice
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import DatabaseError, describe_url, open_database, schema_version
from tui.core.text import clean, one_line


@dataclass(frozen=True)
class Check:
    title: str
    status: str
    """ok | warn | fail"""
    detail: str
    advice: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def sqlite_path(url: str) -> Path | None:
    if not url.lower().startswith("sqlite://"):
        return None
    rest = url.split("://", 1)[1]
    path = rest[1:] if rest.startswith("/") else rest
    return None if path in {"", ":memory:"} else Path(path)


def _file_permissions(path: Path) -> Check | None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return Check(
            "Database file permissions",
            "warn",
            f"{path} is readable by other users (mode {stat.filemode(mode)})",
            "On a shared SQLite file its permissions are the security boundary: anyone who can "
            f"read it can read all fetched mail. Run: chmod 600 {path}",
        )
    return Check("Database file permissions", "ok", f"{path} is private ({stat.filemode(mode)})")


def run_checks(url: str, *, probe: Callable[[], KeyringHealth] = probe_keyring) -> list[Check]:
    checks: list[Check] = []
    try:
        db = open_database(url)
    except DatabaseError as error:
        return [Check("Database", "fail", clean(str(error)), "Check --database / POPTUI_DATABASE")]
    checks.append(
        Check("Database", "ok", f"{describe_url(url)} (schema version {schema_version(db)})")
    )
    path = sqlite_path(url)
    if path is not None:
        permission = _file_permissions(path)
        if permission is not None:
            checks.append(permission)

    choice = saved_store_choice()
    if choice is not None and choice.kind != "keyring":
        where = {"cryptfile": "encrypted file", "command": "password commands"}[choice.kind]
        checks.append(Check("Password store", "ok", f"chosen: {where}"))
    else:
        health = probe()
        if health.usable:
            checks.append(Check("Password store", "ok", health.advice))
        else:
            checks.append(
                Check(
                    "Password store",
                    "fail",
                    f"keyring backend {health.backend_name or 'unknown'}: {health.problem.value}",
                    f"{health.advice}\n{CHOOSE_HINT}",
                )
            )

    store = AccountStore()
    accounts = store.list()
    active = store.active()
    if not accounts:
        checks.append(
            Check("Accounts", "warn", "none yet", "Add one: poptui account add NAME --email ADDR")
        )
    else:
        checks.append(
            Check(
                "Accounts",
                "ok",
                f"{len(accounts)} configured; active: {active.name if active else 'none'}",
            )
        )
    for account in accounts:
        if account.disabled:
            checks.append(
                Check(
                    f"Account {one_line(account.name)}",
                    "warn",
                    f"disabled: {one_line(account.disabled_reason)}",
                    f"Fix the password (poptui password set {account.name!r} --incoming) or the "
                    "settings (poptui account edit) to enable it again.",
                )
            )
        elif account.last_fetch_status == "error":
            checks.append(
                Check(
                    f"Account {one_line(account.name)}",
                    "warn",
                    # A server wrote this: `poptui doctor` prints it straight to the terminal.
                    f"last fetch failed: {one_line(account.last_fetch_error)}",
                )
            )
    db.close()
    return checks
