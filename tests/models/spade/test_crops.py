"""Crop-generator data: windows cut with their position, the on-disk render pool, the GPU seed stream."""

import itertools
import json
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import models.spade.crops as crops
from models.spade.crops import CropSeeds, PoolCrops, RenderPool, random_crops
from models.spade.data import ProceduralSeeds, procedural_batch
from models.spade.eval import SEGNET_SEED


def _pictures(b=3, h=48, w=64):
    img = torch.arange(b * 3 * h * w, dtype=torch.float32).view(b, 3, h, w) / (b * 3 * h * w)
    ids = torch.arange(b * h * w).view(b, h, w) % 10
    return img, ids


def test_each_window_is_the_region_its_box_names_of_the_flipped_or_unflipped_picture():
    img, ids = _pictures()
    flips_seen = set()
    for seed in range(6):
        real, lab, box, thumb = random_crops(img, ids, 32, thumb=16, rng=random.Random(seed))
        assert real.shape == (3, 3, 32, 32) and lab.shape == (3, 32, 32) and thumb.shape == (3, 3, 16, 16)
        for i in range(3):
            t, l, H, W = (int(v) for v in box[i])
            assert (H, W) == (48, 64) and 0 <= t <= 16 and 0 <= l <= 32
            flipped = not torch.equal(real[i], img[i, :, t : t + 32, l : l + 32])
            src_img, src_ids = (img[i].flip(-1), ids[i].flip(-1)) if flipped else (img[i], ids[i])
            flips_seen.add(flipped)
            assert torch.equal(real[i], src_img[:, t : t + 32, l : l + 32])
            assert torch.equal(lab[i], src_ids[t : t + 32, l : l + 32])
            # the thumbnail is the whole (same-way flipped) picture: one style code per picture
            assert torch.allclose(thumb[i], F.interpolate(src_img[None], size=(16, 16), mode="area")[0])
    assert flips_seen == {True, False}
    with pytest.raises(ValueError, match="larger than the pictures"):
        random_crops(img, ids, 64)


def test_render_pool_renders_once_and_holds_the_renderers_pictures(tmp_path, monkeypatch):
    calls = []
    real_batch = crops.procedural_batch

    def counting(seeds, size, device=None):
        calls.append(len(seeds))
        return real_batch(seeds, size, device)

    monkeypatch.setattr(crops, "procedural_batch", counting)
    pool = RenderPool(tmp_path, 32, 5, chunk=2, progress=False)
    assert sum(calls) == 5 and len(pool) == 5
    again = RenderPool(tmp_path, 32, 5, progress=False)  # cached: nothing rendered
    assert sum(calls) == 5 and again.dir == pool.dir
    seeds = torch.arange(5) + pool.first_seed
    ref_img, ref_ids = real_batch(seeds, 32)
    img, ids = pool.batch(range(5))
    assert torch.equal(ids, ref_ids) and (img - ref_img).abs().max() <= 1 / 127.5 + 1e-6  # 8-bit storage
    # training pools never hold evaluation or segmentation-net layouts
    assert seeds.max() < SEGNET_SEED < ProceduralSeeds.EVAL_OFFSET
    assert json.loads((pool.dir / "done.json").read_text())["count"] == 5
    # a loader worker gets the pool without its memory maps (no copy of the pictures) and re-opens them
    import pickle

    state = pickle.dumps(pool)
    assert len(state) < 2000 and torch.equal(pickle.loads(state).batch([3])[1], ref_ids[3:4])
    # an interrupted build (no done.json) is rebuilt, not trusted
    (pool.dir / "done.json").unlink()
    RenderPool(tmp_path, 32, 5, progress=False)
    assert sum(calls) == 10
    with pytest.raises(ValueError, match="side >= 16"):
        RenderPool(tmp_path, 8, 5)


def test_processes_sharing_a_pool_folder_render_it_once(tmp_path, monkeypatch):
    """CPU DDP ranks build the same pool at the same moment: one renders, the other waits and reads its pictures."""
    import threading
    import time

    calls = []
    real_batch = crops.procedural_batch

    def slow(seeds, size, device=None):  # long enough that both builders are inside at once without the lock
        calls.append(len(seeds))
        time.sleep(0.2)
        return real_batch(seeds, size, device)

    monkeypatch.setattr(crops, "procedural_batch", slow)
    pools, errors = [], []

    def build() -> None:
        try:
            pools.append(RenderPool(tmp_path, 32, 4, chunk=2, progress=False))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(pools) == 2
    assert sum(calls) == 4  # rendered once
    ref_img, ref_ids = real_batch(torch.arange(4) + pools[0].first_seed, 32)
    for pool in pools:
        img, ids = pool.batch(range(4))
        assert torch.equal(ids, ref_ids) and (img - ref_img).abs().max() <= 1 / 127.5 + 1e-6


def test_pool_crops_mix_picture_sides_and_carry_each_sides_box(tmp_path):
    pools = [RenderPool(tmp_path, 32, 3, progress=False), RenderPool(tmp_path, 64, 3, progress=False)]
    stream = iter(PoolCrops(pools, batch_size=2, crop=16, thumb=8, seed=1))
    sides = set()
    for real, ids, box, thumb in itertools.islice(stream, 12):
        assert real.shape == (2, 3, 16, 16) and ids.dtype == torch.int64 and thumb.shape == (2, 3, 8, 8)
        assert real.min() >= -1 and real.max() <= 1 and int(ids.max()) < 10
        assert box[0, 2] == box[1, 2]  # one side per batch, so pictures stack
        sides.add(int(box[0, 2]))
    assert sides == {32, 64}


def test_gpu_stream_yields_seeds_and_a_side_the_module_renders_on_the_device():
    stream = iter(CropSeeds(4, [256, 512], start=7))
    batches = list(itertools.islice(stream, 20))
    assert all(s.shape == (4,) and s.max() < ProceduralSeeds.EVAL_OFFSET for s, _ in batches)
    assert {int(side) for _, side in batches} == {256, 512}
    seen = np.concatenate([s.numpy() for s, _ in batches])
    assert len(np.unique(seen)) == len(seen)  # fresh layouts every step
    img, ids = procedural_batch(batches[0][0][:1], 32)
    assert img.shape == (1, 3, 32, 32)


def test_pools_of_large_pictures_hold_no_more_pixels_than_a_512_px_pool():
    for count, side in itertools.product([2, 37, 600, 1000], [16, 256, 512, 768, 1024, 2048]):
        n = crops.pool_count(count, side, least=2)
        if side <= 512:
            assert n == count  # the pools the campaign already rendered keep their size (and folder name)
        else:
            assert 2 <= n <= count
            assert abs(n * side**2 - count * 512**2) <= 512**2 / 2 + side**2 / 2 or n == 2  # rounding, or the floor
