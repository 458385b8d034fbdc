"""Model discovery, lazy cached loading and the inference calls behind the UI and the API.

Plain Python (no Gradio): the UI module wires these functions to components. Checkpoints are found by
file name (``assets/{kind}_{norm}.safetensors``), loaded on first use and kept; torch and the model code
are imported only then, so the app starts fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from app.config import AppConfig
from app.preprocess import InputError, resize_mask
from models.common.assets import DEFAULT_NORMS, NORM_ORDER, CheckpointError, available_checkpoints, describe_checkpoint

log = logging.getLogger(__name__)

MODEL_TITLES = {"adain": "AdaIN", "spade": "SPADE"}


def _load_stylizer(path: Path) -> Any:
    # torch comes with it: imported on first use, so the app and the CLI start (and report bad input) fast
    from models.adain.infer import Stylizer

    return Stylizer.from_checkpoint(path)


def _load_synthesizer(path: Path) -> Any:
    # torch comes with it: imported on first use, so the app and the CLI start (and report bad input) fast
    from models.spade.infer import Synthesizer

    return Synthesizer.from_checkpoint(path)


DEFAULT_LOADERS: dict[str, Callable[[Path], Any]] = {"adain": _load_stylizer, "spade": _load_synthesizer}


def scan_checkpoints(kind: str, assets_dir: Path) -> dict[str, Path]:
    """``{norm: path}`` for ``assets_dir/{kind}_{norm}.safetensors`` (the shared scan, which imports no torch)."""
    return available_checkpoints(kind, assets_dir)


@dataclasses.dataclass
class Result:
    """One model output and what produced it."""

    image: Image.Image
    model: str  # "adain" | "spade"
    norm: str  # normalizer of the checkpoint that made it
    seconds: float  # wall time of the model call (loading excluded)
    note: str = ""  # extra detail for the caption, e.g. "then AdaIN (instance)"

    @property
    def caption(self) -> str:
        w, h = self.image.size
        extra = f" · {self.note}" if self.note else ""
        return f"{MODEL_TITLES[self.model]} · {self.norm} norm{extra} · {w}×{h} px · {self.seconds:.2f} s"


def _stamp(path: Path) -> tuple[int, int]:
    """What identifies one version of a file: modification time and size."""
    st = path.stat()
    return st.st_mtime_ns, st.st_size


class ModelCache:
    """Checkpoints of one model kind, loaded lazily, each exactly once (thread-safe).

    ``loader(path)`` builds the inference object (``Stylizer`` / ``Synthesizer``) from a checkpoint.
    """

    def __init__(
        self, kind: str, assets_dir: Path, loader: Callable[[Path], Any] | None = None, preferred: Sequence[str] = ()
    ) -> None:
        self.kind = kind
        self.assets_dir = Path(assets_dir)
        self._loader = loader or DEFAULT_LOADERS[kind]
        self._preferred = tuple(preferred)
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()  # one load at a time; a second caller waits and then reuses it

    def available(self) -> dict[str, Path]:
        """Checkpoints on disk, preferred normalizers first (the first one is the UI default).

        Without a preference: the model's default normalizer (its best shipped checkpoint), then ``NORM_ORDER``.
        """
        found = scan_checkpoints(self.kind, self.assets_dir)
        # an absent default simply ranks nowhere, so NORM_ORDER decides (as default_norm does) without a second scan
        order = self._preferred or (DEFAULT_NORMS[self.kind], *NORM_ORDER)
        rank: dict[str, int] = {}
        for n in order:
            rank.setdefault(n, len(rank))
        return {n: found[n] for n in sorted(found, key=lambda n: (rank.get(n, len(rank)), n))}

    def norms(self) -> list[str]:
        return list(self.available())

    def choices(self, min_steps: int = 0) -> list[tuple[str, str]]:
        """Menu entries ``(label, name)``: each name with its card's total steps and held-out verdicts; files under
        ``min_steps`` (a quick test run, a broken export) are flagged and listed last."""
        good, weak = [], []
        for name, path in self.available().items():
            try:
                info = describe_checkpoint(path)
            except CheckpointError:
                weak.append((f"{name} — unreadable file", name))
                continue
            steps = info.total_steps
            label = f"{name} — {info.summary}"
            if steps is not None and steps < min_steps:
                weak.append((f"{label} ⚠ under {min_steps} steps: probably not usable", name))
            else:
                good.append((label, name))
        return good + weak

    def card(self, name: str | None) -> str:
        """The model card (markdown) of checkpoint ``name``, without its image lines; a note when there is none."""
        path = self.available().get(name or "")
        if path is None:
            return "*No checkpoint selected.*"
        card = path.with_suffix(".md")
        if not card.is_file():
            return f"*`{path.name}` has no model card (`{card.name}` is missing).*"
        lines = [line for line in card.read_text(errors="replace").splitlines() if not line.startswith("![")]
        return "\n".join(lines)

    def default(self) -> str | None:
        names = self.norms()
        return names[0] if names else None

    def loaded(self) -> list[str]:
        return list(self._models)

    def get(self, norm: str | None) -> tuple[str, Any]:
        """``(norm, model)`` for the named normalizer (None = default); raises InputError if absent."""
        title = MODEL_TITLES[self.kind]
        available = self.available()
        if not available:
            raise InputError(
                f"No {title} checkpoint found: expected files named {self.kind}_<norm>.safetensors in "
                f"{self.assets_dir}. Train one with `python train.py {self.kind} ...` or restore the bundled assets."
            )
        norm = norm or next(iter(available))
        if norm not in available:
            raise InputError(f"No {title} checkpoint for normalizer {norm!r}; available: {', '.join(available)}.")
        path = available[norm]
        with self._lock:
            stamp = _stamp(path)
            cached = self._models.get(norm)
            # A file re-exported in place (train.py writes atomically) is reloaded: no restart needed.
            if cached is None or cached[0] != stamp:
                t0 = time.perf_counter()
                try:
                    self._models[norm] = (stamp, self._loader(path))
                except (ValueError, KeyError, RuntimeError, OSError) as exc:  # CheckpointError is a ValueError
                    log.exception("loading %s failed", path)
                    raise InputError(f"{title} checkpoint {path.name} could not be loaded: {exc}") from None
                log.info("loaded %s/%s in %.2f s", self.kind, norm, time.perf_counter() - t0)
            return norm, self._models[norm][1]


@contextlib.contextmanager
def _model_errors(title: str) -> Iterator[None]:
    """The models raise ValueError with a message naming the bad argument: pass it on to the user."""
    try:
        yield
    except ValueError as exc:
        raise InputError(f"{title}: {exc}") from None


@dataclasses.dataclass
class StyleRequest:
    """Everything one style-transfer call needs (already loaded and validated)."""

    content: Image.Image
    styles: list[Image.Image]  # 1+ styles; exactly 2 when `mask` is set
    weights: list[float] | None = None  # interpolation weights, one per style (sum 1)
    alpha: float = 1.0  # 0 = content features, 1 = full style
    preserve_color: str | None = None  # None | "covariance" | "luminance"
    mask: np.ndarray | None = None  # bool (H, W): styles[0] where True, styles[1] elsewhere
    size: int | None = 512  # output long side; None keeps the content's size
    stroke: float = 1.0  # stroke size: the scale of the style's patterns (models.adain.infer.style_side)


# ``progress(done, total, stage)`` after every tile of both passes (stage "statistics" or "decode")
TileProgress = Callable[[int, int, str], None]
# ``progress(frames done, frames expected or 0, seconds)`` after every frame (models.adain.video.Progress)
FrameProgress = Callable[[int, int, float], None]


TRACKED_DECAY = 0.9  # the past's weight when statistics are tracked (the CLI's --stats-decay default)


def video_config(
    size: int | None,
    alpha: float = 1.0,
    preserve_color: str | None = None,
    stroke: float = 1.0,
    stabilize: str = "flow",
    stats_decay: float = TRACKED_DECAY,
    **extra: Any,
) -> Any:
    """The ``VideoConfig`` for the app's and the CLI's settings; ``stabilize`` picks the flicker reduction (one of
    ``app.preprocess.STABILIZE_MODES``): flow blending ("flow"), tracked statistics ("stats", decaying by
    ``stats_decay``), both, or "none" (frame by frame). Scene cuts are detected in every mode but "none" (they
    restart the blend and the statistics). ``extra``: other ``VideoConfig`` fields (the CLI's flow settings)."""
    from models.adain.video import VideoConfig

    kw = dict(size=size, alpha=alpha, preserve_color=preserve_color, stroke=stroke, **extra)
    if stabilize == "none":
        return VideoConfig.frame_by_frame(**kw)
    return VideoConfig(
        **kw, stats_decay=stats_decay if stabilize in ("stats", "both") else 0.0, flow=stabilize in ("flow", "both")
    )


@dataclasses.dataclass
class VideoResult:
    """One stylized clip and what produced it."""

    path: Path  # the H.264 MP4
    norm: str
    frames: int
    size: tuple[int, int]
    seconds: float  # wall time of the frames (loading excluded)
    cuts: int  # scene cuts found (the stabilization restarts at each)
    clip_fps: float  # the clip's own frame rate

    @property
    def caption(self) -> str:
        w, h = self.size
        rate = self.frames / self.seconds if self.seconds else 0.0
        cuts = f" · {self.cuts} scene cut{'s' if self.cuts != 1 else ''}" if self.cuts else ""
        return (
            f"AdaIN video · {self.norm} norm · {w}×{h} px · {self.frames} frames at {self.clip_fps:.3g} fps"
            f"{cuts} · {self.seconds:.1f} s ({rate:.2f} frames/s)"
        )


@dataclasses.dataclass
class WebcamSession:
    """One browser session's webcam stream: the stabilized stylizer and the settings it was made for."""

    key: tuple  # the settings (model, styles, alpha, ...): another key needs a new stylizer
    norm: str
    stylizer: Any  # models.adain.video.VideoStylizer, which keeps the stream's state between frames


class Engine:
    """The app's model access: one cache per model kind plus the inference glue."""

    def __init__(self, config: AppConfig, loaders: dict[str, Callable[[Path], Any]] | None = None) -> None:
        loaders = loaders or {}
        self.config = config
        self.caches = {
            kind: ModelCache(kind, config.assets_dir, loaders.get(kind), config.preferred_norms)
            for kind in ("adain", "spade")
        }
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock_for(self, model: Any) -> threading.Lock:
        # One call per model at a time: the models keep small caches that are not thread-safe, and two
        # calls on the same weights would only fight for the same CPU cores. Different models still overlap.
        with self._locks_guard:
            return self._locks.setdefault(id(model), threading.Lock())

    # --- style transfer ---------------------------------------------------------------------------------
    def stylize(self, req: StyleRequest, norm: str | None = None, progress: TileProgress | None = None) -> Result:
        """AdaIN with the named normalizer's checkpoint; ``progress`` is handed to the model (one call per tile)."""
        norm, model = self.caches["adain"].get(norm)
        return self._stylize_with(model, norm, req, progress)

    def _stylize_with(self, model: Any, norm: str, req: StyleRequest, progress: TileProgress | None = None) -> Result:
        import torch

        mask = None
        if req.mask is not None:
            if len(req.styles) != 2:
                raise InputError(
                    "Spatial control needs exactly two styles: one for the painted area, one for the rest."
                )
            mask = Image.fromarray(resize_mask(req.mask, req.content.size).astype(np.uint8) * 255, mode="L")
        t0 = time.perf_counter()
        with self._lock_for(model), torch.inference_mode(), _model_errors("AdaIN"):
            out = model.stylize(
                req.content,
                req.styles,
                weights=req.weights,
                alpha=req.alpha,
                preserve_color=req.preserve_color,
                mask=mask,
                size=req.size,
                stroke=req.stroke,
                progress=progress,
            )
        return Result(out, "adain", norm, time.perf_counter() - t0)

    # --- video ------------------------------------------------------------------------------------------------
    def stylize_video(
        self,
        src: Path,
        styles: list[Image.Image],
        dst: Path,
        config: Any,
        weights: list[float] | None = None,
        norm: str | None = None,
        progress: FrameProgress | None = None,
        max_frames: int | None = None,
    ) -> VideoResult:
        """A clip through ``models.adain.video.stylize_video`` into ``dst`` (``config``: a ``VideoConfig``). The model
        is held for the whole clip, as for one image: its frames are one request."""
        import torch

        from models.adain.video import MAX_FRAMES, stylize_video
        from models.common.video import probe

        norm, model = self.caches["adain"].get(norm)
        with self._lock_for(model), torch.inference_mode(), _model_errors("Video"):
            summary = stylize_video(
                model, src, styles, dst, weights, config, progress, max_frames=max_frames or MAX_FRAMES
            )
            fps = float(probe(src).fps)
        return VideoResult(
            Path(dst), norm, summary["frames"], tuple(summary["size"]), summary["seconds"], summary["cuts"], fps
        )

    def webcam_session(
        self,
        key: tuple,
        styles: list[Image.Image],
        config: Any,
        weights: list[float] | None = None,
        norm: str | None = None,
    ) -> WebcamSession:
        """A fresh stream for the webcam: a ``VideoStylizer`` on the named normalizer's model."""
        from models.adain.video import VideoStylizer

        norm, model = self.caches["adain"].get(norm)
        with _model_errors("AdaIN"):
            return WebcamSession(key, norm, VideoStylizer(model, styles, weights, config))

    def webcam_frame(self, session: WebcamSession, rgb: np.ndarray, wait_s: float = 1.0) -> np.ndarray | None:
        """One frame through the session's stylizer, or None when its model stays busy for ``wait_s`` (a clip is
        being stylized with it): the stream skips the frame instead of piling up behind the clip."""
        import torch

        lock = self._lock_for(session.stylizer.st)
        if not lock.acquire(timeout=wait_s):
            return None
        try:
            with torch.inference_mode(), _model_errors("AdaIN"):
                return session.stylizer.frame(rgb)
        finally:
            lock.release()

    def compare_stylize(self, req: StyleRequest, progress: Callable[[float, str], None] | None = None) -> list[Result]:
        """The same request through every available AdaIN checkpoint, in dropdown order."""
        names = self.caches["adain"].norms()
        if not names:
            self.caches["adain"].get(None)  # raises the "no checkpoint" message
        results = []
        for i, name in enumerate(names):
            if progress:
                progress(i / len(names), f"AdaIN with {name} norm ({i + 1}/{len(names)})")
            results.append(self.stylize(req, name))
        return results

    # --- label map -> image -------------------------------------------------------------------------------
    def synthesize(
        self,
        labels: np.ndarray,
        seed: int = 0,
        style: Image.Image | None = None,
        size: int | None = None,
        norm: str | None = None,
        then_style: Image.Image | None = None,
        then_norm: str | None = None,
        then_alpha: float = 1.0,
    ) -> Result:
        """SPADE on an ``(H, W)`` int64 label map; optionally run the result through AdaIN with ``then_style``."""
        import torch

        norm, model = self.caches["spade"].get(norm)
        t0 = time.perf_counter()
        with self._lock_for(model), torch.inference_mode(), _model_errors("SPADE"):
            out = model.synthesize(labels, seed=seed, style=style, size=size)
        seconds = time.perf_counter() - t0
        note = ""
        if then_style is not None:
            styled = self.stylize(StyleRequest(out, [then_style], alpha=then_alpha, size=max(out.size)), then_norm)
            out, seconds = styled.image, seconds + styled.seconds
            note = f"then AdaIN ({styled.norm} norm, α={then_alpha:g})"
        return Result(out, "spade", norm, seconds, note)

    def compare_synthesize(
        self,
        labels: np.ndarray,
        seed: int = 0,
        style: Image.Image | None = None,
        size: int | None = None,
        progress: Callable[[float, str], None] | None = None,
    ) -> list[Result]:
        names = self.caches["spade"].norms()
        if not names:
            self.caches["spade"].get(None)
        results = []
        for i, name in enumerate(names):
            if progress:
                progress(i / len(names), f"SPADE with {name} norm ({i + 1}/{len(names)})")
            results.append(self.synthesize(labels, seed=seed, style=style, size=size, norm=name))
        return results
