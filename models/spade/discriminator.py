"""Multiscale PatchGAN discriminator with spectral norm (pix2pixHD / SPADE).

Each scale sees ``concat(one-hot label map, image)``; the second scale sees both average-pooled by 2.
Every scale returns its intermediate features too, for the generator's feature-matching loss. The
normalizer is injected by name (``norm``) like everywhere else; ``proxy`` brings its own activation.

Example:
    >>> D = MultiscaleDiscriminator(DiscConfig(ndf=8), label_nc=10)
    >>> outs = D(torch.zeros(2, 10, 64, 64), torch.zeros(2, 3, 64, 64))
    >>> len(outs), outs[0][-1].shape
    (2, torch.Size([2, 1, 11, 11]))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from models.common.config import norm_arg, option
from norms import get_norm, norm_act

__all__ = ["DiscConfig", "MultiscaleDiscriminator", "PatchDiscriminator"]


@dataclass
class DiscConfig:
    """Discriminator hyper-parameters."""

    ndf: int = option(32, "discriminator width: channels of the first layer (doubling, capped at 8x)")
    n_layers: int = option(4, "conv layers per discriminator scale", flag="--d-layers")
    num_d: int = 2  # number of scales
    norm: str = option(
        "instance",
        "the discriminator's normalizer when it should differ from --norm",
        flag="--d-norm",
        dest="d_norm",
        type=norm_arg,
        default_text="--norm",
    )

    def to_dict(self) -> dict:
        return asdict(self)


class PatchDiscriminator(nn.Module):
    """One PatchGAN: 4x4 convs, stride 2 except the last two.

    Shape: ``(B, label_nc + 3, H, W) -> list of features``; the last item is the ``(B, 1, h, w)`` patch logits.
    """

    def __init__(self, in_ch: int, ndf: int, n_layers: int, norm) -> None:
        super().__init__()
        blocks = [nn.Sequential(spectral_norm(nn.Conv2d(in_ch, ndf, 4, stride=2, padding=2)), nn.LeakyReLU(0.2))]
        c = ndf
        for i in range(1, n_layers):
            c_out = min(c * 2, ndf * 8)
            stride = 1 if i == n_layers - 1 else 2
            conv = spectral_norm(nn.Conv2d(c, c_out, 4, stride=stride, padding=2, bias=False))
            blocks.append(nn.Sequential(conv, norm_act(norm, c_out, act="leaky_relu")))
            c = c_out
        blocks.append(nn.Sequential(nn.Conv2d(c, 1, 4, stride=1, padding=2)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    """``num_d`` PatchGANs at successively halved resolutions.

    Shape: ``forward(seg (B, K, H, W), img (B, 3, H, W)) -> [features of scale 0, features of scale 1, ...]``.
    """

    def __init__(self, cfg: DiscConfig, label_nc: int) -> None:
        super().__init__()
        self.cfg = cfg
        norm = get_norm(cfg.norm)
        self.label_nc = label_nc
        self.scales = nn.ModuleList(
            PatchDiscriminator(label_nc + 3, cfg.ndf, cfg.n_layers, norm) for _ in range(cfg.num_d)
        )

    def forward(self, seg: torch.Tensor, img: torch.Tensor) -> list[list[torch.Tensor]]:
        if seg.shape[1] != self.label_nc or img.shape[1] != 3 or seg.shape[2:] != img.shape[2:]:
            raise ValueError(
                f"discriminator expects seg (B, {self.label_nc}, H, W) and img (B, 3, H, W) of one size, "
                f"got {tuple(seg.shape)} and {tuple(img.shape)}"
            )
        x = torch.cat([seg.to(img.dtype), img], dim=1)
        outs = []
        for i, d in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outs.append(d(x))
        return outs
