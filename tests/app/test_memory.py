"""app.memory: the glibc allocator settings apply here (Linux CI) and trimming is safe to call any time."""

from __future__ import annotations

import platform

import pytest

from app import memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc-only settings; a no-op elsewhere")
def test_tune_allocator_is_accepted_by_glibc():
    assert memory.tune_allocator() is True


class _FakeLibc:
    """Records the allocator calls instead of making them."""

    def __init__(self):
        self.calls = []

    def mallopt(self, param, value):
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad):
        self.calls.append(("malloc_trim", pad))
        return 1


def test_tune_sets_the_mmap_threshold_and_the_arena_cap(monkeypatch):
    from models.common import memory as common

    fake = _FakeLibc()
    monkeypatch.setattr(common, "_libc", lambda: fake)
    assert memory.tune_allocator() is True
    assert fake.calls == [("mallopt", common.M_MMAP_THRESHOLD, 1 << 20), ("mallopt", common.M_ARENA_MAX, 2)]
    assert (common.M_MMAP_THRESHOLD, common.M_ARENA_MAX) == (-3, -8)  # glibc's <malloc.h> numbers
    memory.trim()
    assert fake.calls[-1] == ("malloc_trim", 0)


def test_every_handled_request_trims_once_whatever_its_outcome(monkeypatch):
    import gradio as gr

    from app.preprocess import InputError
    from app.web.handlers import user_errors
    from models.common import memory as common

    fake = _FakeLibc()
    monkeypatch.setattr(common, "_libc", lambda: fake)

    @user_errors
    def ok():
        return 1

    @user_errors
    def refused():
        raise InputError("no")

    @user_errors
    def broken():
        raise KeyError("x")

    assert ok() == 1
    for fn in (refused, broken):
        with pytest.raises(gr.Error):
            fn()
    assert [c for c in fake.calls if c[0] == "malloc_trim"] == [("malloc_trim", 0)] * 3
