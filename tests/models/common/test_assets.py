"""The default normalizer per model: the shipped best when its file exists, else NORM_ORDER decides."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.common.assets import DEFAULT_NORMS, NORM_ORDER, CheckpointError, checkpoint_for, default_norm


def _touch(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.safetensors").write_bytes(b"")
    return folder


def test_the_default_norm_is_the_shipped_best_when_its_file_exists(tmp_path):
    folder = _touch(tmp_path, "spade_batch", "spade_instance", "adain_group", "adain_instance")
    assert default_norm("spade", folder) == DEFAULT_NORMS["spade"] == "batch"
    assert default_norm("adain", folder) == DEFAULT_NORMS["adain"] == "instance"


def test_without_the_default_file_the_first_norm_in_norm_order_is_used(tmp_path):
    folder = _touch(tmp_path, "spade_online", "spade_group", "spade_zzz")
    assert default_norm("spade", folder) == min(("online", "group"), key=NORM_ORDER.index) == "group"
    assert default_norm("spade", _touch(tmp_path / "b", "spade_zzz", "spade_aaa")) == "aaa"  # unknown: by name


def test_an_empty_folder_gets_the_default_so_loading_it_says_what_is_missing(tmp_path):
    assert default_norm("spade", tmp_path) == "batch"
    with pytest.raises(CheckpointError, match="no spade checkpoint for norm 'batch'.*available: none"):
        checkpoint_for("spade", default_norm("spade", tmp_path), tmp_path)
