"""``python -m models.adain.video_sheet``: consecutive frames of one clip side by side — the input, frame-by-frame
AdaIN, the flow blend that keeps the strokes' contrast, and the plain average — cropped at full resolution, so
flicker (frame to frame) and smearing (within a frame) can be judged by eye (docs/video.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from models.common.cli import HelpFormatter

ROWS = ("input", "frame-by-frame", "flow blend (default)", "plain average")


def crop_box(width: int, height: int, crop: int) -> tuple[int, int, int, int]:
    """A ``crop``-px square (or the whole side when smaller) in the middle of a ``width``x``height`` frame."""
    cw, ch = min(crop, width), min(crop, height)
    left, top = (width - cw) // 2, (height - ch) // 2
    return left, top, left + cw, top + ch


def sheet(rows: dict[str, list[np.ndarray]], box: tuple[int, int, int, int], label_w: int = 150) -> Image.Image:
    """Rows of ``(H, W, 3)`` uint8 frames, each cropped to ``box`` -> one labelled picture."""
    left, top, right, bottom = box
    cw, ch = right - left, bottom - top
    n = max(len(v) for v in rows.values())
    out = Image.new("RGB", (label_w + n * (cw + 4), len(rows) * (ch + 4)), "white")
    draw = ImageDraw.Draw(out)
    for r, (name, frames) in enumerate(rows.items()):
        y = r * (ch + 4)
        draw.text((6, y + ch // 2 - 6), name, fill="black")
        for c, frame in enumerate(frames):
            out.paste(Image.fromarray(frame[top:bottom, left:right]), (label_w + c * (cw + 4), y))
    return out


def main(argv: list[str] | None = None) -> int:
    from models.adain.infer import Stylizer
    from models.adain.temporal import FlowBlender
    from models.adain.video import VideoConfig, VideoStylizer
    from models.common.assets import assets_dir
    from models.common.imageio import load_image
    from models.common.video import VideoReader, output_size, probe

    p = argparse.ArgumentParser(
        prog="python -m models.adain.video_sheet", description=__doc__, formatter_class=HelpFormatter
    )
    p.add_argument("clip", type=Path)
    p.add_argument("-o", "--out", type=Path, default=Path("docs/video_frames.jpg"))
    p.add_argument("--style", type=Path, default=None, help="style image (default: Starry Night)")
    p.add_argument("--start", type=int, default=24, help="first frame shown (the blend runs from frame 0)")
    p.add_argument("--count", type=int, default=4, help="frames shown")
    p.add_argument("--size", type=int, default=0, help="stylize at this long side (0: the clip's own)")
    p.add_argument("--crop", type=int, default=240, help="side of the square cut from each frame's middle")
    args = p.parse_args(argv)
    if args.start < 0 or args.count < 1:
        p.error("--start must be >= 0 and --count >= 1")
    info = probe(args.clip)
    wh = output_size(info.width, info.height, args.size or None)
    stylizer = Stylizer.for_norm("instance")
    style = load_image(args.style or assets_dir() / "examples" / "starry_night.jpg")
    vs = VideoStylizer(stylizer, [style], config=VideoConfig.frame_by_frame(size=None))
    kept, plain = FlowBlender(0.6), FlowBlender(0.6, detail=False)
    rows: dict[str, list[np.ndarray]] = {name: [] for name in ROWS}
    end = args.start + args.count
    with VideoReader(args.clip, wh) as reader:
        for i, f in enumerate(reader.frames()):
            if i >= end:
                break
            raw = vs.frame(f.rgb)
            outs = (f.rgb, raw, kept(f.rgb, raw), plain(f.rgb, raw))
            if i >= args.start:
                for name, o in zip(ROWS, outs):
                    rows[name].append(o)
            print(f"\rframe {i + 1}/{end}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    if not rows["input"]:
        print(f"error: '{args.clip.name}' has fewer than {args.start + 1} frames", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet(rows, crop_box(*wh, args.crop)).save(args.out, quality=90)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
