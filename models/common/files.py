"""Writing files so that readers never see a half-written one: a temporary name beside the target, then a rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_beside(target: str | os.PathLike, suffix: str | None = None) -> Path:
    """An empty temporary file in ``target``'s folder (hidden, same suffix unless given): same file system, so
    :func:`publish` is an atomic rename."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.stem}-", suffix=target.suffix if suffix is None else suffix, dir=target.parent
    )
    os.close(fd)
    return Path(tmp)


def publish(tmp: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Rename the finished ``tmp`` onto ``target``, with the permissions a plain ``open(target, "w")`` would give
    (``mkstemp`` creates files readable by the owner only)."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, target)
    return Path(target)


def write_atomic(target: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``target`` through a temporary file and a rename."""
    target = Path(target)
    tmp = temp_beside(target)
    try:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        return publish(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
