"""Private by default: under umask 022 (a shared machine's usual one) every file poptui creates
with mail or passwords in it is 0600, every folder it creates 0700; looser existing files are
reported by `poptui doctor` with a one-step fix that works.

Each scenario runs in a subprocess that sets the umask first, then runs the real CLI (`tui.cli
.main`) or the real core function, as `poptui` would."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

PASSPHRASE = "correct horse battery"


def run_under_umask_022(tmp_path: Path, code: str, *, exits: tuple[int, ...] = (0,)) -> str:
    """Run `code` under umask 022; `exits`: the exit codes expected (doctor exits 1 here: no
    keyring on a test machine)."""
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "XDG_STATE_HOME": str(tmp_path / "xdg-state"),
        "POPTUI_SECRETS_PASSPHRASE": PASSPHRASE,
    }
    env.pop("POPTUI_DATABASE", None)
    script = "import os, sys\nos.umask(0o022)\n" + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode in exits, done.stderr + done.stdout
    return done.stdout


def poptui(*argv: str) -> str:
    """Code running the real command line with these arguments."""
    return f"from tui.cli import main\nsys.exit(main({list(argv)!r}))\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_default_database_and_its_folder_are_private(tmp_path: Path) -> None:
    run_under_umask_022(tmp_path, poptui("account", "list"))
    data = tmp_path / "xdg-data" / "poptui"
    assert mode(data) == 0o700
    assert mode(data / "poptui.db") == 0o600
    assert oct(mode(tmp_path / "xdg-data")) == oct(0o700)  # created by poptui too


def test_an_existing_folder_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    url = f"sqlite:///{shared}/new/team.db"
    run_under_umask_022(tmp_path, poptui("--database", url, "account", "list"))
    assert mode(shared) == 0o755
    assert mode(shared / "new") == 0o700
    assert mode(shared / "new" / "team.db") == 0o600


def test_the_write_ahead_log_and_shared_memory_are_private(tmp_path: Path) -> None:
    db = tmp_path / "wal.db"
    out = run_under_umask_022(
        tmp_path,
        f"""
        import stat
        from tui.core.storage.db import open_database
        db = open_database("sqlite:///{db}")
        db.execute_sql("INSERT INTO setting (owner, key, value) VALUES ('me', 'k', 'v')")
        for suffix in ("-wal", "-shm"):
            print(suffix, oct(stat.S_IMODE(os.stat("{db}" + suffix).st_mode)))
        db.close()
        """,
    )
    assert out.split() == ["-wal", "0o600", "-shm", "0o600"]
    assert mode(db) == 0o600


def test_the_encrypted_password_file_is_private(tmp_path: Path) -> None:
    secrets = tmp_path / "keys" / "secrets.cfg"
    url = f"sqlite:///{tmp_path}/cli.db"
    run_under_umask_022(
        tmp_path,
        f"""
        import io
        sys.stdin = io.StringIO("hunter2-but-longer\\n")
        from tui.cli import main
        assert main(["--database", "{url}", "secrets", "use", "file", "--path", "{secrets}"]) == 0
        assert main(["--database", "{url}", "account", "add", "Home", "--email", "me@aol.com"]) == 0
        sys.exit(main(["--database", "{url}", "password", "set", "Home", "--incoming", "--stdin"]))
        """,
    )
    assert secrets.stat().st_size > 0
    assert mode(secrets) == 0o600
    assert mode(secrets.parent) == 0o700


def test_a_saved_attachment_is_private(tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    raw = (
        b"From: a@ok.example\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
        b'Content-Type: application/pdf; name="invoice.pdf"\r\n'
        b"Content-Disposition: attachment; filename=invoice.pdf\r\n\r\n%PDF-1\r\n--b--\r\n"
    )
    out = run_under_umask_022(
        tmp_path,
        f"""
        from tui.core.mail.attachments import save_attachment
        print(save_attachment({raw!r}, 0, "{downloads}"))
        """,
    )
    saved = Path(out.strip())
    assert saved.parent == downloads and saved.read_bytes().startswith(b"%PDF")
    assert mode(saved) == 0o600


def test_doctor_reports_a_readable_database_and_fixes_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    run_under_umask_022(tmp_path, poptui("--database", url, "account", "list"))
    database = tmp_path / "cli.db"
    os.chmod(database, 0o644)

    report = run_under_umask_022(
        tmp_path, poptui("--database", url, "doctor", "--json"), exits=(0, 1)
    )
    check = {c["title"]: c for c in json.loads(report)}["Database file permissions"]
    assert check["status"] == "warn"
    assert str(database) in check["detail"] and "-rw-r--r--" in check["detail"]
    assert "poptui doctor --fix-permissions" in check["advice"]
    assert f"chmod 600 {database}" in check["advice"]

    run_under_umask_022(
        tmp_path, poptui("--database", url, "doctor", "--fix-permissions"), exits=(0, 1)
    )
    assert mode(database) == 0o600
    report = run_under_umask_022(
        tmp_path, poptui("--database", url, "doctor", "--json"), exits=(0, 1)
    )
    check = {c["title"]: c for c in json.loads(report)}["Database file permissions"]
    assert check["status"] == "ok"


def test_doctor_reports_a_readable_data_folder(tmp_path: Path) -> None:
    run_under_umask_022(tmp_path, poptui("account", "list"))
    data = tmp_path / "xdg-data" / "poptui"
    os.chmod(data, 0o755)
    report = run_under_umask_022(tmp_path, poptui("doctor", "--json"), exits=(0, 1))
    check = {c["title"]: c for c in json.loads(report)}["Database file permissions"]
    assert check["status"] == "warn" and f"chmod 700 {data}" in check["advice"]
    run_under_umask_022(tmp_path, poptui("doctor", "--fix-permissions"), exits=(0, 1))
    assert mode(data) == 0o700
