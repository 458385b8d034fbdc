"""The fitted style prior (models/spade/prior.py): moments, storage in the checkpoint, and what seeds draw."""

import numpy as np
import pytest
import torch

from models.common.checkpoint import load_checkpoint, save_checkpoint
from models.spade.generator import GenConfig, baked_state_dict, build_generator
from models.spade.infer import Synthesizer
from models.spade.prior import PRIOR_KEYS, fit_style_prior, sample_from_prior, split_prior

CFG = dict(ngf=4, spade_hidden=8, z_dim=8, z_ch=4, native=[32, 64], size=32)


class _FixedEncoder(torch.nn.Module):
    """encode() returns given codes: the fit must reproduce their moments."""

    def __init__(self, mu, logvar):
        super().__init__()
        self.mu, self.logvar = mu, logvar

    def encode(self, img):
        i = img[:, 0, 0, 0].long()
        return self.mu[i], self.logvar[i]


def test_fit_matches_the_aggregate_posterior_moments():
    g = torch.Generator().manual_seed(0)
    mu = (
        torch.randn(400, 3, generator=g, dtype=torch.float64)
        @ torch.tensor([[2.0, 0, 0], [0.5, 1, 0], [0, 0, 0.1]], dtype=torch.float64)
        + 3
    )
    logvar = torch.full((400, 3), np.log(0.25), dtype=torch.float64)
    imgs = torch.arange(400, dtype=torch.float32).view(400, 1, 1, 1).expand(400, 3, 2, 2)
    prior = fit_style_prior(_FixedEncoder(mu, logvar), imgs, batch=64)
    want_cov = torch.cov(mu.T) + 0.25 * torch.eye(3, dtype=torch.float64)
    scale = prior[PRIOR_KEYS[1]].double()
    assert torch.allclose(prior[PRIOR_KEYS[0]].double(), mu.mean(0), atol=1e-5)
    assert torch.allclose(scale @ scale.T, want_cov, atol=1e-4)
    assert torch.equal(scale, scale.tril())
    z = torch.cat([sample_from_prior(prior, 3, torch.Generator().manual_seed(s)) for s in range(4000)]).double()
    assert torch.allclose(z.mean(0), mu.mean(0), atol=0.15) and torch.allclose(
        torch.cov(z.T), want_cov, rtol=0.1, atol=0.05
    )
    with pytest.raises(ValueError, match="two"):
        fit_style_prior(_FixedEncoder(mu, logvar), imgs[:1])


def test_without_a_prior_seeds_draw_standard_normal_codes_as_before():
    a = sample_from_prior(None, 5, torch.Generator().manual_seed(7))
    assert torch.equal(a, torch.randn(1, 5, generator=torch.Generator().manual_seed(7)))


def test_the_prior_travels_in_the_checkpoint_and_steers_the_seed(tmp_path):
    cfg = GenConfig(**CFG)
    G = build_generator(cfg).eval()
    plain = tmp_path / "plain.safetensors"
    save_checkpoint(plain, baked_state_dict(G), cfg.to_dict() | {"spectral": False}, kind="spade")
    far = {PRIOR_KEYS[0]: torch.full((8,), 5.0), PRIOR_KEYS[1]: torch.eye(8) * 1e-3}
    with_prior = tmp_path / "prior.safetensors"
    save_checkpoint(with_prior, baked_state_dict(G) | far, cfg.to_dict() | {"spectral": False}, kind="spade")
    state, _ = load_checkpoint(with_prior, "spade")
    rest, prior = split_prior(state)
    assert prior is not None and not any(k in rest for k in PRIOR_KEYS)
    s_plain, s_prior = Synthesizer.from_checkpoint(plain), Synthesizer.from_checkpoint(with_prior)
    assert s_plain.prior is None and s_prior.prior is not None
    code = s_prior.sample_code(torch.Generator().manual_seed(1))
    assert torch.allclose(code, torch.full((1, 8), 5.0), atol=0.01)
    ids = np.zeros((32, 32), np.int64)
    assert s_prior.synthesize(ids, seed=1).size == (32, 32)
    bad = tmp_path / "bad.safetensors"
    save_checkpoint(
        bad,
        baked_state_dict(G) | {PRIOR_KEYS[0]: torch.zeros(3), PRIOR_KEYS[1]: torch.eye(3)},
        cfg.to_dict() | {"spectral": False},
        kind="spade",
    )
    from models.common.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="style prior"):
        Synthesizer.from_checkpoint(bad)


def test_prior_pictures_are_half_procedural_half_painted_and_kept_for_the_next_export():
    from models.spade.crops import painted_renders
    from models.spade.data import procedural_batch
    from models.spade.prior import PRIOR_SEED_BASE, prior_pictures

    prior_pictures.cache_clear()
    pics = prior_pictures(4, 32)
    assert pics.shape == (4, 3, 32, 32) and pics.min() >= -1 and pics.max() <= 1
    seeds = torch.arange(2) + PRIOR_SEED_BASE
    assert torch.equal(pics[:2], procedural_batch(seeds, 32)[0])
    assert torch.equal(pics[2:], painted_renders((seeds + 2).tolist(), 32)[0])
    assert prior_pictures(4, 32) is pics  # rendered once per process
    assert prior_pictures(6, 32) is not pics
