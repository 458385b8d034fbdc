"""A long mixed-load soak of the real server: throughput, latency per endpoint, errors, memory over time, disk.

``python -m tools.app_bench --soak N [--clients 4]`` starts ``python -m app`` on a free loopback port with its own
Gradio cache folder, sends N requests (good ones and deliberately bad ones, in a fixed pseudo-random order) from
several clients, samples the server's resident memory while it runs, and prints a markdown report. Only
127.0.0.1 is contacted; the request count and the wall time are both bounded.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MAX_REQUESTS = 20_000  # the soak is a benchmark, not a load generator: keep it bounded
RSS_EVERY_S = 1.0


@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of request in the mix: its endpoint, its share of the mix and whether the server must refuse it."""

    name: str
    endpoint: str
    weight: float
    bad: bool = False


# The mix: mostly real work at the sizes people use, plus the bad inputs a public server meets.
MIX = (
    Kind("stylize 256", "/stylize", 3),
    Kind("stylize 384", "/stylize", 2),
    Kind("stylize 512", "/stylize", 1),
    Kind("synthesize 256", "/synthesize", 3),
    Kind("synthesize seed", "/synthesize", 1),
    Kind("classes", "/classes", 1),
    Kind("corrupt upload", "/stylize", 0.5, bad=True),
    Kind("1x1 image", "/stylize", 0.5, bad=True),
    Kind("unknown norm", "/synthesize", 0.5, bad=True),
    Kind("bad seed", "/synthesize", 0.5, bad=True),
)


def schedule(n: int, seed: int = 0) -> list[Kind]:
    """The first ``n`` requests of the mix, in a reproducible order (``n <= MAX_REQUESTS``)."""
    if not 1 <= n <= MAX_REQUESTS:
        raise ValueError(f"--soak must be from 1 to {MAX_REQUESTS}, got {n}")
    rng = random.Random(seed)
    return rng.choices(MIX, weights=[k.weight for k in MIX], k=n)


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class MemorySampler(threading.Thread):
    """Samples a process's RSS every ``RSS_EVERY_S`` with the number of requests finished so far."""

    def __init__(self, pid: int, done: Callable[[], int]) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.pid, self.done = pid, done
        self.samples: list[tuple[float, int, float]] = []  # (seconds, requests done, MiB)
        self._halt = threading.Event()
        self._t0 = time.perf_counter()

    def run(self) -> None:
        while not self._halt.wait(RSS_EVERY_S):
            try:
                self.samples.append((time.perf_counter() - self._t0, self.done(), rss_mb(self.pid)))
            except (OSError, RuntimeError):
                return  # the server is gone; the report says so through the errors

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def thirds(samples: list[tuple[float, int, float]], n: int) -> tuple[float, float, float]:
    """Mean RSS over the first, middle and last third of the run, by requests done."""
    parts: list[list[float]] = [[], [], []]
    for _, done, mb in samples:
        parts[min(2, done * 3 // max(1, n))].append(mb)
    return tuple(statistics.fmean(p) if p else float("nan") for p in parts)  # type: ignore[return-value]


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else float("nan")


@dataclasses.dataclass
class Outcome:
    kind: Kind
    seconds: float
    error: str | None  # None: answered with a result; else the exception's class and first words


def classify(outcome: Outcome) -> str:
    """``ok``, ``refused as expected``, or what went wrong (a good request failed, a bad one was served)."""
    if outcome.kind.bad:
        if outcome.error is None:
            return "bad input served (should be refused)"
        return "refused as expected" if outcome.error.startswith("AppError") else f"bad input: {outcome.error}"
    return "ok" if outcome.error is None else f"failed: {outcome.error}"


def files_under(folder: Path) -> tuple[int, float]:
    """Number of files and MiB under ``folder``."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files) / 2**20


def report(
    n: int,
    clients: int,
    outcomes: list[Outcome],
    wall: float,
    samples: list[tuple[float, int, float]],
    files: tuple[int, float],
    files_early: tuple[int, float] | None,
    header: str,
) -> str:
    """The soak's markdown report."""
    answered = (
        f"{len(outcomes)} of {n} requests answered in {wall:.0f} s from {clients} clients: "
        f"**{len(outcomes) / wall:.2f} requests/s**."
    )
    lines = [header, "", answered, "", "| endpoint | requests | p50 (s) | p95 (s) |", "|---|---:|---:|---:|"]
    by_endpoint: dict[str, list[float]] = defaultdict(list)
    for o in outcomes:
        by_endpoint[o.kind.endpoint + (" (bad input)" if o.kind.bad else "")].append(o.seconds)
    for name in sorted(by_endpoint):
        t = by_endpoint[name]
        lines.append(f"| `{name}` | {len(t)} | {percentile(t, 0.5):.2f} | {percentile(t, 0.95):.2f} |")
    lines += ["", "| outcome | requests |", "|---|---:|"]
    for verdict, count in Counter(classify(o) for o in outcomes).most_common():
        lines.append(f"| {verdict} | {count} |")
    first, middle, last = thirds(samples, n)
    peak = max((s[2] for s in samples), default=float("nan"))
    lines += [
        "",
        "Server resident memory (MiB), mean over each third of the requests, and the peak:",
        "",
        "| first third | middle third | last third | last / middle | peak |",
        "|---:|---:|---:|---:|---:|",
        f"| {first:.0f} | {middle:.0f} | {last:.0f} | {last / middle:.3f} | {peak:.0f} |",
        "",
    ]
    marks = (
        [samples[min(len(samples) - 1, i * len(samples) // 10)] for i in range(10)] + samples[-1:] if samples else []
    )
    lines.append("Memory over time: " + ", ".join(f"{d} req → {mb:.0f}" for _, d, mb in marks) + " (MiB).")
    if files_early is not None:
        lines.append(
            f"Files in the server's cache folder: {files_early[0]} ({files_early[1]:.1f} MiB) at the middle "
            f"of the run, {files[0]} ({files[1]:.1f} MiB) at the end."
        )
    else:
        lines.append(f"Files in the server's cache folder at the end: {files[0]} ({files[1]:.1f} MiB).")
    return "\n".join(lines)


def run_soak(
    client_factory: Callable[[], Callable[[Kind, int], None]],
    kinds: list[Kind],
    clients: int,
    pid: int,
    cache_dir: Path,
    max_seconds: float,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Outcome], float, list[tuple[float, int, float]], tuple[int, float] | None]:
    """Send ``kinds`` from ``clients`` threads, each with its own client; stop early after ``max_seconds``."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    sampler = MemorySampler(pid, lambda: len(outcomes))
    files_mid: list[tuple[int, float]] = []
    t0 = time.perf_counter()
    local = threading.local()

    def one(i: int) -> None:
        if time.perf_counter() - t0 > max_seconds:
            return
        if not hasattr(local, "call"):
            local.call = client_factory()
        kind = kinds[i]
        t = time.perf_counter()
        try:
            local.call(kind, i)
            error = None
        except Exception as exc:  # noqa: BLE001 - every failure is counted and classified, none ends the soak
            error = f"{type(exc).__name__}: {str(exc)[:60]}"
        with lock:
            outcomes.append(Outcome(kind, time.perf_counter() - t, error))
            if len(outcomes) == len(kinds) // 2:
                files_mid.append(files_under(cache_dir))
            if progress:
                progress(len(outcomes))

    sampler.start()
    try:
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(one, range(len(kinds))))
    finally:
        sampler.stop()
    return outcomes, time.perf_counter() - t0, sampler.samples, (files_mid[0] if files_mid else None)
