"""app.web.retention: only old, empty, tempfile-named files at the top of the cache folder are swept."""

from __future__ import annotations

import os
import time

from app.web.retention import sweep_leaked_uploads


def test_sweep_removes_only_old_empty_leaked_temp_files(tmp_path):
    old = time.time() - 3600
    leaked = tmp_path / "tmp6zo9a0fi"
    young = tmp_path / "tmp78f2sc2w"
    full = tmp_path / "tmpab12cd34"  # an upload still being spooled has data
    other = tmp_path / "notes.txt"
    cached = tmp_path / "f5746a2b" / "tmpzzurxdbm"  # Gradio's own entries live in hashed subfolders
    cached.parent.mkdir()
    for p in (leaked, young, other, cached):
        p.write_bytes(b"")
    full.write_bytes(b"x" * 10)
    for p in (leaked, full, other, cached):
        os.utime(p, (old, old))
    assert sweep_leaked_uploads(tmp_path, older_than_s=60) == 1
    assert not leaked.exists()
    assert young.exists() and full.exists() and other.exists() and cached.exists()
    assert sweep_leaked_uploads(tmp_path / "missing", 60) == 0  # a missing folder is not an error


def test_video_jobs_are_swept_once_old_but_never_while_running(tmp_path):
    from app.web.retention import sweep_video_jobs, video_job

    root = tmp_path / "normlab-videos"
    old = time.time() - 3600
    with video_job(root) as running:
        (running / "clip-stylized.mp4").write_bytes(b"x")
        os.utime(running / "clip-stylized.mp4", (old, old))
        os.utime(running, (old, old))
        assert sweep_video_jobs(root, older_than_s=60) == 0 and running.is_dir()  # still being written
    assert sweep_video_jobs(root, older_than_s=60) == 1 and not running.exists()  # done and expired
    with video_job(root) as fresh:
        (fresh / "clip-stylized.mp4").write_bytes(b"x")
    assert sweep_video_jobs(root, older_than_s=60) == 0 and fresh.is_dir()  # done, but within the retention
    emptied = root / "job-abcdefgh"  # Gradio deleted the file, the empty folder is left
    emptied.mkdir()
    os.utime(emptied, (old, old))
    other = root / "notes"
    other.mkdir()
    os.utime(other, (old, old))
    assert sweep_video_jobs(root, older_than_s=60) == 1 and not emptied.exists() and other.exists()
    assert sweep_video_jobs(tmp_path / "missing", 60) == 0


def test_a_failed_video_job_leaves_no_folder(tmp_path):
    import pytest

    from app.web.retention import video_job

    with pytest.raises(RuntimeError):
        with video_job(tmp_path) as job:
            (job / ".clip-stylized-x.part.mp4").write_bytes(b"half")
            raise RuntimeError("decoder died")
    assert list(tmp_path.iterdir()) == []


def test_the_sweeper_thread_sweeps_periodically_and_stops_when_told(tmp_path):
    from app.web.retention import start_sweeper, video_folder

    old = time.time() - 3600
    leaked = tmp_path / "tmp6zo9a0fi"
    leaked.write_bytes(b"")
    job = video_folder(tmp_path) / "job-abcdefgh"  # an expired, emptied video job folder
    job.mkdir(parents=True)
    for p in (leaked, job):
        os.utime(p, (old, old))
    stop = start_sweeper(tmp_path, every_s=0.02, older_than_s=60)
    try:
        t0 = time.time()
        while (leaked.exists() or job.exists()) and time.time() - t0 < 10:
            time.sleep(0.02)
        assert not leaked.exists() and not job.exists()  # both sweeps ran, with no request to trigger them
    finally:
        stop.set()
    time.sleep(0.1)
    again = tmp_path / "tmp78f2sc2w"
    again.write_bytes(b"")
    os.utime(again, (old, old))
    time.sleep(0.2)
    assert again.exists()  # stopped: nothing sweeps any more
