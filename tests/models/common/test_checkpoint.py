"""Checkpoints carry their config and kind; foreign, missing and corrupt files fail clearly."""

import pytest
import torch
from safetensors.torch import save_file

from models.common.checkpoint import (
    CheckpointError,
    available_checkpoints,
    checkpoint_for,
    load_checkpoint,
    save_checkpoint,
)


def test_round_trip_keeps_config_and_values(tmp_path):
    state = {"w": torch.randn(4, 3), "steps": torch.tensor([7])}
    path = save_checkpoint(
        tmp_path / "adain_instance.safetensors", state, {"norm": "instance", "size": 256}, kind="adain"
    )
    loaded, config = load_checkpoint(path, "adain")
    assert config == {"norm": "instance", "size": 256}
    assert loaded["w"].dtype == torch.float32 and torch.equal(loaded["steps"], state["steps"])
    torch.testing.assert_close(loaded["w"], state["w"], atol=1e-3, rtol=1e-3)  # stored as fp16
    assert not list(tmp_path.glob("*.tmp"))


def test_wrong_kind_foreign_missing_corrupt(tmp_path):
    path = save_checkpoint(tmp_path / "spade_batch.safetensors", {"w": torch.ones(1)}, {}, kind="spade")
    with pytest.raises(CheckpointError, match="is a 'spade' checkpoint, expected 'adain'"):
        load_checkpoint(path, "adain")
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.ones(1)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a normlab checkpoint"):
        load_checkpoint(foreign, "adain")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors", "adain")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(junk, "adain")


def test_discovery_by_norm(tmp_path):
    for name in ("adain_instance", "adain_online", "spade_instance"):
        save_checkpoint(tmp_path / f"{name}.safetensors", {"w": torch.ones(1)}, {}, kind=name.split("_")[0])
    assert list(available_checkpoints("adain", tmp_path)) == ["instance", "online"]
    assert checkpoint_for("spade", "instance", tmp_path).name == "spade_instance.safetensors"
    with pytest.raises(CheckpointError, match="available: instance, online"):
        checkpoint_for("adain", "batch", tmp_path)
    assert available_checkpoints("adain", tmp_path / "missing") == {}


def test_a_write_that_dies_midway_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    """Checkpoints, cards and caches go to a temporary name first: a crash (here: the writer raising after half the
    bytes) never leaves a truncated file where a reader looks."""
    import safetensors.torch as st

    from models.common.files import write_atomic

    path = save_checkpoint(tmp_path / "adain_x.safetensors", {"w": torch.ones(3)}, {"norm": "x"}, "adain")
    before = path.read_bytes()

    def dies(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x00" * 10)
        raise KeyboardInterrupt  # the process is stopped mid-write

    monkeypatch.setattr(st, "save_file", dies)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"w": torch.zeros(3)}, {"norm": "x"}, "adain")
    assert path.read_bytes() == before and not list(tmp_path.glob("*.tmp"))
    card = tmp_path / "card.md"
    write_atomic(card, "old")

    class Boom(str):
        def encode(self, *a, **k):
            raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomic(card, Boom("new"))
    assert card.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
