"""Gradio callbacks: validate inputs, call the engine, turn every failure into a specific ``gr.Error``.

The parameter names of ``api_stylize`` / ``api_synthesize`` are the public API (``gradio_client``
calls them by name), so keep them stable.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import io
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from app import memory
from app.config import VIDEO_FRAMES_FLAG, WEBCAM_SIDE, AppConfig
from app.preprocess import (
    InputError,
    check_alpha,
    check_output_pixels,
    check_seed,
    check_size,
    check_stabilize,
    check_stroke,
    check_video_size,
    editor_rgba,
    labels_from_editor,
    labels_from_rgba,
    load_label_file,
    load_user_image,
    load_user_video,
    painted_mask,
    style_weights,
    webcam_frame,
)
from app.services import Engine, Result, StyleRequest, VideoResult, WebcamSession, video_config
from app.web.label_drop import label_file_canvas
from app.web.results import input_stem, remember, result_stem
from models.common.settings import png_info
from app.web.retention import video_folder, video_job
from models.landscape.classes import CLASSES, class_records, ids_to_color

log = logging.getLogger(__name__)

PRESERVE_CHOICES = [
    ("Use the style's colours", "none"),
    ("Keep content colours (colour statistics)", "covariance"),
    ("Keep content colours (luminance only)", "luminance"),
]
N_STYLES = 4  # style slots in the UI (stylize_ui's signature): one main style + three to blend in
STABILIZE_CHOICES = [  # the values of app.preprocess.STABILIZE_MODES, in its order
    ("Optical flow: carry the last frame's strokes along", "flow"),
    ("Tracked feature statistics", "stats"),
    ("Both", "both"),
    ("None (frame by frame)", "none"),
]
PREVIEW_SIZE = 256  # the live preview's long side: ~0.3 s here, fast enough to follow the strokes
COMPARE_COLUMNS = 3  # compare galleries: at most this many per row, so each result stays readable


def user_errors(fn: Callable) -> Callable:
    """Show InputError messages as they are; report anything unexpected without killing the server."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except InputError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except MemoryError:
            raise gr.Error("Out of memory: try a smaller output size.", print_exception=False) from None
        except Exception as exc:  # a bug or a model failure: log it, keep serving, say what happened
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(f"Internal error ({type(exc).__name__}: {exc}). The server is still running.") from None
        finally:
            memory.trim()  # hand the request's freed tensors back to the OS: memory stays flat (app/memory.py)

    return wrapper


def _stylize_settings(content_name: str, style_names: list[str], req: StyleRequest, norm: str) -> dict:
    """What a stylized PNG records (``models/common/settings.py``): the settings, and the command line that remakes
    it from files named after the inputs."""
    argv = [
        "stylize",
        f"{content_name}.png",
        *[f"{n}.png" for n in style_names],
        "--alpha",
        str(req.alpha),
        "--size",
        str(req.size or 0),
        "--stroke",
        str(req.stroke),
        "--norm",
        norm,
    ]
    if req.weights and len(style_names) > 1:
        argv += ["--weights", *map(str, req.weights)]
    if req.preserve_color:
        argv += ["--preserve-color", req.preserve_color]
    return {
        "command": "stylize",
        "app": True,
        "content": content_name,
        "styles": style_names,
        "weights": req.weights,
        "alpha": req.alpha,
        "preserve_color": req.preserve_color,
        "spatial_mask": req.mask is not None,
        "size": req.size,
        "stroke": req.stroke,
        "norm": norm,
        "argv": argv,
    }


def _norm_or_default(norm: str | None) -> str | None:
    return norm.strip() if isinstance(norm, str) and norm.strip() else None


def _preserve(value: str | None) -> str | None:
    if value in (None, "", "none"):
        return None
    if value not in ("covariance", "luminance"):
        raise InputError(f"preserve_color must be 'none', 'covariance' or 'luminance', got {value!r}.")
    return value


def tile_progress(progress: Callable[..., Any]) -> Callable[[int, int, str], None]:
    """The model's per-tile ``progress(done, total, stage)`` as calls of a ``gr.Progress``: the fraction done and
    "decode: tile 5 of 8"."""
    return lambda done, total, stage: progress(done / total, desc=f"{stage}: tile {done} of {total}")


def frame_progress(progress: Callable[..., Any]) -> Callable[[int, int, float], None]:
    """The video stylizer's per-frame ``progress(done, expected, seconds)`` as calls of a ``gr.Progress``: the
    fraction done and "frame 12 of 480" (just "frame 12" when the clip's header does not say how many)."""

    def report(done: int, expected: int, seconds: float) -> None:
        if expected >= done:
            progress(done / expected, desc=f"frame {done} of {expected}")
        else:
            progress((done, None), desc=f"frame {done}", unit="frames")

    return report


def _source_key(src: Any) -> str:
    """What identifies an uploaded image in the webcam's settings: its path, or a digest of pasted bytes."""
    return hashlib.sha1(src).hexdigest() if isinstance(src, bytes) else str(src)


def _gallery(results: list[Result]) -> gr.Gallery:
    """Compare results side by side, one column each up to ``COMPARE_COLUMNS`` (captions: norm, size, seconds)."""
    return gr.Gallery(value=[(r.image, r.caption) for r in results], columns=max(1, min(COMPARE_COLUMNS, len(results))))


def class_color(name: str) -> str:
    """``#rrggbb`` of a class by name (``InputError`` naming the valid ones otherwise)."""
    for record in class_records():
        if record["name"] == name:
            return record["color"]
    raise InputError(f"Unknown class {name!r}; choose one of: {', '.join(c.name for c in CLASSES)}.")


def _synthesis_inputs(labels: np.ndarray, seed: int, style: Image.Image | None, size: int, norm: str) -> str:
    """A fingerprint of what a synthesis depends on (the size asked for, not the preview's capped one)."""
    digest = hashlib.sha1(np.ascontiguousarray(labels).tobytes())
    digest.update(repr((labels.shape, seed, size, norm)).encode())
    if style is not None:
        digest.update(repr((style.mode, style.size)).encode() + style.tobytes())
    return digest.hexdigest()


class Handlers:
    """Callbacks bound to one engine and config."""

    def __init__(self, engine: Engine, config: AppConfig, video_dir: Path | None = None) -> None:
        self.engine = engine
        self.config = config
        self._video_dir = video_dir  # None: normlab-videos/ in Gradio's cache folder (swept by app/web/retention.py)
        # when each browser session last clicked Synthesize (monotonic s; the newest SESSIONS_KEPT sessions), and a
        # fingerprint of what that click synthesized
        self._synth_clicked: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._synth_inputs: dict[str, str] = {}

    SESSIONS_KEPT = 1024

    def _mark_synthesize(self, request: gr.Request | None, inputs: str | None = None) -> None:
        """Remember the session's Synthesize click (now) and, once read, a fingerprint of its inputs."""
        key = getattr(request, "session_hash", None)
        if not key:
            return
        if inputs is not None:
            self._synth_inputs[key] = inputs
            return
        self._synth_clicked[key] = time.monotonic()
        self._synth_inputs.pop(key, None)
        self._synth_clicked.move_to_end(key)
        while len(self._synth_clicked) > self.SESSIONS_KEPT:
            old, _ = self._synth_clicked.popitem(last=False)
            self._synth_inputs.pop(old, None)

    def _already_synthesized(self, request: gr.Request | None, inputs: str) -> bool:
        """Whether the session's last click synthesized exactly these inputs: the editor may report a stroke only
        after the click (a slow, busy browser), and that preview would replace the click's picture with a smaller
        copy of it."""
        return self._synth_inputs.get(getattr(request, "session_hash", None) or "") == inputs

    def _synthesized_since(self, request: gr.Request | None, t0: float) -> bool:
        """Whether the session clicked Synthesize after ``t0``: a preview begun before the click is stale."""
        return self._synth_clicked.get(getattr(request, "session_hash", None) or "", float("-inf")) > t0

    @property
    def video_dir(self) -> Path:
        return self._video_dir or video_folder()

    # --- style transfer ---------------------------------------------------------------------------------
    def _style_request(
        self,
        content: Any,
        styles: list[Any],
        weights: list[Any],
        alpha: Any,
        preserve_color: Any,
        mask_editor: dict | None,
        region_style: Any,
        size: Any,
        stroke: Any = 1.0,
    ) -> StyleRequest:
        alpha = check_alpha(alpha)
        size = check_size(size, self.config, allow_original=True)
        stroke = check_stroke(stroke)
        preserve = _preserve(preserve_color)
        content_img = load_user_image(content, "content", self.config)
        check_output_pixels(content_img.size, size, self.config)
        used, norm_weights = style_weights(styles, weights)
        style_imgs = [load_user_image(styles[i], "style" if i == 0 else f"style {i + 1}", self.config) for i in used]
        mask = painted_mask(mask_editor, self.config.alpha_threshold)
        if mask is None:
            return StyleRequest(
                content_img,
                style_imgs,
                norm_weights if len(style_imgs) > 1 else None,
                alpha,
                preserve,
                None,
                size,
                stroke,
            )
        if region_style is None:
            raise InputError(
                "You painted a spatial-control mask: add the style for the unpainted area too (or clear the mask)."
            )
        if len(style_imgs) > 1:
            raise InputError(
                "Spatial control uses one style per region: remove the blended styles 2-4 or clear the mask."
            )
        second = load_user_image(region_style, "unpainted-area style", self.config)
        return StyleRequest(content_img, [style_imgs[0], second], None, alpha, preserve, mask, size, stroke)

    @user_errors
    def stylize_ui(
        self,
        content: Any,
        style1: Any,
        weight1: Any,
        style2: Any,
        weight2: Any,
        style3: Any,
        weight3: Any,
        style4: Any,
        weight4: Any,
        alpha: Any,
        preserve_color: Any,
        mask_editor: dict | None,
        region_style: Any,
        size: Any,
        stroke: Any,
        norm: str | None,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple[Image.Image, str]:
        progress(0.05, desc="Reading images")
        req = self._style_request(
            content,
            [style1, style2, style3, style4],
            [weight1, weight2, weight3, weight4],
            alpha,
            preserve_color,
            mask_editor,
            region_style,
            size,
            stroke,
        )
        norm = _norm_or_default(norm)
        progress(0.1, desc="Stylizing" if norm in self.engine.caches["adain"].loaded() else "Loading model, stylizing")
        # then the bar follows the tiles of both passes (statistics, then decode): a large image shows where it is
        result = self.engine.stylize(req, norm, progress=tile_progress(progress))
        used = [s for s in (style1, style2, style3, style4) if s is not None]
        names = [input_stem(s, f"style{i + 1}") for i, s in enumerate(used)]
        content_name = input_stem(content, "content")
        settings = _stylize_settings(content_name, names, req, result.norm)
        stem = result_stem(content_name, "-".join(names[:2]), result.norm, f"a{req.alpha:g}")
        return remember(result.image, stem, settings), result.caption

    @user_errors
    def batch_ui(
        self, files: Any, style: Any, alpha: Any, size: Any, norm: str | None, progress: gr.Progress = gr.Progress()
    ) -> tuple[list, str | None, str]:
        """Several content images x one style -> ``(gallery, zip of the PNGs, caption)``. Each PNG is named after its
        content and carries its settings; a bad file is reported in the caption and the others still run."""
        import zipfile

        paths = [f if isinstance(f, str) else getattr(f, "name", None) for f in (files or [])]
        paths = [p for p in paths if p]
        if not paths:
            raise InputError("Add one or more content images (drop several files at once).")
        if len(paths) > self.config.max_batch_files:
            raise InputError(f"{len(paths)} files: a batch takes at most {self.config.max_batch_files}.")
        alpha, size = check_alpha(alpha), check_size(size, self.config)
        style_img = load_user_image(style, "style", self.config)
        style_name = input_stem(style, "style")
        norm = _norm_or_default(norm)
        shown, failed, used = [], [], set()
        # a job folder like the video results': swept after the retention, removed at once if the run fails
        with (
            video_job(self.video_dir) as job,
            zipfile.ZipFile(
                zip_path := job / f"{result_stem('normlab', 'batch', style_name)}.zip", "w", zipfile.ZIP_STORED
            ) as archive,
        ):
            for i, path in enumerate(paths):
                progress(i / len(paths), desc=f"Stylizing {i + 1} of {len(paths)}")
                name = input_stem(path, f"image{i + 1}")
                try:
                    content = load_user_image(path, f"content ({Path(path).name})", self.config)
                    check_output_pixels(content.size, size, self.config)
                    req = StyleRequest(content, [style_img], None, alpha, None, None, size)
                    result = self.engine.stylize(req, norm)
                except InputError as exc:
                    failed.append(str(exc))
                    continue
                stem = result_stem(name, style_name, result.norm, f"a{alpha:g}")
                while stem in used:
                    stem += "-2"
                used.add(stem)
                settings = _stylize_settings(name, [style_name], req, result.norm)
                buf = io.BytesIO()
                result.image.save(buf, "PNG", pnginfo=png_info(settings))
                archive.writestr(f"{stem}.png", buf.getvalue())
                shown.append((result.image, name))
        progress(1.0, desc="Done")
        caption = f"Stylized {len(shown)} of {len(paths)} images with {style_name} ({norm or 'default'} norm)."
        if failed:
            caption += " Skipped: " + "; ".join(failed)
        return shown, (str(zip_path) if shown else None), caption

    def check_batch_files(self, files: Any) -> None:
        """The Batch tab's ``upload`` callback: files the run will skip (or too many) are named at once, as a warning
        (the others still run)."""
        paths = [f if isinstance(f, str) else getattr(f, "name", None) for f in (files or [])]
        problems = []
        if len(paths) > self.config.max_batch_files:
            problems.append(f"{len(paths)} files: a batch takes at most {self.config.max_batch_files}")
        for path in paths[: self.config.max_batch_files]:
            try:
                load_user_image(path, f"content ({Path(path).name})", self.config)
            except InputError as exc:
                problems.append(str(exc).rstrip("."))
        if problems:
            gr.Warning("Batch: " + "; ".join(problems) + ".")

    @user_errors
    def compare_stylize_ui(
        self,
        content: Any,
        style1: Any,
        weight1: Any,
        style2: Any,
        weight2: Any,
        style3: Any,
        weight3: Any,
        style4: Any,
        weight4: Any,
        alpha: Any,
        preserve_color: Any,
        mask_editor: dict | None,
        region_style: Any,
        size: Any,
        stroke: Any,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple[list, str]:
        req = self._style_request(
            content,
            [style1, style2, style3, style4],
            [weight1, weight2, weight3, weight4],
            alpha,
            preserve_color,
            mask_editor,
            region_style,
            size,
            stroke,
        )
        results = self.engine.compare_stylize(req, lambda f, d: progress(f, desc=d))
        total = sum(r.seconds for r in results)
        return _gallery(results), f"Compared {len(results)} AdaIN normalizers in {total:.2f} s of model time."

    @user_errors
    def api_stylize(
        self,
        content: str,
        style: str,
        alpha: float = 1.0,
        norm: str = "",
        size: float = 512,
        preserve_color: str = "none",
        stroke: float = 1.0,
    ) -> Image.Image:
        """Stylize `content` with `style` (AdaIN). Returns a PNG.

        alpha: style strength in [0, 1]; norm: normalizer of the checkpoint ('' = default);
        size: output long side in px (0 = the content's own size); preserve_color: 'none' | 'covariance' |
        'luminance'; stroke: stroke size in [0.25, 4], the scale of the style's patterns (1 = the style encoded at
        the output size up to 1024 px; larger = bigger strokes).
        """
        req = self._style_request(content, [style], [1.0], alpha, preserve_color, None, None, size, stroke)
        return self.engine.stylize(req, _norm_or_default(norm)).image

    # --- video ------------------------------------------------------------------------------------------------
    def _video_styles(self, styles: list[Any], weights: list[Any]) -> tuple[list[Image.Image], list[float] | None]:
        used, norm_weights = style_weights(styles, weights)
        images = [load_user_image(styles[i], "style" if i == 0 else f"style {i + 1}", self.config) for i in used]
        return images, norm_weights if len(images) > 1 else None

    def _stylize_video(
        self,
        video: Any,
        styles: list[Any],
        weights: list[Any],
        alpha: Any,
        preserve_color: Any,
        size: Any,
        stroke: Any,
        stabilize: Any,
        norm: str | None,
        progress: Callable[..., Any],
    ) -> VideoResult:
        """Check everything (the clip against the server's limits first), then stylize the clip frame by frame into
        a job folder of its own; the caller returns the MP4's path, which Gradio serves and later deletes."""
        cfg = video_config(
            check_video_size(size, self.config),
            check_alpha(alpha),
            _preserve(preserve_color),
            check_stroke(stroke),
            check_stabilize(stabilize),
        )
        info = load_user_video(video, self.config)
        style_imgs, style_w = self._video_styles(styles, weights)
        norm = _norm_or_default(norm)
        loaded = norm in self.engine.caches["adain"].loaded()
        progress(0.0, desc=f"{'Stylizing' if loaded else 'Loading model, stylizing'} {info.frames or 'the'} frames")
        with video_job(self.video_dir) as job:
            try:
                return self.engine.stylize_video(
                    Path(video),
                    style_imgs,
                    job / f"{Path(video).stem}-stylized.mp4",
                    cfg,
                    style_w,
                    norm,
                    frame_progress(progress),
                    max_frames=self.config.max_video_frames,
                )
            except InputError as exc:  # found while decoding (e.g. the frame limit): name the server's flag
                message = str(exc).replace(
                    "(--max-frames raises it)", f"(start the server with {VIDEO_FRAMES_FLAG} to raise it)"
                )
                raise InputError(message if message.endswith(".") else f"{message}.") from None

    @user_errors
    def stylize_video_ui(
        self,
        video: Any,
        style1: Any,
        weight1: Any,
        style2: Any,
        weight2: Any,
        style3: Any,
        weight3: Any,
        style4: Any,
        weight4: Any,
        alpha: Any,
        preserve_color: Any,
        size: Any,
        stroke: Any,
        stabilize: Any,
        norm: str | None,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple[str, str]:
        result = self._stylize_video(
            video,
            [style1, style2, style3, style4],
            [weight1, weight2, weight3, weight4],
            alpha,
            preserve_color,
            size,
            stroke,
            stabilize,
            norm,
            progress,
        )
        return str(result.path), result.caption

    @user_errors
    def api_stylize_video(
        self,
        video: str,
        style: str,
        alpha: float = 1.0,
        norm: str = "",
        size: float = 640,
        preserve_color: str = "none",
        stroke: float = 1.0,
        stabilize: str = "flow",
        progress: gr.Progress = gr.Progress(),
    ) -> str:
        """Stylize the clip `video` (mp4/webm/mov/mkv/avi/gif) with `style` (AdaIN, frame by frame, stabilized).
        Returns an H.264 MP4 with the clip's frame timing and audio.

        size: output long side in px (up to the server's video limit); stabilize: 'flow' (blend the previous
        output along the optical flow, the default), 'stats' (tracked statistics), 'both' or 'none' (frame by frame);
        the rest as for /stylize.
        """
        return str(
            self._stylize_video(
                video, [style], [1.0], alpha, preserve_color, size, stroke, stabilize, norm, progress
            ).path
        )

    def _webcam_session(
        self,
        session: WebcamSession | None,
        styles: list[Any],
        weights: list[Any],
        alpha: Any,
        preserve_color: Any,
        stroke: Any,
        stabilize: Any,
        norm: str | None,
    ) -> WebcamSession:
        """The session's stream if it was made for these settings, else a new one (style images are loaded only
        then: the settings' key holds the uploads' paths, not their pixels)."""
        settings = (check_alpha(alpha), _preserve(preserve_color), check_stroke(stroke), check_stabilize(stabilize))
        used, norm_weights = style_weights(styles, weights)
        name, model = self.engine.caches["adain"].get(_norm_or_default(norm))
        # the model's identity too: a checkpoint re-exported in place is a new model, and needs a new stream
        key = (name, id(model), tuple(_source_key(styles[i]) for i in used), tuple(norm_weights), *settings)
        if session is not None and session.key == key:
            return session
        imgs, style_w = self._video_styles(styles, weights)
        return self.engine.webcam_session(key, imgs, video_config(WEBCAM_SIDE, *settings), style_w, name)

    @user_errors
    def webcam_ui(
        self,
        frame: Any,
        session: WebcamSession | None,
        style1: Any,
        weight1: Any,
        style2: Any,
        weight2: Any,
        style3: Any,
        weight3: Any,
        style4: Any,
        weight4: Any,
        alpha: Any,
        preserve_color: Any,
        stroke: Any,
        stabilize: Any,
        norm: str | None,
    ) -> tuple[Any, WebcamSession | None, str]:
        """One streamed webcam frame, stylized at up to ``WEBCAM_SIDE`` px with the session's stabilized stylizer,
        made anew only when the style or a setting changes (so the stream's statistics and flow carry over).
        Input problems go to the caption, not a toast: the stream keeps running while the user fixes them."""
        if frame is None:
            return gr.skip(), session, gr.skip()
        try:
            session = self._webcam_session(
                session,
                [style1, style2, style3, style4],
                [weight1, weight2, weight3, weight4],
                alpha,
                preserve_color,
                stroke,
                stabilize,
                norm,
            )
            rgb = webcam_frame(frame, WEBCAM_SIDE, self.config.min_side)
        except InputError as exc:
            return gr.skip(), session, f"Webcam paused: {exc}"
        t0 = time.perf_counter()
        out = self.engine.webcam_frame(session, rgb)
        if out is None:
            return gr.skip(), session, "Webcam waiting: this model is busy stylizing a video; frames resume after it."
        h, w = rgb.shape[:2]
        return (
            out,
            session,
            (
                f"Webcam · {session.norm} norm · {w}×{h} px · frame {session.stylizer.frames} · "
                f"{time.perf_counter() - t0:.2f} s"
            ),
        )

    # --- paint to image -------------------------------------------------------------------------------------
    def class_names(self) -> list[str]:

        return [c.name for c in CLASSES]

    def _fill_id(self, fill: str | None) -> int | None:
        if fill in (None, "", "none"):
            return None

        for c in CLASSES:
            if c.name == fill:
                return int(c.id)
        raise InputError(
            f"Unknown class {fill!r} to fill the unpainted area; choose one of: {', '.join(c.name for c in CLASSES)}."
        )

    def _optional_image(self, src: Any, what: str) -> Image.Image | None:
        return None if src is None else load_user_image(src, what, self.config)

    @user_errors
    def synthesize_ui(
        self,
        editor: dict | None,
        fill: str,
        seed: Any,
        style: Any,
        size: Any,
        norm: str,
        then_style: Any,
        then_norm: str,
        then_alpha: Any,
        request: gr.Request | None = None,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple[Image.Image, str]:
        self._mark_synthesize(request)  # a live preview still running must not replace this picture
        progress(0.1, desc="Reading the canvas")
        labels = labels_from_editor(editor, self.config, self._fill_id(fill))
        seed, size = check_seed(seed), check_size(size, self.config)
        then_alpha = check_alpha(then_alpha)
        style_img = self._optional_image(style, "style")
        then_img = self._optional_image(then_style, "'then stylize with' style")
        self._mark_synthesize(request, _synthesis_inputs(labels, seed, style_img, size, _norm_or_default(norm)))
        progress(0.3, desc="Synthesizing")
        result = self.engine.synthesize(
            labels,
            seed=seed,
            style=style_img,
            size=size,
            norm=_norm_or_default(norm),
            then_style=then_img,
            then_norm=_norm_or_default(then_norm),
            then_alpha=then_alpha,
        )
        style_name = input_stem(style, "") if style_img is not None else ""
        settings = {
            "command": "synthesize",
            "app": True,
            "mask": "canvas",
            "seed": seed,
            "size": size,
            "style": style_name or None,
            "norm": result.norm,
            "then_stylize": then_img is not None,
            "argv": ["synthesize", "mask.png", "--seed", str(seed), "--size", str(size), "--norm", result.norm]
            + (["--style", f"{style_name}.png"] if style_name else []),
        }
        stem = result_stem("landscape", style_name, result.norm, f"seed{seed}")
        return remember(result.image, stem, settings), result.caption

    @user_errors
    def compare_synthesize_ui(
        self, editor: dict | None, fill: str, seed: Any, style: Any, size: Any, progress: gr.Progress = gr.Progress()
    ) -> tuple[list, str]:
        labels = labels_from_editor(editor, self.config, self._fill_id(fill))
        seed, size = check_seed(seed), check_size(size, self.config)
        style_img = self._optional_image(style, "style")
        results = self.engine.compare_synthesize(labels, seed, style_img, size, lambda f, d: progress(f, desc=d))
        total = sum(r.seconds for r in results)
        return _gallery(results), f"Compared {len(results)} SPADE normalizers in {total:.2f} s of model time."

    @user_errors
    def api_synthesize(
        self, mask: str, seed: float = 0, norm: str = "", size: float = 256, style: str | None = None, fill: str = ""
    ) -> Image.Image:
        """Synthesize an image from a colour-coded label map `mask` (SPADE). Returns a PNG.

        seed: noise seed; norm: normalizer ('' = default); size: output long side; style: optional style
        image; fill: class name for transparent (unpainted) pixels.
        """
        labels = labels_from_rgba(load_label_file(mask, self.config), self.config, self._fill_id(fill))
        return self.engine.synthesize(
            labels,
            seed=check_seed(seed),
            style=self._optional_image(style, "style"),
            size=check_size(size, self.config),
            norm=_norm_or_default(norm),
        ).image

    def api_classes(self) -> list[dict]:
        """The label classes: id, name, colour as '#rrggbb' and [r, g, b] (the same as `normlab classes --json`)."""
        return class_records()

    @user_errors
    def preview_ui(
        self,
        editor: dict | None,
        fill: str,
        seed: Any,
        style: Any,
        size: Any,
        norm: str,
        live: bool,
        request: gr.Request | None = None,
    ) -> tuple[Any, Any]:
        """The live preview after a stroke: at most ``PREVIEW_SIZE`` px; input problems go to the caption, not a
        toast (a half-painted canvas is not an error worth interrupting for). ``live=False`` changes nothing, and
        neither does a preview the session's Synthesize click overtook (the click's picture stays)."""
        t0 = time.monotonic()
        if not live:
            return gr.skip(), gr.skip()
        try:
            labels = labels_from_editor(editor, self.config, self._fill_id(fill))
            seed, wanted = check_seed(seed), check_size(size, self.config)
            style_img = self._optional_image(style, "style")
        except InputError as exc:
            return gr.skip(), f"Live preview paused: {exc}"
        inputs = _synthesis_inputs(labels, seed, style_img, wanted, _norm_or_default(norm))
        if self._already_synthesized(request, inputs):
            return gr.skip(), gr.skip()
        size = min(wanted, PREVIEW_SIZE)
        result = self.engine.synthesize(labels, seed=seed, style=style_img, size=size, norm=_norm_or_default(norm))
        if self._synthesized_since(request, t0) or self._already_synthesized(request, inputs):  # a click meanwhile
            return gr.skip(), gr.skip()
        more = f" · press Synthesize for {wanted} px" if wanted > size else ""
        return result.image, f"Live preview · {result.caption}{more}"

    def brush(self, name: str) -> gr.ImageEditor:
        """The paint canvas's brush set to one class: a single fixed colour, so no palette pops over the canvas."""
        color = class_color(name)
        return gr.ImageEditor(brush=gr.Brush(colors=[color], default_color=color, color_mode="fixed", default_size=28))

    @user_errors
    def fill_unpainted(self, editor: dict | None, name: str) -> dict:
        """Paint every unpainted (transparent) pixel of the canvas with class ``name``; painted pixels stay."""
        color = np.array([int(class_color(name)[i : i + 2], 16) for i in (1, 3, 5)], np.uint8)
        rgba = editor_rgba(editor)
        if rgba is None:
            side = self.config.canvas_size
            rgba = np.zeros((side, side, 4), np.uint8)
        out = rgba.copy()
        unpainted = out[..., 3] < self.config.alpha_threshold
        out[unpainted, :3], out[unpainted, 3] = color, 255
        return {"background": out, "layers": [], "composite": out}

    def check_upload(self, what: str) -> Callable[[Any], None]:
        """An ``.upload`` callback that reports a bad file as soon as it is dropped (``gr.Error`` naming it)."""

        def check(src: Any) -> None:
            if src is None:
                return
            try:
                load_user_image(src, what, self.config)
            except InputError as exc:
                raise gr.Error(str(exc), print_exception=False) from None

        return check

    @user_errors
    def label_file(self, path: Any) -> tuple[Any, None]:
        """A label file dropped on the canvas (app/web/label_drop.py) -> ``(canvas value, cleared file input)``."""
        if not path:
            return gr.skip(), None
        return label_file_canvas(path, self.config), None

    @user_errors
    def preset(self, index: Any) -> dict:
        """A preset layout (procedural landscape labels) as an editor value, drawn in class colours."""
        # torch comes with it: imported on first use, so the app and the CLI start (and report bad input) fast
        from models.landscape.render import generate_sample

        seed = int(index) if index not in (None, "") else 0
        _, labels = generate_sample(seed, size=self.config.canvas_size)
        rgb = np.ascontiguousarray(ids_to_color(labels)[..., :3], dtype=np.uint8)
        rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)
        return {"background": rgba, "layers": [], "composite": rgba}

    def mask_canvas(self, content: Any) -> dict | None:
        """Put the content image under the spatial-control canvas so the user paints over it."""
        if content is None:
            return None
        try:
            img = load_user_image(content, "content", self.config)
        except InputError:
            return None  # the Stylize button reports the problem; the canvas just stays empty
        img.thumbnail((768, 768))
        rgba = np.asarray(img.convert("RGBA"))
        return {"background": rgba, "layers": [], "composite": rgba}
