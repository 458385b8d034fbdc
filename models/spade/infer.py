"""Inference with a trained SPADE generator: label map (+ seed or style image) -> PIL image.

Example:
    >>> from models.spade.infer import Synthesizer
    >>> syn = Synthesizer.from_checkpoint("assets/spade_batch.safetensors")  # run from the repository root
    >>> from models.landscape.render import generate_sample
    >>> _, ids = generate_sample(5, 128)
    >>> syn.synthesize(ids, seed=1).size
    (128, 128)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from models.common.accel import autocast_for, fast_bf16_default
from models.common.assets import default_norm
from models.common.formats import too_small
from models.common.checkpoint import CheckpointError, checkpoint_for, load_checkpoint
from models.common.imageio import ImageLoadError, open_image, pil_to_tensor
from models.landscape.classes import LABEL_MODES, ids_from_label_image, mask_to_ids
from models.spade.generator import GenConfig, build_generator, one_hot
from models.spade.looks import encode_look, look_render, match_look
from models.spade.prior import PRIOR_KEYS, sample_from_prior, split_prior
from models.spade.windows import receptive_margin, smooth_label_upscale, synthesize_windows

__all__ = ["Synthesizer", "MAX_SIDE"]

MAX_SIDE = 4096  # refuse absurd output sizes instead of running out of memory


class Synthesizer:
    """A loaded generator plus pre/post-processing.

    The generator runs at its native resolution for the output (:meth:`native_size`, the mask's aspect
    ratio); the label map is nearest-resized to it and the result is resized (Lanczos) to the mask's size, or to
    ``size`` on the long side, when they differ. A ``crop`` generator renders natively at any output size within
    the picture sides it was trained on (256-512 px for the shipped one); a ``grid`` one at its one size.

    Args:
        generator: a trained generator (spectral norm baked in, as exported; see ``build_generator``).
        device: default CPU.
        bf16: bf16 autocast (default: on CUDA, and on CPUs with native bf16 kernels, where it is ~2x faster).
        channels_last: channels_last memory format (default: same as ``bf16``).
    """

    def __init__(
        self,
        generator: torch.nn.Module,
        device: str | torch.device | None = None,
        bf16: bool | None = None,
        channels_last: bool | None = None,
    ) -> None:
        self.device = torch.device(device or "cpu")
        fast = fast_bf16_default(self.device)
        self.bf16 = fast if bf16 is None else bf16
        self.channels_last = fast if channels_last is None else channels_last
        self.generator = generator.to(self.device).eval()
        if self.channels_last:
            self.generator.to(memory_format=torch.channels_last)
        self.config: GenConfig = generator.cfg
        self.prior: dict[str, torch.Tensor] | None = None  # fitted style prior (models/spade/prior.py), if shipped
        # windowed renders (crop generators above their native sizes or above one_pass_max): window side, and the
        # margin dropped on each side, which covers the receptive field so that windows agree with a whole picture
        self.window = 768
        # the largest side rendered in one pass: one 1024 px pass would need ~4x the 0.9 GiB of a 512 px one, past
        # the 2 GB the app allows itself; windows give the same picture (running statistics) in the memory of one
        self.one_pass_max = 512
        self.margin = receptive_margin(self.config) if self.config.arch == "crop" else 0

    @property
    def norm(self) -> str:
        return self.config.norm

    @property
    def num_classes(self) -> int:
        return self.config.label_nc

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device | None = None, **kw) -> "Synthesizer":
        """Load a ``spade`` safetensors checkpoint (raises :class:`CheckpointError` with a clear message)."""
        state, cfg = load_checkpoint(path, kind="spade")
        state, prior = split_prior(state)
        try:
            config = GenConfig.from_dict(cfg | {"spectral": False})
            gen = build_generator(config)
            gen.load_state_dict(state)
            if prior is not None and prior[PRIOR_KEYS[0]].shape != (config.z_dim,):
                raise ValueError(f"style prior of size {tuple(prior[PRIOR_KEYS[0]].shape)} for z_dim {config.z_dim}")
        except (ValueError, TypeError, RuntimeError, KeyError) as exc:
            raise CheckpointError(f"'{path}' does not match the SPADE generator ({str(exc).splitlines()[0]})") from None
        syn = cls(gen, device, **kw)
        syn.prior = prior
        return syn

    def native_size(self, shape: tuple[int, int]) -> tuple[int, int]:
        """Generator resolution for an output of ``shape``, same aspect ratio.

        Long side: the training size (grid), or the output's own long side clamped to the native range (crop);
        both sides are rounded to the generator's multiple.

        >>> syn = Synthesizer(build_generator(GenConfig(ngf=4, spade_hidden=8, z_dim=8, native=[256, 512])))
        >>> syn.native_size((300, 450)), syn.native_size((1000, 2000)), syn.native_size((64, 64))
        ((304, 448), (256, 512), (256, 256))
        """
        f, S = self.config.multiple, self.config.size
        h, w = shape
        if self.config.arch == "crop":
            lo, hi = self.config.native_range
            S = min(hi, max(lo, round(max(h, w) / f) * f))
        short = max(f, round(S * min(h, w) / max(h, w) / f) * f)
        return (S, short) if h >= w else (short, S)

    def render_plan(self, shape: tuple[int, int]) -> tuple[tuple[int, int], bool]:
        """``(generator size, windowed)`` for an output of ``shape``: a crop generator renders outputs larger than
        its largest native side (or than :attr:`one_pass_max`) at their own size (rounded to its grid) in windows;
        otherwise :meth:`native_size`. A generator trained on 1024 px pictures renders them in windows too, told
        their true scale.

        >>> syn = Synthesizer(build_generator(GenConfig(ngf=4, spade_hidden=8, z_dim=8, native=[256, 512])))
        >>> syn.render_plan((300, 450)), syn.render_plan((1000, 2000))
        (((304, 448), False), ((992, 2000), True))
        >>> big = Synthesizer(build_generator(GenConfig(ngf=4, spade_hidden=8, z_dim=8, native=[256, 1024])))
        >>> big.render_plan((512, 512)), big.render_plan((1024, 1024))
        (((512, 512), False), ((1024, 1024), True))
        """
        limit = min(self.config.native_range[1], self.one_pass_max)
        if self.config.arch == "crop" and max(shape) > limit:
            f = self.config.multiple
            return tuple(max(f, round(s / f) * f) for s in shape), True  # type: ignore[return-value]
        return self.native_size(shape), False

    def _style_code(self, style: Image.Image) -> torch.Tensor:

        img = pil_to_tensor(style.convert("RGB")).unsqueeze(0).to(self.device) * 2 - 1
        with autocast_for(self.device, self.bf16):
            mu, _ = self.generator.encode(img)
        return mu.float()  # the mean code: the same style image always gives the same look

    def sample_code(self, generator: torch.Generator, ids: torch.Tensor | None = None) -> torch.Tensor:
        """A random style code ``(1, z_dim)``. Files with ``seed_looks = "renderer"``: the code of the layout
        ``ids (H, W)`` rendered with one of the renderer's looks (:mod:`models.spade.looks`); otherwise from the
        checkpoint's fitted prior (the spread of real pictures' codes), else N(0, I), the prior the style
        encoder was trained towards."""
        return self.sample_look(generator, ids)[0]

    def sample_look(
        self, generator: torch.Generator, ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """:meth:`sample_code` and, with ``seed_looks = "renderer"``, the render it encoded ``(picture (1, 3, s, s)
        in [0, 1], labels (s, s))`` (else None)."""
        if self.config.seed_looks == "renderer" and ids is not None:
            picture, small = look_render(self.generator, ids, generator)
            with autocast_for(self.device, self.bf16):
                return encode_look(self.generator, picture), (picture, small)
        return sample_from_prior(self.prior, self.config.z_dim, generator).to(self.device), None

    @torch.inference_mode()
    def synthesize(
        self,
        label_ids: np.ndarray,
        seed: int = 0,
        style: Image.Image | None = None,
        size: int | None = None,
        progress=None,
    ) -> Image.Image:
        """Synthesize an image for an ``(H, W)`` integer label map.

        Args:
            label_ids: class ids in ``0..num_classes-1`` (255 = don't care).
            seed: picks the random style code (ignored with ``style`` or a generator without encoder).
            style: example image whose look (colours, time of day) to follow; needs the style encoder.
            size: output long side in pixels (default: the mask's size). Above the largest native size a crop
                generator renders natively in overlapping windows (:mod:`models.spade.windows`).
            progress: ``progress(done, total)`` after each window of a windowed render.

        Returns:
            RGB PIL image of the mask's aspect ratio.
        """
        ids = np.asarray(label_ids)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"label_ids must be an (H, W) integer array, got shape {ids.shape} dtype {ids.dtype}")
        if ids.shape[0] < 1 or ids.shape[1] < 1:
            raise ValueError("label map is empty")
        H, W = ids.shape
        if size is not None:
            if not 16 <= int(size) <= MAX_SIDE:
                raise ValueError(f"size must be between 16 and {MAX_SIDE}, got {size}")
            scale = int(size) / max(H, W)
            H, W = max(1, round(H * scale)), max(1, round(W * scale))
        if max(H, W) > MAX_SIDE:
            raise ValueError(f"output would be {W}x{H}; the limit is {MAX_SIDE} px per side")
        cfg = self.config
        if style is not None and not cfg.use_vae:
            raise ValueError("this generator has no style encoder, so it cannot follow a style image")

        t = torch.from_numpy(ids.astype(np.int64))[None].to(self.device)
        gen_size, windowed = self.render_plan((H, W))  # the output size decides the native size (crop generators)
        # enlarged label maps get smooth edges (no staircase); same size or smaller: nearest
        big = smooth_label_upscale(t[0], gen_size, cfg.label_nc)
        seg = one_hot(big[None], cfg.label_nc)  # ValueError: bad ids
        if self.channels_last:
            seg = seg.contiguous(memory_format=torch.channels_last)
        z, look = None, None
        g = torch.Generator().manual_seed(int(seed) % 2**63)  # any integer is a valid seed
        if cfg.use_vae:
            z, look = (self._style_code(style), None) if style is not None else self.sample_look(g, t[0])
        extra = {}
        if getattr(cfg, "noise", False) and cfg.arch == "crop":  # the seed also picks the texture's noise
            extra["noise"] = self.generator.make_noise(1, *gen_size, generator=g, device=self.device)
        with autocast_for(self.device, self.bf16):
            if windowed:  # larger than any trained picture: overlapping windows, one style code, no seams
                out = synthesize_windows(
                    self.generator,
                    seg,
                    z,
                    window=self.window,
                    margin=self.margin,
                    noise=extra.get("noise"),
                    progress=progress,
                )[0]
            else:
                out = self.generator(seg, z, out_size=gen_size, **extra)[0]
        if look is not None and cfg.look_match:
            out = match_look(out[None], big, *look, cfg.label_nc, cfg.look_match)[0]
        out = ((out.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
        img = Image.fromarray(out)
        if img.size != (W, H):
            img = img.resize((W, H), Image.LANCZOS)
        return img

    @staticmethod
    def default_path(norm: str | None = None) -> Path:
        """The shipped checkpoint for ``norm`` (None: the default; CheckpointError listing what exists otherwise)."""

        return checkpoint_for("spade", norm or default_norm("spade"))


def load_mask(src, *, alpha_threshold: int = 128, background: int | None = None, min_side: int = 1) -> np.ndarray:
    """Read a colour-coded mask (path | bytes | PIL | array) into ``(H, W)`` int64 class ids.

    Transparency is kept (unpainted pixels follow :func:`models.landscape.classes.mask_to_ids`'s rules).
    Raises ``ValueError`` (an :class:`models.common.imageio.ImageLoadError` for unreadable files) with a
    one-line message.
    """
    from PIL import ImageOps

    img = open_image(src)
    try:
        img = ImageOps.exif_transpose(img) or img
    except Exception:  # a broken EXIF block should not make an otherwise good mask unusable
        pass
    if min(img.size) < 1:
        raise ImageLoadError("mask image is empty")
    if (small := too_small(*img.size, min_side)) is not None:
        raise ImageLoadError(f"{src!r}: {small}" if isinstance(src, (str, Path)) else small)
    if img.mode in LABEL_MODES:  # a single-channel PNG of class ids, as the web API accepts
        ids = ids_from_label_image(np.asarray(img))
        if ids is not None:
            return ids
    rgba = np.asarray(img.convert("RGBA"))
    return mask_to_ids(rgba, alpha_threshold=alpha_threshold, background=background)
