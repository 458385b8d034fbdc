"""``normlab stylize``, ``normlab data starter`` and ``normlab data build``: the AdaIN side of the command line.

User errors print one line starting with ``error:`` to stderr and return 2 (never a traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from tqdm import tqdm

__all__ = ["register", "cmd_stylize", "cmd_data_starter", "cmd_data_build"]


from app.cli import HelpFormatter, missing_input, prepare_output
from app.cli import cli_error as _error  # one format for every subcommand's user errors
from app.limits import MAX_MEGAPIXELS, MAX_SIDE, MIN_SIDE, check_megapixels, output_size, parse_size
from models.common.assets import DEFAULT_NORMS, default_norm
from models.common.formats import IMAGE_EXTENSIONS

STROKE_RANGE = (0.25, 4.0)  # models.adain.infer.STROKE_RANGE, repeated so that --help imports no torch


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "stylize",
        help="restyle a photo after one or more style images (AdaIN)",
        description="Arbitrary style transfer (AdaIN): render CONTENT in the style of STYLE. Several styles are "
        "interpolated (--weights); with --mask and two styles, the first goes where the mask is "
        "bright and the second elsewhere.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("content", help="content image (jpg/png/webp/...), or a folder of them (then -o is a folder)")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="style image(s)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output image path (.png recommended; .jpg/.webp allowed), or a folder for a content folder",
    )
    p.add_argument(
        "--weights",
        type=float,
        nargs="+",
        default=None,
        metavar="W",
        help="one weight per style for interpolation (normalised to sum 1; default equal)",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=1.0,
        help="content-style trade-off in [0, 1]: 0 keeps the content, 1 is full style",
    )
    p.add_argument(
        "--preserve-color",
        nargs="?",
        const="covariance",
        default=None,
        choices=("covariance", "luminance"),
        help="keep the content's colours: 'covariance' (recolour the style first; the flag alone) or "
        "'luminance' (transfer luminance only)",
    )
    p.add_argument("--mask", default=None, help="mask image for spatial control (needs exactly 2 styles)")
    p.add_argument(
        "--size",
        default="512",
        help=f"output long side in pixels, {MIN_SIDE} to {MAX_SIDE} (0 keeps the content size); images "
        "larger than one tile are stylized tile by tile with the whole image's statistics",
    )
    p.add_argument(
        "--stroke",
        type=float,
        default=1.0,
        help=f"stroke size, {STROKE_RANGE[0]:g} to {STROKE_RANGE[1]:g}: the scale of the style's brush "
        "strokes and patterns (1 = the style encoded at the output's long side up to 1024 px; 2 = "
        "twice as large)",
    )
    p.add_argument(
        "--tile",
        type=int,
        default=768,
        help="tile side in px for large images (multiple of 8; memory grows with its square)",
    )
    p.add_argument(
        "--stats",
        choices=("exact", "thumbnail"),
        default="exact",
        help="content statistics of a tiled image: 'exact' (all tiles merged) or 'thumbnail' "
        "(URST's approximation from a 1024 px thumbnail)",
    )
    p.add_argument(
        "--max-megapixels",
        type=float,
        default=MAX_MEGAPIXELS,
        help="refuse inputs and outputs larger than this many megapixels",
    )
    p.add_argument(
        "--tmp-dir",
        default=None,
        help="folder for the temporary files of large images (features: ~16 bytes per pixel; default: "
        "the system's temporary folder)",
    )
    p.add_argument(
        "--norm",
        default=None,
        help=f"which shipped model to use, by normalizer (default: {DEFAULT_NORMS['adain']}; "
        "`normlab checkpoints` lists them)",
    )
    p.add_argument("--checkpoint", default=None, help="an adain .safetensors file (overrides --norm)")
    p.add_argument(
        "--from-png",
        default=None,
        metavar="PNG",
        help="re-run the settings stored in a PNG that `normlab stylize` (or the app) wrote; the inputs "
        "and flags given here replace the stored ones (e.g. -o again.png --seed 4)",
    )
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.set_defaults(handler=cmd_stylize)

    data = subparsers.add_parser(
        "data", help="datasets for training", description="Build training data from what is installed on this machine."
    )
    data_sub = data.add_subparsers(dest="data_command", metavar="WHAT")
    s = data_sub.add_parser(
        "starter",
        help="assemble a content/style starter set from installed packages (offline)",
        description="Collect photos and paintings shipped by installed packages (Debian opencv-doc and "
        "gcompris-qt-data, scikit-image, scikit-learn, matplotlib) into OUT/content and OUT/style. "
        "Nothing is downloaded.",
        formatter_class=HelpFormatter,
    )
    s.add_argument("--out", type=Path, default=Path("data/starter"), help="output folder")
    s.add_argument("--max-side", type=int, default=768, help="downscale images to this long side")
    s.set_defaults(handler=cmd_data_starter)
    b = data_sub.add_parser(
        "build",
        help="build a full training set (>= 500 photos, >= 300 styles) from Debian packages (offline)",
        description="Fetch the image packages surveyed in DATA-SOURCES.md with `apt-get download` (never "
        "installed; installed copies are used as they are), unpack them with `dpkg -x`, and write "
        "OUT/{content,style}/{train,holdout} with SOURCES.md and manifest.json. The holdout is "
        "chosen by whole source.",
        formatter_class=HelpFormatter,
    )
    b.add_argument("--out", type=Path, required=True, help="output folder")
    b.add_argument(
        "--debs",
        type=Path,
        default=Path("data/debs"),
        help="cache folder for the downloaded .debs (unpacked under DEBS/root)",
    )
    b.add_argument(
        "--holdout", type=float, default=0.06, help="fraction of each role to hold out, by whole source (0 to 0.5)"
    )
    b.set_defaults(handler=cmd_data_build)
    data.set_defaults(
        handler=lambda args: _error(
            "choose what to build: `normlab data starter --out DIR` or `normlab data build --out DIR`"
        )
    )


def cmd_stylize(args: argparse.Namespace) -> int:
    # Validate everything cheap before loading a model or any image.
    out = Path(args.output)
    if not 0.0 <= args.alpha <= 1.0:
        return _error(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.weights is not None:
        if len(args.weights) != len(args.styles):
            return _error(
                f"--weights has {len(args.weights)} value(s) but there are {len(args.styles)} style(s): "
                "give one weight per style"
            )
        if any(w < 0 for w in args.weights) or sum(args.weights) <= 0:
            return _error("--weights must be non-negative and not all zero")
    if args.mask is not None and len(args.styles) != 2:
        return _error(f"--mask needs exactly 2 styles (bright -> first, dark -> second), got {len(args.styles)}")
    if args.mask is not None and args.weights is not None:
        return _error("--weights cannot be combined with --mask")
    try:
        size = None if str(args.size).strip() == "0" else parse_size(args.size)
    except ValueError as err:
        return _error(f"--size: {err} (or 0 to keep the content size)")
    if not STROKE_RANGE[0] <= args.stroke <= STROKE_RANGE[1]:
        return _error(f"--stroke must be between {STROKE_RANGE[0]:g} and {STROKE_RANGE[1]:g}, got {args.stroke:g}")
    if args.tile < 64 or args.tile % 8:
        return _error(f"--tile must be a multiple of 8 of at least 64 px, got {args.tile}")
    if not args.max_megapixels > 0:
        return _error(f"--max-megapixels must be positive, got {args.max_megapixels:g}")
    if args.tmp_dir is not None and not Path(args.tmp_dir).is_dir():
        return _error(f"--tmp-dir '{args.tmp_dir}' is not a folder")

    missing = missing_input(
        content_image=args.content,
        **{f"style_image_{i + 1}": s for i, s in enumerate(args.styles)},
        mask=args.mask,
        checkpoint=args.checkpoint,
    )
    if missing:
        return _error(missing)
    jobs = _jobs(Path(args.content), out)
    if isinstance(jobs, str):
        return _error(jobs)

    # torch comes with it: imported on first use, so the app and the CLI start (and report bad input) fast
    from models.adain.tiled import TileConfig
    from models.common.checkpoint import CheckpointError, checkpoint_for
    from models.common.imageio import ImageLoadError, load_image
    from models.common.settings import png_info

    max_pixels = int(args.max_megapixels * 1e6)
    flag = "--max-megapixels"
    try:
        styles = [load_image(s, max_pixels=max_pixels, limit_flag=flag) for s in args.styles]
        mask = (
            load_image(args.mask, min_side=1, max_pixels=max_pixels, limit_flag=flag) if args.mask is not None else None
        )
    except (ImageLoadError, OSError) as err:
        return _error(str(err))
    try:
        path = Path(args.checkpoint) if args.checkpoint else checkpoint_for("adain", args.norm or default_norm("adain"))
        from models.adain.infer import Stylizer

        t0 = time.perf_counter()
        stylizer = Stylizer.from_checkpoint(
            path, device=args.device, tiles=TileConfig(tile=args.tile, stats=args.stats, tmp_dir=args.tmp_dir)
        )
    except CheckpointError as err:
        return _error(str(err))
    except (ValueError, RuntimeError) as err:  # RuntimeError: e.g. an unavailable --device
        return _error(str(err).splitlines()[0])
    t1 = time.perf_counter()
    failed = 0
    size_out = (0, 0)
    progress = tqdm(jobs, desc="stylize", unit="image", disable=len(jobs) == 1, file=sys.stderr)
    for source, target in progress:
        try:
            content = load_image(source, max_pixels=max_pixels, limit_flag=flag)
            check_megapixels(*output_size(*content.size, size), args.max_megapixels, "the output", flag)
            save_kw = {"quality": 95} if target.suffix.lower() in (".jpg", ".jpeg", ".webp") else {}
            if target.suffix.lower() == ".png":  # the settings travel with the picture (--from-png re-runs them)
                save_kw["pnginfo"] = png_info(
                    {
                        "command": "stylize",
                        "argv": _argv_for(getattr(args, "argv", []), source, target, len(jobs)),
                        "content": Path(source).name,
                        "styles": list(args.styles),
                        "weights": args.weights,
                        "alpha": args.alpha,
                        "preserve_color": args.preserve_color,
                        "mask": args.mask,
                        "size": size,
                        "stroke": args.stroke,
                        "norm": stylizer.norm,
                        "checkpoint": path.name,
                    }
                )
            # hand over the only reference: the stylizer frees the decoded photo once it is on disk (large images)
            photo = [content]
            del content
            with _tile_bar(len(jobs) == 1) as on_tile:
                size_out = stylizer.stylize_file(
                    photo.pop(),
                    styles,
                    target,
                    weights=args.weights,
                    alpha=args.alpha,
                    preserve_color=args.preserve_color,
                    mask=mask,
                    size=size,
                    stroke=args.stroke,
                    progress=on_tile,
                    **save_kw,
                )
        except KeyboardInterrupt:
            progress.close()
            print(f"error: interrupted; nothing was written to {target}", file=sys.stderr)
            return 130
        except (ImageLoadError, OSError, ValueError, RuntimeError) as err:
            if len(jobs) == 1:
                return _error(
                    str(err).splitlines()[0]
                    if not isinstance(err, OSError) or isinstance(err, ImageLoadError)
                    else f"could not write '{target}': {err}"
                )
            failed += 1  # a batch goes on: one bad file must not lose the others' work
            progress.write(f"error: {source}: {str(err).splitlines()[0]}", file=sys.stderr)
    t2 = time.perf_counter()
    if len(jobs) == 1:
        print(
            f"wrote {out} ({size_out[0]}x{size_out[1]}, norm {stylizer.norm}, load {t1 - t0:.1f}s, "
            f"stylize {t2 - t1:.2f}s)",
            file=sys.stderr,
        )
        return 0
    print(
        f"wrote {len(jobs) - failed} of {len(jobs)} images to {out}/ (norm {stylizer.norm}, "
        f"{(t2 - t1) / max(len(jobs), 1):.2f}s per image)",
        file=sys.stderr,
    )
    return 1 if failed else 0


def _argv_for(argv: list[str], source: Path, target: Path, jobs: int) -> list[str]:
    """The command line that remakes one picture: a folder run's argv with this picture's own file in place of the
    folder (the first positional after the command)."""
    if jobs == 1 or not argv:
        return list(argv)
    out = list(argv)
    for i, arg in enumerate(out[1:], 1):
        if not arg.startswith("-"):
            out[i] = str(source)
            break
    return out


@contextlib.contextmanager
def _tile_bar(enabled: bool):
    """A per-tile progress bar (tiles/s and time left) on a terminal, for images of more than one tile; yields the
    ``progress(done, total, stage)`` callback for ``Stylizer``."""
    bar = None

    def on_tile(done: int, total: int, stage: str) -> None:
        nonlocal bar
        if bar is None:
            if total <= 2:  # one tile: nothing worth a bar
                return
            bar = tqdm(
                total=total, desc="tiles", unit="tile", file=sys.stderr, disable=not (enabled and sys.stderr.isatty())
            )
        bar.set_description(f"tiles ({stage})", refresh=False)
        bar.update(done - bar.n)

    try:
        yield on_tile
    finally:
        if bar is not None:
            bar.close()


def _jobs(content: Path, out: Path) -> list[tuple[Path, Path]] | str:
    """``[(content image, output path)]``: one pair, or every image of a content folder into the folder ``out``
    (``<name>.png``); an error message when the output does not fit."""
    if not content.is_dir():
        return prepare_output(out) or [(content, out)]
    images = sorted(p for p in content.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not images:
        return f"content folder '{content}' has no images ({', '.join(IMAGE_EXTENSIONS)})"
    if out.suffix:
        return f"with a content folder, -o must be an output folder, got '{out}'"
    if not out.is_dir():
        if not out.parent.is_dir():
            return f"output folder '{out.parent}' does not exist (nor does its parent)"
        out.mkdir()
    return [(p, out / f"{p.stem}.png") for p in images]


def cmd_data_starter(args: argparse.Namespace) -> int:
    # torch comes with it: imported on first use, so the app and the CLI start (and report bad input) fast
    from models.adain.starter import SOURCES_HELP, build_starter

    if args.max_side < 64:
        return _error(f"--max-side must be >= 64, got {args.max_side}")
    skipped: list[str] = []

    def log(message: str) -> None:
        if message.startswith("skip "):
            skipped.append(message)
        print(message, file=sys.stderr)

    try:
        counts = build_starter(args.out, max_side=args.max_side, log=log)
    except OSError as err:
        return _error(f"could not write to '{args.out}': {err}")
    total = counts["content"] + counts["style"]
    if total == 0:
        return _error("no images found in installed packages; " + SOURCES_HELP)
    print(
        f"wrote {counts['content']} content and {counts['style']} style images to {args.out} "
        f"({counts['failed']} unreadable skipped); licences: {args.out / 'SOURCES.md'}"
    )
    # Only suggest installing more sources when one was actually missing.
    print(
        SOURCES_HELP
        if skipped
        else "every known source was found; add your own folders to "
        "`train.py adain --content-dir/--style-dir` for more variety"
    )
    print(f"train: python train.py adain --content-dir {args.out} --style-dir {args.out / 'style'}")
    return 0


def cmd_data_build(args: argparse.Namespace) -> int:
    if not 0.0 <= args.holdout <= 0.5:
        return _error(f"--holdout must be between 0 and 0.5, got {args.holdout}")
    from models.adain.collect import BuildError, build_dataset

    try:
        summary = build_dataset(
            args.out, debs_dir=args.debs, holdout=args.holdout, log=lambda message: print(message, file=sys.stderr)
        )
    except BuildError as err:
        return _error(str(err))
    except OSError as err:
        return _error(f"could not write to '{args.out}' or '{args.debs}': {err}")
    print(summary.line())
    print(
        f"licences: {args.out / 'SOURCES.md'}; train: python train.py adain --content-dir "
        f"{args.out / 'content' / 'train'} --style-dir {args.out / 'style' / 'train'}"
    )
    return 0
