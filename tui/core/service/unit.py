"""Installing the service the way the platform expects: a systemd *user* unit, no root.

The unit runs `poptui service run` by the absolute path of the installed poptui and restarts it
on failure. The encrypted password file's passphrase reaches it as a systemd credential
(`LoadCredential=` from a file only the user can read; poptui picks it up from
$CREDENTIALS_DIRECTORY, see `tui.core.secrets.handover`), never through the environment, which
`systemctl show` and every child process could read. Without systemd, a crontab line does.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_config_path

from tui.core.errors import PoptuiError
from tui.core.secrets.handover import CREDENTIAL_NAME
from tui.core.storage.files import create_private_file, make_private_dirs

UNIT_NAME = "poptui.service"
SYSTEMCTL_SECONDS = 30.0


class ServiceInstallError(PoptuiError):
    """The unit cannot be written or managed as asked, worded for the user."""


def user_unit_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def unit_path() -> Path:
    return user_unit_dir() / UNIT_NAME


def credential_path() -> Path:
    """Where the passphrase waits for systemd to hand it over (0600, in a 0700 folder)."""
    return user_config_path("poptui", appauthor=False) / "service" / CREDENTIAL_NAME


@dataclass(frozen=True)
class UnitSettings:
    executable: Path
    """The installed poptui, by absolute path (a user unit has a minimal PATH)."""
    database: str | None = None
    """`--database URL`, when the service must not use the default."""
    jobs: int = 4
    credential: Path | None = None
    """The passphrase file for `LoadCredential=`; None when no passphrase is needed."""


def _systemd_quote(word: str) -> str:
    """One word of an ExecStart= line: quoted when needed, `%` and `$` escaped for systemd."""
    word = word.replace("%", "%%").replace("$", "$$")
    if word and all(c.isalnum() or c in "/._-:=@+," for c in word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_text(settings: UnitSettings) -> str:
    """The unit file: a long-running fetcher, restarted on failure, stopped with SIGTERM."""
    if not settings.executable.is_absolute():
        raise ServiceInstallError(f"Not an absolute path: {settings.executable}")
    argv = [str(settings.executable)]
    if settings.database:
        argv += ["--database", settings.database]
    argv += ["service", "run", "--jobs", str(settings.jobs)]
    lines = [
        "[Unit]",
        "Description=poptui: fetch POP3 mail in the background",
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=" + " ".join(_systemd_quote(word) for word in argv),
        "Restart=on-failure",
        "RestartSec=30",
        # SIGTERM lets each fetch commit its current message; 20 s of grace in the service.
        "TimeoutStopSec=60",
    ]
    if settings.credential is not None:
        lines.append(f"LoadCredential={CREDENTIAL_NAME}:{settings.credential}")
    lines += ["", "[Install]", "WantedBy=default.target", ""]
    return "\n".join(lines)


def write_unit(text: str) -> Path:
    path = unit_path()
    try:
        make_private_dirs(path.parent)
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise ServiceInstallError(f"Cannot write {path}: {error.strerror}") from error
    return path


def write_credential(passphrase: str) -> Path:
    """The passphrase in a file only the user can read, for `LoadCredential=`."""
    path = credential_path()
    try:
        make_private_dirs(path.parent)
        path.unlink(missing_ok=True)  # a file left with looser modes is not reused
        create_private_file(path)
        with open(path, "w", encoding="utf-8") as handle:  # created 0600 above
            handle.write(passphrase)
    except OSError as error:
        raise ServiceInstallError(f"Cannot write {path}: {error.strerror}") from error
    return path


def remove_files() -> list[Path]:
    """Remove the unit and the passphrase file; which ones were there."""
    removed = []
    for path in (unit_path(), credential_path()):
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed


def _run_quietly(program: str, *args: str) -> subprocess.CompletedProcess[str] | None:
    """Run a systemd tool with its output captured; None when it is missing, cannot start or
    does not answer within SYSTEMCTL_SECONDS."""
    path = shutil.which(program)
    if path is None:
        return None
    try:
        return subprocess.run(
            [path, *args],
            capture_output=True,
            text=True,
            timeout=SYSTEMCTL_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def systemctl(*args: str) -> subprocess.CompletedProcess[str] | None:
    """`systemctl --user ARGS`; None when there is no systemctl or no user manager to ask."""
    done = _run_quietly("systemctl", "--user", *args)
    if done is None:
        return None
    reachable = "Failed to connect to bus" not in done.stderr and done.returncode != 127
    return done if reachable else None


def lingering(user: str | None = None) -> bool | None:
    """Whether the user's services run while they are logged out (None: cannot tell)."""
    name = user or pwd.getpwuid(os.getuid()).pw_name
    if Path("/var/lib/systemd/linger", name).exists():
        return True
    done = _run_quietly("loginctl", "show-user", name, "--property=Linger", "--value")
    if done is None:
        return None
    value = done.stdout.strip()
    if done.returncode == 0 and value in ("yes", "no"):
        return value == "yes"
    return False if Path("/var/lib/systemd/linger").is_dir() else None


def crontab_line(executable: Path, database: str | None = None) -> str:
    """For a machine without systemd: start the service at boot, and again every 10 minutes
    should it have stopped (a second one exits at once: the service lock)."""
    argv = [str(executable)]
    if database:
        argv += ["--database", database]
    command = shlex.join([*argv, "service", "run", "--ensure"])
    log = "$HOME/.local/state/poptui/service.log"
    return f"@reboot {command} >>{log} 2>&1\n*/10 * * * * {command} >>{log} 2>&1"
