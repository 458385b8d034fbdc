"""`normlab checkpoints` and the shipped checkpoints' metadata vs their model cards."""

import json
import re

import pytest
import torch

from app import cli
from models.common.assets import REPO_ASSETS, describe_checkpoint, header_metadata, list_checkpoints
from models.common.checkpoint import load_checkpoint, save_checkpoint


def test_lists_kind_norm_steps_training_and_eval_from_the_card(tmp_path, capsys):
    path = save_checkpoint(
        tmp_path / "adain_group.safetensors",
        {"w": torch.ones(2)},
        {"norm": "group"},
        "adain",
        extra_metadata={"normlab_steps": "42"},
    )
    path.with_suffix(".md").write_text(
        "# card\n\n- **trained**: 2026-12-01, 42 steps, 1m 00s wall time\n\n"
        "## Evaluation\n\n| a | b |\n\n- mean per-pair style ratio = 0.150: PASS\n"
    )
    (tmp_path / "spade_x.safetensors").write_bytes(b"not a checkpoint")  # skipped, not a crash
    assert cli.main(["checkpoints", "--assets", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["kind"], r["norm"], r["steps"]) for r in rows] == [("adain", "group", "42")]
    assert rows[0]["trained"].startswith("2026-12-01, 42 steps") and "PASS" in rows[0]["evaluation"][0]
    assert cli.main(["checkpoints", "--assets", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "adain  group" in out and "42 steps, 2026-12-01, held-out targets met: 1/1" in out
    assert "trained:" not in out  # one short line per checkpoint...
    assert cli.main(["checkpoints", "--assets", str(tmp_path), "-v"]) == 0
    assert "trained: 2026-12-01, 42 steps" in capsys.readouterr().out  # ...the rest with -v
    assert cli.main(["checkpoints", "--assets", str(tmp_path / "missing")]) == 2


def test_total_steps_come_from_the_card_not_the_last_parts_counter(tmp_path, capsys):
    path = save_checkpoint(
        tmp_path / "adain_instance.safetensors",
        {"w": torch.ones(2)},
        {"norm": "instance"},
        "adain",
        extra_metadata={"normlab_steps": "838"},
    )
    path.with_suffix(".md").write_text(
        "# card\n\n- **trained**: 38,304 steps in all, on CPUs: 3000 steps "
        "(2026-11-22), part 8: 838 steps (2026-12-03)\n"
    )
    assert cli.main(["checkpoints", "--assets", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "38,304 steps, last part 2026-12-03" in out and "838 steps" not in out
    assert cli.main(["checkpoints", "--assets", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["total_steps"] == 38304


@pytest.mark.parametrize("info", list_checkpoints(REPO_ASSETS), ids=lambda i: i.path.name)
def test_every_shipped_checkpoint_loads_and_matches_its_card(info):
    state, config = load_checkpoint(info.path, info.kind)
    assert (
        state
        and info.path.name == f"{info.kind}_{info.norm}.safetensors" == f"{info.kind}_{config['norm']}.safetensors"
    )
    card = info.path.with_suffix(".md").read_text()
    assert f"- **normalizer**: `{info.norm}`" in card and f"- **kind**: `{info.kind}`" in card
    steps = header_metadata(info.path)["normlab_steps"]
    # the card states the file's step count, as a whole number (1200 must not pass for 120)
    assert re.search(rf"(?<![\d.]){steps}(?![\d.])", card.replace(",", "")), steps
    block = re.search(r"## Config\s*```json\s*(\{.*?\})\s*```", card, flags=re.S)
    assert block, "card has no Config block"
    card_config = json.loads(block.group(1))
    # the same keys both ways (the file's training summary is in the card's notes instead) and the same values
    assert set(card_config) == set(config) - {"training"}
    for key, value in card_config.items():
        if key == "classes":  # the card lists class names, the file full records: the names must agree
            assert value == [c["name"] for c in config["classes"]]
        else:
            assert config.get(key) == value, key
    assert describe_checkpoint(info.path).norm == info.norm
