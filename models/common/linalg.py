"""Small linear-algebra helpers shared by the models (colour matching in AdaIN, the Fréchet distance in SPADE eval)."""

from __future__ import annotations

import torch

__all__ = ["sqrtm_psd"]


def sqrtm_psd(mat: torch.Tensor, *, inverse: bool = False, eps: float = 0.0) -> torch.Tensor:
    """(Inverse) square root of a symmetric positive semi-definite ``(D, D)`` matrix via its eigendecomposition.

    Eigenvalues are clamped to ``>= eps`` first (round-off makes tiny ones negative; an inverse root needs
    ``eps > 0``).

    >>> m = torch.tensor([[4.0, 0.0], [0.0, 9.0]])
    >>> sqrtm_psd(m)
    tensor([[2., 0.],
            [0., 3.]])
    >>> torch.allclose(sqrtm_psd(m, inverse=True) @ sqrtm_psd(m), torch.eye(2))
    True
    """
    vals, vecs = torch.linalg.eigh(mat)
    vals = vals.clamp_min(eps)
    return (vecs * (vals.rsqrt() if inverse else vals.sqrt())) @ vecs.T
