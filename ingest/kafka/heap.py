"""A worker gives the C heap's free pages back to the system (glibc's ``malloc_trim``).

A worker draining a backlog allocates in bursts (a sink batch and its store
writes, a commit's changelog writes, a fetch), and glibc kept what each burst
freed, scattered between live blocks: the next burst took new pages, and the
resident memory rose burst after burst (a 10x drain: 38 MiB free in the C heap
at its end, 20 MiB in use). Trimming every ``ingest.malloc_trim_s`` seconds
(``FLEETGRAPH_MALLOC_TRIM_S``; 0: never) gives those pages back between bursts.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
from collections.abc import Callable


def heap_trimmer() -> Callable[[], int] | None:
    """glibc's ``malloc_trim(0)`` (returns 1 when it gave memory back), or None on a C
    library without it (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return functools.partial(trim, 0)


async def trim_heap_every(every_s: float, trim: Callable[[], int]) -> None:
    """Trim every ``every_s`` seconds until cancelled (the sink role's loop; a Faust
    worker runs it as an app timer)."""
    while True:
        await asyncio.sleep(every_s)
        trim()
