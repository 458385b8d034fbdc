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
