"""``python -m models.bench spade``: synthesis latency, training speed and data-generator throughput.

Prints one markdown table (paste it into docs/benchmarks.md with the date, machine and command).
Rows:
  * synthesis latency on CPU of a held-out 512 px layout at 256 and 512 px output (targets: <= 0.5 s and <= 2 s):
    the shipped generator, and the crop architecture at the train.py default width and at the CPU campaign's
    width (random weights: same cost), in the default numerics and in plain fp32;
  * GPU throughput (images/s, batch 16, bf16) of the crop architecture at 256 px when CUDA is present;
  * training iterations/s and pixels/s (one G + one D update, VGG loss included): the 64 px grid trainer of the
    earlier checkpoints next to the crop trainer (128 px windows), measured in the same run;
  * procedural landscapes/s at 64/256/512 px on CPU (and GPU when present), and crop batches/s from a render pool.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict

import torch

from models.common.accel import cpu_has_bf16
from models.common.checkpoint import CheckpointError
from models.spade.crops import PoolCrops, RenderPool, random_crops
from models.spade.data import ProceduralSeeds, procedural_batch
from models.spade.discriminator import DiscConfig
from models.spade.generator import GenConfig, build_generator, one_hot
from models.spade.infer import Synthesizer
from models.spade.train import SPADEModule, TrainConfig

__all__ = ["main"]

MASK_SEED = ProceduralSeeds.EVAL_OFFSET + 123  # a held-out layout for the latency mask


def _time(fn, repeat: int, warmup: int = 1, sync=None) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if sync:
            sync()
        t = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m models.bench spade", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=None, help="spade .safetensors (default: the shipped instance one, if any)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quick", action="store_true", help="fewer repeats and sizes (smoke test)")
    p.add_argument(
        "--highres",
        action="store_true",
        help="native 1024-2048 px synthesis in windows instead: time, "
        "peak memory, seam score; see `python -m models.bench spade --highres --help`",
    )
    return p


def _train_step(m: SPADEModule, batch: tuple, ctx) -> Callable[[], None]:
    """One iteration (G update, then D update) of ``m`` on a fixed batch, under the autocast context ``ctx``."""
    opt_g = torch.optim.Adam(m.G.parameters(), lr=1e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(m.D.parameters(), lr=4e-4, betas=(0.0, 0.9))
    real, ids, *rest = batch
    box, thumb = rest if rest else (None, None)
    seg = one_hot(ids, m.gcfg.label_nc)

    def step() -> None:
        with ctx():
            loss, _, fake = m.generator_losses(real, seg, box, thumb)
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        with ctx():
            d = m.discriminator_loss(real, seg, fake, box)
        opt_d.zero_grad()
        d.backward()
        opt_d.step()

    return step


def _target(seconds: float, limit: float) -> str:
    return f"≤ {limit:g} s" + (" ✓" if seconds <= limit else " ✗")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--highres" in argv:  # native 1024-2048 px synthesis has its own options
        from models.spade import bench_highres

        argv.remove("--highres")
        return bench_highres.main(argv)
    args = build_parser().parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    rep = 2 if args.quick else args.repeat
    rows: list[tuple[str, str, str]] = []
    mask = procedural_batch(torch.tensor([MASK_SEED]), 512)[1][0].numpy()
    sizes = (256,) if args.quick else (256, 512)
    limits = {256: 0.5, 512: 2.0}

    # -- synthesis latency on CPU ---------------------------------------------------------------
    syn = None
    try:
        syn = Synthesizer.from_checkpoint(args.checkpoint or Synthesizer.default_path())
    except CheckpointError as exc:
        print(f"(no shipped checkpoint: {exc}; skipping that row)", file=sys.stderr)
    if syn is not None:
        c = syn.config
        native = f"crop, native {c.native_range[0]}-{c.native_range[1]}" if c.arch == "crop" else f"grid {c.size}²"
        for size in sizes:
            s = _time(lambda size=size: syn.synthesize(mask, seed=1, size=size), rep)
            rows.append(
                (
                    f"synthesize {size}² from a 512² mask, shipped `{c.norm}` model ({native}, ngf {c.ngf}), CPU",
                    f"{s * 1000:.0f} ms",
                    _target(s, limits[size]),
                )
            )

    widths = [("train.py default", 32, 64), ("CPU campaign", 16, 32)]
    modes = [("fp32", {"bf16": False, "channels_last": False})]
    if cpu_has_bf16():
        modes.insert(0, ("bf16 + channels_last (the default on this CPU)", {"bf16": True, "channels_last": True}))
    for name, ngf, hidden in widths[:1] if args.quick else widths:
        crop_g = build_generator(
            GenConfig(ngf=ngf, spade_hidden=hidden, z_dim=64, native=[256, 512], size=256, spectral=False)
        ).eval()
        for label, kw in modes[:1] if args.quick else modes:  # quick: this CPU's default only
            syn_c = Synthesizer(copy.deepcopy(crop_g), "cpu", **kw)
            for size in sizes:
                s = _time(lambda size=size, syn_c=syn_c: syn_c.synthesize(mask, seed=1, size=size), rep)
                rows.append(
                    (
                        f"synthesize {size}², crop architecture at the {name} width (ngf {ngf}, hidden {hidden}), "
                        f"CPU, {label}",
                        f"{s * 1000:.0f} ms",
                        _target(s, limits[size]),
                    )
                )

    if torch.cuda.is_available():
        dev = torch.device("cuda")
        g = build_generator(GenConfig(native=[256, 512], size=256, spectral=False)).eval().to(dev)
        segb = one_hot(torch.from_numpy(mask[::2, ::2].copy())[None], g.cfg.label_nc).to(dev).repeat(16, 1, 1, 1)
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
            s = _time(lambda: g(segb), rep, warmup=3, sync=torch.cuda.synchronize)
        rows.append(
            (f"crop generator 256², batch 16, bf16, {torch.cuda.get_device_name(0)}", f"{16 / s:.0f} img/s", "")
        )

    # -- training speed: the 64 px grid trainer vs the crop trainer, same run -------------------------
    pictures, pic_ids = procedural_batch(torch.arange(4), 256)
    crop_batch = random_crops(pictures, pic_ids, 128, 64, random.Random(0))
    grid_batch = procedural_batch(torch.arange(4), 64)
    trainers = [
        (
            "64² grid trainer (the earlier checkpoints' recipe: ngf 16, hidden 32), batch 4",
            GenConfig(arch="grid", size=64, ngf=16, spade_hidden=32, z_dim=64),
            grid_batch,
            64 * 64 * 4,
        ),
        (
            "crop trainer, 128² windows of 256/512² pictures (ngf 16, hidden 32), batch 4",
            GenConfig(ngf=16, spade_hidden=32, z_dim=64, native=[256, 512], size=256),
            crop_batch,
            128 * 128 * 4,
        ),
    ]
    precisions = [("fp32", contextlib.nullcontext)]
    if cpu_has_bf16():
        precisions.append(("bf16 autocast", lambda: torch.autocast("cpu", dtype=torch.bfloat16)))
    speeds = {}
    for name, gcfg, batch, pixels in trainers[1:] if args.quick else trainers:
        for label, ctx in precisions[-1:] if args.quick else precisions:  # quick: this CPU's fastest only
            m = SPADEModule(gcfg.to_dict(), asdict(DiscConfig(ndf=32, n_layers=3)), asdict(TrainConfig(crop=128)))
            s = _time(_train_step(m, batch, ctx), max(2, rep // 2))
            speeds[(gcfg.arch, label)] = pixels / s
            rows.append(
                (
                    f"training iteration (G+D, VGG loss), {name}, CPU, {label}",
                    f"{1 / s:.2f} it/s",
                    f"{s:.2f} s/it, {pixels / s / 1e3:.0f} kpx/s",
                )
            )
    fast = precisions[-1][0]
    if ("grid", fast) in speeds and ("crop", fast) in speeds:
        rows.append(
            (
                f"crop trainer vs 64² grid trainer, pixels/s ({fast})",
                f"{speeds[('crop', fast)] / speeds[('grid', fast)]:.2f}x",
                "same run",
            )
        )

    # -- data -----------------------------------------------------------------------------------
    for size in (64,) if args.quick else (64, 256, 512):
        n = 8
        s = _time(lambda size=size: procedural_batch(torch.arange(n), size), max(2, rep // 2))
        rows.append((f"procedural landscapes {size}², batch {n}, CPU", f"{n / s:.1f} samples/s", ""))
        if torch.cuda.is_available():
            n = 64
            s = _time(
                lambda size=size: procedural_batch(torch.arange(n), size, device="cuda"),
                rep,
                sync=torch.cuda.synchronize,
            )
            rows.append((f"procedural landscapes {size}², batch {n}, GPU", f"{n / s:.0f} samples/s", ""))
    with tempfile.TemporaryDirectory() as tmp:
        pool = RenderPool(tmp, 256, 4 if args.quick else 16, progress=False)
        stream = iter(PoolCrops([pool], 4, 128))
        s = _time(lambda: next(stream), rep * 4)
        rows.append(
            (
                "crop batches (4 x 128² windows + thumbnails) from a 256² render pool, CPU",
                f"{1 / s:.0f} batches/s",
                "what the CPU trainer reads per iteration",
            )
        )

    print(f"\nthreads: {torch.get_num_threads()}, torch {torch.__version__}\n")
    print("| benchmark | result | note |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
