"""The input limits both front ends share (the `normlab` command line and the web app / API), checked by the same
functions so they accept and refuse the same values with the same words. No torch here.

| what | accepted |
|---|---|
| seed | a whole number from 0 to 2147483647 (``3`` and ``3.0`` yes; ``-1``, ``1.5``, ``2**31`` no) |
| output size (long side) | a whole number of pixels from 16 to 4096 on the command line; the web app caps the top at its
  ``--max-size`` (default 1024), because every request shares one server's memory |
"""
from __future__ import annotations

import math
from typing import Any

__all__ = ["SEED_MAX", "MIN_SIDE", "MAX_SIDE", "parse_seed", "parse_size"]

SEED_MAX = 2**31 - 1
MIN_SIDE = 16  # smaller outputs are below the networks' downsampling depth
MAX_SIDE = 4096  # the command line's cap; the server's is AppConfig.max_size


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
