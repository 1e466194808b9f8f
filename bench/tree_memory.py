"""Peak memory of a whole process tree, sampled from /proc while it runs.

    .venv/bin/python bench/tree_memory.py -- fetchmail -f rc --nodetach   # any command

wait4()'s ``ru_maxrss`` is one process's peak: for a tool that forks (fetchmail's MDA, getmail's
delivery child, a fetcher with a storing child) it is the largest process, not what the tool
holds. `TreeSampler` walks the root's descendants every few ms from a thread and keeps the
peak of the sum of their Pss (proportional set size: a page shared by n processes, such as
copy-on-write pages after fork() or a shared library, counts 1/n in each, so the sum counts it
once; a vfork() child still sharing its parent's address space is counted with the parent),
of the sum of their Pss_Anon (heap and stacks), and of the sum of their Rss (shared pages once
per process: an upper bound). The Pss of file pages (the interpreter, libraries) is also
divided with processes outside the tree that map the same files, so the Pss total of a Python
tool drops by up to ~8 MB while other Python processes run on the machine; the anonymous part
does not. Every `INTERVAL` it reads /proc/PID/task/TID/children and /proc/PID/statm (cheap);
/proc/PID/smaps_rollup (a page walk, ~0.15 ms per 10 MB resident; never the per-mapping
smaps) at each new high of the RSS sum and otherwise within `BUDGET`: the benchmarks time the
tools on a 2-core machine, so the sampler stays cheap. Its CPU time is reported.

A sampled peak is a lower bound: a spike shorter than the interval can fall between samples.
`run` therefore also keeps wait4()'s ru_maxrss (through GNU time, whose own few hundred KB are
left out of the tree): for a single-process tool the sampled Rss sum should come within a
small margin of it, which checks the sampling.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

GNU_TIME = "/usr/bin/time"
INTERVAL = 0.005
"""Seconds between looks at the tree: its processes and their RSS (/proc/PID/statm, no page
walk: ~0.1 ms for a tool with a few threads, ~3% of one CPU)."""
BUDGET = 0.03
"""Share of one CPU the periodic full samples (smaps_rollup, a page walk: ~0.6 ms per 40 MB
resident) may use. A look that finds the RSS sum at a new high (`STEP_KB` above the highest
fully sampled) takes a full sample at once, outside this budget: peaks as short as one
interval are caught without walking every page every 5 ms. With both, the sampler uses about
10% of one CPU beside a 45 MB tool, less beside a small one."""
STEP_KB = 512


@dataclass(frozen=True)
class TreePeak:
    pss_kb: int
    """Largest sum of Pss over the tree seen in one sample: the headline figure."""
    rss_kb: int
    """Largest sum of Rss seen in one sample (shared pages counted once per process)."""
    anon_kb: int
    """Largest sum of Pss_Anon: the tree's own heap and stacks, copy-on-write pages once. Unlike
    the Pss of file pages (the interpreter, libraries), which other processes on the machine
    mapping the same files divide, it does not depend on what else runs."""
    processes: int
    """Most processes alive in the tree at once."""
    samples: int
    """Full samples taken (smaps_rollup of every process)."""
    sampler_cpu: float
    """CPU seconds the sampling thread itself used."""


def _rollup(pid: int) -> tuple[int, int, int] | None:
    """(Pss, Rss, Pss_Anon) in KiB, or None when the process is gone, a zombie or has no memory.
    Pss_Anon reads 0 on kernels before 5.14, which lack it."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb", buffering=0) as fh:
            data = fh.read(4096)
    except OSError:  # ENOENT: gone; ESRCH: a zombie; EACCES: not ours
        return None
    rss = pss = -1
    anon = 0
    for line in data.split(b"\n"):
        if line.startswith(b"Rss:"):
            rss = int(line.split()[1])
        elif line.startswith(b"Pss:"):
            pss = int(line.split()[1])
        elif line.startswith(b"Pss_Anon:"):
            anon = int(line.split()[1])
            break
    return (pss, rss, anon) if pss >= 0 and rss >= 0 else None


_KCMP = {"x86_64": 312, "aarch64": 272}.get(platform.machine())
"""kcmp(2)'s syscall number here (None: unknown, no check)."""
_KCMP_VM = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _same_vm(a: int, b: int) -> bool:
    """Whether two processes share one address space: a vfork() or posix_spawn() child before
    its exec(), or CLONE_VM. Their smaps_rollup read the same memory, to be counted once."""
    if _KCMP is None:
        return False
    return int(_libc.syscall(_KCMP, a, b, _KCMP_VM, 0, 0)) == 0


_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _statm_rss(pid: int) -> int:
    """Resident KiB from the process's counters (no page walk); 0: gone, a zombie."""
    try:
        with open(f"/proc/{pid}/statm", "rb", buffering=0) as fh:
            return int(fh.read().split()[1]) * _PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def _children(pid: int) -> list[int]:
    """Direct children of every thread of `pid` (a thread that forks is their parent)."""
    kids: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb", buffering=0) as fh:
                kids.extend(int(k) for k in fh.read().split())
        except OSError:
            continue
    return kids


class TreeSampler:
    """Samples the tree under `root` from a thread while in the `with` block.

    The tree is walked from the root at each sample; processes seen once stay followed until
    they exit, so a child orphaned by its parent (re-parented outside the tree) still counts.
    `include_root=False` leaves the root itself out: a measuring wrapper such as GNU time.
    """

    def __init__(
        self,
        root: int,
        *,
        include_root: bool = True,
        interval: float = INTERVAL,
        budget: float = BUDGET,
    ) -> None:
        if not os.path.exists(f"/proc/self/task/{os.getpid()}/children"):
            # Without it only the root would be counted: a silent under-count.
            raise RuntimeError("this kernel lacks /proc/PID/task/TID/children (PROC_CHILDREN)")
        self.root = root
        self.include_root = include_root
        self.interval = interval
        self.budget = budget
        self._seen: set[int] = set()
        self._pss = self._rss = self._anon = self._most = self._samples = 0
        self._rss_sampled = 0
        self._cpu = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-memory", daemon=True)
        self._error: BaseException | None = None

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()
        if self._error is not None and kind is None:
            raise RuntimeError("the memory sampler failed") from self._error

    @property
    def peak(self) -> TreePeak:
        return TreePeak(self._pss, self._rss, self._anon, self._most, self._samples, self._cpu)

    def _loop(self) -> None:
        start = time.thread_time()
        next_full = 0.0
        try:
            while True:
                pids, rss = self.look()
                if time.monotonic() >= next_full or rss >= self._rss_sampled + STEP_KB:
                    before = time.thread_time()
                    self.sample(pids)
                    self._rss_sampled = max(self._rss_sampled, rss)
                    cost = time.thread_time() - before
                    next_full = time.monotonic() + cost / self.budget - cost
                if self._done.wait(self.interval):
                    break
        except BaseException as exc:  # surfaced by __exit__, not lost in the thread
            self._error = exc
        self._cpu = time.thread_time() - start

    def look(self) -> tuple[list[int], int]:
        """The tree's processes now (those sharing their parent's memory left out) and the sum
        of their RSS from the kernel's counters; keeps the RSS peak."""
        todo = [(self.root, 0), *((pid, 0) for pid in self._seen)]  # (pid, its parent)
        visited: set[int] = set()
        counted: list[int] = []
        rss = 0
        while todo:
            pid, parent = todo.pop()
            if pid in visited:
                continue
            visited.add(pid)
            todo.extend((kid, pid) for kid in _children(pid))
            if pid == self.root and not self.include_root:
                continue
            if parent and _same_vm(parent, pid):
                continue  # the parent's memory, counted with the parent
            resident = _statm_rss(pid)
            if resident:
                counted.append(pid)
                rss += resident
        self._seen = set(counted)
        self._rss = max(self._rss, rss)
        self._most = max(self._most, len(counted))
        return counted, rss

    def sample(self, pids: list[int] | None = None) -> None:
        """A full sample of `pids` (default: the tree now): add up Pss, Rss and Pss_Anon from
        smaps_rollup and keep the peaks."""
        pss = rss = anon = 0
        for pid in self.look()[0] if pids is None else pids:
            got = _rollup(pid)
            if got is not None:
                pss, rss, anon = pss + got[0], rss + got[1], anon + got[2]
        self._pss, self._rss = max(self._pss, pss), max(self._rss, rss)
        self._anon = max(self._anon, anon)
        self._samples += 1


@dataclass(frozen=True)
class Usage:
    rc: int
    wall: float
    """Seconds from spawning the tool to its exit."""
    cpu: float
    """User + system CPU seconds of the tool and the descendants it reaped (GNU time)."""
    maxrss_kb: int
    """wait4()'s ru_maxrss: the largest single process of the tree (0: unknown)."""
    tree: TreePeak


def run(
    argv: list[str],
    *,
    env: dict[str, str] | None,
    cwd: Path,
    stdout: IO[bytes] | int | None,
    stderr: IO[bytes] | int | None,
    timeout: float,
    usage_path: Path,
    interval: float = INTERVAL,
    budget: float = BUDGET,
) -> Usage:
    """Run `argv` under GNU time in a session of its own and sample its tree.

    GNU time, not this process, is the tool's parent: Linux carries the RSS a process had
    before exec() into ru_maxrss, so a tool forked from this Python would show this script's
    size. The session is killed after `timeout` seconds.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        [GNU_TIME, "-f", "%M %U %S", "-o", str(usage_path), *argv],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        cwd=cwd,
        start_new_session=True,
    )
    timer = threading.Timer(timeout, lambda: _kill_group(proc.pid))
    timer.start()
    sampler = TreeSampler(proc.pid, include_root=False, interval=interval, budget=budget)
    try:
        with sampler:
            rc = proc.wait()
    finally:
        timer.cancel()
    wall = time.perf_counter() - start
    maxrss, cpu = 0, float("nan")
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = usage_path.read_text().split()[-3:]
        maxrss, cpu = int(fields[0]), float(fields[1]) + float(fields[2])
    return Usage(rc, wall, cpu, maxrss, sampler.peak)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def describe(usage: Usage) -> str:
    t = usage.tree
    return (
        f"peak memory, whole process tree: {t.pss_kb / 1024:.1f} MB PSS (anonymous "
        f"{t.anon_kb / 1024:.1f} MB), {t.rss_kb / 1024:.1f} MB sum of RSS; "
        f"wait4 ru_maxrss {usage.maxrss_kb / 1024:.1f} MB; "
        f"{t.processes} process(es) at most, {t.samples} samples, sampler CPU "
        f"{t.sampler_cpu:.2f} s in {usage.wall:.2f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=INTERVAL, help="seconds")
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    usage_path = Path(f"/tmp/tree-memory-{os.getpid()}.usage")
    try:
        usage = run(
            args.command,
            env=None,
            cwd=Path.cwd(),
            stdout=None,
            stderr=None,
            timeout=3600,
            usage_path=usage_path,
            interval=args.interval,
        )
    finally:
        usage_path.unlink(missing_ok=True)
    print(describe(usage), file=sys.stderr)
    return usage.rc


if __name__ == "__main__":
    sys.exit(main())
