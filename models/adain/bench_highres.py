"""`python -m models.bench adain --highres`: full-resolution AdaIN — time, memory, exactness, seams (tiled path).

Two tables, one run (a script, not a test):

1. **Exactness** at 2048x1536, where the untiled path still fits: for each photo, the untiled result (one tile), the
   tiled result with exact statistics and with URST's thumbnail statistics; PSNR against the untiled result and the
   *seam score* — mean |gradient| across the tile borders / mean |gradient| across the pixel lines 8 px beside them
   (:func:`seam_score`; 1.0 = the borders look like their surroundings; the untiled result's score at the same
   positions is the reference).
2. **Scaling**: seconds, seconds per megapixel and peak resident memory from 1 MP (untiled) to 96 MP (tiled), each row
   in a fresh process (its own peak), through ``Stylizer.stylize_file`` (what ``normlab stylize`` runs; JPEG out).
   Large inputs are a photo upscaled to the size (the time does not depend on the content). Throughput is also given
   as GFLOP/s and as a share of this CPU's measured 3x3-convolution peak.

Targets (issue 33): PSNR >= 35 dB and seam score in [0.95, 1.05] at 2048x1536; peak RSS <= 2 GB up to 100 MP;
s/MP at 96 MP <= 1.35x s/MP at 1 MP untiled.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from models.common.cards import hardware_summary, markdown_table
from models.common.cli import HelpFormatter
from models.common.formats import IMAGE_EXTENSIONS

__all__ = ["main", "seam_score", "psnr", "flops_per_pixel"]

EXACT_SIZE = (2048, 1536)
SCALING_MP = (1, 12, 24, 48, 96)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def seam_score(img: np.ndarray, rows: list[int], cols: list[int], offsets: tuple[int, ...] = (-8, 8)) -> float:
    """Mean |difference| across the tile borders over the mean |difference| across the lines ``offsets`` px away.

    A border ``b`` is the boundary between pixel rows (or columns) ``b - 1`` and ``b``; its reference lines are
    ``b + o`` for each offset, so the content around the border is nearly the same and a seam stands out as a ratio
    above 1. The offsets are multiples of 8 because the decoder upsamples by nearest neighbour from an 8 px grid: every
    output, untiled too, has slightly stronger gradients every 8th pixel, and the borders lie on that grid. Over a
    whole image (the plain "border vs everywhere else") the ratio would measure the content along a handful of lines
    instead. ``img`` ``(H, W, 3)``; rows and columns pooled.
    """
    x = img.astype(np.float64)
    diffs = (np.abs(np.diff(x, axis=0)).mean(axis=2), np.abs(np.diff(x, axis=1)).mean(axis=2).T)  # (lines, length)
    border = reference = 0.0
    n_border = n_ref = 0
    for d, cuts in zip(diffs, (rows, cols)):
        for b in cuts:
            refs = [b + o for o in offsets if 0 < b + o <= d.shape[0]]
            if not 0 < b <= d.shape[0] or not refs:
                continue
            border += d[b - 1].sum()
            n_border += d.shape[1]
            reference += sum(d[r - 1].sum() for r in refs)
            n_ref += d.shape[1] * len(refs)
    if not n_border:
        raise ValueError("no tile border inside the image")
    return float((border / n_border) / (reference / n_ref))


def flops_per_pixel(net) -> float:
    """FLOPs (2 per multiply-add) per output pixel of one stylization: encoder to relu4_1 + decoder (convs only)."""
    total = 0.0
    enc_scale = 1
    for stage in net.encoder.stages:
        for m in stage:
            if isinstance(m, torch.nn.MaxPool2d):
                enc_scale *= 4
            elif isinstance(m, torch.nn.Conv2d):
                total += 2 * m.in_channels * m.out_channels * 9 / enc_scale
    dec_scale = 64  # the decoder starts at 1/8 resolution
    for m in net.decoder.net:
        if isinstance(m, torch.nn.Conv2d):
            total += 2 * m.in_channels * m.out_channels * 9 / dec_scale
        elif isinstance(m, torch.nn.Upsample):
            dec_scale //= 4
    return total


def conv_peak(bf16: bool, seconds: float = 3.0) -> float:
    """GFLOP/s of a 3x3 conv 256->256 at 128x128, batch 1 (the network's bulk), in the precision used."""
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).eval()
    x = torch.randn(1, 256, 128, 128)
    if bf16:
        conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else torch.no_grad()
    flops = 2 * 256 * 256 * 9 * 128 * 128
    with torch.inference_mode(), ctx:
        for _ in range(3):
            conv(x)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            conv(x)
            n += 1
    return flops * n / (time.perf_counter() - t0) / 1e9


def _photos(folder: Path | None, n: int) -> list[tuple[str, Image.Image]]:
    from models.common.assets import assets_dir

    if folder is None:
        folder = assets_dir() / "examples"
        print(
            f"note: no --photos; using the bundled examples in {folder} (small: upscaled to the test size)",
            file=sys.stderr,
        )
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)[:n]
    if not files:
        raise SystemExit(f"error: no images in {folder}")
    return [(p.name, Image.open(p).convert("RGB")) for p in files]


def _fit(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale to cover ``size`` and centre-crop to it exactly."""
    w, h = size
    scale = max(w / img.width, h / img.height)
    big = img.resize((max(w, round(img.width * scale)), max(h, round(img.height * scale))), Image.Resampling.LANCZOS)
    left, top = (big.width - w) // 2, (big.height - h) // 2
    return big.crop((left, top, left + w, top + h))


def _stylizer(checkpoint: Path | None, **tile_kw):
    from models.adain.infer import Stylizer
    from models.adain.tiled import TileConfig
    from models.common.assets import assets_dir

    return Stylizer.from_checkpoint(
        checkpoint or assets_dir() / "adain_instance.safetensors", tiles=TileConfig(**tile_kw)
    )


def exactness(args) -> list[list[str]]:
    from models.adain.tiled import CELL, Grid

    style = Image.open(args.style).convert("RGB")
    untiled, exact, thumb = (
        _stylizer(args.checkpoint, tile=1 << 20),
        _stylizer(args.checkpoint, tile=args.tile),
        _stylizer(args.checkpoint, tile=args.tile, stats="thumbnail"),
    )
    grid = Grid(EXACT_SIZE[1], EXACT_SIZE[0], args.tile, 32)
    rows_b = sorted({r0 * CELL for r0, _, _, _ in grid.cores()} - {0})
    cols_b = sorted({c0 * CELL for _, _, c0, _ in grid.cores()} - {0})
    per = {"untiled": [], "exact": [], "thumbnail": []}
    table = []
    for name, photo in _photos(args.photos, args.n_photos):
        content = _fit(photo, EXACT_SIZE)
        results = {}
        for label, st in (("untiled", untiled), ("exact", exact), ("thumbnail", thumb)):
            st.stylize(content.resize((256, 192)), [style], size=None)  # warm (and the style cache)
            t0 = time.perf_counter()
            results[label] = np.asarray(st.stylize(content, [style], size=None))
            seconds = time.perf_counter() - t0
            p = psnr(results[label], results["untiled"]) if label != "untiled" else float("inf")
            seam = seam_score(results[label], rows_b, cols_b)
            plain = seam_score(results[label], rows_b, cols_b, offsets=(-16, -8, 8, 16))
            per[label].append((p, seam, seconds, plain))
            print(
                f"  {name} {label}: PSNR {p:.1f} dB, seam {seam:.3f} (plain {plain:.3f}), {seconds:.1f} s",
                file=sys.stderr,
            )
    for label, vals in per.items():
        ps = [v[0] for v in vals]
        # The score depends on the content along the border lines too (0.90-1.0 untiled); dividing by the untiled
        # result's score at the same lines isolates what tiling adds.
        rel = [v[1] / u[1] for v, u in zip(vals, per["untiled"])]
        table.append(
            [
                label if label != "untiled" else "untiled (one tile)",
                f"{len(vals)}",
                "–" if label == "untiled" else f"{min(ps):.1f} / {statistics.mean(ps):.1f}",
                f"{statistics.mean(v[1] for v in vals):.3f} ({min(v[1] for v in vals):.3f}–"
                f"{max(v[1] for v in vals):.3f})",
                "–" if label == "untiled" else f"{min(rel):.3f}–{max(rel):.3f}",
                f"{min(v[3] for v in vals):.3f}–{max(v[3] for v in vals):.3f}",
                f"{statistics.mean(v[2] for v in vals):.1f}",
            ]
        )
    return table


def _scaling_row(mp: float, args) -> dict:
    """Run one scaling row in a fresh process (its own peak memory)."""
    cmd = [
        sys.executable,
        "-m",
        "models.adain.bench_highres",
        "--one",
        str(mp),
        "--tile",
        str(args.tile),
        "--style",
        str(args.style),
        "--source",
        str(args.source),
    ]
    if args.checkpoint:
        cmd += ["--checkpoint", str(args.checkpoint)]
    if args.untiled_one:
        cmd += ["--untiled-one"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def one(args) -> int:
    """Child process: stylize one upscaled photo of ``--one`` MP to a JPEG; print JSON with time and peak RSS."""
    torch.set_num_threads(args.threads or torch.get_num_threads())
    untiled = args.untiled_one
    st = _stylizer(args.checkpoint, tile=1 << 20 if untiled else args.tile)
    style = Image.open(args.style).convert("RGB")
    src = Image.open(args.source).convert("RGB")
    aspect = src.width / src.height
    h = int(round((args.one * 1e6 / aspect) ** 0.5))
    size = (int(round(h * aspect)), h)
    content = [src.resize(size, Image.Resampling.BICUBIC)]
    del src
    st.stylize(Image.new("RGB", (256, 192), (128, 128, 128)), [style], size=None)  # warm-up (and style cache)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        w, h = st.stylize_file(content.pop(), [style], Path(tmp) / "out.jpg", size=None, quality=95)
        seconds = time.perf_counter() - t0
    peak = _peak_mib()
    print(json.dumps({"w": w, "h": h, "seconds": seconds, "peak_mib": peak}))
    return 0


def _peak_mib() -> float:
    """This process's peak resident memory (VmHWM; ``ru_maxrss`` would include the parent's, kept across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m models.bench adain --highres",
        description=__doc__.split("\n\n")[0],
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "--photos",
        type=Path,
        default=None,
        help="folder of photos for the exactness table (default: the bundled examples)",
    )
    p.add_argument("--n-photos", type=int, default=6, help="photos to use from --photos")
    p.add_argument("--style", type=Path, default=None, help="style image (default: assets/examples/starry_night.jpg)")
    p.add_argument(
        "--source", type=Path, default=None, help="photo upscaled for the scaling rows (default: the first of --photos)"
    )
    p.add_argument("--megapixels", type=float, nargs="+", default=list(SCALING_MP), help="scaling rows")
    p.add_argument(
        "--untiled-upto",
        type=float,
        default=12,
        help="also time the untiled path (one tile) up to this many MP in the scaling table",
    )
    p.add_argument("--tile", type=int, default=None, help="tile side (default: TileConfig's)")
    p.add_argument("--checkpoint", type=Path, default=None, help="adain .safetensors (default: the shipped instance)")
    p.add_argument("--skip-exactness", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--one", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--untiled-one", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    from models.adain.tiled import TileConfig
    from models.common.accel import cpu_has_bf16
    from models.common.assets import assets_dir

    args = build_parser().parse_args(argv)
    args.tile = args.tile or TileConfig().tile
    args.style = args.style or assets_dir() / "examples" / "starry_night.jpg"
    if args.one is not None:
        return one(args)
    if args.source is None:
        folder = args.photos or assets_dir() / "examples"
        args.source = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)[0]
    bf16 = cpu_has_bf16()
    peak = conv_peak(bf16)
    fpp = flops_per_pixel(_stylizer(args.checkpoint).net)
    print(
        f"Full-resolution AdaIN - {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {hardware_summary()}; "
        f"{'bf16 + channels_last' if bf16 else 'fp32'}; tile {args.tile} px, margin 32 px; network "
        f"{fpp / 1e6:.2f} MFLOP per output pixel; 3x3 conv peak here {peak:.0f} GFLOP/s\n"
    )
    if not args.skip_exactness:
        table = exactness(args)
        print(
            f"Exactness at {EXACT_SIZE[0]}x{EXACT_SIZE[1]} (style {args.style.name}; PSNR against the untiled "
            "result; seam score = border gradient / other gradient on the same image)\n"
        )
        print(
            markdown_table(
                [
                    "path",
                    "photos",
                    "PSNR vs untiled, min / mean (dB)",
                    "seam score, lines ±8 px: mean (range)",
                    "seam score ÷ untiled's (range)",
                    "seam score, lines ±8, ±16 px (range)",
                    "mean s",
                ],
                table,
            )
        )
        print()
    rows = []
    base = None
    for mp in args.megapixels:
        for untiled in ([True] if mp <= args.untiled_upto else []) + ([False] if mp > 1.5 else []):
            args.untiled_one = untiled
            r = _scaling_row(mp, args)
            mpx = r["w"] * r["h"] / 1e6
            spm = r["seconds"] / mpx
            if base is None and untiled:
                base = spm
            gflops = fpp * r["w"] * r["h"] / r["seconds"] / 1e9
            rows.append(
                [
                    f"{r['w']}x{r['h']}",
                    f"{mpx:.1f}",
                    "untiled (one tile)" if untiled else "tiled, exact",
                    f"{r['seconds']:.1f}",
                    f"{spm:.2f}",
                    f"{spm / base:.2f}x" if base else "–",
                    f"{r['peak_mib'] / 1024:.2f}",
                    f"{gflops:.0f} ({100 * gflops / peak:.0f} %)",
                ]
            )
            print(f"  {rows[-1]}", file=sys.stderr)
    print(
        f"Scaling (`Stylizer.stylize_file`, JPEG out, input upscaled from {Path(args.source).name}; each row a fresh "
        "process)\n"
    )
    print(
        markdown_table(
            [
                "size",
                "MP",
                "path",
                "seconds",
                "s/MP",
                "s/MP vs 1 MP untiled",
                "peak RSS (GiB)",
                "GFLOP/s (share of conv peak)",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
