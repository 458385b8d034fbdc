"""Benchmark the web app as a user meets it: start-up time of ``python -m app`` and request latencies.

``python -m tools.app_bench [--runs 3]`` starts the real server (bundled checkpoints, offline) in a subprocess,
calls it through ``gradio_client`` and prints a markdown table. ``--soak N`` instead runs the long mixed-load soak
of ``tools.soak`` (memory over time, errors by kind, files left on disk). Timings, not assertions: the tests never
time anything.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from models.landscape.classes import ids_to_color
from models.landscape.render import generate_sample
from tools.soak import (
    MAX_REQUESTS,
    Kind,
    classify,
    files_under,
    report,
    run_soak,
    schedule,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "assets" / "examples"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    port: int, log_path: Path, extra: list[str] = (), env_extra: dict[str, str] | None = None
) -> tuple[subprocess.Popen, float]:
    """Start ``python -m app``; returns the process and the seconds until the page answered."""
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env_extra or {})}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "--port", str(port), *extra],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
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


def _soak_caller(url: str, out: Path, mask: Path, bad: dict[str, Path]) -> Callable:
    """A function that sends one request of a soak ``Kind`` through its own ``gradio_client.Client``."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False, download_files=str(out / "downloads"))
    content, style = handle_file(EXAMPLES / "chelsea.jpg"), handle_file(EXAMPLES / "starry_night.jpg")
    mask_file = handle_file(mask)

    def call(kind: Kind, i: int) -> None:
        name = kind.name
        if name.startswith("stylize"):
            client.predict(content=content, style=style, size=int(name.split()[1]), api_name="/stylize")
        elif name == "synthesize 256":
            client.predict(mask=mask_file, seed=0, size=256, api_name="/synthesize")
        elif name == "synthesize seed":
            client.predict(mask=mask_file, seed=i, size=256, api_name="/synthesize")
        elif name == "classes":
            client.predict(api_name="/classes")
        elif name == "corrupt upload":
            client.predict(content=handle_file(bad["corrupt"]), style=style, api_name="/stylize")
        elif name == "1x1 image":
            client.predict(content=content, style=handle_file(bad["tiny"]), api_name="/stylize")
        elif name == "unknown norm":
            client.predict(mask=mask_file, seed=0, norm="lava", api_name="/synthesize")
        elif name == "bad seed":
            client.predict(mask=mask_file, seed=-1, api_name="/synthesize")
        else:
            raise ValueError(f"no request for soak kind {name!r}")

    return call


def soak(args: argparse.Namespace, extra: list[str]) -> int:
    """``--soak N``: the long mixed-load run of tools.soak against a fresh server."""
    from PIL import Image
    from tqdm import tqdm

    kinds = schedule(args.soak)
    cache = args.out / "gradio_cache"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    bad = {"corrupt": args.out / "corrupt.png", "tiny": args.out / "tiny.png"}
    bad["corrupt"].write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    Image.new("RGB", (1, 1), (200, 30, 30)).save(bad["tiny"])
    mask = _mask_file(args.out)
    port = _port()
    proc, _ = start_server(
        port,
        args.out / "soak_server.log",
        extra + ["--cache-minutes", str(args.cache_minutes)],
        {"GRADIO_TEMP_DIR": str(cache)},
    )
    try:
        with tqdm(total=len(kinds), desc="soak", unit="req", disable=args.no_progress) as bar:
            outcomes, wall, samples, files_mid = run_soak(
                lambda: _soak_caller(f"http://127.0.0.1:{port}/", args.out, mask, bad),
                kinds,
                args.clients,
                proc.pid,
                cache,
                args.max_minutes * 60,
                progress=lambda d: bar.update(d - bar.n),
            )
        files_end = files_under(cache)
    finally:
        stop(proc)
    header = (
        f"`python -m tools.app_bench --soak {args.soak} --clients {args.clients} --cache-minutes "
        f"{args.cache_minutes:g}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()} "
        f"{os.cpu_count()} CPU cores, Python {platform.python_version()}, CPU only"
    )
    print(report(len(kinds), args.clients, outcomes, wall, samples, files_end, files_mid, header))
    return 0 if all(classify(o) in ("ok", "refused as expected") for o in outcomes) else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.app_bench", description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="start-ups and warm requests to average (default 3)")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_app", help="logs and downloads")
    p.add_argument("--assets", type=Path, default=None, help="checkpoint folder (default: the bundled assets/)")
    p.add_argument(
        "--soak",
        type=int,
        default=None,
        metavar="N",
        help=f"instead: a soak of N mixed good and bad requests (at most {MAX_REQUESTS}), with memory "
        "over time and files left on disk",
    )
    p.add_argument("--clients", type=int, default=4, help="soak: clients sending at once (default 4)")
    p.add_argument(
        "--cache-minutes",
        type=float,
        default=2.0,
        help="soak: the server's --cache-minutes, so deletion shows within the run (default 2)",
    )
    p.add_argument("--max-minutes", type=float, default=60.0, help="soak: stop sending after this (default 60)")
    p.add_argument("--no-progress", action="store_true", help="soak: no progress bar")
    args = p.parse_args(argv)
    extra = ["--assets", str(args.assets)] if args.assets else []
    args.out.mkdir(parents=True, exist_ok=True)
    if args.soak is not None:
        if not 1 <= args.clients <= 16:
            p.error(f"--clients must be from 1 to 16, got {args.clients}")
        try:
            schedule(args.soak)
        except ValueError as exc:
            p.error(str(exc))
        return soak(args, extra)
    from gradio_client import Client, handle_file

    rows: list[tuple[str, str]] = []
    starts = []
    for i in range(args.runs):
        proc, secs = start_server(_port(), args.out / f"start_{i}.log", extra)
        starts.append(secs)
        stop(proc)
    rows.append(
        (
            "`python -m app` start until the page answers (s)",
            f"{statistics.median(starts):.1f} (median of {len(starts)}; min {min(starts):.1f}, max {max(starts):.1f})",
        )
    )

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

        rows.append(
            ("6 concurrent requests (3 × /stylize 256 + 3 × /synthesize), all done (s)", f"{_timed(burst):.2f}")
        )
    finally:
        stop(proc)

    print(
        f"`python -m tools.app_bench --runs {args.runs}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.machine()} {os.cpu_count()} CPU cores, Python {platform.python_version()}, CPU only\n"
    )
    print("| measurement | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
