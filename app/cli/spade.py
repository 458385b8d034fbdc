"""``normlab classes`` and ``normlab synthesize``: the SPADE side of the command line.

User errors print one line starting with ``error:`` to stderr and return 2 (never a traceback).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register", "cmd_classes", "cmd_synthesize"]


from app.cli import HelpFormatter, missing_input, prepare_output
from app.cli import cli_error as _error  # one format for every subcommand's user errors
from app.limits import MIN_SIDE, parse_seed, parse_size
from models.common.assets import DEFAULT_NORMS
from models.landscape.classes import CLASSES, NUM_CLASSES, class_id, class_records


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "classes",
        help="list the landscape classes and their mask colours",
        description="List the classes a SPADE mask can use, with the RGB colour to paint each.",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list of {id, name, color: [r, g, b]}")
    p.set_defaults(handler=cmd_classes)

    p = subparsers.add_parser(
        "synthesize",
        help="turn a colour-coded landscape mask into an image (SPADE)",
        description="Synthesize a landscape from a mask painted with the class colours (see `normlab classes`). "
        "Anti-aliased or off-palette colours snap to the nearest class; transparent pixels take the "
        "class of the nearest painted pixel (or --background).",
        formatter_class=HelpFormatter,
    )
    p.add_argument("mask", help="colour-coded mask image (PNG recommended; JPEG artefacts are tolerated)")
    p.add_argument("-o", "--output", required=True, help="output image path (.png, .jpg or .webp)")
    p.add_argument("--seed", default="0", help="random style seed, 0 to 2147483647: another seed gives another look")
    p.add_argument("--style", default=None, help="example image whose look to follow (overrides --seed)")
    p.add_argument("--size", default=None, help="output long side in pixels, 16 to 4096 (default: the mask's size)")
    p.add_argument(
        "--norm",
        default=None,
        help=f"which shipped generator to use, by normalizer (default: {DEFAULT_NORMS['spade']}, the best "
        "shipped one; `normlab checkpoints` lists them)",
    )
    p.add_argument("--checkpoint", default=None, help="a spade .safetensors file (overrides --norm)")
    p.add_argument(
        "--from-png",
        default=None,
        metavar="PNG",
        help="re-run the settings stored in a PNG that `normlab synthesize` (or the app) wrote; the inputs "
        "and flags given here replace the stored ones (e.g. -o again.png --seed 4)",
    )
    p.add_argument("--background", default=None, help="class name or id for transparent pixels")
    p.set_defaults(handler=cmd_synthesize)


def cmd_classes(args: argparse.Namespace) -> int:

    if args.json:
        print(json.dumps(class_records()))  # the same records as the API's /classes
        return 0
    print(f"{'id':>2}  {'name':<10} {'rgb':<15} hex")
    for c in CLASSES:
        r, g, b = c.color
        print(f"{c.id:>2}  {c.name:<10} {f'({r}, {g}, {b})':<15} #{r:02x}{g:02x}{b:02x}")
    return 0


def _background(value: str | None) -> int | None:

    if value is None:
        return None
    if value.isdigit():
        if int(value) >= NUM_CLASSES:
            raise ValueError(f"--background id must be in 0..{NUM_CLASSES - 1}, got {value}")
        return int(value)
    return class_id(value)


def cmd_synthesize(args: argparse.Namespace) -> int:
    out = Path(args.output)
    try:
        background = _background(args.background)
    except ValueError as exc:
        return _error(f"--background: {exc}")
    try:  # the same checks and words as the web API (app/limits.py)
        seed = parse_seed(args.seed)
        size = None if args.size is None else parse_size(args.size)
    except ValueError as exc:
        return _error(f"--{'seed' if 'seed' in str(exc) else 'size'}: {exc}")
    missing = missing_input(mask=args.mask, style_image=args.style, checkpoint=args.checkpoint)
    if missing:
        return _error(missing)
    problem = prepare_output(out)
    if problem:
        return _error(problem)

    # torch comes with it: imported on first use, so the app and the CLI start (and report bad input) fast
    from models.common.checkpoint import CheckpointError
    from models.common.imageio import ImageLoadError, load_image
    from models.spade.infer import Synthesizer, load_mask

    try:
        ids = load_mask(args.mask, background=background, min_side=MIN_SIDE)  # the API's rule and words
    except ImageLoadError as exc:
        return _error(f"mask {exc}")
    except ValueError as exc:
        return _error(f"mask '{args.mask}': {exc}")
    style = None
    if args.style:
        try:
            style = load_image(args.style)
        except ImageLoadError as exc:
            return _error(f"style image {exc}")
    try:
        path = Path(args.checkpoint) if args.checkpoint else Synthesizer.default_path(args.norm)
        syn = Synthesizer.from_checkpoint(path)
    except CheckpointError as exc:
        return _error(str(exc))
    if int(ids.max()) >= syn.num_classes:
        return _error(f"the mask uses class ids up to {ids.max()} but this generator knows {syn.num_classes} classes")
    try:
        img = syn.synthesize(ids, seed=seed, style=style, size=size)
    except ValueError as exc:
        return _error(str(exc))
    from models.common.settings import png_info

    settings = {
        "command": "synthesize",
        "argv": getattr(args, "argv", []),
        "mask": args.mask,
        "seed": seed,
        "style": args.style,
        "size": size,
        "norm": syn.norm,
        "checkpoint": path.name,
        "output": f"{img.width}x{img.height}",
    }
    try:
        img.save(out, **({"pnginfo": png_info(settings)} if out.suffix.lower() == ".png" else {}))
    except OSError as exc:
        return _error(f"cannot write '{out}': {exc.strerror or exc}")
    print(
        f"wrote {out} ({img.width}x{img.height}, norm {syn.norm}, "
        f"{'style ' + args.style if style is not None else 'seed ' + str(seed)})"
    )
    return 0
