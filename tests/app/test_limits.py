"""app.limits: the shared input limits, at both boundaries, with the exact words both front ends print."""

from __future__ import annotations

import math
import re

import pytest

from app.limits import (
    MAX_MEGAPIXELS,
    MAX_SIDE,
    MIN_SIDE,
    SEED_MAX,
    _whole,
    check_megapixels,
    output_size,
    parse_seed,
    parse_size,
)


def test_the_documented_constants():
    assert (SEED_MAX, MIN_SIDE, MAX_SIDE, MAX_MEGAPIXELS) == (2147483647, 16, 16384, 100)


@pytest.mark.parametrize(
    "value, whole",
    [(3, 3), (3.0, 3), ("3", 3), ("3.0", 3), (-2, -2), (0, 0), ("1e3", 1000), (2**40, 2**40)],
)
def test_whole_numbers_are_accepted_in_any_spelling(value, whole):
    got = _whole(value)
    assert got == whole and type(got) is int


@pytest.mark.parametrize(
    "value", [True, False, 1.5, "1.5", "abc", None, [], float("nan"), float("inf"), -math.inf, "inf", 10**400]
)
def test_anything_else_is_not_a_whole_number(value):
    assert _whole(value) is None


@pytest.mark.parametrize("value", [0, 1, "7", 7.0, SEED_MAX, float(SEED_MAX)])
def test_seeds_in_range(value):
    assert parse_seed(value) == int(float(value))


@pytest.mark.parametrize("value", [-1, SEED_MAX + 1, 2**31, 1.5, "x", True, None])
def test_seeds_out_of_range_name_the_range_and_the_value(value):
    with pytest.raises(ValueError) as err:
        parse_seed(value)
    assert str(err.value) == f"seed must be a whole number from 0 to 2147483647, got {value!r}"


@pytest.mark.parametrize("value", [MIN_SIDE, MAX_SIDE, "512", 512.0])
def test_sizes_at_both_boundaries_are_accepted(value):
    assert parse_size(value) == int(float(value))


@pytest.mark.parametrize("value", [MIN_SIDE - 1, MAX_SIDE + 1, 0, -512, 512.5, "big", None])
def test_sizes_outside_are_refused_with_the_range(value):
    with pytest.raises(ValueError) as err:
        parse_size(value)
    assert str(err.value) == f"size must be a whole number of pixels from 16 to 16384, got {value!r}"


def test_size_bounds_can_be_narrowed_and_stay_inclusive():
    assert parse_size(64, lo=64, hi=128) == 64
    assert parse_size(128, lo=64, hi=128) == 128
    for bad in (63, 129):
        with pytest.raises(ValueError, match=re.escape(f"from 64 to 128, got {bad!r}")):
            parse_size(bad, lo=64, hi=128)


@pytest.mark.parametrize(
    "width, height, size, expected",
    [
        (1000, 500, None, (1000, 500)),  # None keeps the input's size
        (1000, 500, 512, (512, 256)),  # the long side becomes `size`
        (500, 1000, 512, (256, 512)),  # ... whichever side is long
        (300, 200, 600, (600, 400)),  # upscaling too
        (1000, 3, 100, (100, 1)),  # a thin side never reaches 0 ...
        (3, 1000, 100, (1, 100)),
        (1000, 1, 10, (10, 1)),
        (999, 333, 500, (500, 167)),  # rounded, not truncated (166.67)
        (1000, 1001, 500, (500, 500)),  # 499.5 rounds half to even
    ],
)
def test_output_size(width, height, size, expected):
    assert output_size(width, height, size) == expected


def test_megapixels_exactly_at_the_limit_pass_and_one_pixel_more_is_refused():
    check_megapixels(10_000, 10_000, 100, "the output", "--max-megapixels")  # exactly 100 MP
    with pytest.raises(ValueError, match=r"101x9901 \(1.0 MP\), over the limit of 1 MP"):
        check_megapixels(101, 9901, 1, "the output", "--max-megapixels")  # 1 000 001 pixels: one over 1 MP
    with pytest.raises(ValueError) as err:
        check_megapixels(10_000, 10_001, 100, "the output", "--max-megapixels")
    assert str(err.value) == (
        "the output would be 10000x10001 (100.0 MP), over the limit of 100 MP; "
        "raise it with --max-megapixels (memory stays bounded, time grows with the pixels)"
    )


def test_megapixel_message_formats_a_fractional_limit():
    with pytest.raises(ValueError, match=re.escape("content would be 2000x1000 (2.0 MP), over the limit of 1.5 MP")):
        check_megapixels(2000, 1000, 1.5, "content", "--flag")
    check_megapixels(1500, 1000, 1.5, "content", "--flag")
