"""`python -m tools.highres_sheet`: the full-resolution contact sheet in docs/adain.md (issue 33, stroke size).

Each column is one full-size stylization of the same photo: the whole picture (shrunk), then two 100 % crops
from the same places. Make the images with `normlab stylize PHOTO STYLE --size 0 --stroke S -o ...` first::

    python -m tools.highres_sheet --images before.jpg s05.jpg s1.jpg s2.jpg \\
        --labels "before (style at 4272 px)" "stroke 0.5" "stroke 1 (default)" "stroke 2" --out docs/adain_highres.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from models.common.sheet import contact_sheet


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=Path, nargs="+", required=True)
    p.add_argument("--labels", nargs="+", required=True)
    p.add_argument(
        "--crops",
        type=float,
        nargs="+",
        default=[0.30, 0.45, 0.62, 0.70],
        help="crop centres as fractions: x1 y1 x2 y2",
    )
    p.add_argument("--cell", type=int, default=480)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if len(args.images) != len(args.labels):
        p.error("give one label per image")
    images = [Image.open(f).convert("RGB") for f in args.images]
    w, h = images[0].size
    rows = [images]
    half = args.cell // 2
    for fx, fy in zip(args.crops[0::2], args.crops[1::2]):
        cx, cy = int(fx * w), int(fy * h)
        box = (cx - half, cy - half, cx + half, cy + half)
        rows.append([img.crop(box) for img in images])
    sheet = contact_sheet(rows, args.labels, cell=args.cell)
    sheet.save(args.out, quality=88)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
