"""models.common.memory: finding glibc, the two mallopt settings, and the trim, each without touching the real
allocator (a fake libc records the calls)."""

from __future__ import annotations

import ctypes
import logging

import pytest

from models.common import memory


class _FakeLibc:
    def __init__(self, answer: int = 1):
        self.calls: list[tuple] = []
        self.answer = answer

    def mallopt(self, param, value):
        self.calls.append(("mallopt", param, value))
        return self.answer

    def malloc_trim(self, pad):
        self.calls.append(("malloc_trim", pad))
        return 1


@pytest.fixture(autouse=True)
def _fresh_cache():
    real = memory._libc  # tests below may replace it with a plain function
    real.cache_clear()
    yield
    real.cache_clear()


@pytest.mark.parametrize("value", ["default", "DEFAULT"])
def test_the_environment_switch_turns_everything_off(monkeypatch, value):
    monkeypatch.setenv("NORMLAB_ALLOCATOR", value)
    assert memory._libc() is None
    assert memory.tune_allocator() is False
    memory.trim()  # a no-op, no error


def test_glibc_is_found_by_name_and_by_the_fallback(monkeypatch):
    monkeypatch.delenv("NORMLAB_ALLOCATOR", raising=False)
    opened = []

    def fake_cdll(name):
        opened.append(name)
        return _FakeLibc()

    monkeypatch.setattr(ctypes, "CDLL", fake_cdll)
    monkeypatch.setattr(ctypes.util, "find_library", lambda n: "libc.so.6" if n == "c" else None)
    assert isinstance(memory._libc(), _FakeLibc) and opened == ["libc.so.6"]
    memory._libc.cache_clear()
    monkeypatch.setattr(ctypes.util, "find_library", lambda n: None)  # e.g. no ldconfig in a container
    assert isinstance(memory._libc(), _FakeLibc) and opened[-1] == "libc.so.6"
    memory._libc.cache_clear()
    monkeypatch.setattr(ctypes.util, "find_library", lambda n: "libc.musl.so")
    memory._libc()
    assert opened[-1] == "libc.musl.so"


@pytest.mark.parametrize("missing", ["mallopt", "malloc_trim"])
def test_a_libc_without_the_glibc_calls_is_not_used(monkeypatch, missing):
    monkeypatch.delenv("NORMLAB_ALLOCATOR", raising=False)

    class Other:  # musl: no mallopt / malloc_trim
        def __getattr__(self, name):
            if name == missing:
                raise AttributeError(name)
            return lambda *a: 1

    monkeypatch.setattr(ctypes, "CDLL", lambda name: Other())
    assert memory._libc() is None
    assert memory.tune_allocator() is False


def test_an_unloadable_libc_is_not_used(monkeypatch):
    monkeypatch.delenv("NORMLAB_ALLOCATOR", raising=False)

    def refuse(name):
        raise OSError("cannot open")

    monkeypatch.setattr(ctypes, "CDLL", refuse)
    assert memory._libc() is None


def test_tune_passes_its_values_and_reports_a_refusal(monkeypatch, caplog):
    fake = _FakeLibc()
    monkeypatch.setattr(memory, "_libc", lambda: fake)
    with caplog.at_level(logging.INFO, logger=memory.__name__):
        assert memory.tune_allocator(4096, 3) is True
    assert fake.calls == [("mallopt", -3, 4096), ("mallopt", -8, 3)]
    assert [r.getMessage() for r in caplog.records] == ["glibc malloc: mmap threshold 4096 B, at most 3 arenas (set)"]
    refusing = _FakeLibc(answer=0)  # mallopt returns 0 when glibc rejects a value
    monkeypatch.setattr(memory, "_libc", lambda: refusing)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=memory.__name__):
        assert memory.tune_allocator() is False
    assert [r.getMessage() for r in caplog.records] == [
        f"glibc malloc: mmap threshold {1 << 20} B, at most 2 arenas (refused)"
    ]
    assert len(refusing.calls) == 1  # the second setting is not tried once the first is refused


def test_trim_asks_for_everything_back(monkeypatch):
    fake = _FakeLibc()
    monkeypatch.setattr(memory, "_libc", lambda: fake)
    memory.trim()
    assert fake.calls == [("malloc_trim", 0)]
    assert memory.M_TRIM_THRESHOLD == -1 and memory.MMAP_THRESHOLD == 1 << 20 and memory.ARENA_MAX == 2


def test_keep_heap_turns_mmap_off_and_raises_trim_and_pad(monkeypatch, caplog):
    fake = _FakeLibc()
    monkeypatch.setattr(memory, "_libc", lambda: fake)
    with caplog.at_level(logging.INFO, logger=memory.__name__):
        assert memory.keep_heap() is True
    # glibc's <malloc.h> numbers: M_MMAP_MAX -4, M_TRIM_THRESHOLD -1, M_TOP_PAD -2
    assert fake.calls == [("mallopt", -4, 0), ("mallopt", -1, 1 << 30), ("mallopt", -2, 64 << 20)]
    kept = f"glibc malloc: heap kept (no mmap, trim above {1 << 30} B)"
    assert [r.getMessage() for r in caplog.records] == [kept + " (set)"]
    refusing = _FakeLibc(answer=0)
    monkeypatch.setattr(memory, "_libc", lambda: refusing)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=memory.__name__):
        assert memory.keep_heap() is False
    assert [r.getMessage() for r in caplog.records] == [kept + " (refused)"]
    monkeypatch.setattr(memory, "_libc", lambda: None)  # no glibc (musl, macOS): nothing to set
    assert memory.keep_heap() is False


def test_kept_heap_restores_glibc_defaults_and_trims_even_after_an_error(monkeypatch):
    fake = _FakeLibc()
    monkeypatch.setattr(memory, "_libc", lambda: fake)
    with pytest.raises(KeyboardInterrupt), memory.kept_heap() as kept:
        assert kept is True and len(fake.calls) == 3  # set on entry, nothing restored yet
        raise KeyboardInterrupt  # an interrupted video run still gets the defaults back
    assert fake.calls[3:] == [
        ("mallopt", -4, 65536),
        ("mallopt", -1, 128 * 1024),
        ("mallopt", -2, 128 * 1024),
        ("malloc_trim", 0),
    ]


def test_kept_heap_restores_nothing_it_did_not_set(monkeypatch):
    refusing = _FakeLibc(answer=0)
    monkeypatch.setattr(memory, "_libc", lambda: refusing)
    with memory.kept_heap() as kept:
        assert kept is False
    assert [c for c in refusing.calls if c[0] == "malloc_trim"] == []
    assert len(refusing.calls) == 1  # the refused first setting only
