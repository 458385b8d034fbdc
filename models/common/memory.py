"""Keep resident memory flat: glibc allocator settings, and a trim after each request (the app) or tile (tiled AdaIN).

Why: the models allocate and free large, differently sized tensors on several worker threads. glibc malloc then
(1) raises its mmap threshold after the first large free (up to 32 MiB), so later tensors come from the heap
arenas, where a freed hole can only be reused by a request that fits it, and (2) gives each new worker thread
its own arena (up to 8 per core), each keeping its freed memory. Resident memory creeps with the variety of
request sizes and the number of threads that have served one, although nothing leaks (see docs/benchmarks.md,
"Soak"). Fixing the mmap threshold sends large tensors straight back to the OS when freed, a small arena cap
bounds the per-thread caches, and ``malloc_trim`` after a request returns what is left free. Other C libraries
(musl, macOS), or ``NORMLAB_ALLOCATOR=default`` in the environment (for comparisons): these are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os

log = logging.getLogger(__name__)

# mallopt parameter numbers from glibc's <malloc.h>
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
MMAP_THRESHOLD = 1 << 20  # allocations from 1 MiB up (images, feature maps) are mmapped and unmapped on free
ARENA_MAX = 2


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    if os.environ.get("NORMLAB_ALLOCATOR", "").lower() == "default":  # for A/B runs: glibc as it comes, no trims
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.mallopt  # noqa: B018 - glibc only
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def tune_allocator(mmap_threshold: int = MMAP_THRESHOLD, arena_max: int = ARENA_MAX) -> bool:
    """Set glibc's mmap threshold and arena cap for this process; False where there is no glibc.

    Call it once, early (before worker threads start): arenas made before it stay.
    """
    libc = _libc()
    if libc is None:
        return False
    ok = bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(libc.mallopt(M_ARENA_MAX, arena_max))
    log.info(
        "glibc malloc: mmap threshold %d B, at most %d arenas (%s)",
        mmap_threshold,
        arena_max,
        "set" if ok else "refused",
    )
    return ok


def trim() -> None:
    """Give the free memory of every arena back to the OS (cheap: well under a millisecond when little is free)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
