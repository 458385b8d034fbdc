"""``python -m models.bench ddp``: training throughput of each trainer with 1 process and with N processes (DDP).

Each row runs ``train.py`` twice, for ``--short`` and ``--long`` steps, and takes the difference of the two wall
times: start-up (imports, VGG weights, render pools, process-group set-up, export) cancels, what is left is the
steady cost of ``long - short`` steps. One process gets every thread (``--threads`` = cores); N processes get
cores / N threads each, so both use the whole CPU. ``--batch-size`` is per process: N processes train on N times
the samples per step. The trainers run their real recipe at a small size (AdaIN 128 px, batch 4; SPADE crop
trainer, 128 px windows of 128 px pictures, batch 2, VGG loss on), fp32, ``syncbatch`` for SPADE (the norm a
multi-process SPADE run uses; with one process it is plain batch norm).

    python -m models.bench ddp                # both trainers, 1 vs 2 processes, ~6 min on 2 cores
    python -m models.bench ddp --short 2 --long 4 --trainers adain   # a quick look
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
COMMON = ["--accelerator", "cpu", "--num-workers", "0", "--no-progress", "--quiet", "--sample-every", "0"]
COMMON += ["--ckpt-every", "0", "--export", "none", "--precision", "32-true"]


def trainer_argv(trainer: str, data: Path) -> tuple[list[str], int]:
    """``(train.py arguments, per-process batch)`` of one trainer's benchmark recipe."""
    if trainer == "adain":
        argv = ["adain", "--norm", "instance", "--size", "128", "--batch-size", "4"]
        return [*argv, "--content-dir", str(data / "content"), "--style-dir", str(data / "style")], 4
    if trainer == "spade":
        argv = ["spade", "--norm", "syncbatch", "--crop", "128", "--full-sizes", "128", "--batch-size", "2"]
        return [*argv, "--pool-size", "16", "--pool-dir", str(data / "pool")], 2
    raise ValueError(f"unknown trainer {trainer!r}; choose adain or spade")


def _images(data: Path) -> None:
    rng = np.random.default_rng(0)
    from PIL import Image

    for role in ("content", "style"):
        (data / role).mkdir(parents=True, exist_ok=True)
        for i in range(16):
            img = rng.integers(0, 256, (160, 200, 3), dtype=np.uint8)
            Image.fromarray(img).save(data / role / f"{i}.png")


def _run(argv: list[str], processes: int, threads: int, steps: int, cwd: Path) -> float:
    """Wall seconds of one ``train.py`` run."""
    cmd = [sys.executable, str(ROOT / "train.py"), *argv, *COMMON, "--devices", str(processes)]
    cmd += ["--threads", str(threads), "--max-steps", str(steps)]
    if processes > 1:
        cmd += ["--strategy", "ddp"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "NORMLAB_MODELS": str(cwd / "mine")}
    env.pop("NORMLAB_RUN_DIR", None)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"train.py failed ({' '.join(cmd[1:])}):\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    from models.common.cards import markdown_table
    from models.common.cli import ArgumentParser, user_error

    p = ArgumentParser(prog="python -m models.bench ddp", description=__doc__.split("\n\n")[0])
    p.add_argument("--trainers", nargs="+", default=["adain", "spade"], choices=["adain", "spade"])
    p.add_argument("--processes", type=int, default=2, help="the multi-process case (default 2)")
    p.add_argument("--short", type=int, default=3, help="steps of the short run (default 3)")
    p.add_argument("--long", type=int, default=13, help="steps of the long run (default 13)")
    args = p.parse_args(argv)
    cores = os.cpu_count() or 1
    if args.processes < 2 or not 0 < args.short < args.long:
        return user_error("--processes must be at least 2 and 0 < --short < --long")
    rows = []
    with tempfile.TemporaryDirectory(prefix="normlab-bench-ddp-") as tmp:
        cwd = Path(tmp)
        _images(cwd / "data")
        for trainer in args.trainers:
            base, batch = trainer_argv(trainer, cwd / "data")
            _run(base, 1, cores, 1, cwd)  # builds the render pool once, outside the timings
            rates = {}
            for processes in (1, args.processes):
                threads = max(1, cores // processes)
                t_short = _run(base, processes, threads, args.short, cwd)
                t_long = _run(base, processes, threads, args.long, cwd)
                per_step = (t_long - t_short) / (args.long - args.short)
                rates[processes] = 1 / per_step
                samples = processes * batch / per_step
                speedup = "1.00x" if processes == 1 else f"{rates[processes] * processes / rates[1]:.2f}x"
                rows.append(
                    [
                        trainer,
                        f"{processes} x {threads} thread{'s' if threads > 1 else ''}",
                        f"{processes} x {batch}",
                        f"{1 / per_step:.2f}",
                        f"{samples:.1f}",
                        speedup,
                    ]
                )
                print(f"{trainer}: {processes} process(es): {per_step:.3f} s/step", file=sys.stderr)
    header = ["trainer", "processes x threads", "batch (processes x per process)", "steps/s", "samples/s"]
    print(markdown_table([*header, "samples/s vs 1 process"], rows))
    print(f"\n{cores} cores; steady state from {args.long} - {args.short} steps (start-up cancels).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
