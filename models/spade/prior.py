"""The style codes a seed draws: a Gaussian fitted to what the style encoder gives for real pictures.

The VAE's KL term pulls each picture's code towards N(0, I), but only so far: after a short training the codes of
real pictures (the *aggregate posterior*) fill a smaller, shifted region, and N(0, I) draws mostly land where the
generator has seen few codes — every seed then gets about the same, average look. Sampling from a Gaussian with the
aggregate posterior's mean and covariance (``Cov(mu) + E[sigma^2]``, moment-matched) gives seeds the spread of looks
the encoder actually saw. The fit is stored in the exported file as two extra tensors (:data:`PRIOR_KEYS`), which
:class:`models.spade.infer.Synthesizer` uses when present; files without them keep drawing N(0, I).

Example:
    >>> import torch
    >>> from models.spade.generator import GenConfig, build_generator
    >>> G = build_generator(GenConfig(ngf=4, spade_hidden=8, z_dim=8, z_ch=4)).eval()
    >>> prior = fit_style_prior(G, torch.rand(16, 3, 32, 32) * 2 - 1)
    >>> prior["style_prior.mean"].shape, prior["style_prior.scale"].shape
    (torch.Size([8]), torch.Size([8, 8]))
"""

from __future__ import annotations

import functools

import torch

__all__ = ["PRIOR_KEYS", "fit_style_prior", "prior_pictures", "sample_from_prior", "split_prior"]

PRIOR_KEYS = ("style_prior.mean", "style_prior.scale")
PRIOR_SEED_BASE = 50_000_000  # pictures the prior is fitted on: training seeds, apart from the render pools'


@torch.no_grad()
def fit_style_prior(generator: torch.nn.Module, images: torch.Tensor, batch: int = 32) -> dict[str, torch.Tensor]:
    """Fit ``N(mean, scale scale^T)`` to the encoder's codes of ``images (N, 3, H, W)`` in [-1, 1] (N >= 2).

    Returns ``{"style_prior.mean": (z_dim,), "style_prior.scale": (z_dim, z_dim) lower-triangular}`` (float32).
    """
    if images.shape[0] < 2:
        raise ValueError("fitting the style prior needs at least two pictures")
    was_training = generator.training
    generator.eval()
    mus, variances = [], []
    for i in range(0, images.shape[0], batch):
        mu, logvar = generator.encode(images[i : i + batch].float())
        mus.append(mu.double())
        variances.append(logvar.double().exp())
    generator.train(was_training)
    mu = torch.cat(mus)
    cov = torch.cov(mu.T).reshape(mu.shape[1], mu.shape[1]) + torch.diag(torch.cat(variances).mean(0))
    scale = torch.linalg.cholesky(cov + 1e-6 * torch.eye(cov.shape[0], dtype=cov.dtype))
    return {PRIOR_KEYS[0]: mu.mean(0).float(), PRIOR_KEYS[1]: scale.float()}


@functools.lru_cache(maxsize=2)
def prior_pictures(count: int = 256, size: int = 128) -> torch.Tensor:
    """Pictures to fit the prior on: half procedural scenes, half painted layouts (training seeds), in [-1, 1].

    Kept for the next export in the same process (the same seeds give the same pictures; ~3 s of rendering at
    64 px): treat the returned tensor as read-only."""
    from models.spade.crops import painted_renders
    from models.spade.data import procedural_batch

    half = max(1, count // 2)
    seeds = torch.arange(half) + PRIOR_SEED_BASE
    parts = [procedural_batch(seeds[i : i + 32], size)[0] for i in range(0, half, 32)]
    parts += [painted_renders((seeds[i : i + 32] + half).tolist(), size)[0] for i in range(0, count - half, 32)]
    return torch.cat(parts)


def split_prior(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
    """``(generator weights, prior or None)`` of a loaded checkpoint's tensors."""
    prior = {k: state[k] for k in PRIOR_KEYS if k in state}
    rest = {k: v for k, v in state.items() if k not in PRIOR_KEYS}
    return rest, (prior if len(prior) == len(PRIOR_KEYS) else None)


def sample_from_prior(prior: dict[str, torch.Tensor] | None, z_dim: int, generator: torch.Generator) -> torch.Tensor:
    """One code ``(1, z_dim)``: ``mean + scale @ eps`` with ``eps ~ N(0, I)`` from ``generator`` (N(0, I) without a
    fitted prior), so one seed draws one ``eps`` whichever prior the file has."""
    eps = torch.randn(1, z_dim, generator=generator)
    if prior is None:
        return eps
    return prior[PRIOR_KEYS[0]][None] + eps @ prior[PRIOR_KEYS[1]].T
