"""Retention, live: with the shortest retention, a request's uploads and result disappear from the server's cache."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.config import AppConfig
from tests.app.conftest import free_port, make_random_checkpoints


@pytest.mark.slow
def test_uploads_and_results_older_than_the_retention_are_deleted(tmp_path, files, monkeypatch):
    from gradio_client import Client, handle_file

    from app.web.ui import build_demo, launch_kwargs

    config = AppConfig(
        assets_dir=make_random_checkpoints(tmp_path / "assets"), cache_minutes=0, default_size=128, canvas_size=64
    )
    assert config.delete_cache == (5, 10)  # sweep every 5 s, delete files older than 10 s
    # Gradio's sweep itself, on a shorter schedule: the test's wait (a whole core idle) falls from ~16 s to ~6 s
    monkeypatch.setattr(AppConfig, "delete_cache", property(lambda self: (1, 4)))
    demo = build_demo(config)
    demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, **launch_kwargs(config)
    )
    try:
        kept = {p for s in demo.temp_file_sets for p in s}  # the page's own files (examples) before any request
        client = Client(demo.local_url, verbose=False, download_files=str(tmp_path / "downloads"))
        client.predict(
            content=handle_file(files["content.png"]),
            style=handle_file(files["style.jpg"]),
            size=64,
            api_name="/stylize",
        )
        made = {p for s in demo.temp_file_sets for p in s} - kept
        assert made and all(Path(p).is_file() for p in made), made  # the uploads and the result, on disk
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(Path(p).exists() for p in made):
            time.sleep(1)
        assert not any(Path(p).exists() for p in made), "request files outlived the retention"
        pinned = {p for b in demo.blocks.values() for p in getattr(b, "keep_in_cache", ())}
        assert pinned and all(Path(p).exists() for p in pinned)  # the page's own images (style galleries) stay
    finally:
        demo.close()
