"""glibc's malloc while mail comes in: fixed thresholds, so a large message's memory is reused
for the next one instead of being mapped afresh, and the heap's size stays bounded.

Left alone, glibc maps every block of 128 KiB or more on its own, and after freeing such a
block raises that threshold to the block's size (up to 32 MB) and the trim threshold to twice
that: how much a fetch kept then depended on the largest messages it had met (issue #11).
A fixed mmap threshold of 256 KiB (sessions 5-14) bounded that, but then each large message
(in the bench corpus 141 messages of 0.5-3 MB hold 214 of its 243 MB) was a fresh mapping,
faulted in and zeroed page by page while the reading thread held the interpreter lock, and
unmapped once stored: ~63,000 page faults per 5,000-message fetch.

Now messages under `MMAP_THRESHOLD` come from the heap, and up to `TRIM_THRESHOLD` of free
memory stays at its top: the next message reuses pages already faulted in. Measured: minor
faults ~63,000 -> ~14,000 and system CPU 0.39-0.56 -> 0.20-0.39 s (/usr/bin/time, 3-6 fetches
each); side by side (bench/speed_ab.py, 7 rounds) per-round wall 0.97x plain and TLS; peak
memory 1.5-3.5 MB higher (at 50,000 messages 55.6 against 52.3 MB, whole tree PSS), and as flat
in the mailbox's size as before: what the heap holds is bounded by what is alive at once (the
conveyor, `receive.CONVEYOR_BYTES`) plus the trim threshold. Larger messages are still mapped on
their own and returned once stored, and when the fetch's messages are all stored
`release_free_memory` hands the rest back, so a process that lives on (the app, the service)
keeps none of it between fetches.
Elsewhere than glibc (musl, macOS) nothing is done.
"""

from __future__ import annotations

import functools
import sys

TYPE_CHECKING = False  # not `typing`'s
if TYPE_CHECKING:
    from typing import Any

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""mallopt's parameter numbers in glibc's <malloc.h>."""
MMAP_THRESHOLD = 8 * 1024 * 1024
"""Messages this large or larger are mapped on their own (and returned once stored); smaller
ones, attachments of a few MB included, come from the heap."""
TRIM_THRESHOLD = 16 * 1024 * 1024
"""Free memory kept at the heap's top for the next messages (6 MiB gave twice the faults and
no lower peak)."""


@functools.cache
def _libc() -> Any:
    """glibc's functions (`ctypes`: only when there is mail to fetch), or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # "nothing new" does not load it

    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):  # a libc without mallopt or malloc_trim (musl)
        return None
    return libc


def release_free_memory() -> bool:
    """After a fetch's messages are stored: give the heap's free pages back to the kernel
    (glibc's `malloc_trim`: 0.3-0.6 ms after 5,000 messages), so that a process that lives on
    (the app, `poptui service run`) does not keep what the trim threshold let the fetch reuse.
    True when it was done."""
    libc = _libc()
    if libc is None or not fix_mmap_threshold():
        return False
    libc.malloc_trim(0)
    return True


@functools.cache
def fix_mmap_threshold() -> bool:
    """Fix glibc's mmap and trim thresholds for the process (once); True when they were set."""
    libc = _libc()
    if libc is None:
        return False
    trim = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(trim)
