"""glibc's mmap threshold fixed while mail comes in (`tui.core.sync.heap`): after one large
message, later ones still go back to the kernel once freed instead of staying in the heap,
which made a fetch's peak grow with the number of large messages it met (issue #11)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from tui.core.sync.heap import fix_mmap_threshold

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt's mmap threshold is glibc's",
)

RETAINED = """
import sys
from tui.core.sync.heap import fix_mmap_threshold
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()

def anon() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssAnon"))

big = b"x" * (4 << 20)  # one large message, freed: glibc raises its threshold past 1 MB
del big
base = anon()
messages = [b"x" * (1 << 20) for _ in range(32)]  # then 1 MB ones, all stored but the last
del messages[:-1]
print(anon() - base)
"""


def retained_kib(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", RETAINED, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@glibc
def test_large_messages_freed_go_back_to_the_kernel() -> None:
    fixed, default = retained_kib("fixed"), retained_kib("default")
    assert fixed < 4 * 1024, f"{fixed} KiB held for one 1 MB message"
    assert default > fixed + 16 * 1024, (default, fixed)  # what glibc alone would hold


@glibc
def test_the_threshold_is_set_once_per_process() -> None:
    assert fix_mmap_threshold() is True and fix_mmap_threshold() is True
    assert fix_mmap_threshold.cache_info().misses <= 1
