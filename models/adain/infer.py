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
import os
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from models.adain.net import CONTENT_LAYER, AdaINConfig, AdaINNet
from models.adain.tiled import (
    CELL,
    ArraySink,
    ContentReader,
    FeatureStore,
    FileSink,
    Grid,
    Progress,
    RawImageFile,
    TileConfig,
    feature_mask,
)
from models.common.accel import autocast_for, fast_bf16_default
from models.common.assets import checkpoint_for
from models.common.checkpoint import CheckpointError, load_checkpoint
from models.common.imageio import pil_to_tensor, resize_long_side
from models.common.linalg import sqrtm_psd
from models.common.memory import trim
from norms.stats import Moments, empty, merge, moments

__all__ = [
    "Stylizer",
    "stylize_features",
    "match_color_covariance",
    "PRESERVE_COLOR_MODES",
    "prepare_mask",
    "style_side",
    "STROKE_REFERENCE",
    "STROKE_RANGE",
    "PixelStats",
    "pixel_stats",
]

PRESERVE_COLOR_MODES = (None, "covariance", "luminance")
_STYLE_CACHE_SIZE = 8
# Stroke size: the style image is encoded with its long side at stroke x min(output long side, STROKE_REFERENCE).
# Up to 1024 px that is today's "style as large as the output" (stroke 1); above, the style stays near the size the
# decoder was trained at, so its patterns keep their size in pixels instead of being blown up into smooth blurs.
STROKE_REFERENCE = 1024
STROKE_RANGE = (0.25, 4.0)
STYLE_MAX_SIDE = 4096


def style_side(output_long_side: int, stroke: float = 1.0) -> int:
    """Long side (px) at which a style image is encoded for an output of ``output_long_side`` px.

    >>> style_side(512), style_side(4000), style_side(4000, 2.0), style_side(4000, 0.5)
    (512, 1024, 2048, 512)
    """
    if not STROKE_RANGE[0] <= stroke <= STROKE_RANGE[1] or math.isnan(stroke):
        raise ValueError(f"stroke size must be between {STROKE_RANGE[0]:g} and {STROKE_RANGE[1]:g}, got {stroke:g}")
    return int(min(STYLE_MAX_SIDE, max(32, round(stroke * min(output_long_side, STROKE_REFERENCE)))))


# ------------------------------------------------------------------------------------------------ pure maths
class PixelStats:
    """RGB mean ``(3, 1)`` and covariance ``(3, 3)`` (divided by the pixel count) and luminance mean/std of an image,
    float64, accumulated strip by strip (a 100 MP photo needs no full-size float copy)."""

    def __init__(self) -> None:
        self.n = 0
        self._sum = torch.zeros(3, 1, dtype=torch.float64)
        self._outer = torch.zeros(3, 3, dtype=torch.float64)
        self._y = empty((1,))

    def add(self, x: torch.Tensor) -> None:
        """Fold in pixels ``(3, ...)`` in [0, 1]."""
        flat = x.reshape(3, -1).double() - 0.5  # centred near the data: sums of squares keep their precision
        self.n += flat.shape[1]
        self._sum += flat.sum(dim=1, keepdim=True)
        self._outer += flat @ flat.T
        y = (torch.tensor([[0.299, 0.587, 0.114]], dtype=torch.float64) @ flat) + 0.5
        self._y = merge(self._y, moments(y[None], dims=[2]).select(0))  # (1,): Y's moments

    @property
    def mean(self) -> torch.Tensor:
        return self._sum / self.n + 0.5

    @property
    def cov(self) -> torch.Tensor:
        m = self._sum / self.n
        return self._outer / self.n - m @ m.T

    @property
    def luminance(self) -> tuple[float, float]:
        """Mean and (biased) std of Y = 0.299 R + 0.587 G + 0.114 B (YCbCr's luminance)."""
        return float(self._y.mean[0]), float(self._y.var[0].sqrt())


def pixel_stats(x: torch.Tensor | ContentReader) -> PixelStats:
    """:class:`PixelStats` of an image ``(3, H, W)`` or of a reader's image (strip by strip)."""
    ps = PixelStats()
    for strip in x.strips() if isinstance(x, ContentReader) else [x]:
        ps.add(strip)
    return ps


def match_color_covariance(style: torch.Tensor, content: torch.Tensor | PixelStats, eps: float = 1e-5) -> torch.Tensor:
    """Recolour ``style`` so its RGB mean and covariance equal ``content``'s (Gatys et al. 2017, "colour histogram
    matching", linear variant).

    ``x' = C_c^{1/2} C_s^{-1/2} (x - μ_s) + μ_c``; covariances are divided by the pixel count (the reference code
    forgets to, which only works by accident of scale).

    Shape:
        style ``(3, H, W)`` in [0, 1] and content ``(3, H', W')`` in [0, 1] or its :class:`PixelStats`
        -> ``(3, H, W)`` clamped to [0, 1].
    """
    ps_s = pixel_stats(style)
    ps_c = content if isinstance(content, PixelStats) else pixel_stats(content)
    mu_s, cov_s, mu_c, cov_c = ps_s.mean, ps_s.cov, ps_c.mean, ps_c.cov
    transform = sqrtm_psd(cov_c, eps=eps) @ sqrtm_psd(cov_s, inverse=True, eps=eps)
    flat = style.reshape(3, -1).double()
    out = transform @ (flat - mu_s) + mu_c
    return out.reshape(style.shape).to(style.dtype).clamp(0, 1)


def stylize_features(
    net: AdaINNet,
    content_feat: torch.Tensor,
    styles: Sequence[torch.Tensor | Moments],
    weights: Sequence[float] | None = None,
    alpha: float = 1.0,
    mask: torch.Tensor | None = None,
    content_stats: Moments | Sequence[Moments] | None = None,
) -> torch.Tensor:
    """Combine relu4_1 features into the decoder's input ``t``.

    - no mask: ``t = Σ_i w_i · AdaIN(f_c, f_s_i)`` (weights sum to 1);
    - mask (exactly 2 styles): ``t = m · AdaIN_m(f_c, f_s0) + (1 - m) · AdaIN_{1-m}(f_c, f_s1)``, where
      ``AdaIN_m`` normalises the content with the statistics of its own region only;
    - then ``t ← α · t + (1 - α) · f_c``.

    ``styles`` are features or their precomputed :class:`Moments` ``(1, 512)``; ``content_stats`` (the whole image's,
    when ``content_feat`` is one tile of it) are one :class:`Moments` or, with a mask, one per region (mask, then
    its complement).

    Shapes: content_feat ``(1, 512, h, w)``, each style ``(1, 512, h_i, w_i)``, mask ``(1, 1, h, w)`` in {0, 1}.
    """
    style_stats = [s if isinstance(s, Moments) else moments(s.float()) for s in styles]
    if mask is not None:
        regions = [mask, 1.0 - mask]
        if content_stats is None:
            areas = [float(r.sum()) for r in regions]
            if min(areas) == 0:  # the mask covers everything or nothing: a single style, no region statistics
                return stylize_features(net, content_feat, [style_stats[0 if areas[0] > 0 else 1]], alpha=alpha)
            content_stats = [moments(content_feat, mask=r) for r in regions]
        t = sum(
            r * net.adain(content_feat, None, content_mask=r, content_stats=cs, style_stats=ss)
            for r, cs, ss in zip(regions, content_stats, style_stats)
        )
    else:
        ws = [1.0 / len(style_stats)] * len(style_stats) if weights is None else list(weights)
        t = sum(
            w * net.adain(content_feat, None, content_stats=content_stats, style_stats=ss)
            for w, ss in zip(ws, style_stats)
        )
    return alpha * t + (1.0 - alpha) * content_feat


def mask_image(mask: Image.Image | np.ndarray) -> Image.Image:
    """A user mask (PIL in any mode, or an array (H, W) / (H, W, C) of 0..1 or 0..255) -> mode ``L``, bright = first
    style; transparent pixels count as dark (unpainted)."""
    if isinstance(mask, np.ndarray):
        arr = mask
        if arr.ndim == 3:
            arr = arr[..., :3].mean(axis=-1) if arr.shape[-1] in (3, 4) else arr[..., 0]
        if arr.ndim != 2:
            raise ValueError(f"mask array must be (H, W) or (H, W, C), got shape {mask.shape}")
        arr = arr.astype(np.float32)
        if arr.max(initial=0) > 1.0:
            arr = arr / 255.0
        return Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8), "L")
    if isinstance(mask, Image.Image):
        img = mask
        if img.mode in ("RGBA", "LA"):  # transparent = unpainted = dark
            bg = Image.new("RGBA", img.size, (0, 0, 0, 255))
            img = Image.alpha_composite(bg, img.convert("RGBA"))
        return img.convert("L")
    raise ValueError(f"mask must be a PIL image or a numpy array, got {type(mask).__name__}")


def prepare_mask(mask: Image.Image | np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """A user mask (any mode; bright = first style) -> binary ``(1, 1, H, W)`` float at ``size = (W, H)``."""
    img = mask_image(mask).resize(size, Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy((arr >= 0.5).astype(np.float32))[None, None]


# ------------------------------------------------------------------------------------------------ the Stylizer
class Stylizer:
    """A loaded AdaIN model ready to stylize PIL images. Build once, call :meth:`stylize` many times.

    Every call runs on the tile grid of :mod:`models.adain.tiled`: an image that fits in one tile (768 px by
    default) is one tile, a larger one is stylized in two passes with the whole image's statistics, in bounded memory
    and with the same result.

    Args:
        net: an ``AdaINNet`` with trained decoder weights.
        device: default CUDA when available, else CPU.
        bf16: run the networks under bf16 autocast (default: on CUDA, and on CPUs with native bf16 kernels).
        channels_last: channels_last memory format (default: same as ``bf16``).
        tiles: how large images are cut up (:class:`~models.adain.tiled.TileConfig`).
    """

    def __init__(
        self,
        net: AdaINNet,
        device: str | torch.device | None = None,
        bf16: bool | None = None,
        channels_last: bool | None = None,
        tiles: TileConfig | None = None,
    ) -> None:
        self.device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
        fast_bf16 = fast_bf16_default(self.device)
        self.bf16 = fast_bf16 if bf16 is None else bf16
        self.channels_last = fast_bf16 if channels_last is None else channels_last
        self.tiles = tiles or TileConfig()
        self.net = net.to(self.device).eval()
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)
        self._style_cache: OrderedDict[str, Moments] = OrderedDict()

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

    @property
    def feature_dtype(self) -> torch.dtype:
        """What the encoder returns (and the feature store keeps): bf16 under autocast, else float32."""
        return torch.bfloat16 if self.bf16 else torch.float32

    def encode_content(self, x: torch.Tensor) -> torch.Tensor:
        """``(3, H, W)`` -> relu4_1 ``(1, 512, H/8, W/8)``; H, W must be multiples of 8."""
        with self._autocast():
            return self.net.encoder.forward_to(self._batch(x), CONTENT_LAYER)

    def _encode_grid(
        self,
        reader: ContentReader,
        grid: Grid,
        store: FeatureStore | None,
        mask: torch.Tensor | None,
        progress: Progress | None,
        total: int,
        done: int = 0,
        stage: str = "statistics",
    ) -> list[Moments]:
        """Pass 1: encode every core (with its margin), merge the core features' moments (one per mask region) and
        keep the core features in ``store``. Returns ``[moments]`` or ``[moments in mask, moments outside]``."""
        n_regions = 1 if mask is None else 2
        acc = [empty((1, self.net.adain.num_features)) for _ in range(n_regions)]
        for core in grid.cores():
            r0, r1, c0, c1 = core
            e0, e1, f0, f1 = grid.expand(core)
            x = reader.pixels(e0 * CELL, e1 * CELL, f0 * CELL, f1 * CELL)
            feat = self.encode_content(x)[..., r0 - e0 : r1 - e0, c0 - f0 : c1 - f0].cpu()
            if mask is None:
                acc[0] = merge(acc[0], moments(feat))
            else:
                m = mask[..., r0:r1, c0:c1]
                acc = [merge(a, moments(feat, mask=r)) for a, r in zip(acc, (m, 1.0 - m))]
            if store is not None:
                store.write(r0, c0, feat)
            del x, feat
            if not grid.single:
                trim()  # return the tile's freed activations to the OS: peak memory stays one tile's
            done += 1
            if progress is not None:
                progress(done, total, stage)
        return acc

    def style_moments(self, x: torch.Tensor) -> Moments:
        """relu4_1 moments ``(1, 512)`` of a style image ``(3, H, W)``, on the tile grid when it is large; cached by
        content hash (a repeated style is encoded once)."""
        key = hashlib.blake2b(x.cpu().numpy().tobytes(), digest_size=16).hexdigest() + f"{tuple(x.shape)}"
        hit = self._style_cache.get(key)
        if hit is not None:
            self._style_cache.move_to_end(key)
            return hit
        grid = Grid(x.shape[1], x.shape[2], self.tiles.tile, self.tiles.margin)
        stats = self._encode_grid(ContentReader(x), grid, None, None, None, 0)[0]
        self._style_cache[key] = stats
        while len(self._style_cache) > _STYLE_CACHE_SIZE:
            self._style_cache.popitem(last=False)
        return stats

    def encode_style(self, x: torch.Tensor) -> Moments:
        """Alias of :meth:`style_moments` (the style's statistics are all AdaIN needs of it)."""
        return self.style_moments(x)

    def clear_cache(self) -> None:
        self._style_cache.clear()

    def _thumbnail(self, content: Image.Image) -> Image.Image:
        return resize_long_side(content, min(self.tiles.thumbnail, max(content.size)))

    def _thumbnail_stats(self, thumb: Image.Image, luminance: bool, mask_img: Image.Image | None) -> list[Moments]:
        """URST's thumbnail statistics: the content's relu4_1 moments at a ``tiles.thumbnail``-px long side."""
        grid = Grid(thumb.height, thumb.width, 1 << 30, 0)
        mask = feature_mask(mask_img, grid.padded) if mask_img is not None else None
        return self._encode_grid(ContentReader(thumb, luminance), grid, None, mask, None, 0)

    # -------------------------------------------------------------------------------------------- public
    def stylize(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        weights: Sequence[float] | None = None,
        alpha: float = 1.0,
        preserve_color: str | None = None,
        mask: Image.Image | np.ndarray | None = None,
        size: int | None = 512,
        stroke: float = 1.0,
        progress: Progress | None = None,
    ) -> Image.Image:
        """Stylize ``content`` with one or more ``styles``; returns an RGB PIL image.

        Args:
            content: the photo; its longer side is resized to ``size`` (None keeps it), aspect ratio kept.
            styles: one or more style images (each resized to :func:`style_side` of the output, see ``stroke``).
            weights: one non-negative weight per style for interpolation (normalised to sum 1). Not with ``mask``.
            alpha: content-style trade-off in [0, 1]: 0 = content reconstruction, 1 = full stylization.
            preserve_color: None, ``"covariance"`` (recolour the styles to the content's colour statistics) or
                ``"luminance"`` (stylize luminance only; keep the content's chroma).
            mask: with exactly 2 styles: ``styles[0]`` where the mask is bright, ``styles[1]`` elsewhere.
            size: output long side in pixels (default 512); None keeps the content's size.
            stroke: stroke size in [0.25, 4]: the scale of the style's patterns in the output (1 = the style encoded
                at the output's long side up to 1024 px; 2 = twice as large brush strokes).
            progress: ``progress(done, total, stage)`` after every tile.

        Raises:
            ValueError: with a message naming the bad argument.
        """
        sink = None
        try:
            content = resize_long_side(content.convert("RGB"), size) if isinstance(content, Image.Image) else content
            self._validate(content, styles, weights, alpha, preserve_color, mask, size, stroke)
            sink = ArraySink(content.height, content.width)
            self._run(
                content,
                styles,
                weights,
                alpha,
                preserve_color,
                mask,
                stroke,
                sink,
                progress,
                self._thumbnail(content) if self.tiles.stats == "thumbnail" else None,
            )
            return sink.image()
        finally:
            if sink is not None:
                sink.close()

    def stylize_file(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        target: str | os.PathLike,
        weights: Sequence[float] | None = None,
        alpha: float = 1.0,
        preserve_color: str | None = None,
        mask: Image.Image | np.ndarray | None = None,
        size: int | None = 512,
        stroke: float = 1.0,
        progress: Progress | None = None,
        **save_kw,
    ) -> tuple[int, int]:
        """Like :meth:`stylize`, but the output goes to ``target`` through a raw file on disk, not a full-size array
        in memory (for outputs of tens of megapixels). The file appears at ``target`` only when complete; temporary
        files are removed on errors and on Ctrl-C. Returns the output's ``(width, height)``.

        A content larger than one tile is copied to a raw file too, so that the decoded photo can be freed during the
        run: hand over the only reference to it (``stylize_file(images.pop(), ...)``) to get that saving.
        """
        content = resize_long_side(content.convert("RGB"), size)
        self._validate(content, styles, weights, alpha, preserve_color, mask, size, stroke)
        thumb = self._thumbnail(content) if self.tiles.stats == "thumbnail" else None
        sink = FileSink(content.height, content.width, self.tiles.tmp_dir)
        raw = None
        try:
            if not Grid(content.height, content.width, self.tiles.tile, self.tiles.margin).single:
                raw = RawImageFile.from_image(content, self.tiles.tmp_dir)
                content = None  # type: ignore[assignment] - the decoded photo can go now
            self._run(raw or content, styles, weights, alpha, preserve_color, mask, stroke, sink, progress, thumb)
            content = None  # type: ignore[assignment]
            if raw is not None:
                raw.close()
            sink.save(target, **save_kw)
            return sink.width, sink.height
        finally:
            sink.close()
            if raw is not None:
                raw.close()

    def _run(
        self,
        content: Image.Image | RawImageFile,
        styles: Sequence[Image.Image],
        weights,
        alpha: float,
        preserve_color: str | None,
        mask,
        stroke: float,
        sink,
        progress: Progress | None,
        thumb: Image.Image | None = None,
    ) -> None:
        """Both passes over ``content`` (already at the output size), writing into ``sink``; ``thumb``: the content's
        thumbnail for ``stats="thumbnail"``."""
        styles = [styles] if isinstance(styles, Image.Image) else list(styles)
        if weights is not None:
            total_w = float(sum(weights))
            weights = [float(w) / total_w for w in weights]
        luminance = preserve_color == "luminance"
        reader = ContentReader(content, luminance)
        grid = Grid(content.height, content.width, self.tiles.tile, self.tiles.margin)

        # the styles' statistics, each computed once
        side = style_side(max(content.size), stroke)
        s_list = [pil_to_tensor(resize_long_side(s.convert("RGB"), side)) for s in styles]
        if preserve_color is not None:
            pix = pixel_stats(reader)
            if preserve_color == "covariance":
                s_list = [match_color_covariance(s, pix) for s in s_list]
            else:
                s_list = [_luminance_style(s, *pix.luminance) for s in s_list]

        with torch.inference_mode():
            style_stats = [self.style_moments(s) for s in s_list]
            m = None
            mask_img = None
            if mask is not None:
                mask_img = mask_image(mask)
                m = feature_mask(mask_img, grid.padded)
                covered = float(m.mean())
                if covered in (0.0, 1.0):  # one region only: a single style, no region statistics
                    style_stats, m, mask_img = [style_stats[0 if covered else 1]], None, None
            cores = grid.cores()
            total = 2 * len(cores)
            disk = self.tiles.store == "disk" or (
                self.tiles.store == "auto"
                and FeatureStore.nbytes(grid.cells, self.net.adain.num_features, self.feature_dtype)
                > self.tiles.store_ram_mb * 2**20
            )
            with FeatureStore(
                grid.cells, self.net.adain.num_features, self.feature_dtype, disk, self.tiles.tmp_dir
            ) as store:
                content_stats = self._encode_grid(reader, grid, store, m, progress, total)
                if thumb is not None and not grid.single:
                    content_stats = self._thumbnail_stats(thumb, luminance, mask_img)
                cs = content_stats if m is not None else content_stats[0]
                self._decode_grid(
                    reader, grid, store, style_stats, weights, float(alpha), m, cs, sink, progress, total, len(cores)
                )

    def _decode_grid(
        self,
        reader: ContentReader,
        grid: Grid,
        store: FeatureStore,
        style_stats: list[Moments],
        weights,
        alpha: float,
        mask: torch.Tensor | None,
        content_stats,
        sink,
        progress: Progress | None,
        total: int,
        done: int,
    ) -> None:
        """Pass 2: AdaIN on each core's features (plus margin) with the global statistics, decode, write the core."""
        h, w = grid.height, grid.width
        for core in grid.cores():
            r0, r1, c0, c1 = core
            e0, e1, f0, f1 = grid.expand(core)
            feat = store.read(e0, e1, f0, f1).to(self.device).float()
            m = mask[..., e0:e1, f0:f1].to(self.device) if mask is not None else None
            with self._autocast():
                t = stylize_features(self.net, feat, style_stats, weights, alpha, m, content_stats)
                if self.channels_last:
                    t = t.contiguous(memory_format=torch.channels_last)
                out = self.net.decode(t)
            py0, px0 = (r0 - e0) * CELL, (c0 - f0) * CELL
            rows, cols = min(r1 * CELL, h) - r0 * CELL, min(c1 * CELL, w) - c0 * CELL
            out = out.float()[0, :, py0 : py0 + rows, px0 : px0 + cols].clamp(0, 1).cpu()
            if reader.luminance:
                out = _recombine_luminance(out, reader.chroma(r0 * CELL, r0 * CELL + rows, c0 * CELL, c0 * CELL + cols))
            sink.write(r0 * CELL, c0 * CELL, out.mul(255).round().byte().permute(1, 2, 0).numpy())
            del feat, t, out
            if not grid.single:
                trim()
            done += 1
            if progress is not None:
                progress(done, total, "decode")

    @staticmethod
    def _validate(content, styles, weights, alpha, preserve_color, mask, size, stroke=1.0) -> list[Image.Image]:
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
                raise ValueError(
                    f"a mask needs exactly 2 styles (bright region -> first, dark -> second), got {len(styles)}"
                )
            if weights is not None:
                raise ValueError("weights cannot be combined with a mask: the mask decides where each style goes")
        if size is not None and (not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 16):
            raise ValueError(f"size must be an integer >= 16 (output long side in pixels) or None, got {size!r}")
        try:
            style_side(512, float(stroke))
        except (TypeError, ValueError) as err:
            raise ValueError(
                str(err) if isinstance(err, ValueError) else f"stroke size must be a number, got {stroke!r}"
            ) from None
        return styles


def _luminance_style(style: torch.Tensor, mean_y: float, std_y: float) -> torch.Tensor:
    """Luminance-only transfer (Gatys et al. 2017): a style's luminance Y, matched to the content's Y mean/std, as a
    grey ``(3, H, W)`` image (the content side is :class:`ContentReader` with ``luminance=True``)."""
    from kornia.color import rgb_to_ycbcr

    y_s = rgb_to_ycbcr(style[None])[0, 0:1]
    y_s = ((y_s - y_s.mean()) / y_s.std(unbiased=False).clamp_min(1e-5) * max(std_y, 1e-5) + mean_y).clamp(0, 1)
    return y_s.expand(3, -1, -1).contiguous()


def _recombine_luminance(out: torch.Tensor, content_ycc: torch.Tensor) -> torch.Tensor:
    """Take the stylized output's luminance and the content's chroma (Cb, Cr)."""
    from kornia.color import rgb_to_ycbcr, ycbcr_to_rgb

    y = rgb_to_ycbcr(out[None])[0, 0:1]
    ycc = torch.cat([y, content_ycc[1:3, : y.shape[-2], : y.shape[-1]]], dim=0)
    return ycbcr_to_rgb(ycc[None])[0].clamp(0, 1)
