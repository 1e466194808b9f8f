"""Handing a message to a mail delivery agent (procmail, maildrop, dovecot-lda) on its stdin.

Exit status 0 means delivered; anything else keeps the mail on the server. The command is split
as a shell would split it but run without one (write `sh -c '…'` to get one), in its own
process group, so a hung MDA and its children are killed when its time is up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile

from tui.core.delivery.errors import DeliveryError
from tui.core.delivery.targets import DeliveryTarget, command_words
from tui.core.text import one_line

MDA_TIMEOUT = 120.0
"""Seconds an MDA may take for one message before it is killed (procmail can run filters)."""
EX_TEMPFAIL = 75
"""sysexits.h: "try again later" (a full disk, a lock held, a quota)."""
_STDERR_TAIL = 2000


def run_mda(target: DeliveryTarget, raw: bytes, *, timeout: float = MDA_TIMEOUT) -> None:
    """Run the target's command with `raw` on stdin; raise DeliveryError unless it exits 0."""
    label = f"MDA {one_line(target.address, 80)}"
    words = command_words(target)
    with tempfile.TemporaryFile() as errors:  # stderr to a file: an MDA cannot fill our memory
        try:
            process = subprocess.Popen(
                words,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as error:
            raise DeliveryError(
                f"Could not deliver to {label}: {one_line(words[0], 80)}: {error.strerror or error}"
            ) from error
        try:
            process.communicate(raw, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise DeliveryError(
                f"Could not deliver to {label}: it did not finish within {timeout:g} seconds "
                "and was stopped"
            ) from None
        except BaseException:
            _kill_group(process)
            raise
        status = process.returncode
        if status == 0:
            return
        errors.seek(max(0, errors.seek(0, os.SEEK_END) - _STDERR_TAIL))
        lines = errors.read().decode("utf-8", "replace").strip().splitlines()
        said = f" ({one_line(lines[-1], 200)})" if lines else ""
    raise DeliveryError(f"Could not deliver to {label}: {_status_words(status)}{said}")


def _status_words(status: int) -> str:
    if status == EX_TEMPFAIL:
        return "it asked to try again later (exit status 75, EX_TEMPFAIL)"
    if status < 0:
        return f"it was killed by signal {-status}"
    return f"it failed with exit status {status}"


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
