"""Delete the empty temporary files Gradio leaves behind, one per upload, that its own cache sweep never sees.

Found by the soak (``python -m tools.app_bench --soak``): after 1,000 requests the cache folder held 1,465 empty
files named ``tmpXXXXXXXX`` directly under it — exactly one per uploaded file. Gradio's upload parser spools each
upload into such a file before renaming it into a hashed subfolder; an empty file of that name remains, and as it is
not in any of Gradio's ``temp_file_sets`` the ``delete_cache`` sweep skips it. No disk space is lost, but a server
running for weeks would pile up millions of inodes. This sweep removes them once older than the retention.
"""

from __future__ import annotations

import logging
import re
import threading
import time
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


def start_sweeper(folder: Path, every_s: float, older_than_s: float) -> threading.Event:
    """Run :func:`sweep_leaked_uploads` every ``every_s`` in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            n = sweep_leaked_uploads(folder, older_than_s)
            if n:
                log.info("removed %d leaked empty upload temp files from %s", n, folder)

    threading.Thread(target=loop, name="leaked-upload-sweeper", daemon=True).start()
    return stop
