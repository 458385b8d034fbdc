"""Model-card helpers: the hardware line and durations."""

from __future__ import annotations

import pytest
import torch

from models.common.cards import format_duration, hardware_summary


@pytest.mark.parametrize(("threads", "words"), [(1, "1 thread (no GPU)"), (2, "2 threads (no GPU)")])
def test_the_hardware_line_counts_cpu_threads_in_words(monkeypatch, threads, words):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        line = hardware_summary()
    finally:
        torch.set_num_threads(before)
    assert line.startswith("CPU ") and words in line and line.endswith(f"torch {torch.__version__}")


@pytest.mark.parametrize(("seconds", "text"), [(65, "1m 05s"), (3600 + 125.4, "1h 02m 05s"), (0, "0m 00s")])
def test_durations_read_as_hours_minutes_seconds(seconds, text):
    assert format_duration(seconds) == text
