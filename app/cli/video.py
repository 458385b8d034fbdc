"""``normlab stylize-video``: a clip (or a folder of clips) stylized frame by frame, stabilized over time.

User errors print one line starting with ``error:`` to stderr and return 2 (never a traceback).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from app.cli import HelpFormatter, missing_input
from app.cli import cli_error as _error
from app.preprocess import DEFAULT_STABILIZE, STABILIZE_MODES
from app.services import video_config
from models.common.assets import DEFAULT_NORMS, default_norm

__all__ = ["register", "cmd_stylize_video"]

# repeated from models/ so that --help imports no torch
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".gif")
MAX_VIDEO_SIDE = 1920
MAX_FRAMES = 36_000


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "stylize-video",
        help="restyle a video clip (mp4/webm/mov/gif) after style images, without flicker",
        description="Video style transfer (AdaIN): every frame of IN rendered in the style of STYLE, written as an "
        "H.264 MP4 with the input's frame timing and its audio. Flicker is reduced by blending the "
        "previous output along the optical flow into the pixels it can follow, restarted at scene cuts "
        "(docs/video.md).",
        formatter_class=HelpFormatter,
    )
    p.add_argument("input", help="video clip (mp4/mov/webm/mkv/avi/gif), or a folder of them (then -o is a folder)")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="style image(s)")
    p.add_argument("-o", "--output", required=True, help="output .mp4, or a folder for an input folder")
    p.add_argument(
        "--weights",
        type=float,
        nargs="+",
        default=None,
        metavar="W",
        help="one weight per style for interpolation (normalised to sum 1; default equal)",
    )
    p.add_argument("--alpha", type=float, default=1.0, help="content-style trade-off in [0, 1]")
    p.add_argument(
        "--preserve-color",
        nargs="?",
        const="covariance",
        default=None,
        choices=("covariance", "luminance"),
        help="keep the clip's colours: 'covariance' (the flag alone) or 'luminance'",
    )
    p.add_argument(
        "--size",
        type=int,
        default=640,
        help=f"output long side in px, 16 to {MAX_VIDEO_SIDE} (0: the clip's own, at most "
        f"{MAX_VIDEO_SIDE}); sides are rounded to multiples of 8",
    )
    p.add_argument("--stroke", type=float, default=1.0, help="stroke size, 0.25 to 4 (as for `normlab stylize`)")
    p.add_argument(
        "--stabilize",
        choices=STABILIZE_MODES,
        default=DEFAULT_STABILIZE,
        help="flicker reduction: flow blending (0.46x the frame-by-frame warping error, style +8 %%, over the 11 "
        "eval clips), tracked statistics (1.00x), both, or none (frame by frame)",
    )
    p.add_argument(
        "--stats-decay",
        type=float,
        default=0.9,
        help="weight of the past in the tracked statistics, in [0, 1) (about 1/(1-d) frames)",
    )
    p.add_argument(
        "--flow-strength",
        type=float,
        default=0.6,
        help="weight of the previous output, warped by the optical flow, in [0, 1)",
    )
    p.add_argument(
        "--plain-blend",
        action="store_true",
        help="average the warped previous output and the new frame as they are (softer strokes, a little less "
        "flicker) instead of keeping the strokes' contrast",
    )
    p.add_argument("--max-frames", type=int, default=MAX_FRAMES, help="refuse longer clips")
    p.add_argument(
        "--norm", default=None, help=f"which shipped model to use, by normalizer (default: {DEFAULT_NORMS['adain']})"
    )
    p.add_argument("--checkpoint", default=None, help="an adain .safetensors file (overrides --norm)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.set_defaults(handler=cmd_stylize_video)


def _jobs(src: Path, out: Path) -> list[tuple[Path, Path]] | str:
    if not src.is_dir():
        if out.suffix.lower() != ".mp4":
            return f"output '{out}' must end in .mp4 (H.264)"
        if not out.parent.is_dir():
            return f"output folder '{out.parent}' does not exist"
        return [(src, out)]
    clips = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not clips:
        return f"input folder '{src}' has no video clips ({', '.join(VIDEO_SUFFIXES)})"
    if out.suffix:
        return f"with an input folder, -o must be an output folder, got '{out}'"
    if not out.is_dir():
        if not out.parent.is_dir():
            return f"output folder '{out.parent}' does not exist (nor does its parent)"
        out.mkdir()
    return [(p, out / f"{p.stem}.mp4") for p in clips]


def cmd_stylize_video(args: argparse.Namespace) -> int:
    if not 0.0 <= args.alpha <= 1.0:
        return _error(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.size != 0 and not 16 <= args.size <= MAX_VIDEO_SIDE:
        return _error(f"--size must be 16 to {MAX_VIDEO_SIDE} px (or 0 for the clip's size), got {args.size}")
    if args.weights is not None and (
        len(args.weights) != len(args.styles) or any(w < 0 for w in args.weights) or sum(args.weights) <= 0
    ):
        return _error(f"--weights needs one non-negative weight per style ({len(args.styles)}), not all zero")
    if not 0.0 <= args.stats_decay < 1.0:
        return _error(f"--stats-decay must be in [0, 1), got {args.stats_decay}")
    if not 0.0 <= args.flow_strength < 1.0:
        return _error(f"--flow-strength must be in [0, 1), got {args.flow_strength}")
    if args.max_frames < 1:
        return _error(f"--max-frames must be at least 1, got {args.max_frames}")
    missing = missing_input(
        video=args.input, **{f"style_image_{i + 1}": s for i, s in enumerate(args.styles)}, checkpoint=args.checkpoint
    )
    if missing:
        return _error(missing)
    jobs = _jobs(Path(args.input), Path(args.output))
    if isinstance(jobs, str):
        return _error(jobs)

    from models.common.checkpoint import CheckpointError, checkpoint_for
    from models.common.imageio import ImageLoadError, load_image
    from models.common.memory import kept_heap

    try:
        styles = [load_image(s) for s in args.styles]
    except (ImageLoadError, OSError) as err:
        return _error(str(err))
    try:
        config = video_config(
            args.size or None,
            args.alpha,
            args.preserve_color,
            args.stroke,
            args.stabilize,
            stats_decay=args.stats_decay,
            flow_strength=args.flow_strength,
            flow_detail=not args.plain_blend,
        )
        path = Path(args.checkpoint) if args.checkpoint else checkpoint_for("adain", args.norm or default_norm("adain"))
        from models.adain.infer import Stylizer

        stylizer = Stylizer.from_checkpoint(path, device=args.device)
    except CheckpointError as err:
        return _error(str(err))
    except (ValueError, RuntimeError) as err:
        return _error(str(err).splitlines()[0])

    with kept_heap():  # frames of one size: reuse their memory instead of page-faulting it in afresh each frame
        return _run_jobs(jobs, stylizer, styles, config, args)


def _run_jobs(jobs: list[tuple[Path, Path]], stylizer, styles: list, config, args: argparse.Namespace) -> int:
    """Stylize each (clip, output) pair; 0, 1 when some failed (with several clips), or 130 when interrupted."""
    from models.adain.video import stylize_video
    from models.common.video import VideoError

    failed = 0
    for source, target in jobs:
        bar = tqdm(total=None, desc=source.name, unit="frame", file=sys.stderr, disable=not sys.stderr.isatty())

        def on_frame(done: int, expected: int, seconds: float) -> None:
            if expected and bar.total != expected:
                bar.total = expected
            bar.update(done - bar.n)

        t0 = time.perf_counter()
        try:
            summary = stylize_video(
                stylizer, source, styles, target, args.weights, config, on_frame, max_frames=args.max_frames
            )
        except KeyboardInterrupt:
            bar.close()
            print(f"error: interrupted; nothing was written to {target}", file=sys.stderr)
            return 130
        except (VideoError, ValueError, OSError, RuntimeError) as err:
            bar.close()
            if len(jobs) == 1:
                return _error(str(err).splitlines()[0])
            failed += 1
            print(f"error: {source}: {str(err).splitlines()[0]}", file=sys.stderr)
            continue
        bar.close()
        w, h = summary["size"]
        print(
            f"wrote {target} ({summary['frames']} frames, {w}x{h}, {summary['fps']:.2f} frames/s, "
            f"{summary['cuts']} scene cut(s), {time.perf_counter() - t0:.1f}s)",
            file=sys.stderr,
        )
    return 1 if failed else 0
