"""app.web.busy: a full queue refuses with a retry time (HTTP 503 + Retry-After); a free one passes through."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from fastapi import HTTPException

from app.config import AppConfig
from app.web.busy import busy_message, install_busy_guard, mean_process_seconds, retry_after_seconds


class FakeQueue:
    def __init__(self, waiting: int, max_size: int | None, times: dict | None = None) -> None:
        self.waiting, self.max_size = waiting, max_size
        self.process_time_per_fn = times or {}
        self.pushed: list = []

    def __len__(self) -> int:
        return self.waiting

    async def push(self, body, request, username):
        self.pushed.append(body)
        return True, "event-1", "success"


def test_full_queue_is_refused_with_the_wait_and_a_retry_after_header():
    queue = FakeQueue(8, 8, {"f": SimpleNamespace(process_time=30.0, count=10)})  # mean 3 s per request
    install_busy_guard(queue, workers=2)
    with pytest.raises(HTTPException) as info:
        asyncio.run(queue.push(body="b", request=None, username=None))
    assert info.value.status_code == 503
    assert info.value.headers == {"Retry-After": "12"}  # 8 waiting x 3 s / 2 workers
    assert info.value.detail == busy_message(8, 8, 12)
    assert "busy" in info.value.detail and "try again in about 12 s" in info.value.detail
    assert queue.pushed == []  # nothing was started


def test_queue_with_room_passes_through():
    queue = FakeQueue(3, 8)
    install_busy_guard(queue, workers=2)
    assert asyncio.run(queue.push(body="b", request=None, username=None)) == (True, "event-1", "success")
    assert queue.pushed == ["b"]
    unbounded = FakeQueue(10_000, None)
    install_busy_guard(unbounded, workers=1)
    assert asyncio.run(unbounded.push(body="c", request=None, username=None))[0]


def test_estimates():
    assert retry_after_seconds(0, 10.0, 2) == 1  # never "retry in 0 s"
    assert retry_after_seconds(5, 2.0, 0) == 10  # no workers reads as one
    assert mean_process_seconds(FakeQueue(0, 1)) == 5.0  # nothing timed yet: the default
    times = {"a": SimpleNamespace(process_time=2.0, count=1), "b": SimpleNamespace(process_time=0.0, count=0)}
    assert mean_process_seconds(FakeQueue(0, 1, times)) == 2.0
    webcam = type("Stream", (), {"connection": "stream"})()  # a webcam session, timed as a whole
    times[webcam] = SimpleNamespace(process_time=300.0, count=1)
    assert mean_process_seconds(FakeQueue(0, 1, times)) == 2.0


def test_the_app_installs_the_guard_on_its_queue(tmp_path):
    from tests.app.conftest import make_random_checkpoints
    from app.web.ui import build_demo

    demo = build_demo(AppConfig(assets_dir=make_random_checkpoints(tmp_path / "assets"), max_queue=3))
    assert demo._queue.max_size == 3
    # (mutmut renames the function it copies: match the name's parts, not the whole)
    qualname = demo._queue.push.__qualname__
    assert "install_busy_guard" in qualname and qualname.endswith("<locals>.push")


def test_a_real_gradio_queue_refuses_with_the_configured_concurrency_and_passes_the_request_through(tmp_path):
    """Through Gradio's own Queue: its length, its max size, and push(body=, request=, username=) by keyword."""
    from types import SimpleNamespace as NS

    from tests.app.conftest import make_random_checkpoints
    from app.web.ui import build_demo

    demo = build_demo(AppConfig(assets_dir=make_random_checkpoints(tmp_path / "assets"), max_queue=4, concurrency=3))
    queue = demo._queue
    queue.event_queue_per_concurrency_id["models"] = NS(queue=[object()] * 4)  # four requests waiting: full
    queue.process_time_per_fn = {"f": NS(process_time=60.0, count=10)}  # 6 s each
    with pytest.raises(HTTPException) as info:
        asyncio.run(queue.push(body="b", request="R", username="ann"))
    assert info.value.headers == {"Retry-After": "8"}  # 4 x 6 s / 3 workers (the configured concurrency)
    queue.event_queue_per_concurrency_id["models"] = NS(queue=[])  # room again: handed to Gradio's push
    recorder = FakeQueue(0, 4)
    seen = {}

    async def record(body, request, username):
        seen.update(body=body, request=request, username=username)
        return True, "id", "success"

    recorder.push = record
    install_busy_guard(recorder, workers=3)
    assert asyncio.run(recorder.push(body="b", request="R", username="ann"))[0]
    assert seen == {"body": "b", "request": "R", "username": "ann"}


def test_mean_process_time_defaults_for_queues_that_have_not_timed_anything():
    from types import SimpleNamespace as NS

    from app.web.busy import DEFAULT_SECONDS, mean_process_seconds

    assert DEFAULT_SECONDS == 5.0
    assert mean_process_seconds(object()) == DEFAULT_SECONDS  # no timings attribute at all
    assert mean_process_seconds(NS(process_time_per_fn={"f": NS(process_time=9.0)})) == DEFAULT_SECONDS  # no count
    timed = NS(process_time_per_fn={"f": NS(process_time=9.0), "g": NS(process_time=6.0, count=2)})
    assert mean_process_seconds(timed) == 3.0  # only the function that counted its calls
