"""bench/tree_memory.py: the benchmarks' peak memory of a whole process tree.

wait4()'s ru_maxrss is the largest single process; a tool that forks holds the sum. These
tests run real processes that hold known amounts of memory and check the sampled tree figures
against them (and against ru_maxrss, to show the old figure would have missed them).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.bench_modules import load_bench

MB = 1024  # KiB


tm = load_bench("tree_memory")

# Parent and child each touch 20 MB (b"x" * n writes every page) and hold it at the same time.
TWO_HOLDERS = """
import os, time
ready_r, ready_w = os.pipe()
pid = os.fork()
if pid == 0:
    mine = b"c" * (20 << 20)
    os.write(ready_w, b"!")
    time.sleep(0.6)
    os._exit(0)
held = b"p" * (20 << 20)
os.read(ready_r, 1)
time.sleep(0.4)
os.waitpid(pid, 0)
"""

# The parent touches 30 MB, then forks: the child shares every page copy-on-write, untouched.
SHARED_AFTER_FORK = """
import os, time
held = b"p" * (30 << 20)
pid = os.fork()
if pid == 0:
    time.sleep(0.5)
    os._exit(0)
os.waitpid(pid, 0)
"""

# Hundreds of processes that start and exit while the sampler walks the tree.
CHURN = """
import os, subprocess
for _ in range(60):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
subprocess.run(["sh", "-c", "for i in $(seq 150); do /bin/true & done; wait"], check=True)
"""


def _run(tmp_path: Path, script: str, **kwargs: float) -> Any:
    if not Path(tm.GNU_TIME).exists():
        pytest.fail("GNU time is missing: apt-get install -y time (scripts/install-test-deps.sh)")
    usage = tm.run(
        [sys.executable, "-c", script],
        env=None,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=None,
        timeout=60,
        usage_path=tmp_path / "usage",
        **kwargs,
    )
    assert usage.rc == 0
    return usage


def test_two_processes_holding_memory_add_up(tmp_path: Path) -> None:
    usage = _run(tmp_path, TWO_HOLDERS)
    tree = usage.tree
    maxrss = usage.maxrss_kb
    assert tree.processes == 2
    # 20 + 20 MB held at once, plus two interpreters: the tree holds more than either.
    assert tree.pss_kb >= 40 * MB, tree
    assert 40 * MB <= tree.anon_kb <= tree.pss_kb <= tree.rss_kb
    # wait4 sees one process (the larger of the parent and its reaped child): ~30 MB.
    assert 20 * MB < maxrss < 35 * MB
    assert tree.pss_kb > maxrss + 10 * MB


def test_copy_on_write_pages_count_once_in_pss(tmp_path: Path) -> None:
    usage = _run(tmp_path, SHARED_AFTER_FORK)
    tree = usage.tree
    assert tree.processes == 2
    assert tree.rss_kb >= 60 * MB, tree  # the 30 MB counted in each process
    assert 30 * MB <= tree.pss_kb <= tree.rss_kb - 25 * MB, tree  # and once in the PSS sum
    assert 30 * MB <= tree.anon_kb <= tree.pss_kb


def test_single_process_comes_close_to_ru_maxrss(tmp_path: Path) -> None:
    script = "import time\nheld = b'x' * (40 << 20)\ntime.sleep(0.4)\n"
    usage = _run(tmp_path, script)
    tree = usage.tree
    maxrss = usage.maxrss_kb
    assert tree.processes == 1
    assert maxrss - 2 * MB <= tree.rss_kb <= maxrss + MB, (tree, maxrss)
    assert 40 * MB <= tree.pss_kb <= tree.rss_kb


def test_a_short_peak_is_caught(tmp_path: Path) -> None:
    # 30 MB held for 25 ms, three times: a look every 5 ms sees the RSS high and samples at once
    # (the periodic full samples are held off here, so only that can catch it).
    script = (
        "import time\ntime.sleep(0.2)\n"
        "for _ in range(3):\n"
        "    spike = b's' * (30 << 20)\n    time.sleep(0.025)\n    del spike\n"
        "    time.sleep(0.1)\n"
    )
    usage = _run(tmp_path, script, budget=0.00001)
    assert usage.tree.pss_kb >= 30 * MB, usage.tree
    assert usage.tree.rss_kb >= usage.maxrss_kb - 2 * MB, usage


def test_processes_exiting_mid_sample_are_skipped_quietly(tmp_path: Path) -> None:
    # Sampling as often as it can, so walks meet processes that vanish between two reads.
    usage = _run(tmp_path, CHURN, interval=0.0002, budget=1.0)
    tree = usage.tree
    assert tree.samples >= 10
    assert tree.processes >= 1


def test_gone_and_zombie_processes_read_as_nothing() -> None:
    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while _state(child.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _state(child.pid) == "Z"
    sampler = tm.TreeSampler(child.pid)
    sampler.sample()
    assert tm._rollup(child.pid) is None
    child.wait()
    assert tm._rollup(child.pid) is None and tm._children(child.pid) == []
    sampler.sample()
    assert sampler.peak.pss_kb == 0 and sampler.peak.samples == 2


def test_an_orphaned_child_stays_counted(tmp_path: Path) -> None:
    # The parent exits at once; its child, re-parented outside the tree, then takes 30 MB.
    flag = tmp_path / "orphan-done"
    script = (
        "import os, time, pathlib\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(0.3)\n"
        "    held = b'o' * (30 << 20)\n"
        "    time.sleep(0.4)\n"
        f"    pathlib.Path({str(flag)!r}).touch()\n"
        "    os._exit(0)\n"
        "time.sleep(0.1)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    with tm.TreeSampler(parent.pid) as sampler:
        parent.wait()
        deadline = time.monotonic() + 20
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert flag.exists()
    assert sampler.peak.pss_kb >= 30 * MB, sampler.peak


def test_a_child_sharing_its_parents_address_space_counts_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A thread shares this process's address space as a vfork() child does before exec();
    # listed as a child, its smaps_rollup reads the same memory and must not add it again.
    started, stop = threading.Event(), threading.Event()
    tids: list[int] = []

    def idle() -> None:
        tids.append(threading.get_native_id())
        started.set()
        stop.wait(10)

    thread = threading.Thread(target=idle)
    thread.start()
    try:
        started.wait(10)
        me, other = os.getpid(), tids[0]
        assert tm._same_vm(me, other)
        own = tm._rollup(me)[0]
        monkeypatch.setattr(tm, "_children", lambda pid: [other] if pid == me else [])
        sampler = tm.TreeSampler(me)
        sampler.sample()
    finally:
        stop.set()
        thread.join()
    assert sampler.peak.processes == 1
    assert sampler.peak.pss_kb < own * 1.5
    child = subprocess.Popen(["sleep", "5"])
    try:
        assert not tm._same_vm(me, child.pid)
    finally:
        child.kill()
        child.wait()


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[0]


def test_a_failing_sampler_is_not_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(pid: int) -> list[int]:
        raise ValueError("unreadable /proc")

    monkeypatch.setattr(tm, "_children", broken)
    with pytest.raises(RuntimeError, match="sampler failed"), tm.TreeSampler(os.getpid()):
        time.sleep(0.05)
