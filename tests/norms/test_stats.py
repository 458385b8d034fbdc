"""The statistics core: merged moments of pieces equal the whole tensor's; exponential and distributed merges."""

import os
import tempfile

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

import norms
from norms import stats
from norms.stats import Moments, RunningMoments, finalize, merge, moments


def _tiles(x, rows, cols):
    """Uneven tiles of the last two dims at the given split points."""
    r = [0, *rows, x.shape[-2]]
    c = [0, *cols, x.shape[-1]]
    return [x[..., r[i] : r[i + 1], c[j] : c[j + 1]] for i in range(len(r) - 1) for j in range(len(c) - 1)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_merged_uneven_tiles_equal_var_mean_of_whole(dtype):
    x = (torch.randn(2, 5, 37, 53) * 3 + 7).to(dtype)
    total = stats.empty((2, 5))
    for tile in _tiles(x, rows=[3, 20, 21], cols=[1, 30]):
        total = merge(total, moments(tile))
    var, mean = torch.var_mean(x.double(), dim=(2, 3), unbiased=False)
    assert total.mean.dtype == torch.float64
    torch.testing.assert_close(total.count, torch.full_like(total.count, 37 * 53))
    torch.testing.assert_close(total.mean, mean, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(total.var, var, rtol=1e-5, atol=1e-6)


def test_merge_matches_float64_loop_over_every_value():
    """Chan's update against the definition, written out in numpy float64 over the concatenated values."""
    rng = np.random.default_rng(1)
    pieces = [rng.normal(5, 2, size=n) for n in (1, 7, 300, 2)]
    m = stats.empty((1,))
    for p in pieces:
        m = merge(m, moments(torch.from_numpy(p)[None, None], dims=[2]).select(0))
    allv = np.concatenate(pieces)
    assert float(m.count) == allv.size
    assert abs(float(m.mean) - allv.mean()) < 1e-12
    assert abs(float(m.m2) - ((allv - allv.mean()) ** 2).sum()) < 1e-9


def test_reduce_equals_pairwise_merges_and_empty_is_identity():
    parts = [moments(torch.randn(1, 3, 4 + i, 5)) for i in range(4)]
    seq = parts[0]
    for p in parts[1:]:
        seq = merge(seq, p)
    stacked = Moments(*(torch.stack(f) for f in zip(*parts)))
    at_once = stats.reduce(stacked, dim=0)
    for a, b in zip(seq, at_once):
        torch.testing.assert_close(a, b)
    same = merge(stats.empty((1, 3)), parts[1])
    for a, b in zip(same, parts[1]):
        torch.testing.assert_close(a, b)


def test_masked_moments_merge_over_tiles_including_tiles_without_the_region():
    x = torch.randn(1, 4, 16, 16)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 10:, 3:9] = 1  # absent from the top tiles
    total = stats.empty((1, 4))
    for xt, mt in zip(_tiles(x, [8], [8]), _tiles(mask, [8], [8])):
        total = merge(total, moments(xt, mask=mt))
    sel = x[..., 10:, 3:9]
    torch.testing.assert_close(total.mean, sel.mean(dim=(2, 3)).double(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(total.var, sel.var(dim=(2, 3), unbiased=False).double(), rtol=1e-5, atol=1e-6)


def test_finalize_refuses_an_empty_region():
    with pytest.raises(ValueError, match="selects no pixels"):
        finalize(stats.empty((1, 2)))


def test_group_moments_equal_group_statistics():
    x = torch.randn(2, 8, 5, 6)
    g = stats.group_moments(moments(x), groups=2)
    grouped = x.reshape(2, 2, 4 * 5 * 6)
    torch.testing.assert_close(g.mean, grouped.mean(-1).double(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(g.var, grouped.var(-1, unbiased=False).double(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="cannot form 3 groups"):
        stats.group_moments(moments(x), groups=3)


def test_gradcheck_through_merged_tiles():
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)

    def std_of_tiles(t):
        return finalize(merge(moments(t[..., :2, :]), moments(t[..., 2:, :])), eps=1e-3)

    assert torch.autograd.gradcheck(std_of_tiles, (x,))


def test_ema_weights_past_frames_geometrically():
    frames = [torch.randn(1, 3, 4, 4) * (i + 1) + i for i in range(5)]
    decay = 0.7
    state = stats.empty((1, 3))
    for f in frames:
        state = stats.ema(state, moments(f), decay)
    # closed form: weight decay**k per value of the frame k steps back (float64)
    w = torch.tensor([decay ** (len(frames) - 1 - i) for i in range(len(frames))], dtype=torch.float64)
    vals = torch.stack([f.double().flatten(2) for f in frames])  # (T, 1, 3, 16)
    wv = w[:, None, None, None].expand_as(vals)
    mean = (wv * vals).sum(dim=(0, 3)) / wv.sum(dim=(0, 3))
    var = (wv * (vals - mean[None, :, :, None]) ** 2).sum(dim=(0, 3)) / wv.sum(dim=(0, 3))
    torch.testing.assert_close(state.mean, mean)
    torch.testing.assert_close(state.var, var)
    with pytest.raises(ValueError, match="decay"):
        stats.ema(state, state, 1.0)


def test_ema_with_unit_counts_is_online_norms_forward_update():
    """Online Normalization's (m, var) recurrence is scale+merge with counts held at 1."""
    a_f = 0.9
    layer = norms.OnlineNorm(3, alpha_fwd=a_f, affine=False, ecm=None).train()
    m0, var0 = torch.randn(3) * 0.1, torch.rand(3) + 0.5
    layer.m.copy_(m0)
    layer.var.copy_(var0)
    x = torch.randn(4, 3, 5, 5) * 2 + 1
    layer(x)
    state = Moments(torch.ones(3, dtype=torch.float64), m0.double(), var0.double())
    for n in range(x.shape[0]):
        new = moments(x[n : n + 1]).select(0)
        state = merge(stats.scale(state, a_f), stats.scale(new, (1 - a_f) / new.count))
    torch.testing.assert_close(state.mean.float(), layer.m, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(state.m2.float(), layer.var, rtol=1e-5, atol=1e-6)


def test_running_moments_module():
    rm = RunningMoments(3, decay=0.5)
    assert not rm.started
    a, b = torch.randn(1, 3, 4, 4), torch.randn(2, 3, 4, 4) + 3
    rm.update(a)
    torch.testing.assert_close(rm.mean, a.double().mean(dim=(0, 2, 3)))
    rm.update(b)
    want = stats.ema(moments(a, dims=[0, 2, 3]), moments(b, dims=[0, 2, 3]), 0.5)
    torch.testing.assert_close(rm.mean_std()[0], finalize(want)[0])
    assert set(rm.state_dict()) == {"count", "mean", "m2"}
    rm.reset_state()
    assert not rm.started and float(rm.count.sum()) == 0
    with pytest.raises(ValueError, match="shape"):
        rm.update(moments(torch.randn(1, 4, 2, 2)))
    with pytest.raises(ValueError, match="decay"):
        RunningMoments(3, decay=1.5)


def test_all_reduce_is_a_no_op_in_one_process():
    m = moments(torch.randn(2, 3, 4, 4))
    assert stats.all_reduce(m) is m


def _worker(rank, world, init_file, x, out_dir):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        piece = x[:, :, rank * 3 : (rank + 1) * 3 + rank]  # uneven: rows 0-2 and 3-6
        merged = stats.all_reduce(moments(piece))
        torch.save(tuple(merged), os.path.join(out_dir, f"r{rank}.pt"))
        dist.barrier()  # neither rank tears the file store down while the other still uses it (a SIGABRT in CI)
    finally:
        dist.destroy_process_group()


def test_all_reduce_over_two_gloo_processes_equals_the_whole_tensor():
    x = torch.randn(1, 4, 7, 5)
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_worker, args=(2, os.path.join(tmp, "init"), x, tmp), nprocs=2, join=True)
        results = [torch.load(os.path.join(tmp, f"r{r}.pt"), weights_only=True) for r in range(2)]
    var, mean = torch.var_mean(x.double(), dim=(2, 3), unbiased=False)
    for count, m, m2 in results:
        torch.testing.assert_close(m, mean, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(m2 / count, var, rtol=1e-5, atol=1e-6)
