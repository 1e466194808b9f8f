"""Issue #14 item 3: the systemd user unit, checked by systemd itself, and the passphrase handed
over as a systemd credential (never the environment), end to end against Dovecot."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PopUser
from tests.integration.fetch_helpers import make_message
from tests.servers.dovecot import DovecotServer
from tui.core.service.unit import UnitSettings, unit_text

POPTUI = [sys.executable, "-m", "tui"]
INSTALLED = Path(sys.executable).parent / "poptui"
PASSPHRASE = "a long passphrase for the service"


def verify(unit: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze --user verify`: exit 0 and not a word of warning for a good unit."""
    program = shutil.which("systemd-analyze")
    if program is None:
        pytest.fail("systemd-analyze is missing: apt-get install systemd", pytrace=False)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))
    return subprocess.run(
        [program, "--user", "verify", str(unit)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def write(tmp_path: Path, text: str) -> Path:
    unit = tmp_path / "poptui.service"
    unit.write_text(text)
    return unit


def test_the_generated_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    credential = tmp_path / "cred dir" / "poptui-passphrase"
    hostile_url = 'sqlite:////tmp/a dir/100%/$HOME/it\'s "db".db'
    text = unit_text(UnitSettings(INSTALLED, hostile_url, 6, credential))
    done = verify(write(tmp_path, text), tmp_path)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
    assert "Restart=on-failure" in text and "ExecStart=" + str(INSTALLED) in text
    assert "100%%" in text and "$$HOME" in text  # no specifier or variable expansion
    assert "Environment" not in text and PASSPHRASE not in text


@pytest.mark.parametrize(
    "breakage",
    [
        lambda text: text.replace(str(INSTALLED), "/nonexistent/poptui"),
        lambda text: text.replace("Restart=on-failure", "Restart=sometimes"),
        lambda text: text.replace("[Service]", "[Servise]"),
    ],
)
def test_verify_fails_on_a_broken_unit(tmp_path: Path, breakage: object) -> None:
    """The check above can fail: the same unit, broken three ways, does not pass."""
    text = unit_text(UnitSettings(INSTALLED))
    assert callable(breakage)
    done = verify(write(tmp_path, breakage(text)), tmp_path)
    assert done.returncode != 0 or done.stdout + done.stderr != ""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return dict(
        os.environ,
        HOME=str(home),
        POPTUI_DATABASE=f"sqlite:///{tmp_path}/service.db",
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_CONFIG_HOME=str(home / ".config"),
        POPTUI_SECRETS_PASSPHRASE=PASSPHRASE,  # for the set-up steps only
    )


def run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*POPTUI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def test_install_hands_the_passphrase_over_as_a_credential_and_the_service_fetches_with_it(
    env: dict[str, str], tmp_path: Path, dovecot: DovecotServer, pop_user: PopUser
) -> None:
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(2)])
    steps = [
        ("secrets", "use", "file"),
        ("account", "add", "Box", "--email", f"{pop_user.name}@example.com",
         "--incoming-host", "127.0.0.1", "--incoming-port", str(dovecot.plain_port),
         "--incoming-security", "none", "--username", pop_user.name, "--no-preset"),
        ("password", "set", "Box", "--incoming", "--stdin"),
    ]  # fmt: skip
    for step in steps:
        done = run(env, *step, stdin=pop_user.password + "\n")
        assert done.returncode == 0, (step, done.stderr)
    wrong = run(env, "service", "install", "--no-start", "--passphrase-stdin", stdin="nope\n")
    assert wrong.returncode == 1 and "passphrase" in wrong.stderr.lower()
    config = Path(env["XDG_CONFIG_HOME"])
    unit = config / "systemd" / "user" / "poptui.service"
    assert not unit.exists()  # a wrong passphrase writes nothing

    done = run(
        env, "service", "install", "--no-start", "--passphrase-stdin", stdin=PASSPHRASE + "\n"
    )
    assert done.returncode == 0, done.stderr
    text = unit.read_text()
    credential = config / "poptui" / "service" / "poptui-passphrase"
    assert f"LoadCredential=poptui-passphrase:{credential}" in text
    assert PASSPHRASE not in text and "Environment" not in text
    assert f"--database {env['POPTUI_DATABASE']} service run" in text  # as this shell has it
    assert stat.S_IMODE(credential.stat().st_mode) == 0o600
    assert stat.S_IMODE(credential.parent.stat().st_mode) == 0o700
    assert credential.read_text() == PASSPHRASE
    assert verify(unit, tmp_path).returncode == 0

    # What systemd does at start: the credential in a private directory, named in the
    # environment; the passphrase itself is nowhere in the environment.
    handed = tmp_path / "credentials"
    handed.mkdir(mode=0o700)
    shutil.copy(credential, handed / "poptui-passphrase")
    os.chmod(handed / "poptui-passphrase", 0o400)
    service_env = {k: v for k, v in env.items() if k != "POPTUI_SECRETS_PASSPHRASE"}
    service_env.update(CREDENTIALS_DIRECTORY=str(handed), JOURNAL_STREAM="8:1")
    log = tmp_path / "service.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*POPTUI, "service", "run"], env=service_env, stdin=subprocess.DEVNULL, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while "fetched Box: 2 new messages" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        status = run(service_env, "service", "status")
    finally:
        process.terminate()
        assert process.wait(60) == 0
    assert status.returncode == 0, status.stderr
    assert f"Unit: {unit} (installed)" in status.stdout
    assert "running, last seen just now, 1 mailboxes" in status.stdout
    assert "Box: fetched by the service just now (ok, 2 new)" in status.stdout

    removed = run(env, "service", "uninstall")
    assert removed.returncode == 0
    assert not unit.exists() and not credential.exists()
    after = run(env, "service", "status")
    assert "(not installed)" in after.stdout and "stopped just now" in after.stdout


def test_install_refuses_to_write_a_database_password_into_the_unit(env: dict[str, str]) -> None:
    url = "postgresql://alice:s3cret@127.0.0.1:9/poptui"  # refused before connecting
    done = run(env, "--database", url, "service", "install", "--no-start")
    assert done.returncode == 1
    assert "holds a password" in done.stderr and "s3cret" not in done.stderr + done.stdout
