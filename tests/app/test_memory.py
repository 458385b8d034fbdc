"""app.memory: the glibc allocator settings apply here (Linux CI) and trimming is safe to call any time."""

from __future__ import annotations

import platform

import pytest

from app import memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc-only settings; a no-op elsewhere")
def test_tune_allocator_is_accepted_by_glibc():
    assert memory.tune_allocator() is True


def test_trim_after_freeing_a_large_buffer_does_not_raise_and_frees():
    from tools.soak import rss_mb
    import os

    block = bytearray(64 << 20)  # 64 MiB, touched
    before = rss_mb(os.getpid())
    del block
    memory.trim()
    assert rss_mb(os.getpid()) < before - 32  # most of it went back to the OS
