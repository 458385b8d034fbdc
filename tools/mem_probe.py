"""Find what makes the server's memory creep: the app's engine under a mixed load, in-process, per allocator setting.

``python -m tools.mem_probe [--requests 240] [--threads 4]`` runs the same mixed requests (stylize at 256/384/512 px,
synthesize at 256 px, from several threads, through ``app.services.Engine`` with the bundled checkpoints) in a fresh
process per setting and prints resident memory by thirds of the run:

- ``default``: glibc malloc as it comes;
- ``tuned``: ``app.memory.tune_allocator()`` (fixed 1 MiB mmap threshold, 2 arenas);
- ``tuned+trim``: also ``app.memory.trim()`` after each request (what the app does).

No HTTP and no Gradio: what remains is the models and the allocator, so a difference between the rows is the
allocator's. A benchmark: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = ("default", "tuned", "tuned+trim")


def _child(mode: str, requests: int, threads: int) -> dict:
    from app import memory

    if mode != "default":
        memory.tune_allocator()
    from app.config import AppConfig
    from app.preprocess import load_user_image
    from app.services import Engine, StyleRequest
    from models.landscape.render import generate_sample
    from tools.soak import rss_mb

    config = AppConfig()
    engine = Engine(config)
    examples = config.examples_dir
    content = load_user_image(examples / "chelsea.jpg", "content", config)
    style = load_user_image(examples / "starry_night.jpg", "style", config)
    _, labels = generate_sample(0, size=256)
    sizes = (256, 384, 512)
    lock = threading.Lock()
    samples: list[float] = []

    def one(i: int) -> None:
        if i % 4 == 3:
            engine.synthesize(labels, seed=i, size=256)
        else:
            engine.stylize(StyleRequest(content, [style], size=sizes[i % 3]))
        if mode == "tuned+trim":
            memory.trim()
        with lock:
            samples.append(rss_mb(__import__("os").getpid()))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(requests)))
    third = len(samples) // 3
    parts = [samples[:third], samples[third : 2 * third], samples[2 * third :]]
    return {"mode": mode, "thirds": [statistics.fmean(p) for p in parts], "peak": max(samples), "end": samples[-1]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.mem_probe", description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=240, help="requests per setting (default 240)")
    p.add_argument("--threads", type=int, default=4, help="worker threads (default 4, like the soak's clients)")
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.requests, args.threads)))
        return 0
    print(f"{args.requests} mixed requests from {args.threads} threads per setting, resident MiB:\n")
    print(
        "| allocator | first third | middle third | last third | last / middle | peak |\n|---|---:|---:|---:|---:|---:|"
    )
    for mode in args.modes:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "tools.mem_probe",
                "--child",
                mode,
                "--requests",
                str(args.requests),
                "--threads",
                str(args.threads),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        a, b, c = r["thirds"]
        print(f"| {mode} | {a:.0f} | {b:.0f} | {c:.0f} | {c / b:.3f} | {r['peak']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
