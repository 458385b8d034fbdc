"""Where checkpoints live and how they are found: the one scan of ``assets/`` (no torch, so it is cheap to import).

The default folder is the repository's ``assets/``; the environment variable ``NORMLAB_ASSETS`` points the app, the
command line and the trainers' default export at another one (tests use it to keep the shipped files untouched).
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ASSETS_DIR", "CheckpointError", "assets_dir", "available_checkpoints", "checkpoint_for"]

REPO_ASSETS = Path(__file__).resolve().parents[2] / "assets"


def assets_dir() -> Path:
    """``$NORMLAB_ASSETS`` when set, else the repository's ``assets/`` (read at call time)."""
    env = os.environ.get("NORMLAB_ASSETS")
    return Path(env) if env else REPO_ASSETS


ASSETS_DIR = assets_dir()  # the folder at import time; functions below re-read the environment


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or not a normlab checkpoint of the expected kind."""


def available_checkpoints(kind: str, folder: str | os.PathLike | None = None) -> dict[str, Path]:
    """Checkpoints of ``kind`` by normalizer name: ``{folder}/{kind}_{norm}.safetensors`` -> ``{norm: path}``."""
    folder = Path(folder) if folder is not None else assets_dir()
    if not folder.is_dir():
        return {}
    prefix = f"{kind}_"
    return dict(sorted((p.stem[len(prefix):], p) for p in folder.glob(f"{prefix}*.safetensors")))


def checkpoint_for(kind: str, norm: str, folder: str | os.PathLike | None = None) -> Path:
    """The checkpoint for ``norm``, or :class:`CheckpointError` listing the norms that have one."""
    folder = Path(folder) if folder is not None else assets_dir()
    found = available_checkpoints(kind, folder)
    if norm not in found:
        have = ", ".join(found) or "none"
        raise CheckpointError(f"no {kind} checkpoint for norm {norm!r} in {folder}; available: {have}")
    return found[norm]
