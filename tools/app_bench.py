"""Benchmark the web app as a user meets it: start-up time of ``python -m app`` and request latencies.

``python -m tools.app_bench [--runs 3]`` starts the real server (bundled checkpoints, offline) in a subprocess,
calls it through ``gradio_client`` and prints a markdown table. Timings, not assertions: the tests never
time anything.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from models.landscape.classes import ids_to_color
from models.landscape.render import generate_sample

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "assets" / "examples"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log_path: Path, extra: list[str] = ()) -> tuple[subprocess.Popen, float]:
    """Start ``python -m app``; returns the process and the seconds until the page answered."""
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "app", "--port", str(port), *extra], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    t0 = time.perf_counter()
    while proc.poll() is None and time.perf_counter() - t0 < 180:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
            return proc, time.perf_counter() - t0
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the app did not start; see {log_path}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _mask_file(folder: Path) -> Path:
    from PIL import Image

    _, ids = generate_sample(0, size=256)
    path = folder / "bench_mask.png"
    Image.fromarray(ids_to_color(ids)).save(path)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.app_bench", description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="start-ups and warm requests to average (default 3)")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_app", help="logs and downloads")
    p.add_argument("--assets", type=Path, default=None, help="checkpoint folder (default: the bundled assets/)")
    args = p.parse_args(argv)
    extra = ["--assets", str(args.assets)] if args.assets else []
    args.out.mkdir(parents=True, exist_ok=True)
    from gradio_client import Client, handle_file

    rows: list[tuple[str, str]] = []
    starts = []
    for i in range(args.runs):
        proc, secs = start_server(_port(), args.out / f"start_{i}.log", extra)
        starts.append(secs)
        stop(proc)
    rows.append(("`python -m app` start until the page answers (s)",
                 f"{statistics.median(starts):.1f} (median of {len(starts)}; min {min(starts):.1f}, max {max(starts):.1f})"))

    port = _port()
    proc, _ = start_server(port, args.out / "serve.log", extra)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=str(args.out / "downloads"))
        content, style = handle_file(EXAMPLES / "chelsea.jpg"), handle_file(EXAMPLES / "starry_night.jpg")
        mask = handle_file(_mask_file(args.out))

        def stylize(size: int) -> None:
            client.predict(content=content, style=style, size=size, api_name="/stylize")

        def synthesize(size: int = 256, seed: int = 0) -> None:
            client.predict(mask=mask, seed=seed, size=size, api_name="/synthesize")

        rows.append(("first /stylize, 512 px (loads the checkpoint) (s)", f"{_timed(lambda: stylize(512)):.2f}"))
        for size in (256, 512, 1024):
            t = statistics.median(_timed(lambda: stylize(size)) for _ in range(args.runs))
            rows.append((f"/stylize {size} px, warm, median of {args.runs} (s)", f"{t:.2f}"))
        rows.append(("first /synthesize, 256 px (loads the checkpoint) (s)", f"{_timed(synthesize):.2f}"))
        t = statistics.median(_timed(lambda: synthesize(256, 1)) for _ in range(args.runs))
        rows.append((f"/synthesize 256 px, warm, median of {args.runs} (s)", f"{t:.2f}"))

        def burst() -> None:
            with ThreadPoolExecutor(6) as pool:
                list(pool.map(lambda i: stylize(256) if i % 2 else synthesize(256, i), range(6)))

        rows.append(("6 concurrent requests (3 × /stylize 256 + 3 × /synthesize), all done (s)",
                     f"{_timed(burst):.2f}"))
    finally:
        stop(proc)

    print(f"`python -m tools.app_bench --runs {args.runs}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{platform.machine()} {os.cpu_count()} CPU cores, Python {platform.python_version()}, CPU only\n")
    print("| measurement | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
