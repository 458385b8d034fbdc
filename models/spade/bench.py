"""``python -m models.bench spade``: synthesis latency, training speed and data-generator throughput.

Prints one markdown table (paste it into docs/benchmarks.md with the date, machine and command).
Rows:
  * synthesis latency of a 256x256 mask on CPU (target <= 1 s): the shipped generator (runs at its
    training size, then upscales) and the default 256x256 architecture (random weights: same cost);
  * GPU throughput (images/s, batch 16, bf16) of the 256x256 architecture when CUDA is present;
  * training iterations/s (one G + one D update, VGG loss included) at the shipped run's settings;
  * procedural landscape generator samples/s at 64/128/256 on CPU (and GPU when present).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import sys
import time
from dataclasses import asdict

import torch

from models.common.accel import cpu_has_bf16
from models.common.checkpoint import CheckpointError
from models.spade.data import ProceduralSeeds, procedural_batch
from models.spade.discriminator import DiscConfig
from models.spade.generator import GenConfig, SPADEGenerator, one_hot
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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    rep = 2 if args.quick else args.repeat
    rows: list[tuple[str, str, str]] = []
    mask = procedural_batch(torch.tensor([MASK_SEED]), 256)[1][0].numpy()

    # -- synthesis latency on CPU ---------------------------------------------------------------
    syn = None
    try:
        syn = Synthesizer.from_checkpoint(args.checkpoint or Synthesizer.default_path("instance"))
    except CheckpointError as exc:
        print(f"(no shipped checkpoint: {exc}; skipping that row)", file=sys.stderr)
    if syn is not None:
        s = _time(lambda: syn.synthesize(mask, seed=1), rep)
        c = syn.config
        rows.append((f"synthesize 256x256 mask, shipped `{c.norm}` model (native {c.size}², ngf {c.ngf}), CPU",
                     f"{s * 1000:.0f} ms", "≤ 1 s" + (" ✓" if s <= 1 else " ✗")))

    big = SPADEGenerator(GenConfig(arch="grid", size=256, ngf=32, spade_hidden=64, spectral=False)).eval()
    seg = one_hot(torch.from_numpy(mask)[None], big.cfg.label_nc)
    # The same 256²-native generator through the Synthesizer (pre/post-processing included), per precision.
    modes = [("fp32", dict(bf16=False, channels_last=False))]
    if cpu_has_bf16():
        modes.append(("bf16 + channels_last (the default on this CPU)", dict(bf16=True, channels_last=True)))
    for label, kw in modes:
        syn_big = Synthesizer(copy.deepcopy(big), "cpu", **kw)
        s = _time(lambda: syn_big.synthesize(mask, seed=1), rep)
        rows.append((f"synthesize 256² with a 256²-native generator (default train.py arch: ngf 32, hidden 64), "
                     f"CPU, {label}", f"{s * 1000:.0f} ms", "≤ 1 s" + (" ✓" if s <= 1 else " ✗")))

    if torch.cuda.is_available():
        dev = torch.device("cuda")
        g = big.to(dev)
        segb = seg.to(dev).repeat(16, 1, 1, 1)
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
            s = _time(lambda: g(segb), rep, warmup=3, sync=torch.cuda.synchronize)
        rows.append((f"generator 256², batch 16, bf16, {torch.cuda.get_device_name(0)}", f"{16 / s:.0f} img/s", ""))

    # -- training speed -------------------------------------------------------------------------

    for size, ngf, hidden, bs in ([(64, 16, 32, 4)] if args.quick else [(64, 16, 32, 4), (128, 32, 64, 4)]):
        m = SPADEModule(GenConfig(arch="grid", size=size, ngf=ngf, spade_hidden=hidden, z_dim=64).to_dict(),
                        asdict(DiscConfig(ndf=32, n_layers=3)), asdict(TrainConfig()))
        opt_g = torch.optim.Adam(m.G.parameters(), lr=1e-4, betas=(0.0, 0.9))
        opt_d = torch.optim.Adam(m.D.parameters(), lr=4e-4, betas=(0.0, 0.9))
        real, ids = procedural_batch(torch.arange(bs), size)
        segt = one_hot(ids, m.gcfg.label_nc)

        def step() -> None:
            loss, _, fake = m.generator_losses(real, segt)
            opt_g.zero_grad()
            loss.backward()
            opt_g.step()
            d = m.discriminator_loss(real, segt, fake)
            opt_d.zero_grad()
            d.backward()
            opt_d.step()

        precisions = [("fp32", contextlib.nullcontext)]
        if cpu_has_bf16():
            precisions.append(("bf16 autocast", lambda: torch.autocast("cpu", dtype=torch.bfloat16)))
        for label, ctx in precisions:
            def timed_step(ctx=ctx) -> None:
                with ctx():
                    step()

            s = _time(timed_step, max(2, rep // 2))
            rows.append((f"training iteration (G+D, VGG loss) at {size}², ngf {ngf}, batch {bs}, "
                         f"CPU, {label}", f"{1 / s:.2f} it/s", f"{s:.2f} s/it"))

    # -- data generator -------------------------------------------------------------------------
    for size in ((64,) if args.quick else (64, 128, 256)):
        n = 16
        s = _time(lambda: procedural_batch(torch.arange(n), size), max(2, rep // 2))
        rows.append((f"procedural landscapes {size}², batch {n}, CPU", f"{n / s:.1f} samples/s", ""))
        if torch.cuda.is_available():
            n = 64
            s = _time(lambda: procedural_batch(torch.arange(n), size, device="cuda"), rep, sync=torch.cuda.synchronize)
            rows.append((f"procedural landscapes {size}², batch {n}, GPU", f"{n / s:.0f} samples/s", ""))

    print(f"\nthreads: {torch.get_num_threads()}, torch {torch.__version__}\n")
    print("| benchmark | result | note |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
