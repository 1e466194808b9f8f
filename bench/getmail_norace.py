"""Run Debian's getmail6 with its lost-SIGCHLD race fixed; otherwise unchanged.

getmail6 (6.18.11) delivers every message in a forked child and waits for it with a
``threading.Condition`` that a SIGCHLD handler notifies; the handler is installed only *after*
``os.fork()`` returns in the parent (``ForkingBase.forkchild``). When the child exits first --
on a busy machine about once in a thousand deliveries -- the signal is lost, getmail waits for
its whole ``timeout`` and then aborts the run with "waiting child pid N timed out".

Here the parent reaps the child with a blocking ``os.waitpid()`` instead: the same fork, the
same delivery work in the child, no race. Everything else is getmail as installed.

Usage (with the system Python that getmail's shebang names):
    /usr/bin/python3 bench/getmail_norace.py [getmail arguments]
"""

from __future__ import annotations

import os
import runpy
import shutil
import sys

from getmailcore import baseclasses
from getmailcore.exceptions import getmailOperationError


def _prepare_child(self: baseclasses.ForkingBase) -> None:
    """No SIGCHLD handler: the child is reaped by _wait_for_child."""


def _wait_for_child(self: baseclasses.ForkingBase, childpid: int) -> int:
    pid, status = os.waitpid(childpid, 0)
    if os.WIFSIGNALED(status):
        raise getmailOperationError(f"child pid {pid} killed by signal {os.WTERMSIG(status)}")
    if not os.WIFEXITED(status):
        raise getmailOperationError(f"child pid {pid} failed to exit")
    return os.WEXITSTATUS(status)


baseclasses.ForkingBase._prepare_child = _prepare_child
baseclasses.ForkingBase._wait_for_child = _wait_for_child

if __name__ == "__main__":
    getmail = shutil.which("getmail") or "/usr/bin/getmail"
    sys.argv = [getmail, *sys.argv[1:]]
    runpy.run_path(getmail, run_name="__main__")
