"""The input limits both front ends share (the `normlab` command line and the web app / API), checked by the same
functions so they accept and refuse the same values with the same words. No torch here.

| what | accepted |
|---|---|
| seed | a whole number from 0 to 2147483647 (``3`` and ``3.0`` yes; ``-1``, ``1.5``, ``2**31`` no) |
| output size (long side) | whole pixels from 16 to 16384 on the command line (and at most ``--max-megapixels``,
  default 100 MP, in all); the web app caps the top at its ``--max-size`` |
| input image | at most 100 MP on the command line (``--max-megapixels`` raises it); the web app's limit is its own |
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "SEED_MAX",
    "MIN_SIDE",
    "MAX_SIDE",
    "MAX_MEGAPIXELS",
    "parse_seed",
    "parse_size",
    "output_size",
    "check_megapixels",
]

SEED_MAX = 2**31 - 1
MIN_SIDE = 16  # smaller outputs are below the networks' downsampling depth
MAX_SIDE = 16384  # the command line's cap; the server's is AppConfig.max_size
# Images up to this size are stylized on the tile grid in bounded memory (under 2 GB at 100 MP, docs/benchmarks.md);
# the limit is a guard against mistakes (a 1 GP image would take hours), raised with --max-megapixels.
MAX_MEGAPIXELS = 100


def _whole(value: Any) -> int | None:
    """An int from an int, an integral float or a numeric string; None otherwise (no silent rounding)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if math.isnan(number) or math.isinf(number) or number != int(number):
        return None
    return int(number)


def parse_seed(value: Any) -> int:
    """A seed, or ``ValueError("seed must be a whole number from 0 to 2147483647, got ...")``."""
    seed = _whole(value)
    if seed is None or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed must be a whole number from 0 to {SEED_MAX}, got {value!r}")
    return seed


def parse_size(value: Any, lo: int = MIN_SIDE, hi: int = MAX_SIDE) -> int:
    """An output long side in pixels, or ``ValueError("size must be a whole number of pixels from LO to HI, ...")``."""
    size = _whole(value)
    if size is None or not lo <= size <= hi:
        raise ValueError(f"size must be a whole number of pixels from {lo} to {hi}, got {value!r}")
    return size


def output_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """The ``(width, height)`` of an output whose long side is ``size`` (None: the input's), as the models resize."""
    if size is None:
        return width, height
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def check_megapixels(width: int, height: int, limit_mp: float, what: str, flag: str) -> None:
    """``ValueError`` naming the limit and the flag that raises it when ``width x height`` is over ``limit_mp`` MP."""
    mp = width * height / 1e6
    if mp > limit_mp:
        raise ValueError(
            f"{what} would be {width}x{height} ({mp:.1f} MP), over the limit of {limit_mp:g} MP; "
            f"raise it with {flag} (memory stays bounded, time grows with the pixels)"
        )
