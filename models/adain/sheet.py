"""``python -m models.adain.sheet``: a before/after contact sheet of AdaIN decoders on held-out pairs.

One row per (content, style) pair: content | style | one column per checkpoint, all at the same output size, each
column headed with its label. Used for the campaign's before/after sheet in ``docs/adain.md``::

    python -m models.adain.sheet --checkpoint before.safetensors --label "before" \\
        --checkpoint assets/adain_instance.safetensors --label "after part 2" \\
        --data data/full --pairs 4 --size 512 --out docs/adain_before_after.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

from models.adain.eval import flat_graphic
from models.common.formats import IMAGE_EXTENSIONS
from models.common.sheet import HEADER, contact_sheet as sheet_grid

__all__ = ["HEADER", "THUMB", "contact_sheet", "main"]

THUMB = 256  # each cell's long side in the sheet (the stylization itself runs at --size)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def contact_sheet(rows: list[list[Image.Image]], labels: list[str]) -> Image.Image:
    """Rows of images (each fitted into a ``THUMB`` square) under a header line of ``labels``."""
    return sheet_grid(rows, labels, cell=THUMB)


def main(argv: list[str] | None = None) -> int:
    from models.common.cli import ArgumentParser, user_error

    p = ArgumentParser(prog="python -m models.adain.sheet", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", action="append", required=True, help="an adain .safetensors (repeat: columns)")
    p.add_argument("--label", action="append", default=None, help="column header per --checkpoint")
    p.add_argument("--data", type=Path, required=True, help="a `normlab data build` folder (its holdout split)")
    p.add_argument(
        "--pairs",
        type=int,
        default=4,
        help="rows: held-out photos, each with another held-out style (the last row a flat graphic) (default 4)",
    )
    p.add_argument("--size", type=int, default=512, help="stylization size, long side (default 512)")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = p.parse_args(argv)
    labels = args.label or [Path(c).stem for c in args.checkpoint]
    if len(labels) != len(args.checkpoint):
        return user_error("give one --label per --checkpoint")
    contents_dir, styles_dir = args.data / "content" / "holdout", args.data / "style" / "holdout"
    if not contents_dir.is_dir() or not styles_dir.is_dir():
        return user_error(f"{args.data} has no content/holdout and style/holdout (build it: normlab data build)")

    from models.adain.infer import Stylizer
    from models.common.imageio import load_image

    contents, styles = _images(contents_dir), _images(styles_dir)
    step_c, step_s = max(1, len(contents) // args.pairs), max(1, len(styles) // args.pairs)
    pairs = [(load_image(contents[i * step_c]), load_image(styles[i * step_s])) for i in range(args.pairs - 1)]
    pairs.append((load_image(contents[-1]), flat_graphic("hexagons")))
    nets = [Stylizer.from_checkpoint(c) for c in args.checkpoint]
    rows = [[c, s, *(net.stylize(c, [s], size=args.size) for net in nets)] for c, s in pairs]
    sheet = contact_sheet(rows, ["content (held out)", "style (held out)", *labels])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out} ({len(rows)} pairs x {len(nets)} decoders at {args.size} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
