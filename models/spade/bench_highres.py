"""``python -m models.bench spade --highres``: native 1024-2048 px synthesis — time, peak memory, seams, detail.

One row per output size (each in a fresh process, so its peak resident memory is its own), through
``Synthesizer.synthesize`` as ``normlab synthesize --size N`` runs it: a held-out procedural layout drawn at 512 px,
enlarged smoothly and rendered in overlapping windows above the generator's largest native side. Columns: seconds,
peak RSS (target <= 2 GB), windows, seam score (mean |gradient| across window borders / on the lines 8 px beside
them; target [0.95, 1.05]) and, for comparison, the seam score of the same lines in the picture rendered *without*
margins (what windows would look like without the receptive-field margin).

The seam score of one picture depends on what lies on those lines (a horizon 8 px from a border moves it by 0.1-0.3
either way), so it is the mean over ``--layouts`` held-out layouts (default 4), with its range; seconds are the mean
per picture, peak memory that of the first picture's synthesis (the next pictures in the same process would add
the heap's fragmentation to it: 4 layouts x 2 renders at 2048 px reach 1.86 GiB against 1.56 for one).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import torch

from models.common.cli import HelpFormatter

__all__ = ["main"]


def _peak_mib() -> float:
    """This process's peak resident memory (VmHWM), MiB."""
    from pathlib import Path

    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(size: int, checkpoint: str | None, seed: int, threads: int | None, layouts: int = 1) -> int:
    """Render ``layouts`` pictures; print a JSON line with seconds, peak memory and the seam scores."""
    if threads:
        torch.set_num_threads(threads)
    from models.spade.data import ProceduralSeeds
    from models.spade.infer import Synthesizer
    from models.landscape.render import generate_sample
    from models.spade.windows import seam_score, window_grid

    syn = (
        Synthesizer.from_checkpoint(checkpoint)
        if checkpoint
        else Synthesizer.from_checkpoint(Synthesizer.default_path())
    )
    _, ids = generate_sample(ProceduralSeeds.EVAL_OFFSET + 10_000 + seed, 512)
    syn.synthesize(ids[:128, :128], seed=seed)  # warm-up
    (H, W), windowed = syn.render_plan((size, size))
    cuts_y = [
        s0 + k0 for s0, _, k0, _ in window_grid(H, min(H, (syn.window - 2 * syn.margin) // 16 * 16), syn.margin, 16)
    ][1:]
    cuts_x = [
        s0 + k0 for s0, _, k0, _ in window_grid(W, min(W, (syn.window - 2 * syn.margin) // 16 * 16), syn.margin, 16)
    ][1:]

    def score(img) -> float:
        return seam_score(torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1), cuts_y, cuts_x)

    windows, seconds, seams, bare = [], [], [], []
    window, margin = syn.window, syn.margin
    for k in range(layouts):
        _, ids = generate_sample(ProceduralSeeds.EVAL_OFFSET + 10_000 + seed + k, 512)
        syn.window, syn.margin = window, margin
        t0 = time.perf_counter()
        img = syn.synthesize(ids, seed=seed + k, size=size, progress=lambda d, t: windows.append(t))
        seconds.append(time.perf_counter() - t0)
        if k == 0:  # one synthesis's peak: later pictures in this process add the heap's fragmentation to it
            peak = _peak_mib()
        if windowed:  # and the same cores rendered without margins: what the margin prevents
            seams.append(score(img))
            syn.window, syn.margin = window - 2 * margin, 0
            bare.append(score(syn.synthesize(ids, seed=seed + k, size=size)))
    nan = float("nan")
    print(
        json.dumps(
            {
                "size": size,
                "seconds": float(np.mean(seconds)),
                "peak_mib": peak,
                "windows": windows[-1] if windows else 1,
                "layouts": layouts,
                "seams": seams,
                "seam": float(np.mean(seams)) if seams else nan,
                "seam_no_margin": float(np.mean(bare)) if bare else nan,
                "windowed": windowed,
            }
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m models.bench spade --highres",
        description=__doc__.split("\n\n")[0],
        formatter_class=HelpFormatter,
    )
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048], help="output long sides")
    p.add_argument("--checkpoint", default=None, help="spade .safetensors (default: the shipped default)")
    p.add_argument("--seed", type=int, default=0, help="first held-out layout and style seed")
    p.add_argument("--layouts", type=int, default=4, help="held-out layouts the seam score is averaged over")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.layouts < 1:
        print("error: --layouts must be at least 1", file=sys.stderr)
        return 2
    if args.child is not None:
        return _child(args.child, args.checkpoint, args.seed, args.threads, args.layouts)
    rows = []
    for size in args.sizes:
        cmd = [sys.executable, "-m", "models.spade.bench_highres", "--child", str(size), "--seed", str(args.seed)]
        cmd += ["--layouts", str(args.layouts)]
        cmd += ["--checkpoint", args.checkpoint] if args.checkpoint else []
        cmd += ["--threads", str(args.threads)] if args.threads else []
        print(f"rendering {size} px in a fresh process...", file=sys.stderr)
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            print(out.stderr, file=sys.stderr)
            return out.returncode
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        f"| output | path | windows | seconds per picture | peak RSS | seam score, mean of {args.layouts} layouts "
        "[range] (no margins) |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        path = "windows" if r["windowed"] else "one pass (native size)"
        seam = (
            "—"
            if not r["windowed"]
            else f"{r['seam']:.3f} [{min(r['seams']):.2f}-{max(r['seams']):.2f}] ({r['seam_no_margin']:.3f})"
        )
        print(
            f"| {r['size']} px | {path} | {r['windows']} | {r['seconds']:.1f} | {r['peak_mib'] / 1024:.2f} GiB "
            f"| {seam} |"
        )
    print(
        f"\n(targets of issue 37: peak <= 2 GB, seam score in [0.95, 1.05]; torch threads "
        f"{args.threads or torch.get_num_threads()})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
