"""AdaIN inference: the one code path used by the CLI (`normlab stylize`), the web app, evaluation and benchmarks.

Features (Huang & Belongie 2017, §7): content-style trade-off ``alpha``; interpolation between several styles with
weights; spatial control (two styles, a mask chooses where each goes, statistics per region); colour preservation,
either by matching the style image's colour mean/covariance to the content's before encoding (``"covariance"``) or
by transferring luminance only (``"luminance"``, YCbCr via kornia).

Example:
    >>> from models.common.imageio import load_image
    >>> st = Stylizer.from_checkpoint("assets/adain_instance.safetensors")  # run from the repository root
    >>> photo, style = load_image("assets/examples/chelsea.jpg"), load_image("assets/examples/starry_night.jpg")
    >>> st.stylize(photo, [style], alpha=0.8, size=128).size
    (128, 85)
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from models.adain.net import CONTENT_LAYER, AdaINConfig, AdaINNet
from models.common.accel import autocast_for, fast_bf16_default
from models.common.assets import checkpoint_for
from models.common.checkpoint import CheckpointError, load_checkpoint
from models.common.imageio import pil_to_tensor, resize_long_side, tensor_to_pil
from models.common.linalg import sqrtm_psd

__all__ = ["Stylizer", "stylize_features", "match_color_covariance", "PRESERVE_COLOR_MODES", "prepare_mask"]

PRESERVE_COLOR_MODES = (None, "covariance", "luminance")
_STYLE_CACHE_SIZE = 8


# ------------------------------------------------------------------------------------------------ pure maths
def match_color_covariance(style: torch.Tensor, content: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Recolour ``style`` so its RGB mean and covariance equal ``content``'s (Gatys et al. 2017, "colour histogram
    matching", linear variant).

    ``x' = C_c^{1/2} C_s^{-1/2} (x - μ_s) + μ_c``; covariances are divided by the pixel count (the reference code
    forgets to, which only works by accident of scale).

    Shape:
        style ``(3, H, W)`` and content ``(3, H', W')`` in [0, 1] -> ``(3, H, W)`` clamped to [0, 1].
    """
    def stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.reshape(3, -1).double()
        mean = flat.mean(dim=1, keepdim=True)
        centred = flat - mean
        return mean, centred @ centred.T / flat.shape[1]

    mu_s, cov_s = stats(style)
    mu_c, cov_c = stats(content)
    transform = sqrtm_psd(cov_c, eps=eps) @ sqrtm_psd(cov_s, inverse=True, eps=eps)
    flat = style.reshape(3, -1).double()
    out = transform @ (flat - mu_s) + mu_c
    return out.reshape(style.shape).to(style.dtype).clamp(0, 1)


def stylize_features(net: AdaINNet, content_feat: torch.Tensor, style_feats: Sequence[torch.Tensor],
                     weights: Sequence[float] | None = None, alpha: float = 1.0,
                     mask: torch.Tensor | None = None) -> torch.Tensor:
    """Combine relu4_1 features into the decoder's input ``t``.

    - no mask: ``t = Σ_i w_i · AdaIN(f_c, f_s_i)`` (weights sum to 1);
    - mask (exactly 2 styles): ``t = m · AdaIN_m(f_c, f_s0) + (1 - m) · AdaIN_{1-m}(f_c, f_s1)``, where
      ``AdaIN_m`` normalises the content with the statistics of its own region only;
    - then ``t ← α · t + (1 - α) · f_c``.

    Shapes: content_feat ``(1, 512, h, w)``, each style ``(1, 512, h_i, w_i)``, mask ``(1, 1, h, w)`` in {0, 1}.
    """
    if mask is not None:
        regions = [mask, 1.0 - mask]
        areas = [float(r.sum()) for r in regions]
        if min(areas) == 0:  # the mask covers everything or nothing: a single style, no region statistics needed
            t = net.adain(content_feat, style_feats[0 if areas[0] > 0 else 1])
        else:
            t = sum(r * net.adain(content_feat, s, content_mask=r) for r, s in zip(regions, style_feats))
    else:
        ws = [1.0 / len(style_feats)] * len(style_feats) if weights is None else list(weights)
        t = sum(w * net.adain(content_feat, s) for w, s in zip(ws, style_feats))
    return alpha * t + (1.0 - alpha) * content_feat


def prepare_mask(mask: Image.Image | np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """A user mask (any mode; bright = first style) -> binary ``(1, 1, H, W)`` float at ``size = (W, H)``."""
    if isinstance(mask, np.ndarray):
        arr = mask
        if arr.ndim == 3:
            arr = arr[..., :3].mean(axis=-1) if arr.shape[-1] in (3, 4) else arr[..., 0]
        if arr.ndim != 2:
            raise ValueError(f"mask array must be (H, W) or (H, W, C), got shape {mask.shape}")
        arr = arr.astype(np.float32)
        if arr.max(initial=0) > 1.0:
            arr = arr / 255.0
        img = Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8), "L")
    elif isinstance(mask, Image.Image):
        img = mask
        if img.mode in ("RGBA", "LA"):  # transparent = unpainted = dark
            bg = Image.new("RGBA", img.size, (0, 0, 0, 255))
            img = Image.alpha_composite(bg, img.convert("RGBA"))
        img = img.convert("L")
    else:
        raise ValueError(f"mask must be a PIL image or a numpy array, got {type(mask).__name__}")
    img = img.resize(size, Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy((arr >= 0.5).astype(np.float32))[None, None]


# ------------------------------------------------------------------------------------------------ the Stylizer
def _pad_to_multiple(x: torch.Tensor, multiple: int = 8) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad ``(B, C, H, W)`` so H, W are multiples of ``multiple``; returns the original (H, W)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if h > ph and w > pw else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


class Stylizer:
    """A loaded AdaIN model ready to stylize PIL images. Build once, call :meth:`stylize` many times.

    Args:
        net: an ``AdaINNet`` with trained decoder weights.
        device: default CUDA when available, else CPU.
        bf16: run the networks under bf16 autocast (default: on CUDA, and on CPUs with native bf16 kernels).
        channels_last: channels_last memory format (default: same as ``bf16``).
    """

    def __init__(self, net: AdaINNet, device: str | torch.device | None = None, bf16: bool | None = None,
                 channels_last: bool | None = None) -> None:
        self.device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
        fast_bf16 = fast_bf16_default(self.device)
        self.bf16 = fast_bf16 if bf16 is None else bf16
        self.channels_last = fast_bf16 if channels_last is None else channels_last
        self.net = net.to(self.device).eval()
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)
        self._style_cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    @property
    def config(self) -> AdaINConfig:
        return self.net.config

    @property
    def norm(self) -> str:
        return self.net.config.norm

    @classmethod
    def from_checkpoint(cls, path: str | Path, **kw) -> "Stylizer":
        """Load ``assets/adain_<norm>.safetensors`` (or any AdaIN checkpoint); ``CheckpointError`` if unusable."""

        state, config = load_checkpoint(path, "adain")
        try:
            net = AdaINNet(AdaINConfig.from_dict(config))
            net.load_trainable_state_dict(state)
        except (ValueError, TypeError, RuntimeError) as err:
            raise CheckpointError(f"'{path}' does not match the AdaIN network: {err}") from None
        return cls(net, **kw)

    @classmethod
    def for_norm(cls, norm: str = "instance", assets_dir: str | Path | None = None, **kw) -> "Stylizer":
        """The shipped model for a normalizer; ``CheckpointError`` listing the available ones if there is none."""

        return cls.from_checkpoint(checkpoint_for("adain", norm, assets_dir), **kw)

    # -------------------------------------------------------------------------------------------- internals
    def _autocast(self):
        return autocast_for(self.device, self.bf16)

    def _batch(self, x: torch.Tensor) -> torch.Tensor:
        x = x[None].to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def encode_content(self, x: torch.Tensor) -> torch.Tensor:
        """``(3, H, W)`` -> relu4_1 ``(1, 512, H/8, W/8)``; H, W must be multiples of 8."""
        with self._autocast():
            return self.net.encode(self._batch(x))[CONTENT_LAYER]

    def encode_style(self, x: torch.Tensor) -> torch.Tensor:
        """``(3, H, W)`` -> relu4_1 features, cached by content hash (a repeated style is encoded once)."""
        key = hashlib.blake2b(x.numpy().tobytes() if x.device.type == "cpu" else x.cpu().numpy().tobytes(),
                              digest_size=16).hexdigest() + f"{tuple(x.shape)}"
        hit = self._style_cache.get(key)
        if hit is not None:
            self._style_cache.move_to_end(key)
            return hit
        with self._autocast():
            feat = self.net.encode(self._batch(x))[CONTENT_LAYER]
        self._style_cache[key] = feat
        while len(self._style_cache) > _STYLE_CACHE_SIZE:
            self._style_cache.popitem(last=False)
        return feat

    def clear_cache(self) -> None:
        self._style_cache.clear()

    # -------------------------------------------------------------------------------------------- public
    def stylize(self, content: Image.Image, styles: Sequence[Image.Image], weights: Sequence[float] | None = None,
                alpha: float = 1.0, preserve_color: str | None = None,
                mask: Image.Image | np.ndarray | None = None, size: int | None = 512) -> Image.Image:
        """Stylize ``content`` with one or more ``styles``; returns an RGB PIL image.

        Args:
            content: the photo; its longer side is resized to ``size`` (None keeps it), aspect ratio kept.
            styles: one or more style images (each resized so its longer side matches the content's).
            weights: one non-negative weight per style for interpolation (normalised to sum 1). Not with ``mask``.
            alpha: content-style trade-off in [0, 1]: 0 = content reconstruction, 1 = full stylization.
            preserve_color: None, ``"covariance"`` (recolour the styles to the content's colour statistics) or
                ``"luminance"`` (stylize luminance only; keep the content's chroma).
            mask: with exactly 2 styles: ``styles[0]`` where the mask is bright, ``styles[1]`` elsewhere.
            size: output long side in pixels (default 512); None keeps the content's size.

        Raises:
            ValueError: with a message naming the bad argument.
        """
        styles = self._validate(content, styles, weights, alpha, preserve_color, mask, size)
        if weights is not None:
            total = float(sum(weights))
            weights = [float(w) / total for w in weights]
        content = resize_long_side(content.convert("RGB"), size)
        long_side = max(content.size)
        c = pil_to_tensor(content)
        s_list = [pil_to_tensor(resize_long_side(s.convert("RGB"), long_side)) for s in styles]

        chroma = None
        if preserve_color == "covariance":
            s_list = [match_color_covariance(s, c) for s in s_list]
        elif preserve_color == "luminance":
            c, s_list, chroma = _luminance_inputs(c, s_list)

        with torch.inference_mode():
            c_pad, (h, w) = _pad_to_multiple(c[None])
            fc = self.encode_content(c_pad[0])
            fs = [self.encode_style(_pad_to_multiple(s[None])[0][0]) for s in s_list]
            m = None
            if mask is not None:
                m = prepare_mask(mask, (c_pad.shape[-1], c_pad.shape[-2])).to(self.device)
                m = F.interpolate(m, size=fc.shape[-2:], mode="area").ge(0.5).float()
            with self._autocast():
                t = stylize_features(self.net, fc.float(), [f.float() for f in fs], weights, float(alpha), m)
                out = self.net.decode(t)
            out = out.float()[0, :, :h, :w].clamp(0, 1).cpu()
        if chroma is not None:
            out = _recombine_luminance(out, chroma)
        return tensor_to_pil(out)

    @staticmethod
    def _validate(content, styles, weights, alpha, preserve_color, mask, size) -> list[Image.Image]:
        if not isinstance(content, Image.Image):
            raise ValueError(f"content must be a PIL image, got {type(content).__name__}")
        if isinstance(styles, Image.Image):
            styles = [styles]
        styles = list(styles or [])
        if not styles:
            raise ValueError("at least one style image is required")
        for i, s in enumerate(styles):
            if not isinstance(s, Image.Image):
                raise ValueError(f"style {i + 1} must be a PIL image, got {type(s).__name__}")
        try:
            alpha_f = float(alpha)
        except (TypeError, ValueError):
            raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}") from None
        if not 0.0 <= alpha_f <= 1.0 or math.isnan(alpha_f):
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if weights is not None:
            weights = list(weights)
            if len(weights) != len(styles):
                raise ValueError(f"got {len(weights)} weight(s) for {len(styles)} style(s): give one weight per style")
            if any(not math.isfinite(float(w)) or float(w) < 0 for w in weights):
                raise ValueError(f"style weights must be non-negative numbers, got {weights}")
            if sum(float(w) for w in weights) <= 0:
                raise ValueError("style weights must not all be zero")
        if preserve_color not in PRESERVE_COLOR_MODES:
            raise ValueError(f"preserve_color must be one of None, 'covariance', 'luminance'; got {preserve_color!r}")
        if mask is not None:
            if len(styles) != 2:
                raise ValueError(f"a mask needs exactly 2 styles (bright region -> first, dark -> second), "
                                 f"got {len(styles)}")
            if weights is not None:
                raise ValueError("weights cannot be combined with a mask: the mask decides where each style goes")
        if size is not None and (not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 16):
            raise ValueError(f"size must be an integer >= 16 (output long side in pixels) or None, got {size!r}")
        if size is not None and size > 4096:
            raise ValueError(f"size {size} is too large (limit 4096 px on the long side)")
        return styles


def _luminance_inputs(c: torch.Tensor, styles: list[torch.Tensor]
                      ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """Luminance-only transfer (Gatys et al. 2017): stylize grey images whose luminance is the content's Y and the
    styles' Y matched to the content's Y mean/std; returns (content grey, style greys, content YCbCr)."""
    from kornia.color import rgb_to_ycbcr

    ycc = rgb_to_ycbcr(c[None])[0]
    y_c = ycc[0:1]
    mu_c, sd_c = y_c.mean(), y_c.std().clamp_min(1e-5)
    greys = []
    for s in styles:
        y_s = rgb_to_ycbcr(s[None])[0, 0:1]
        y_s = ((y_s - y_s.mean()) / y_s.std().clamp_min(1e-5) * sd_c + mu_c).clamp(0, 1)
        greys.append(y_s.expand(3, -1, -1).contiguous())
    return y_c.expand(3, -1, -1).contiguous(), greys, ycc


def _recombine_luminance(out: torch.Tensor, content_ycc: torch.Tensor) -> torch.Tensor:
    """Take the stylized output's luminance and the content's chroma (Cb, Cr)."""
    from kornia.color import rgb_to_ycbcr, ycbcr_to_rgb

    y = rgb_to_ycbcr(out[None])[0, 0:1]
    ycc = torch.cat([y, content_ycc[1:3, : y.shape[-2], : y.shape[-1]]], dim=0)
    return ycbcr_to_rgb(ycc[None])[0].clamp(0, 1)
