"""SPADE (GauGAN) generators and the VAE style encoder (Park et al. 2019).

Two architectures, recorded in the checkpoint as ``arch`` (:func:`build_generator` picks the class):

* ``crop`` (the default, :class:`CropSPADEGenerator`): fully convolutional. Every SPADE is conditioned on the
  label map *plus* each pixel's position in the whole picture (normalised y, x and the picture's scale, as in
  COCO-GAN / InfinityGAN) *plus* a projection of the global style code ``z``, broadcast over the image. So it
  can be trained on small crops of large renders and still render a whole 256 or 512 px picture in one pass,
  with sky gradients and haze where they belong and one coherent look per seed.
* ``grid`` (:class:`SPADEGenerator`, checkpoints made before it): the paper's generator, which starts from a
  fixed 8 x 8 projection of ``z`` and upsamples to ``size``; the app resizes its output.

The normalizer inside SPADE is injected by name (``norm``), so ``instance``/``batch``/``online``/... are one
flag apart.

Example:
    >>> cfg = GenConfig(arch="grid", size=64, ngf=8, spade_hidden=16)
    >>> G = build_generator(cfg)
    >>> seg = torch.zeros(2, cfg.label_nc, 64, 64); seg[:, 0] = 1
    >>> G(seg, z=torch.randn(2, cfg.z_dim)).shape
    torch.Size([2, 3, 64, 64])
    >>> G = build_generator(GenConfig(ngf=4, spade_hidden=8, z_dim=8, z_ch=4))  # crop: any multiple of 16
    >>> seg = torch.zeros(1, cfg.label_nc, 48, 80); seg[:, 0] = 1
    >>> G(seg).shape
    torch.Size([1, 3, 48, 80])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from models.common.config import norm_arg, option
from models.landscape.classes import CLASSES
from models.spade.looks import SEED_LOOKS, renderer_knows
from norms import SPADE, get_norm, norm_act

__all__ = [
    "ARCHS",
    "CropSPADEGenerator",
    "GenConfig",
    "SPADEGenerator",
    "StyleEncoder",
    "SPADEResBlock",
    "bake_spectral_norm",
    "baked_state_dict",
    "build_generator",
    "one_hot",
    "position_channels",
]

ARCHS = ("crop", "grid")


def arch_arg(text: str) -> str:
    """argparse ``type=`` for ``--arch``."""
    import argparse

    if text not in ARCHS:
        raise argparse.ArgumentTypeError(f"unknown architecture {text!r}; choose one of: {', '.join(ARCHS)}")
    return text


def _default_classes() -> list[dict]:

    return [{"id": c.id, "name": c.name, "color": list(c.color)} for c in CLASSES]


@dataclass
class GenConfig:
    """Generator hyper-parameters; stored in checkpoints so a file rebuilds its network."""

    arch: str = option(
        "crop",
        "'crop': fully convolutional, position-conditioned, trained on crops of large renders; "
        "'grid': the fixed-size generator of the earlier checkpoints",
        type=arch_arg,
    )
    size: int = option(
        128,
        "grid: output side, a power of two >= 32; crop: the smallest native side (set from --full-sizes by train.py)",
    )
    ngf: int = option(32, "generator width: channels of the last block (earlier blocks up to 16x)")
    norm: str = option(
        "instance", "SPADE's parameter-free normalizer (and the discriminator's unless --d-norm)", type=norm_arg
    )
    spade_hidden: int = option(64, "channels of SPADE's shared label-map embedding conv (the paper: 128)")
    use_vae: bool = option(True, "no style encoder: deterministic output, no --seed/--style", flag="--no-vae")
    z_dim: int = option(256, "size of the style code z")
    depth: int = option(4, "crop: upsamplings after the start grid (outputs are multiples of 2**depth px)")
    z_ch: int = option(16, "crop: channels of z's projection that every SPADE sees")
    noise: bool = option(
        True,
        "crop: no per-pixel noise injection (the generators before it); without noise a "
        "uniform region can only repeat a texture with the start grid's period",
        flag="--no-noise",
    )
    enc_size: int = 64  # crop: side of the whole-picture thumbnail the style encoder reads
    native: list[int] = field(default_factory=list)  # crop: picture sides trained on (outputs outside are resized)
    spectral: bool = True  # spectral norm on the generator's convs (baked into plain weights at export)
    # how a seed draws its style code: "prior" (the fitted Gaussian, models/spade/prior.py) or "renderer" (a
    # render of the layout with the seed's look, encoded: models/spade/looks.py); files without it: "prior"
    seed_looks: str = "prior"
    # "renderer" seeds: how far each class region's mean colour moves onto the seed's render (0: not at all, 1:
    # onto it; models/spade/looks.py: match_look); the generator alone paints the looks paler than the renderer
    look_match: float = 0.0
    classes: list[dict] = field(default_factory=_default_classes)  # [{id, name, color}] of the label map

    @property
    def label_nc(self) -> int:
        return len(self.classes)

    @property
    def num_up(self) -> int:
        return self.depth if self.arch == "crop" else int(math.log2(self.size)) - 3  # grid: start at 8 x 8

    @property
    def multiple(self) -> int:
        """Output sides must be multiples of this."""
        return 2**self.num_up

    @property
    def native_range(self) -> tuple[int, int]:
        """``(smallest, largest)`` picture side the generator renders natively (grid: its one size)."""
        sides = self.native or [self.size]
        return min(sides), max(sides)

    def validate(self) -> "GenConfig":
        if self.arch not in ARCHS:
            raise ValueError(f"unknown architecture {self.arch!r}; choose one of: {', '.join(ARCHS)}")
        if self.arch == "grid" and (self.size < 32 or self.size & (self.size - 1)):
            raise ValueError(f"size must be a power of two >= 32, got {self.size}")
        if self.arch == "crop":
            if not 1 <= self.depth <= 6:
                raise ValueError(f"depth must be in 1..6, got {self.depth}")
            bad = [s for s in [self.size, *self.native] if s < self.multiple or s % self.multiple]
            if bad:
                raise ValueError(f"picture sides must be multiples of {self.multiple} (2**depth), got {bad[0]}")
            if self.z_ch < 1:
                raise ValueError("z_ch must be positive")
        if self.ngf < 1 or self.z_dim < 1 or self.spade_hidden < 1:
            raise ValueError("ngf, z_dim and spade_hidden must be positive")
        if not self.classes:
            raise ValueError("the generator needs at least one class")
        if self.seed_looks not in SEED_LOOKS:
            raise ValueError(f"unknown seed_looks {self.seed_looks!r}; choose one of: {', '.join(SEED_LOOKS)}")
        if self.seed_looks == "renderer" and not (self.use_vae and renderer_knows(self.classes)):
            raise ValueError("seed_looks 'renderer' needs a style encoder and the landscape classes the renderer knows")
        if not 0.0 <= self.look_match <= 1.0:
            raise ValueError(f"look_match must be in [0, 1], got {self.look_match}")
        if self.look_match and self.seed_looks != "renderer":
            raise ValueError("look_match needs seed_looks 'renderer' (it matches the seed's render of the layout)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GenConfig":
        """From a checkpoint's config; files written before ``arch`` existed are ``grid`` generators."""
        known = {f.name for f in fields(cls)}
        # files written before ``noise`` existed have none
        return cls(**({"arch": "grid", "noise": False} | {k: v for k, v in d.items() if k in known})).validate()


def one_hot(ids: torch.Tensor, num_classes: int, ignore_index: int = 255) -> torch.Tensor:
    """Integer label map ``(B, H, W)`` -> one-hot ``(B, K, H, W)`` float; ``ignore_index`` pixels are all-zero."""
    if ids.dim() != 3:
        raise ValueError(f"expected label ids (B, H, W), got shape {tuple(ids.shape)}")
    valid = (ids >= 0) & (ids < num_classes)
    bad = ~valid & (ids != ignore_index)
    if bad.any():
        raise ValueError(f"label ids must be in 0..{num_classes - 1} (or {ignore_index} = ignore)")
    idx = torch.where(valid, ids, torch.zeros_like(ids)).long()
    out = torch.zeros(ids.shape[0], num_classes, *ids.shape[1:], device=ids.device)
    out.scatter_(1, idx.unsqueeze(1), 1.0)
    return out * valid.unsqueeze(1)


def _sn(module: nn.Module, on: bool) -> nn.Module:
    return spectral_norm(module) if on else module


class SPADEResBlock(nn.Module):
    """SPADE -> lReLU -> conv -> SPADE -> lReLU -> conv, plus a learned 1x1 shortcut when channels change.

    With ``noise``, a per-pixel noise map is added after each conv, scaled per channel by learned weights that
    start at zero (StyleGAN's noise inputs): so a fine-tuned generator starts from its old outputs, and texture
    inside a region can vary from place to place instead of being a function of the label map alone.

    Shape: ``forward(x (B, C_in, H, W), seg (B, K, h, w), noise (B, 2, H, W) | None) -> (B, C_out, H, W)``.
    """

    def __init__(
        self, c_in: int, c_out: int, label_nc: int, norm, hidden: int, spectral: bool, noise: bool = False
    ) -> None:
        super().__init__()
        mid = min(c_in, c_out)
        self.learned_shortcut = c_in != c_out
        self.conv_0 = _sn(nn.Conv2d(c_in, mid, 3, padding=1), spectral)
        self.conv_1 = _sn(nn.Conv2d(mid, c_out, 3, padding=1), spectral)
        self.norm_0 = SPADE(c_in, label_nc, param_free_norm=norm, hidden=hidden)
        self.norm_1 = SPADE(mid, label_nc, param_free_norm=norm, hidden=hidden)
        if self.learned_shortcut:
            self.conv_s = _sn(nn.Conv2d(c_in, c_out, 1, bias=False), spectral)
            self.norm_s = SPADE(c_in, label_nc, param_free_norm=norm, hidden=hidden)
        self.noise_0 = nn.Parameter(torch.zeros(1, mid, 1, 1)) if noise else None
        self.noise_1 = nn.Parameter(torch.zeros(1, c_out, 1, 1)) if noise else None

    def forward(self, x: torch.Tensor, seg: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        xs = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        if self.noise_0 is not None:
            n = noise if noise is not None else torch.randn(x.shape[0], 2, *x.shape[2:], device=x.device)
            dx = dx + self.noise_0 * n[:, :1].to(dx.dtype)
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        if self.noise_1 is not None:
            dx = dx + self.noise_1 * n[:, 1:2].to(dx.dtype)
        return xs + dx


class StyleEncoder(nn.Module):
    """VAE encoder: image -> (mu, logvar) of the style code.

    Stride-2 convs (norm + lReLU) down to 4 x 4, then two linear heads.

    Shape: ``(B, 3, H, W)`` in [-1, 1] (resized to ``size``) -> ``mu, logvar: (B, z_dim)``.
    """

    def __init__(self, size: int, ngf: int, z_dim: int, norm, spectral: bool = True) -> None:
        super().__init__()
        self.size = size
        n = int(math.log2(size)) - 2  # stride-2 steps down to 4 x 4
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(n):
            c_out = ngf * min(2**i, 8)
            layers += [_sn(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), spectral)]
            layers += [norm_act(norm, c_out, act="leaky_relu") if i > 0 else nn.LeakyReLU(0.2)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.fc_mu = nn.Linear(c_in * 16, z_dim)
        self.fc_var = nn.Linear(c_in * 16, z_dim)

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if img.shape[-2:] != (self.size, self.size):
            img = F.interpolate(img, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        h = self.body(img).flatten(1)
        return self.fc_mu(h), self.fc_var(h)


class _EncodesStyle(nn.Module):
    """What both generators share: ``encode`` through the optional VAE style encoder (``self.encoder``)."""

    encoder: "StyleEncoder | None"

    def encode(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Style image ``(B, 3, H, W)`` in [-1, 1] (crop: the whole picture) -> ``(mu, logvar)``; needs ``use_vae``."""
        if self.encoder is None:
            raise ValueError("this generator has no style encoder (trained with use_vae=False)")
        return self.encoder(img)


class SPADEGenerator(_EncodesStyle):
    """``grid`` architecture: label map (+ optional style code) -> image in [-1, 1].

    Shape: ``forward(seg (B, K, H, W) one-hot, z (B, z_dim) | None) -> (B, 3, size, size)``. ``seg`` may
    have any size (it is nearest-resized inside each SPADE); with ``use_vae`` and ``z=None``, z ~ N(0, I).
    """

    def __init__(self, cfg: GenConfig) -> None:
        super().__init__()
        if cfg.arch != "grid":
            raise ValueError(f"SPADEGenerator is the 'grid' architecture, got arch={cfg.arch!r} (use build_generator)")
        self.cfg = cfg.validate()
        norm = get_norm(cfg.norm)
        K, sn = cfg.label_nc, cfg.spectral
        self.s0 = cfg.size // 2**cfg.num_up
        ch = self._channels()  # channels at each resolution: [head, after up 1, ..., after up n]
        if cfg.use_vae:
            self.fc = nn.Linear(cfg.z_dim, ch[0] * self.s0 * self.s0)
        else:
            self.fc = nn.Conv2d(K, ch[0], 3, padding=1)
        self.head = SPADEResBlock(ch[0], ch[0], K, norm, cfg.spade_hidden, sn)
        self.middle = SPADEResBlock(ch[0], ch[0], K, norm, cfg.spade_hidden, sn)
        self.ups = nn.ModuleList(
            SPADEResBlock(ch[i], ch[i + 1], K, norm, cfg.spade_hidden, sn) for i in range(cfg.num_up)
        )
        self.conv_img = nn.Conv2d(ch[-1], 3, 3, padding=1)
        self.encoder = StyleEncoder(cfg.size, max(8, cfg.ngf), cfg.z_dim, norm, sn) if cfg.use_vae else None

    def _channels(self) -> list[int]:
        cfg = self.cfg
        res = [self.s0 * 2**i for i in range(cfg.num_up + 1)]
        return [cfg.ngf * min(16, cfg.size // r) for r in res]

    def forward(
        self,
        seg: torch.Tensor,
        z: torch.Tensor | None = None,
        out_size: tuple[int, int] | None = None,
        box: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``out_size=(H, W)`` (multiples of ``2**num_up``) renders another aspect ratio; default ``size x size``.

        ``box`` is accepted for a common signature with :class:`CropSPADEGenerator` and ignored."""
        cfg = self.cfg
        if seg.dim() != 4 or seg.shape[1] != cfg.label_nc:
            raise ValueError(f"generator expects a one-hot label map (B, {cfg.label_nc}, H, W), got {tuple(seg.shape)}")
        B = seg.shape[0]
        f = 2**cfg.num_up
        if out_size is not None and (out_size[0] % f or out_size[1] % f or min(out_size) < f):
            raise ValueError(f"out_size must be positive multiples of {f}, got {tuple(out_size)}")
        h0, w0 = (self.s0, self.s0) if out_size is None else (out_size[0] // f, out_size[1] // f)
        if cfg.use_vae:
            if z is None:
                z = torch.randn(B, cfg.z_dim, device=seg.device, dtype=seg.dtype)
            x = self.fc(z).view(B, -1, self.s0, self.s0)
            if (h0, w0) != (self.s0, self.s0):  # stretch the code's spatial layout to the aspect ratio
                x = F.interpolate(x, size=(h0, w0), mode="bilinear", align_corners=False)
        else:
            x = self.fc(F.interpolate(seg, size=(h0, w0), mode="nearest"))
        x = self.middle(self.head(x, seg), seg)
        for block in self.ups:
            x = block(F.interpolate(x, scale_factor=2, mode="nearest"), seg)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


SCALE_REF = 256  # the picture side whose scale channel is 0 (512 px: 1)


def position_channels(
    box: torch.Tensor | None,
    batch: int,
    h: int,
    w: int,
    stride: int = 1,
    device=None,
    dtype=torch.float32,
    max_scale: float | None = None,
) -> torch.Tensor:
    """Where each cell of an ``h x w`` grid lies in the whole picture: ``(B, 3, h, w)`` = (y, x, scale).

    ``box (B, 4)`` = ``(top, left, picture height, picture width)`` in output pixels of the crop that the grid
    covers (``None``: the grid *is* the whole picture); one cell spans ``stride`` output pixels. y and x run from
    -1 (top / left edge) to 1 and are sampled at cell centres; scale is ``log2(long side / 256)`` on every
    cell, so a 3x3 conv need not infer the picture size from tiny coordinate steps; ``max_scale`` caps it (a picture
    larger than any trained on is rendered with the largest trained scale: the same detail per pixel, more pixels).

    >>> p = position_channels(None, 1, 2, 4)
    >>> p[0, 0, :, 0].tolist(), p[0, 1, 0].tolist(), float(p[0, 2, 0, 0])
    ([-0.5, 0.5], [-0.75, -0.25, 0.25, 0.75], -6.0)
    >>> crop = position_channels(torch.tensor([[0., 2., 2., 4.]]), 1, 1, 1, stride=2)  # right half, one cell
    >>> crop[0, :2, 0, 0].tolist()  # the centre of that half
    [0.0, 0.5]
    """
    if box is None:
        box = torch.tensor([[0.0, 0.0, h * stride, w * stride]], device=device).expand(batch, 4)
    box = box.to(device=device, dtype=torch.float32)
    top, left, height, width = box.unbind(1)
    cy = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * stride
    cx = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * stride
    ys = (top[:, None] + cy) / height[:, None] * 2 - 1  # (B, h)
    xs = (left[:, None] + cx) / width[:, None] * 2 - 1  # (B, w)
    scale = torch.log2(torch.maximum(height, width) / SCALE_REF)
    if max_scale is not None:
        scale = scale.clamp(max=max_scale)
    out = torch.stack(
        [ys[:, :, None].expand(-1, h, w), xs[:, None, :].expand(-1, h, w), scale[:, None, None].expand(-1, h, w)], 1
    )
    return out.to(dtype)


class CropSPADEGenerator(_EncodesStyle):
    """``crop`` architecture: fully convolutional, conditioned on labels + position + the style code everywhere.

    Each SPADE sees ``concat(one-hot labels, position_channels, proj(z) broadcast)`` at its own resolution, so a
    crop rendered with its ``box`` matches the same region of the whole picture rendered at once (up to the
    normalizer's statistics, which a crop computes over itself). The start grid is the conditioning map at
    1/``2**depth`` of the output, embedded by a 3x3 conv; ``depth`` SPADE blocks with x2 upsampling follow.

    Shape: ``forward(seg (B, K, H, W) one-hot, z (B, z_dim) | None, box (B, 4) | None) -> (B, 3, H, W)``;
    H and W multiples of ``2**depth``. ``z=None`` with the encoder on draws z ~ N(0, I).
    """

    def __init__(self, cfg: GenConfig) -> None:
        super().__init__()
        if cfg.arch != "crop":
            raise ValueError(f"CropSPADEGenerator is the 'crop' architecture, got arch={cfg.arch!r}")
        self.cfg = cfg.validate()
        norm = get_norm(cfg.norm)
        sn = cfg.spectral
        self.z_ch = cfg.z_ch if cfg.use_vae else 0
        self.cond_nc = cfg.label_nc + 3 + self.z_ch
        # pictures beyond the largest trained size keep its scale channel (no effect on training's sizes)
        self.max_scale = math.log2(cfg.native_range[1] / SCALE_REF) if cfg.native else None
        ch = [cfg.ngf * min(16, 2 ** (cfg.depth - i)) for i in range(cfg.depth + 1)]  # coarse -> fine
        nz = cfg.noise
        self.fc = nn.Conv2d(self.cond_nc, ch[0], 3, padding=1)
        self.head = SPADEResBlock(ch[0], ch[0], self.cond_nc, norm, cfg.spade_hidden, sn, nz)
        self.middle = SPADEResBlock(ch[0], ch[0], self.cond_nc, norm, cfg.spade_hidden, sn, nz)
        self.ups = nn.ModuleList(
            SPADEResBlock(ch[i], ch[i + 1], self.cond_nc, norm, cfg.spade_hidden, sn, nz) for i in range(cfg.depth)
        )
        self.conv_img = nn.Conv2d(ch[-1], 3, 3, padding=1)
        self.z_proj = nn.Linear(cfg.z_dim, self.z_ch) if cfg.use_vae else None
        self.encoder = StyleEncoder(cfg.enc_size, max(8, cfg.ngf), cfg.z_dim, norm, sn) if cfg.use_vae else None

    def condition(
        self, seg: torch.Tensor, z_map: torch.Tensor | None, box: torch.Tensor | None, stride: int
    ) -> torch.Tensor:
        """The conditioning map at 1/``stride`` of ``seg``'s size: ``(B, cond_nc, H/stride, W/stride)``."""
        B, _, H, W = seg.shape
        h, w = H // stride, W // stride
        parts = [
            seg if stride == 1 else F.interpolate(seg, size=(h, w), mode="nearest"),
            position_channels(box, B, h, w, stride, device=seg.device, dtype=seg.dtype, max_scale=self.max_scale),
        ]
        if z_map is not None:
            parts.append(z_map[:, :, None, None].expand(-1, -1, h, w).to(seg.dtype))
        return torch.cat(parts, 1)

    def noise_shapes(self, height: int, width: int) -> list[tuple[int, int, int]]:
        """``(2, h, w)`` of each block's noise map for an ``height x width`` output: head, middle, then each up."""
        f = self.cfg.multiple
        sides = [(height // f, width // f)] * 2 + [
            (height * 2 ** (i + 1) // f, width * 2 ** (i + 1) // f) for i in range(self.cfg.depth)
        ]
        return [(2, h, w) for h, w in sides]

    def make_noise(
        self, batch: int, height: int, width: int, generator: torch.Generator | None = None, device=None
    ) -> list[torch.Tensor] | None:
        """Standard normal noise maps for every block (None when the generator has no noise inputs).

        Drawn on the CPU from ``generator`` so a seed gives the same picture on every device; a window of a larger
        picture slices the whole picture's maps (each map is at its block's resolution).
        """
        if not self.cfg.noise:
            return None
        return [
            torch.randn(batch, *shape, generator=generator).to(device) for shape in self.noise_shapes(height, width)
        ]

    def forward(
        self,
        seg: torch.Tensor,
        z: torch.Tensor | None = None,
        box: torch.Tensor | None = None,
        out_size: tuple[int, int] | None = None,
        noise: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """``out_size`` must equal ``seg``'s size if given (accepted for a common signature with ``grid``).

        ``noise``: one ``(B, 2, h, w)`` map per block (:meth:`make_noise`); None draws fresh noise."""
        cfg, f = self.cfg, self.cfg.multiple
        if seg.dim() != 4 or seg.shape[1] != cfg.label_nc:
            raise ValueError(f"generator expects a one-hot label map (B, {cfg.label_nc}, H, W), got {tuple(seg.shape)}")
        H, W = seg.shape[2:]
        if H % f or W % f:
            raise ValueError(f"label map sides must be multiples of {f}, got {H}x{W}")
        if out_size is not None and tuple(out_size) != (H, W):
            raise ValueError(f"the crop generator renders at the label map's size ({H}x{W}), not {tuple(out_size)}")
        z_map = None
        if self.z_proj is not None:
            if z is None:
                z = torch.randn(seg.shape[0], cfg.z_dim, device=seg.device)
            z_map = self.z_proj(z.to(self.z_proj.weight.dtype))
        if noise is not None and len(noise) != 2 + len(self.ups):
            raise ValueError(f"noise must hold {2 + len(self.ups)} maps (one per block), got {len(noise)}")
        nz = noise or [None] * (2 + len(self.ups))
        cond = self.condition(seg, z_map, box, f)
        x = self.fc(cond)
        x = self.middle(self.head(x, cond, nz[0]), cond, nz[1])
        for i, block in enumerate(self.ups):
            cond = self.condition(seg, z_map, box, f // 2 ** (i + 1))
            x = block(F.interpolate(x, scale_factor=2, mode="nearest"), cond, nz[2 + i])
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


def build_generator(cfg: GenConfig) -> nn.Module:
    """The generator class that ``cfg.arch`` names."""
    return CropSPADEGenerator(cfg) if cfg.validate().arch == "crop" else SPADEGenerator(cfg)


def baked_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """State dict with every spectral-norm weight replaced by ``weight / sigma`` (exact top singular value).

    The result loads into the same network built without spectral norm (``spectral=False``): what export
    ships, so inference needs no power iteration. ``module`` itself is left untouched.
    """
    suffix = ".parametrizations.weight.original"
    out: dict[str, torch.Tensor] = {}
    for key, value in module.state_dict().items():
        if key.endswith(suffix):
            w = value.detach().float()
            sigma = torch.linalg.matrix_norm(w.flatten(1), ord=2)
            out[key[: -len(suffix)] + ".weight"] = (w / sigma).to(value.dtype)
        elif ".parametrizations.weight." in key:  # power-iteration vectors u, v: not needed once baked
            continue
        else:
            out[key] = value.detach()
    return out


def bake_spectral_norm(module: nn.Module) -> nn.Module:
    """A new generator without spectral norm whose weights are ``module``'s normalized ones (same outputs)."""
    plain = build_generator(replace(module.cfg, spectral=False))
    plain.load_state_dict(baked_state_dict(module))
    return plain.to(next(module.parameters()).device).train(module.training)
