"""glibc's thresholds fixed while mail comes in (`tui.core.sync.heap`): large messages reuse
the heap pages of those already stored instead of being mapped and faulted in afresh, the heap
stays bounded however many messages come, and a message past the mmap threshold still goes
back to the kernel once freed, however large the messages before it were (issue #11)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from tui.core.sync.heap import (
    MMAP_THRESHOLD,
    TRIM_THRESHOLD,
    fix_mmap_threshold,
    release_free_memory,
)

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt's thresholds are glibc's",
)

PRELUDE = """
import ctypes, random, resource, sys
from collections import deque
from tui.core.sync.heap import fix_mmap_threshold
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
elif sys.argv[1] == "mapped":  # every block of 256 KiB or more mapped on its own
    ctypes.CDLL(None).mallopt(-3, 256 * 1024)

def anon() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssAnon"))

def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
"""

FETCH = (
    PRELUDE
    + """
# A fetch's pattern: mostly small messages, one in 31 of 0.5-3 MB; at most 8 MB alive at once
# (the conveyor), each freed once stored; small objects allocated in between.
rng = random.Random(1)
base, before = anon(), faults()
alive, held, peak = deque(), 0, 0
for _ in range(int(sys.argv[2])):
    small = rng.randrange(2_000, 60_000)
    size = rng.choice([small] * 30 + [rng.randrange(500_000, 3_000_000)])
    alive.append(b"y" * size)
    held += size
    names = [str(n) for n in range(20)]
    while held > 8 << 20:
        held -= len(alive.popleft())
    peak = max(peak, anon() - base)
print(peak, faults() - before)
"""
)

RELEASED = (
    FETCH.replace("print(peak, faults() - before)", "")
    + """
from tui.core.sync.heap import release_free_memory
del alive
kept = anon() - base
if sys.argv[3] == "release":
    assert release_free_memory()
print(kept, anon() - base)
"""
)

HUGE = (
    PRELUDE
    + f"""
size = {MMAP_THRESHOLD} + (4 << 20)
first = b"x" * size  # glibc alone would raise its thresholds past this one once it is freed
del first
base = anon()
second = b"x" * size
del second
print(anon() - base)
"""
)


AFTER_FETCH = """
import sys, tempfile
from pathlib import Path
from tests.integration.fetch_helpers import make_message
from tests.servers.fake_pop3 import FakePop3Server
from tui.core.settings import AccountSettings, DeletePolicy, Security
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.storage.models import Account
from tui.core.sync import FetchOptions, fetch_account
from tui.core.sync.heap import release_free_memory

def anon() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssAnon"))

large = (b"y" * 76 + b"\\r\\n") * 20_000  # 1.5 MB: from the heap, past glibc's own threshold
messages = [make_message(n, body=large if n % 2 else None) for n in range(41)]
scratch = Path(tempfile.mkdtemp())
open_database(f"sqlite:///{scratch}/heap.db")
handlers = {"UIDL": lambda session, args: b"-ERR no UIDL\\r\\n"}
with FakePop3Server(messages, capa=("USER", "PIPELINING"), handlers=handlers) as server:
    settings = AccountSettings(
        name="Heap", email="alice@example.com", incoming_host="127.0.0.1",
        incoming_port=server.port, incoming_security=Security.NONE, username="alice",
        delete_policy=DeletePolicy.AFTER_FETCH,
    )
    account = AccountStore("tester").create(settings)
    options = FetchOptions(lock_dir=scratch / "locks", timeout=5)
    result = fetch_account(Account.get_by_id(account.id), "secret", options=options)
    assert result.ok and result.new_messages == 41, result.error
    after = anon()
    release_free_memory()
    print(after - anon())
"""


def run(script: str, *args: str) -> list[int]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return [int(word) for word in done.stdout.split()]


@glibc
def test_large_messages_reuse_the_pages_of_those_stored() -> None:
    fixed_peak, fixed_faults = run(FETCH, "fixed", "3000")
    _mapped_peak, mapped_faults = run(FETCH, "mapped", "3000")
    # ~200 MB of messages pass through: mapped afresh each, every page faults in (~37,000).
    assert fixed_faults * 5 < mapped_faults, (fixed_faults, mapped_faults)
    assert fixed_peak < (8 << 10) + TRIM_THRESHOLD // 1024 + 4096, fixed_peak


@glibc
def test_the_heap_stays_bounded_however_many_messages_come() -> None:
    short_peak, _ = run(FETCH, "fixed", "2000")
    long_peak, _ = run(FETCH, "fixed", "20000")
    assert long_peak < short_peak + 4096, (short_peak, long_peak)  # KiB


@glibc
def test_once_the_mail_is_stored_the_free_pages_go_back() -> None:
    """The app and the service live on after a fetch: they keep none of the heap it reused."""
    kept, after = run(RELEASED, "fixed", "3000", "release")
    assert kept > 4096 and after < 2048, (kept, after)  # KiB
    kept, after = run(RELEASED, "fixed", "3000", "keep")
    assert after > 4096, after  # what the trim threshold alone leaves


@glibc
def test_a_fetch_from_a_server_without_uidl_leaves_no_free_heap_behind() -> None:
    """That path (fetch everything, store it, delete it) gives the free pages back itself, as
    the fetch by UIDL does: a trim after it has next to nothing left to return (KiB)."""
    (returned,) = run(AFTER_FETCH)
    assert returned < 512, f"{returned} KiB of free heap kept after the fetch"


def test_release_is_a_no_op_without_glibc_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    from tui.core.sync import heap

    monkeypatch.setattr(heap, "_libc", lambda: None)
    assert release_free_memory() is False


@glibc
def test_a_message_past_the_threshold_goes_back_to_the_kernel() -> None:
    (fixed,) = run(HUGE, "fixed")
    (default,) = run(HUGE, "default")
    assert fixed < 1024, f"{fixed} KiB held after a {MMAP_THRESHOLD >> 20} MiB+ message"
    assert default > MMAP_THRESHOLD // 1024, default  # what glibc alone would hold


@glibc
def test_the_thresholds_are_set_once_per_process() -> None:
    assert fix_mmap_threshold() is True and fix_mmap_threshold() is True
    assert fix_mmap_threshold.cache_info().misses <= 1
