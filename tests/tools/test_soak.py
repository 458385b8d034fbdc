"""tools.soak: the request mix, the memory thirds, the verdicts and the report (no server: fakes only)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from tools.soak import MAX_REQUESTS, MIX, Outcome, classify, files_under, report, rss_mb, run_soak, schedule, thirds


def test_schedule_is_reproducible_bounded_and_mixes_good_and_bad():
    a, b = schedule(500), schedule(500)
    assert a == b
    assert {k.bad for k in a} == {False, True}
    assert {k.endpoint for k in a} == {k.endpoint for k in MIX}
    with pytest.raises(ValueError, match=f"from 1 to {MAX_REQUESTS}"):
        schedule(MAX_REQUESTS + 1)
    with pytest.raises(ValueError):
        schedule(0)


def test_thirds_split_by_requests_done():
    samples = [(0.0, 0, 100.0), (1.0, 4, 110.0), (2.0, 5, 200.0), (3.0, 9, 300.0), (4.0, 12, 310.0)]
    first, middle, last = thirds(samples, 12)
    assert (first, middle, last) == (100.0, 155.0, 305.0)  # done*3//12: 0 | 4, 5 | 9, 12


def test_classify_separates_expected_refusals_from_failures():
    good = next(k for k in MIX if not k.bad)
    bad = next(k for k in MIX if k.bad)
    assert classify(Outcome(good, 1.0, None)) == "ok"
    assert classify(Outcome(good, 1.0, "QueueError: Queue is full")).startswith("failed: QueueError")
    assert classify(Outcome(bad, 0.1, "AppError: style: not a readable image")) == "refused as expected"
    assert classify(Outcome(bad, 0.1, None)) == "bad input served (should be refused)"
    assert classify(Outcome(bad, 0.1, "ConnectError: refused")).startswith("bad input: ConnectError")


def test_rss_of_this_process_is_plausible():
    assert 10 < rss_mb(os.getpid()) < 100_000


def test_run_soak_calls_every_request_once_and_reports(tmp_path):
    kinds = schedule(40)
    seen: list[int] = []
    lock = threading.Lock()
    (tmp_path / "f.bin").write_bytes(b"x" * 2048)

    def factory():
        def call(kind, i):
            time.sleep(0.002)
            with lock:
                seen.append(i)
            if kind.bad:
                raise type("AppError", (Exception,), {})("refused")

        return call

    outcomes, wall, samples, files_mid = run_soak(factory, kinds, 3, os.getpid(), tmp_path, max_seconds=60)
    assert sorted(seen) == list(range(40)) and len(outcomes) == 40
    assert {classify(o) for o in outcomes} <= {"ok", "refused as expected"}
    assert files_mid == (1, 2048 / 2**20)
    assert files_under(tmp_path) == files_mid
    text = report(40, 3, outcomes, wall, samples, files_under(tmp_path), files_mid, "header")
    assert "40 of 40 requests answered" in text
    assert "| `/stylize` |" in text and "refused as expected" in text
    assert "Files in the server's cache folder: 1" in text


def test_run_soak_stops_sending_after_its_time_budget(tmp_path, monkeypatch):
    import types

    import tools.soak as soak

    clock = [0.0]  # a fake clock that only the requests move: each takes 0.25 "seconds"
    monkeypatch.setattr(soak, "time", types.SimpleNamespace(perf_counter=lambda: clock[0], sleep=time.sleep))

    def request(kind, i):
        clock[0] += 0.25

    outcomes, wall, *_ = run_soak(lambda: request, schedule(200), 1, os.getpid(), tmp_path, max_seconds=1.0)
    assert len(outcomes) == 5 and wall == 1.25  # sent at 0, 0.25, 0.5, 0.75 and 1.0 s; none after the budget
