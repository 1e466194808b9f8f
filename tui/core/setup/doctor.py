"""`poptui doctor`: what works, what does not, and what to do about it, in plain words."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from peewee import PeeweeException

from tui.core.secrets import KeyringHealth, probe_keyring
from tui.core.secrets.encrypted_file import default_encrypted_file_path
from tui.core.secrets.setup import CHOOSE_HINT, saved_store_choice
from tui.core.settings import AUTH_OAUTH2
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import (
    DatabaseError,
    describe_url,
    open_database,
    schema_version,
    sqlite_file,
)
from tui.core.storage.failures import CorruptDatabase, DiskFull, explain
from tui.core.storage.files import (
    LoosePermission,
    data_directory,
    database_files,
    fix_command,
    loose_permissions,
    make_private,
)
from tui.core.storage.source_files import SourceFiles
from tui.core.text import clean, human_bytes, one_line


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
    """The SQLite file `url` names; None for PostgreSQL and in-memory databases."""
    path = sqlite_file(url)
    return None if path in {None, "", ":memory:"} else Path(str(path))


def loose_private_files(db: Any) -> list[LoosePermission]:
    """poptui's private files that others may read: the SQLite database and its -wal/-shm, the
    folders and files of its mail (`storage.source_files`), the encrypted password file when it
    is the chosen store, and poptui's data folder when they are in it. Called with the database
    open (the chosen password store is saved in it)."""
    files = database_files(db)
    with contextlib.suppress(Exception):  # an invalid saved choice is reported on its own
        choice = saved_store_choice()
        if choice is not None and choice.kind == "cryptfile":
            files.append(Path(choice.path) if choice.path else default_encrypted_file_path())
    home = data_directory()
    folders = [home] if any(path.parent == home for path in files) else []
    sources = SourceFiles.for_database(db)  # the mail itself, beside a SQLite database
    if sources is not None:
        mail_folders, mail_files = sources.private_paths()
        folders += mail_folders
        files += mail_files
    return loose_permissions(files, folders)


PERMISSIONS_FIX = "poptui doctor --fix-permissions"


def permission_checks(db: Any, *, fix: bool = False) -> list[Check]:
    """One check for the private files: ok, or each loose one and the one-step fix. With `fix`,
    makes them private first (`poptui doctor --fix-permissions`)."""
    title = "Database file permissions"  # the name `poptui doctor --json` has always used
    loose = loose_private_files(db)
    if fix and loose:
        failures = make_private(loose)
        if failures:
            return [Check(title, "fail", "could not fix: " + "; ".join(failures))]
        fixed = ", ".join(str(item.path) for item in loose)
        return [Check(title, "ok", f"made private: {fixed}")]
    if not loose:
        return [Check(title, "ok", "poptui's database and password files are private")]
    return [
        Check(
            title,
            "warn",
            "; ".join(item.describe() for item in loose),
            "Anyone who can read them can read the fetched mail (or try the password file's "
            f"passphrase). Fix: {PERMISSIONS_FIX}  (or: {fix_command(loose)})",
        )
    ]


LOW_SPACE_FAIL = 5 * 1024 * 1024
"""Below this much free space a fetch is likely to fail with "disk full"."""
LOW_SPACE_WARN = 100 * 1024 * 1024


def _integrity(db: Any) -> Check:
    """SQLite's `PRAGMA quick_check`: damaged pages, broken indexes, without a full scan of text."""
    try:
        rows = [str(row[0]) for row in db.execute_sql("PRAGMA quick_check").fetchall()]
    except (PeeweeException, sqlite3.Error) as error:
        worded = explain(error) or CorruptDatabase(str(error))
        return Check("Database integrity", "fail", worded.message, worded.hint)
    if rows == ["ok"]:
        return Check("Database integrity", "ok", "quick_check found no damage")
    return Check(
        "Database integrity",
        "fail",
        f"the file is damaged: {one_line(rows[0])}"
        + (f" (and {len(rows) - 1} more problems)" if len(rows) > 1 else ""),
        CorruptDatabase.hint,
    )


def _writable(db: Any, url: str) -> Check:
    """Take the write lock and write a page: a read-only file, folder or mount fails here even
    for root, for whom file modes do not stop writes. Rolled back: nothing changes."""
    try:
        with db.atomic() as transaction:
            db.execute_sql("UPDATE schema_version SET version = version")
            transaction.rollback()
    except (PeeweeException, sqlite3.Error) as error:
        worded = explain(error, url) or DatabaseError(str(error))
        return Check("Database writable", "fail", worded.message, worded.hint)
    return Check("Database writable", "ok", "a test write succeeded (and was undone)")


def _free_space(path: Path) -> Check:
    try:
        info = os.statvfs(path.parent)
    except OSError as error:
        return Check("Free disk space", "warn", f"cannot tell: {error.strerror}")
    free = info.f_bavail * info.f_frsize
    detail = f"{human_bytes(free)} free on the disk holding {path}"
    if free < LOW_SPACE_FAIL:
        return Check("Free disk space", "fail", detail, DiskFull.hint)
    if free < LOW_SPACE_WARN:
        return Check("Free disk space", "warn", detail, DiskFull.hint)
    return Check("Free disk space", "ok", detail)


def run_checks(
    url: str,
    *,
    probe: Callable[[], KeyringHealth] = probe_keyring,
    fix_permissions: bool = False,
) -> list[Check]:
    checks: list[Check] = []
    try:
        db = open_database(url)
    except DatabaseError as error:
        failed = [Check("Database", "fail", clean(error.message), error.hint)]
        path = sqlite_path(url)
        return failed if path is None else [*failed, _free_space(path)]
    checks.append(
        Check("Database", "ok", f"{describe_url(url)} (schema version {schema_version(db)})")
    )
    checks.extend(permission_checks(db, fix=fix_permissions))
    path = sqlite_path(url)
    if path is not None:
        integrity = _integrity(db)
        checks.append(integrity)
        if integrity.status != "fail":  # poptui does not write to a damaged file
            checks.append(_writable(db, url))
        checks.append(_free_space(path))
        damaged = integrity.status == "fail"
    else:
        damaged = False

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

    if not damaged:
        try:
            checks += _account_checks()
        except (PeeweeException, sqlite3.Error) as error:
            worded = explain(error, url) or DatabaseError(str(error))
            checks.append(Check("Accounts", "fail", worded.message, worded.hint))
    db.close()
    return checks


def _account_checks() -> list[Check]:
    checks: list[Check] = []
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
    from tui.core.oauth.signin import needs_sign_in

    for account in accounts:
        if needs_sign_in(account):
            checks.append(
                Check(
                    f"Account {one_line(account.name)}",
                    "fail" if account.disabled else "warn",
                    "sign in again: the provider no longer accepts its OAuth2 sign-in",
                    f"poptui account signin {one_line(account.name)!r}",
                )
            )
        elif account.disabled:
            checks.append(
                Check(
                    f"Account {one_line(account.name)}",
                    "warn",
                    f"disabled: {one_line(account.disabled_reason)}",
                    f"Sign in again (poptui account signin {account.name!r}) to enable it again."
                    if account.auth_method == AUTH_OAUTH2
                    else f"Fix the password (poptui password set {account.name!r} --incoming) or "
                    "the settings (poptui account edit) to enable it again.",
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
    return checks
