"""Procedural seed stream and the real-dataset folder loader."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from models.landscape.classes import IGNORE_INDEX
from models.spade.data import ProceduralSeeds, SegFolder, load_classes, procedural_batch


def test_procedural_seeds_are_distinct_and_below_eval_range():
    it = iter(ProceduralSeeds(4, start=ProceduralSeeds.EVAL_OFFSET - 6))
    batches = [next(it) for _ in range(3)]
    seen = torch.cat(batches)
    assert all(b.shape == (4,) and b.dtype == torch.int64 for b in batches)
    assert (seen < ProceduralSeeds.EVAL_OFFSET).all() and len(seen.unique()) == len(seen)


def test_procedural_render_in_loader_and_on_device_agree():
    img, ids = next(iter(ProceduralSeeds(2, start=5, render_size=32)))
    img2, ids2 = procedural_batch(torch.tensor([5, 6]), 32)
    assert img.shape == (2, 3, 32, 32) and -1 <= img.min() and img.max() <= 1
    assert torch.equal(ids, ids2) and torch.allclose(img, img2)


def test_workers_get_disjoint_seeds():
    loader = torch.utils.data.DataLoader(ProceduralSeeds(3), batch_size=None, num_workers=2)
    it = iter(loader)
    seeds = torch.cat([next(it) for _ in range(4)])
    assert len(seeds.unique()) == 12


def _dataset(root, classes="json", label_value=1, size=(40, 30)):
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    w, h = size
    for name in ("a", "b"):
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
            root / "images" / f"{name}.jpg"
        )
        lab = np.zeros((h, w), np.uint8)
        lab[h // 2 :] = label_value
        lab[0, 0] = 255  # ignore
        Image.fromarray(lab, mode="L").save(root / "labels" / f"{name}.png")
    if classes == "json":
        (root / "classes.json").write_text(
            json.dumps(
                [{"id": 0, "name": "road", "color": [128, 64, 128]}, {"id": 1, "name": "car", "color": [0, 0, 142]}]
            )
        )
    else:
        (root / "classes.txt").write_text("# name r g b\nroad 128 64 128\ncar 0 0 142\n")


@pytest.mark.parametrize("classes", ["json", "txt"])
def test_seg_folder_items(tmp_path, classes):
    _dataset(tmp_path, classes)
    ds = SegFolder(tmp_path, size=16, train=False)
    assert len(ds) == 2 and [c["name"] for c in ds.classes] == ["road", "car"]
    img, ids = ds[0]
    assert img.shape == (3, 16, 16) and ids.shape == (16, 16) and ids.dtype == torch.int64
    assert -1 <= img.min() and img.max() <= 1
    assert set(ids.unique().tolist()) <= {0, 1, IGNORE_INDEX} and (ids == 1).any()


def test_seg_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="images/"):
        SegFolder(tmp_path)
    _dataset(tmp_path / "d", label_value=7)
    with pytest.raises(ValueError, match="exceed the 2 classes"):
        SegFolder(tmp_path / "d", size=16)[0]
    (tmp_path / "e").mkdir()
    with pytest.raises(ValueError, match="no classes.json"):
        load_classes(tmp_path / "e")
    (tmp_path / "e" / "classes.json").write_text('[{"id": 1, "name": "x", "color": [1, 2, 3]}]')
    with pytest.raises(ValueError, match="without gaps"):
        load_classes(tmp_path / "e")
