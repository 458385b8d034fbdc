"""A full queue answers "busy, retry in about N s" (HTTP 503 with ``Retry-After``) instead of Gradio's bare refusal.

Gradio refuses a request that finds its queue full with "Queue is full. Max size is 64 and size is 64." and
nothing about when to come back. The guard wraps the queue's ``push`` (the one place every queued request enters)
and refuses first, with an estimate from the queue's own mean processing time. What each client shows: a plain
HTTP client gets our sentence and the ``Retry-After`` header; the browser page shows Gradio's fixed "This
application is currently busy. Please try again." toast and ``gradio_client`` raises ``QueueError("Queue is
full! Please try again.")`` — both drop the server's text. Nothing is started for a refused request, so none is
lost half-done.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import HTTPException

DEFAULT_SECONDS = 5.0  # assumed per request before the queue has timed any


def retry_after_seconds(waiting: int, mean_seconds: float, workers: int) -> int:
    """Seconds until the waiting requests should have drained: ``waiting * mean / workers``, at least 1.

    >>> retry_after_seconds(64, 1.5, 2)
    48
    """
    return max(1, math.ceil(waiting * mean_seconds / max(1, workers)))


def busy_message(waiting: int, limit: int, retry_s: int) -> str:
    """The sentence a refused request gets."""
    return (
        f"The server is busy: {waiting} requests are already waiting (the limit is {limit}). This one was not "
        f"started; try again in about {retry_s} s."
    )


def mean_process_seconds(queue: Any) -> float:
    """The queue's mean processing time over the functions it has timed (``DEFAULT_SECONDS`` before any). Webcam
    streams are left out: one is timed as a whole session (minutes), and runs in a worker group of its own."""
    timed = [
        t
        for fn, t in getattr(queue, "process_time_per_fn", {}).items()
        if getattr(t, "count", 0) and getattr(fn, "connection", None) != "stream"
    ]
    if not timed:
        return DEFAULT_SECONDS
    return sum(t.process_time for t in timed) / sum(t.count for t in timed)


def install_busy_guard(queue: Any, workers: int) -> None:
    """Wrap ``queue.push`` (Gradio's ``Queue``) so that a full queue refuses with ``busy_message``."""
    original = queue.push

    async def push(body: Any, request: Any, username: Any) -> Any:
        waiting = len(queue)
        if queue.max_size is not None and waiting >= queue.max_size:
            retry = retry_after_seconds(waiting, mean_process_seconds(queue), workers)
            raise HTTPException(
                status_code=503,
                detail=busy_message(waiting, queue.max_size, retry),
                headers={"Retry-After": str(retry)},
            )
        return await original(body=body, request=request, username=username)

    queue.push = push
