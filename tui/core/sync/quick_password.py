"""The quick "nothing new" check's password, when the saved store is a plain password command.

`tui.core.secrets` (its protocol, the command store, the sanitiser for its error words,
subprocess, shlex, json) is a fifth of a "nothing new" run's imports. When the saved choice is
the simplest password-command table and the mailbox's command needs no shell and no quoting,
this runs it with `os.posix_spawnp` and reads the first line, exactly as
`secrets.command.PasswordCommandStore` would; anything else (a keyring, a shell command, quotes,
an odd setting) returns None and the check asks `tui.core.secrets` as before. A failing command
is Unsure: the engine runs it again and words what went wrong.
"""

from __future__ import annotations

import os
import sqlite3
import time

from tui.core.sync.quick_session import Unsure

PLAIN_COMMAND_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _./:@%+,-"
)
"""A command of only these needs neither a shell nor shlex (`secrets.command.PasswordCommand`
splits it at its spaces, into the same argv): no quote, backslash, shell syntax or `=`."""

_COMMAND_TIMEOUT = 10.0
"""`secrets.command.DEFAULT_COMMAND_TIMEOUT`, the engine's own wait."""

# The saved choice (`secrets.choice.StoreChoice.to_dict`) read by SQLite's JSON functions, not
# json (and re): exactly {"kind": "command", "commands": {ID: text, ...}}, every id
# ACCOUNT:incoming or ACCOUNT:outgoing, no key twice, so `StoreChoice.from_dict` accepts it
# and reads the same command. One row: (the setting, whether it has that shape, the command).
_CHOICE = """
SELECT s.value,
  json_valid(s.value) AND json_type(s.value) = 'object'
  AND json_extract(s.value, '$.kind') = 'command' AND json_type(s.value, '$.kind') = 'text'
  AND json_type(s.value, '$.commands') = 'object'
  AND (SELECT count(*) = 2 AND count(DISTINCT e.key) = 2 AND sum(e.key IN ('kind', 'commands'))
       = 2 FROM json_each(s.value) AS e)
  AND (SELECT count(*) = count(DISTINCT e.key) AND count(*) = total(e.type = 'text'
       AND (e.key GLOB '?*:incoming' OR e.key GLOB '?*:outgoing'))
       FROM json_each(s.value, '$.commands') AS e),
  (SELECT e.value FROM json_each(s.value, '$.commands') AS e WHERE e.key = ? AND e.type = 'text')
FROM setting AS s WHERE s.owner = ? AND s.key = 'secret_store'
"""


def command_password(db: sqlite3.Connection, owner: str, secret_key: str) -> str | None:
    """The mailbox's incoming password from its plain password command; None when the saved
    store is anything else (the secrets package's to ask). Raises Unsure when it fails."""
    try:
        row = db.execute(_CHOICE, (f"{secret_key}:incoming", owner)).fetchone()
    except sqlite3.Error:  # not JSON at all: the secrets package words it
        return None
    if row is None or not row[1] or not isinstance(row[2], str):
        return None
    if any(character < " " for character in row[0]):
        return None  # json rejects raw controls in its strings; SQLite may not
    text = row[2].strip()
    if not text or not PLAIN_COMMAND_CHARACTERS.issuperset(text):
        return None
    try:
        inherited = _inherited_descriptors()
    except OSError:  # no /proc: the secrets package runs it
        return None
    return _first_line(text.split(), inherited)


def _inherited_descriptors() -> list[int]:
    """Descriptors above 2 a child would inherit (given to this process by whoever started
    it): subprocess closes them in the command (`close_fds`), and so does this."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        descriptor = int(name)
        if descriptor > 2:
            try:
                if os.get_inheritable(descriptor):
                    found.append(descriptor)
            except OSError:  # the listing's own descriptor, closed by now
                continue
    return found


def _first_line(argv: list[str], inherited: list[int]) -> str:
    """Run `argv` (stdin /dev/null, stderr discarded, its own session) and return the first
    line it prints; Unsure on a failure, a timeout (its process group killed) or no password."""
    import _signal  # type: ignore[import-not-found]  # `signal` itself builds enums

    read_end, write_end = os.pipe()
    try:
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, write_end, 1),
            (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
            *((os.POSIX_SPAWN_CLOSE, descriptor) for descriptor in inherited),
        ]
        try:
            pid = os.posix_spawnp(
                argv[0],
                argv,
                os.environ,
                file_actions=actions,
                setsid=True,
                setsigdef=(_signal.SIGPIPE, _signal.SIGXFSZ),  # as subprocess restores them
            )
        except OSError:
            os.close(read_end)
            raise Unsure("the command could not start: the engine words it") from None
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as output:
        data = _read_until_closed(output.fileno(), pid)
    status = os.waitpid(pid, 0)[1]
    if os.waitstatus_to_exitcode(status) != 0:
        raise Unsure("the password command failed: the engine words it")
    try:
        password = data.decode("utf-8").split("\n", 1)[0].rstrip("\r")
    except UnicodeDecodeError:
        raise Unsure("not UTF-8: the engine words it") from None
    if not password:
        raise Unsure("no password printed: the engine words it")
    return password


def _read_until_closed(fd: int, pid: int) -> bytes:
    import select

    deadline = time.monotonic() + _COMMAND_TIMEOUT
    chunks: list[bytes] = []
    waiting = select.poll()  # not select.select: no limit on the descriptor's number
    waiting.register(fd, select.POLLIN)
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not waiting.poll(max(1, int(left * 1000))):
            try:
                os.killpg(pid, 9)  # SIGKILL, the command and its children
            except OSError:
                os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise Unsure("the password command did not finish: the engine words it")
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
