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

import contextlib
import ctypes
import ctypes.util
import functools
import logging
import os

log = logging.getLogger(__name__)

# mallopt parameter numbers from glibc's <malloc.h>
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -2, -3, -4, -8
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


KEEP_TRIM_THRESHOLD = 1 << 30  # free memory kept at the top of the heap before it is returned (per arena)
KEEP_TOP_PAD = 64 << 20  # extra heap grown at once, so a stream of same-sized frames stops calling brk
# glibc's documented defaults, restored on leaving ``kept_heap`` (the dynamic mmap threshold stays off)
GLIBC_MMAP_MAX, GLIBC_TRIM_THRESHOLD, GLIBC_TOP_PAD = 65536, 128 * 1024, 128 * 1024


@contextlib.contextmanager
def kept_heap():
    """Inside: freed memory stays in the heap for reuse (see :func:`keep_heap`); on leaving, glibc's defaults again
    and a trim, so a long-lived process (a test run, a notebook) gets its memory back."""
    kept = keep_heap()
    try:
        yield kept
    finally:
        libc = _libc()
        if kept and libc is not None:
            for param, value in (
                (M_MMAP_MAX, GLIBC_MMAP_MAX),
                (M_TRIM_THRESHOLD, GLIBC_TRIM_THRESHOLD),
                (M_TOP_PAD, GLIBC_TOP_PAD),
            ):
                libc.mallopt(param, value)
            libc.malloc_trim(0)


def keep_heap() -> bool:
    """The opposite policy, for one long stream of same-sized work (a video): keep freed tensors in the heap.

    Why: a 480p frame's full-resolution feature maps are 50 MB each, above glibc's largest mmap threshold (32 MiB),
    so by default every one is mmapped and unmapped again, and each frame page-faults ~20 of them in afresh (sys time
    was a third of the run; ``python -m models.bench video`` measures both). With mmap off, freed maps stay in the
    heap and the next frame reuses them: resident memory stays at one frame's peak, flat over the stream. For a
    process that does only that (``normlab stylize-video``); not for the app, whose requests vary in size.
    False where there is no glibc.
    """
    libc = _libc()
    if libc is None:
        return False
    ok = all(
        bool(libc.mallopt(param, value))
        for param, value in ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, KEEP_TRIM_THRESHOLD), (M_TOP_PAD, KEEP_TOP_PAD))
    )
    log.info("glibc malloc: heap kept (no mmap, trim above %d B) (%s)", KEEP_TRIM_THRESHOLD, "set" if ok else "refused")
    return ok


def trim() -> None:
    """Give the free memory of every arena back to the OS (cheap: well under a millisecond when little is free)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
