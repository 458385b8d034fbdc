"""app.services: checkpoint discovery, lazy cached loading, inference glue (with counting fake loaders)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.config import AppConfig
from app.preprocess import InputError
from app.services import Engine, ModelCache, StyleRequest, scan_checkpoints


class CountingLoader:
    def __init__(self, factory, delay: float = 0.0) -> None:
        self.factory, self.delay, self.paths = factory, delay, []

    def __call__(self, path: Path):
        self.paths.append(Path(path))
        time.sleep(self.delay)  # widen the race window for the concurrency test
        return self.factory(path)


@pytest.fixture
def assets(fake_assets) -> Path:
    return fake_assets


@pytest.fixture
def FakeStylizer(fake_loaders):  # noqa: N802 - a class, handed over by a fixture
    return fake_loaders["adain"]


@pytest.fixture
def FakeSynthesizer(fake_loaders):  # noqa: N802
    return fake_loaders["spade"]


def test_scan_matches_models_checkpoint(assets):
    from models.common.checkpoint import available_checkpoints

    (assets / "adain_notes.txt").write_text("not a checkpoint")
    for kind in ("adain", "spade"):
        assert scan_checkpoints(kind, assets) == available_checkpoints(kind, assets)
    assert scan_checkpoints("adain", assets / "missing") == {}


def test_preferred_norm_comes_first_and_nothing_loads_until_asked(assets, FakeStylizer):
    loader = CountingLoader(FakeStylizer)
    cache = ModelCache("adain", assets, loader, preferred=("instance", "batch"))
    assert cache.norms() == ["instance", "batch", "group"]
    assert cache.default() == "instance"
    assert loader.paths == [] and cache.loaded() == []


def test_without_preferences_each_model_lists_its_default_norm_first(assets, tmp_path, FakeStylizer, FakeSynthesizer):
    assert ModelCache("spade", assets, FakeSynthesizer).norms() == ["batch", "instance", "group"]
    assert ModelCache("adain", assets, FakeStylizer).norms() == ["instance", "batch", "group"]
    (assets / "spade_batch.safetensors").unlink()  # a folder without the default's file: NORM_ORDER decides
    assert ModelCache("spade", assets, FakeSynthesizer).default() == "instance"


def test_models_load_once_even_under_concurrent_first_use(assets, FakeStylizer):
    loader = CountingLoader(FakeStylizer, delay=0.05)
    cache = ModelCache("adain", assets, loader)
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("instance")[1])) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loader.paths) == 1 and len({id(m) for m in got}) == 1
    assert cache.get(None)[0] == "instance"  # without preferences: adain's default norm, already loaded
    assert len(loader.paths) == 1


def test_missing_checkpoints_give_clear_messages(tmp_path, assets, FakeStylizer, FakeSynthesizer):
    with pytest.raises(InputError, match=r"No AdaIN checkpoint found: expected files named adain_<norm>"):
        ModelCache("adain", tmp_path / "nothing", FakeStylizer).get(None)
    with pytest.raises(
        InputError, match=r"No SPADE checkpoint for normalizer 'proxy'; available: batch, instance, group"
    ):
        ModelCache("spade", assets, FakeSynthesizer).get("proxy")


def test_a_broken_checkpoint_is_reported_not_raised_raw(assets):
    def broken(path):
        raise ValueError("header too short")

    with pytest.raises(InputError, match=r"adain_batch.safetensors could not be loaded: header too short"):
        ModelCache("adain", assets, broken).get("batch")


def test_real_loader_rejects_a_foreign_file_with_a_message(assets):
    with pytest.raises(InputError, match="could not be loaded"):
        ModelCache("adain", assets).get("batch")  # the fake files are not safetensors


def _engine(assets, loaders) -> Engine:
    return Engine(AppConfig(assets_dir=assets), loaders)


def test_stylize_resizes_the_mask_to_the_content_and_captions_the_result(assets, fake_loaders):
    eng = _engine(assets, fake_loaders)
    content, style = Image.new("RGB", (40, 20), "red"), Image.new("RGB", (16, 16), "blue")
    mask = np.zeros((10, 20), bool)
    mask[:, :10] = True
    res = eng.stylize(StyleRequest(content, [style, style], mask=mask, size=64), "instance")
    call = eng.caches["adain"].get("instance")[1].calls[-1]
    assert call["mask"].size == (40, 20) and np.asarray(call["mask"])[:, :20].all()
    assert res.image.size == (64, 32)
    assert res.caption.startswith("AdaIN · instance norm · 64×32 px · ") and res.caption.endswith(" s")


def test_stylize_passes_stroke_progress_and_the_original_size_to_the_model(assets, fake_loaders):
    eng = _engine(assets, fake_loaders)
    content, style = Image.new("RGB", (40, 20), "red"), Image.new("RGB", (16, 16), "blue")
    ticks = []

    def progress(done, total, stage):
        ticks.append((done, total, stage))

    res = eng.stylize(StyleRequest(content, [style], size=None, stroke=2.5), "instance", progress=progress)
    call = eng.caches["adain"].get("instance")[1].calls[-1]
    assert call["size"] is None and call["stroke"] == 2.5 and call["progress"] is progress
    assert ticks == [(1, 2, "statistics"), (2, 2, "decode")]  # the fake's one tile, reported as it went
    assert res.image.size == (40, 20)
    eng.stylize(StyleRequest(content, [style], size=32), "instance")  # the defaults: stroke 1, no progress
    call = eng.caches["adain"].get("instance")[1].calls[-1]
    assert call["size"] == 32 and call["stroke"] == 1.0 and call["progress"] is None


def test_spatial_control_needs_two_styles(assets, fake_loaders):
    eng = _engine(assets, fake_loaders)
    img = Image.new("RGB", (20, 20))
    with pytest.raises(InputError, match="exactly two styles"):
        eng.stylize(StyleRequest(img, [img], mask=np.ones((20, 20), bool)))


def test_synthesize_then_stylize_names_both_models(assets, fake_loaders):
    eng = _engine(assets, fake_loaders)
    labels = np.zeros((32, 32), np.int64)
    res = eng.synthesize(
        labels, seed=3, size=32, norm="group", then_style=Image.new("RGB", (16, 16)), then_norm="batch", then_alpha=0.5
    )
    assert res.model == "spade" and res.norm == "group"
    assert "then AdaIN (batch norm, α=0.5)" in res.caption


def test_compare_runs_every_checkpoint_in_order(assets, fake_loaders):
    eng = _engine(assets, fake_loaders)
    seen = []
    img = Image.new("RGB", (20, 20))
    results = eng.compare_stylize(StyleRequest(img, [img], size=32), lambda f, d: seen.append(d))
    assert [r.norm for r in results] == eng.caches["adain"].norms() == ["instance", "batch", "group"]
    assert len(seen) == 3 and "(3/3)" in seen[-1]
    spade = [r.norm for r in eng.compare_synthesize(np.zeros((16, 16), np.int64), size=16)]
    assert spade == eng.caches["spade"].norms() == ["batch", "instance", "group"]  # spade's default comes first


def test_a_new_or_re_exported_checkpoint_is_picked_up_without_a_restart(tmp_path):
    import os

    loads = []
    cache = ModelCache("adain", tmp_path, loader=lambda p: loads.append(p) or object())
    (tmp_path / "adain_instance.safetensors").write_bytes(b"v1")
    assert cache.norms() == ["instance"]
    first = cache.get("instance")[1]
    assert cache.get("instance")[1] is first and len(loads) == 1  # cached
    (tmp_path / "adain_group.safetensors").write_bytes(b"g")  # a freshly trained normalizer appears
    assert cache.norms() == ["instance", "group"] and cache.get("group")[0] == "group"
    path = tmp_path / "adain_instance.safetensors"
    path.write_bytes(b"v2, retrained")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert cache.get("instance")[1] is not first and len(loads) == 3  # re-exported in place: reloaded


def test_menu_entries_carry_the_cards_facts_and_flag_tiny_runs(tmp_path, monkeypatch, FakeStylizer):
    import torch

    from models.common.checkpoint import save_checkpoint

    mine = tmp_path / "mine"
    monkeypatch.setenv("NORMLAB_MODELS", str(mine))
    bundled = tmp_path / "bundled"
    good = save_checkpoint(
        bundled / "adain_instance.safetensors",
        {"w": torch.ones(1)},
        {"norm": "instance"},
        "adain",
        extra_metadata={"normlab_steps": "838"},
    )
    good.with_suffix(".md").write_text(
        "# AdaIN\n\n- **trained**: 38,304 steps in all (2026-12-03)\n\n## Evaluation\n\n"
        "- mean per-pair style ratio = 0.199 (target <= 0.20): PASS\n\n"
        "![samples](adain_instance_samples.png)\n"
    )
    save_checkpoint(
        mine / "adain_group.safetensors",
        {"w": torch.ones(1)},
        {"norm": "group"},
        "adain",
        extra_metadata={"normlab_steps": "1"},
    )
    (mine / "adain_group.md").write_text("# AdaIN\n\n- **trained**: 2026-12-05, 1 steps, 0m 03s wall time\n")
    cache = ModelCache("adain", bundled)
    entries = cache.choices(min_steps=200)
    assert [name for _, name in entries] == ["instance", "my-group"]  # the 1-step run last...
    assert entries[0][0] == "instance — 38,304 steps, last part 2026-12-03, held-out targets met: 1/1"
    assert "⚠ under 200 steps" in entries[1][0] and "1 steps" in entries[1][0]  # ...and flagged
    assert "⚠" not in cache.choices(min_steps=0)[1][0]
    card = cache.card("instance")
    assert "38,304 steps in all" in card and "PASS" in card and "![" not in card  # images left out
    assert "1 steps" in cache.card("my-group")
    (mine / "adain_group.md").unlink()
    assert "has no model card" in cache.card("my-group")
    assert "No checkpoint selected" in cache.card(None)
