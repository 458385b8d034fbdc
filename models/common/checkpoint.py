"""Checkpoints as safetensors files that carry their own config, so a file alone rebuilds its network.

Metadata keys: ``normlab_kind`` (``"adain"`` | ``"spade"``), ``normlab_config`` (JSON of the config dataclass),
``normlab_format`` (version of this layout). Shipped files live in ``assets/{kind}_{norm}.safetensors``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from models.common.assets import (
    ASSETS_DIR,
    CheckpointError,
    available_checkpoints,
    checkpoint_for,
)

__all__ = [
    "ASSETS_DIR",
    "CheckpointError",
    "FORMAT_VERSION",
    "OWN_METADATA",
    "available_checkpoints",
    "checkpoint_for",
    "load_checkpoint",
    "read_metadata",
    "save_checkpoint",
]

FORMAT_VERSION = "1"
OWN_METADATA = ("normlab_kind", "normlab_config", "normlab_format")  # what save_checkpoint writes itself


def save_checkpoint(
    path: str | os.PathLike,
    state_dict: dict[str, torch.Tensor],
    config: dict[str, Any],
    kind: str,
    dtype: torch.dtype | None = torch.float16,
    extra_metadata: dict[str, str] | None = None,
) -> Path:
    """Write ``state_dict`` (floating tensors cast to ``dtype``; None keeps them) with the config embedded."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for key, value in state_dict.items():
        value = value.detach().cpu()
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        tensors[key] = value.contiguous()
    metadata = {
        "normlab_kind": kind,
        "normlab_config": json.dumps(config, sort_keys=True),
        "normlab_format": FORMAT_VERSION,
        **(extra_metadata or {}),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        os.chmod(tmp, 0o644)  # shipped files must be readable by everyone, whatever the writer's umask
        os.replace(tmp, path)  # never leave a half-written checkpoint behind
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The safetensors header metadata, or :class:`CheckpointError` for a missing/unreadable file."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:
        raise CheckpointError(f"'{path}' is not a readable safetensors checkpoint ({exc})") from None


def load_checkpoint(path: str | os.PathLike, kind: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load a normlab checkpoint of ``kind``; returns ``(state_dict in float32, config dict)``."""
    from safetensors.torch import load_file

    meta = read_metadata(path)
    found = meta.get("normlab_kind")
    if found is None:
        raise CheckpointError(f"'{path}' is not a normlab checkpoint (no normlab metadata; foreign file?)")
    if found != kind:
        raise CheckpointError(f"'{path}' is a {found!r} checkpoint, expected {kind!r}")
    try:
        config = json.loads(meta["normlab_config"])
        state = load_file(str(path))
    except Exception as exc:
        raise CheckpointError(f"'{path}' is corrupt ({exc})") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    return state, config
