"""app.web.retention: only old, empty, tempfile-named files at the top of the cache folder are swept."""

from __future__ import annotations

import os
import time

from app.web.retention import sweep_leaked_uploads

# how long to wait for a sweep that runs every 0.02 s (150 chances); a broken sweeper fails after it, so it stays
# short: `make mutate` meets it once for each retention mutant that stops the sweep
PATIENCE_S = 3.0


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
        while (leaked.exists() or job.exists()) and time.time() - t0 < PATIENCE_S:
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


# --- the exact limits of each sweep (mutation survivors of tools/mutate.py) ---


def _aged(path, seconds_ago: float, now: float, make: bool = False):
    """Set ``path``'s times to ``seconds_ago`` before ``now`` (creating an empty file first with ``make``)."""
    if make:
        path.touch()
    os.utime(path, (now - seconds_ago, now - seconds_ago), follow_symlinks=False)
    return path


def test_leaked_upload_sweep_limits_names_kinds_and_age(tmp_path, monkeypatch):
    now = 1_000_000.0
    swept = [_aged(tmp_path / n, 61, now, make=True) for n in ("tmp6zo9a0fi", "tmp_a1b2c3d")]
    kept = {
        "exactly the retention": tmp_path / "tmpexactly1",
        "nine characters": tmp_path / "tmp6zo9a0fi9",
        "seven characters": tmp_path / "tmp6zo9a0f",
        "upper case": tmp_path / "tmpABCDEFGH",
        "a prefix": tmp_path / "xtmp6zo9a0f",
    }
    for p in kept.values():
        _aged(p, 61, now, make=True)
    _aged(kept["exactly the retention"], 60, now)
    folder = tmp_path / "tmpfolder1"  # a folder with the name is not a leaked file
    folder.mkdir()
    _aged(folder, 61, now)
    target = tmp_path / "target"
    target.touch()
    link = tmp_path / "tmplink0001"  # a link is never followed or deleted
    link.symlink_to(target)
    _aged(target, 61, now)
    _aged(link, 61, now)
    assert sweep_leaked_uploads(tmp_path, older_than_s=60, now=now) == 2
    assert not any(p.exists() for p in swept)
    assert all(p.exists() for p in kept.values()) and folder.is_dir() and link.is_symlink() and target.exists()


def test_a_file_that_cannot_be_deleted_does_not_stop_the_sweep(tmp_path, monkeypatch):
    from pathlib import Path

    now = 1_000_000.0
    names = ["tmpaaaaaaaa", "tmpbbbbbbbb", "tmpcccccccc"]
    for n in names:
        _aged(tmp_path / n, 120, now, make=True)
    real_unlink = Path.unlink

    def unlink(self, *a, **kw):
        if self.name == "tmpbbbbbbbb":
            raise PermissionError("not ours")
        return real_unlink(self, *a, **kw)

    monkeypatch.setattr(Path, "unlink", unlink)
    assert sweep_leaked_uploads(tmp_path, older_than_s=60, now=now) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["tmpbbbbbbbb"]


def test_video_job_sweep_counts_the_newest_file_inside_and_the_exact_limit(tmp_path):
    from app.web.retention import sweep_video_jobs

    now = 1_000_000.0
    root = tmp_path / "normlab-videos"
    deep = root / "job-deep0000" / "sub"
    deep.mkdir(parents=True)
    _aged(deep / "old.mp4", 3600, now, make=True)
    _aged(deep / "new.mp4", 30, now, make=True)  # one recent file deep inside keeps the whole job
    _aged(deep, 3600, now)
    _aged(deep.parent, 3600, now)
    exact = root / "job-exact000"
    exact.mkdir()
    _aged(exact, 60, now)  # exactly the retention: kept
    over = root / "job-over0000"
    over.mkdir()
    _aged(over, 61, now)
    a_file = _aged(root / "job-file0000", 3600, now, make=True)  # a file with a job's name is not a job
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _aged(elsewhere, 3600, now)
    (root / "job-link0000").symlink_to(elsewhere)
    assert sweep_video_jobs(root, older_than_s=60, now=now) == 1
    assert not over.exists()
    assert deep.is_dir() and exact.is_dir() and a_file.exists() and elsewhere.is_dir()


def test_video_jobs_live_in_their_own_folder_under_the_cache(tmp_path, monkeypatch):
    from app.web.retention import VIDEO_FOLDER, upload_folder, video_folder, video_job

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "cache"))
    assert upload_folder() == tmp_path / "cache"
    assert video_folder() == tmp_path / "cache" / VIDEO_FOLDER == tmp_path / "cache" / "normlab-videos"
    assert video_folder(tmp_path) == tmp_path / "normlab-videos"
    root = tmp_path / "a" / "b"  # created on demand, parents included
    with video_job(root) as job:
        assert job.parent == root and job.name.startswith("job-") and job.is_dir()
    assert job.is_dir()  # a finished job stays until the retention has passed


def test_the_sweeper_logs_what_it_removed(tmp_path, caplog):
    import logging
    import threading

    from app.web.retention import start_sweeper, video_folder

    old = time.time() - 3600
    for n in ("tmp6zo9a0fi", "tmp78f2sc2w"):
        (tmp_path / n).touch()
        os.utime(tmp_path / n, (old, old))
    job = video_folder(tmp_path) / "job-abcdefgh"
    job.mkdir(parents=True)
    os.utime(job, (old, old))
    with caplog.at_level(logging.INFO, logger="app.web.retention"):
        stop = start_sweeper(tmp_path, every_s=0.02, older_than_s=60)
        try:
            assert [t.daemon for t in threading.enumerate() if t.name == "leaked-upload-sweeper"] == [True]
            t0 = time.time()
            while "expired video job" not in caplog.text and time.time() - t0 < PATIENCE_S:
                time.sleep(0.02)
        finally:
            stop.set()
    assert [r.getMessage() for r in caplog.records if r.name == "app.web.retention"] == [
        f"removed 2 leaked empty upload temp files from {tmp_path}",
        f"removed 1 expired video job folders from {video_folder(tmp_path)}",
    ]
    assert caplog.text.count("removed") == 2  # nothing left: later sweeps are silent
    sweeper = [t for t in threading.enumerate() if t.name == "leaked-upload-sweeper"]
    assert all(t.daemon for t in sweeper)  # never keeps the server from exiting


def test_the_video_sweep_goes_on_past_running_jobs_and_unreadable_ones(tmp_path, monkeypatch):
    """Every expired job is counted, whatever the listing order puts before it: jobs still running and jobs whose
    files cannot be read are skipped, not the end of the sweep."""
    from app.web import retention

    root = tmp_path / "normlab-videos"
    old = time.time() - 3600
    expired = [root / f"job-old{i}" for i in range(5)]
    broken = [root / f"job-bad{i}" for i in range(3)]
    running = [root / f"job-run{i}" for i in range(3)]
    for job in expired + broken + running:
        job.mkdir(parents=True)
        os.utime(job, (old, old))
    real = retention._newest_mtime

    def newest(job):
        if job.name.startswith("job-bad"):
            raise OSError("permission denied")
        return real(job)

    monkeypatch.setattr(retention, "_newest_mtime", newest)
    with retention._running_lock:
        retention._running.update(running)
    try:
        assert retention.sweep_video_jobs(root, older_than_s=60) == 5
    finally:
        with retention._running_lock:
            retention._running.difference_update(running)
    assert not any(j.exists() for j in expired) and all(j.exists() for j in broken + running)
