"""Delete the empty temporary files Gradio leaves behind, one per upload, that its own cache sweep never sees.

Found by the soak (``python -m tools.app_bench --soak``): after 1,000 requests the cache folder held 1,465 empty
files named ``tmpXXXXXXXX`` directly under it — exactly one per uploaded file. Gradio's upload parser spools each
upload into such a file before renaming it into a hashed subfolder; an empty file of that name remains, and as it is
not in any of Gradio's ``temp_file_sets`` the ``delete_cache`` sweep skips it. No disk space is lost, but a server
running for weeks would pile up millions of inodes. This sweep removes them once older than the retention.

Stylized videos are written by the app itself, one job folder each under ``normlab-videos/`` in the same cache
folder, so Gradio serves the file in place and its ``delete_cache`` deletes it on schedule; the folder it leaves
(and anything a failed or abandoned job left) goes with this sweep. Jobs still running are never touched.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

LEAKED = re.compile(r"tmp[a-z0-9_]{8}")  # tempfile.NamedTemporaryFile's default names


def upload_folder() -> Path:
    """Gradio's cache folder (``$GRADIO_TEMP_DIR``, default ``/tmp/gradio``), where uploads are spooled."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


def sweep_leaked_uploads(folder: Path, older_than_s: float, now: float | None = None) -> int:
    """Delete empty ``tmpXXXXXXXX`` files directly in ``folder`` older than ``older_than_s``; returns how many.

    Only regular, empty files with tempfile's default name at the top level: an upload still being written has
    data (or is younger than the retention), and Gradio's real cache entries live in hashed subfolders.
    """
    now = time.time() if now is None else now
    removed = 0
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return 0
    for path in entries:
        try:
            if not LEAKED.fullmatch(path.name) or not path.is_file() or path.is_symlink():
                continue
            st = path.stat()
            if st.st_size == 0 and now - st.st_mtime > older_than_s:
                path.unlink()
                removed += 1
        except OSError:  # gone meanwhile, or not ours to delete
            continue
    return removed


VIDEO_FOLDER = "normlab-videos"  # the video jobs' folders, inside the cache folder
_running: set[Path] = set()  # job folders of this process still being written: the sweep skips them
_running_lock = threading.Lock()


def video_folder(folder: Path | None = None) -> Path:
    """Where video jobs write their results: ``normlab-videos/`` in ``folder`` (default Gradio's cache folder)."""
    return Path(folder if folder is not None else upload_folder()) / VIDEO_FOLDER


@contextlib.contextmanager
def video_job(root: Path) -> Iterator[Path]:
    """A fresh job folder under ``root`` for one video result, protected from the sweep while the job runs; removed
    at once if the job fails (a result is never half-written: the writer renames it into place when complete)."""
    root.mkdir(parents=True, exist_ok=True)
    job = Path(tempfile.mkdtemp(prefix="job-", dir=root))
    with _running_lock:
        _running.add(job)
    try:
        yield job
    except BaseException:
        shutil.rmtree(job, ignore_errors=True)
        raise
    finally:  # from now on the retention counts from the result's last write
        with _running_lock:
            _running.discard(job)


def _newest_mtime(folder: Path) -> float:
    return max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.rglob("*")])


def sweep_video_jobs(root: Path, older_than_s: float, now: float | None = None) -> int:
    """Delete the job folders under ``root`` whose newest file is older than ``older_than_s`` (skipping jobs still
    running in this process); returns how many."""
    now = time.time() if now is None else now
    removed = 0
    try:
        jobs = [p for p in Path(root).iterdir() if p.name.startswith("job-") and p.is_dir() and not p.is_symlink()]
    except OSError:
        return 0
    for job in jobs:
        with _running_lock:
            if job in _running:
                continue
        try:
            if now - _newest_mtime(job) > older_than_s:
                shutil.rmtree(job)
                removed += 1
        except OSError:  # gone meanwhile, or not ours to delete
            continue
    return removed


def start_sweeper(folder: Path, every_s: float, older_than_s: float) -> threading.Event:
    """Run :func:`sweep_leaked_uploads` and :func:`sweep_video_jobs` every ``every_s`` in a daemon thread; set the
    returned event to stop it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            n = sweep_leaked_uploads(folder, older_than_s)
            if n:
                log.info("removed %d leaked empty upload temp files from %s", n, folder)
            n = sweep_video_jobs(video_folder(folder), older_than_s)
            if n:
                log.info("removed %d expired video job folders from %s", n, video_folder(folder))

    threading.Thread(target=loop, name="leaked-upload-sweeper", daemon=True).start()
    return stop
