"""`python -m models.bench video`: end-to-end video stylization speed and memory on this machine (a script, not a test).

1. **Throughput**: frames/s of ``stylize_video`` (decode, flow, stylize, encode — what ``normlab stylize-video``
   runs) at 480p, 360p and the webcam's 256 px, frame-by-frame and with the default stabilization, on a generated
   pan clip; beside it the limit this CPU's 3x3 convolution peak allows (network FLOPs per frame / peak) and the share
   reached. The stabilization's cost is the ratio of the two rows. At 480p one more row runs with glibc's default
   allocator instead of the kept heap (``models.common.memory.kept_heap``) that the CLI uses.
2. **Memory over a long stream**: resident memory every N frames while one ``VideoStylizer`` stylizes a long
   generated stream (default 14 400 frames = 10 minutes at 24 frames/s, at 128 px): flat means no per-frame leak.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from models.common.cards import hardware_summary, markdown_table
from models.common.cli import HelpFormatter

SIZES = ((854, "480p"), (640, "360p"), (256, "webcam 256 px"))


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m models.bench video", description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter
    )
    p.add_argument("--frames", type=int, default=24, help="frames per throughput row")
    p.add_argument("--long-frames", type=int, default=14_400, help="frames of the memory stream (0: skip)")
    p.add_argument("--long-size", type=int, default=128, help="long side of the memory stream's frames")
    p.add_argument("--checkpoint", type=Path, default=None, help="adain .safetensors (default: the shipped instance)")
    return p


def main(argv: list[str] | None = None) -> int:
    from models.adain.bench_highres import conv_peak, flops_per_pixel
    from models.adain.clips import clip_frames, write_clip
    from models.adain.infer import Stylizer
    from models.adain.video import VideoConfig, VideoStylizer, stylize_video
    from models.common.accel import cpu_has_bf16
    from models.common.assets import assets_dir
    from models.common.imageio import load_image
    from models.common.memory import kept_heap
    from models.common.video import output_size

    args = build_parser().parse_args(argv)
    st = Stylizer.from_checkpoint(args.checkpoint) if args.checkpoint else Stylizer.for_norm("instance")
    style = load_image(assets_dir() / "examples" / "starry_night.jpg")
    photo = np.asarray(load_image(assets_dir() / "examples" / "coffee.jpg"), dtype=np.float32)
    peak = conv_peak(cpu_has_bf16())
    fpp = flops_per_pixel(st.net)
    print(
        f"Video stylization - {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {hardware_summary()}; "
        f"{'bf16 + channels_last' if st.bf16 else 'fp32'}; network {fpp / 1e6:.2f} MFLOP per output pixel; 3x3 "
        f"conv peak here {peak:.0f} GFLOP/s\n"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for long_side, label in SIZES:
            w, h = output_size(16, 9, long_side)
            src = Path(tmp) / f"{label.split()[0]}.mp4"
            write_clip(src, clip_frames([photo], "pan", (w, h), frames=args.frames))
            limit = peak * 1e9 / (fpp * w * h)
            base = None
            runs = [
                ("frame-by-frame", VideoConfig.frame_by_frame(size=long_side), True),
                ("stabilized (default)", VideoConfig(size=long_side), True),
            ]
            if long_side == SIZES[0][0]:  # what keeping the heap (as ``normlab stylize-video`` does) is worth
                runs.insert(0, ("stabilized, glibc's default allocator", VideoConfig(size=long_side), False))
            for name, cfg, keep in runs:
                with kept_heap() if keep else contextlib.nullcontext():
                    stylize_video(st, src, [style], Path(tmp) / "warm.mp4", config=cfg, max_frames=args.frames)
                    r = stylize_video(st, src, [style], Path(tmp) / "out.mp4", config=cfg)
                fps = r["fps"]
                if keep:
                    base = base or fps
                rows.append(
                    [
                        label,
                        f"{w}x{h}",
                        name,
                        f"{fps:.2f}",
                        f"{limit:.2f}",
                        f"{100 * fps / limit:.0f} %",
                        f"{base / fps:.2f}x" if base else "",
                    ]
                )
                print(f"  {rows[-1]}", file=sys.stderr)
    print(f"Throughput, end to end ({args.frames} frames of a generated pan; decode + flow + stylize + H.264 encode)\n")
    print(
        markdown_table(
            ["clip", "frame", "method", "frames/s", "limit at conv peak", "share of limit", "time vs frame-by-frame"],
            rows,
        )
    )
    if args.long_frames:
        w, h = output_size(16, 9, args.long_size)
        vs = VideoStylizer(st, [style], config=VideoConfig(size=None))
        with kept_heap():  # as the CLI runs it
            frames = clip_frames([photo], "pan", (w, h), frames=48)
            samples = []
            t0 = time.perf_counter()
            every = max(1, args.long_frames // 12)
            for i in range(args.long_frames):
                k = i % 48
                vs.frame(frames[47 - k if (i // 48) % 2 else k])  # back and forth: a long stream without cuts
                if (i + 1) % every == 0:
                    samples.append((i + 1, _rss_mib()))
            seconds = time.perf_counter() - t0
        print(
            f"\nMemory over a {args.long_frames}-frame stream at {w}x{h} ({seconds / 60:.1f} min, "
            f"{args.long_frames / seconds:.1f} frames/s; resident MiB after N frames)\n"
        )
        print(markdown_table(["frames", "RSS (MiB)"], [[n, f"{m:.0f}"] for n, m in samples]))
        first, last = samples[0][1], samples[-1][1]
        print(f"\nchange from the first sample to the last: {last - first:+.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
