"""The DDP cell of the normalizer study: the digits task trained by several processes (gloo), per-process batch b.

Each cell starts ``processes`` workers that train :class:`models.study.classify.SmallResNet` under
``DistributedDataParallel`` (``broadcast_buffers=True``, Lightning's default). Every step draws one global batch of
``processes x b`` indices from a generator seeded like the single-process study, and rank r trains on slice r: so a
2 x b cell sees exactly the data of a 1 x 2b cell, at the same learning rate (scaled by the global batch) and
number of steps. What differs is only where the statistics come from: ``batch``/``online`` normalize over the
rank's own b samples (and DDP copies rank 0's buffers over the others'), ``syncbatch``/``synconline`` over all
``processes x b``.

Cost is measured where it is spent: the gradient all-reduce through a DDP communication hook that times it, the
normalizers' own collectives by timing ``torch.distributed``'s calls made during the forward and backward passes.
Both are waited for (the hook blocks until its all-reduce is done), so they are counted in ms/step rather than
hidden behind computation; on 2 cores there is little idle compute to hide them behind anyway.

>>> cell = DDPCell("syncbatch", batch_size=2, seed=0, samples=8)
>>> cell.global_batch, cell.steps
(4, 2)
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["DDP_NORMS", "DDPCell", "DDPResult", "ddp_grid", "run_ddp_cell", "summarize_ddp"]

# Registry name + keywords. Online Norm uses layer scaling (its best variant in the single-process grid).
DDP_NORMS: dict[str, tuple[str, dict]] = {
    "online": ("online", {"ecm": "ls"}),
    "synconline": ("synconline", {"ecm": "ls"}),
    "batch": ("batch", {}),
    "syncbatch": ("syncbatch", {}),
    "group": ("group", {}),
}
DDP_BATCH_SIZES = (1, 2, 8)
# The single-process references: 1 x 2b with the unsynced norms (what the synced ones should match).
REFERENCE_NORMS = ("online", "batch")
_DDP_MODULES = ("torch.nn.parallel.distributed", "torch.distributed.algorithms.ddp_comm_hooks.default_hooks")
_COLLECTIVES = ("all_gather", "all_reduce", "all_to_all", "scatter", "gather", "reduce_scatter", "broadcast")


@dataclass(frozen=True)
class DDPCell:
    """One cell: ``processes`` workers, each with ``batch_size`` samples per step."""

    norm: str  # a key of DDP_NORMS
    batch_size: int  # per process
    seed: int
    samples: int = 3_000  # training samples seen in all (every process together)
    processes: int = 2
    lr: float = 0.05  # like the single-process study: scaled by sqrt(global batch / 32)
    width: int = 16

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.processes

    @property
    def steps(self) -> int:
        return max(1, self.samples // self.global_batch)

    @classmethod
    def from_row(cls, r: dict) -> DDPCell:
        """The cell of a CSV row (strings)."""
        return cls(
            r["norm"],
            int(r["batch_size"]),
            int(r["seed"]),
            int(r["samples"]),
            int(r["processes"]),
            width=int(r["width"]),
        )

    def key(self) -> str:
        return f"{self.norm}|p{self.processes}|b{self.batch_size}|s{self.seed}|n{self.samples}|w{self.width}"


@dataclass
class DDPResult:
    """One CSV row."""

    norm: str
    processes: int
    batch_size: int  # per process
    global_batch: int
    seed: int
    samples: int
    width: int
    steps: int
    accuracy: float  # test set, eval mode, rank 0's replica
    train_loss: float  # the global batch's loss, mean of the last 10 % of steps
    ms_per_step: float
    grad_allreduce_ms: float  # per step: DDP's gradient all-reduce (timed in its communication hook)
    norm_sync_ms: float  # per step: the normalizers' own collectives (syncbatch / synconline)
    norm_sync_calls: float  # collectives per step made by the normalizers
    diverged: bool


def ddp_grid(
    seeds: int = 3,
    samples: int = 3_000,
    norms_: tuple[str, ...] | None = None,
    batch_sizes: tuple[int, ...] = DDP_BATCH_SIZES,
    processes: int = 2,
    references: bool = True,
) -> list[DDPCell]:
    """The declared cells: every norm x per-process batch x seed on ``processes`` workers, then (``references``) the
    single-process 1 x (processes x b) cells of the unsynced norms."""
    names = norms_ or tuple(DDP_NORMS)
    cells = [DDPCell(n, b, s, samples, processes) for s in range(seeds) for n in names for b in batch_sizes]
    if references:
        cells += [
            DDPCell(n, b * processes, s, samples, 1)
            for s in range(seeds)
            for n in REFERENCE_NORMS
            if n in names
            for b in batch_sizes
        ]
    return cells


def run_ddp_cell(cell: DDPCell, timeout: float = 1800.0) -> DDPResult:
    """Train one cell with ``cell.processes`` gloo workers (one thread each) and return rank 0's result."""
    if cell.norm not in DDP_NORMS:
        raise ValueError(f"unknown DDP study norm {cell.norm!r}; choose from {', '.join(DDP_NORMS)}")
    if cell.processes < 1 or cell.batch_size < 1:
        raise ValueError("processes and batch_size must be positive")
    import multiprocessing

    import torch.multiprocessing as mp

    # workers fork from one server that imported torch and this module once (spawn re-imports torch in every
    # process: a 6-step 2-process cell took 3.5 s, now 2.4 s), while the fork stays clear of this process's threads
    multiprocessing.get_context("forkserver").set_forkserver_preload(
        [__name__, "torch", "torch.distributed", "torch.nn.parallel", "norms", "models.study.classify"]
    )
    with tempfile.TemporaryDirectory(prefix="normlab-ddp-") as tmp:
        out = Path(tmp) / "result.json"
        ctx = mp.start_processes(
            _worker, args=(cell, _free_port(), str(out)), nprocs=cell.processes, join=False, start_method="forkserver"
        )
        deadline = time.monotonic() + timeout
        while not ctx.join(timeout=1.0):  # raises with the failing rank's traceback
            if time.monotonic() > deadline:
                for p in ctx.processes:
                    p.kill()
                raise TimeoutError(f"DDP cell {cell.key()} did not finish in {timeout:.0f} s")
        return DDPResult(**json.loads(out.read_text()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, cell: DDPCell, port: int, out: str) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=cell.processes)
    try:
        result = _train(rank, cell)
        if rank == 0:
            Path(out).write_text(json.dumps(asdict(result)))
    finally:
        dist.destroy_process_group()


class _Clock:
    """Seconds and calls accumulated by the timed collectives."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0


def _timed_allreduce(clock: _Clock, bucket):
    """DDP communication hook: the default all-reduce (sum, then / world), waited for and timed."""
    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

    t0 = time.perf_counter()
    fut = allreduce_hook(None, bucket)
    fut.wait()
    clock.seconds += time.perf_counter() - t0
    clock.calls += 1
    return fut


@contextlib.contextmanager
def _timed_collectives(clock: _Clock) -> Iterator[None]:
    """Time every ``torch.distributed.<collective>`` called from Python (the norms' ones; DDP's reducer calls C++)."""
    import torch.distributed as dist

    originals = {name: getattr(dist, name) for name in _COLLECTIVES}

    def timed(fn):
        def call(*args, **kwargs):
            if sys._getframe(1).f_globals.get("__name__") in _DDP_MODULES:
                return fn(*args, **kwargs)  # DDP's own (the gradient hook is timed on its own), not a normalizer's
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                clock.seconds += time.perf_counter() - t0
                clock.calls += 1

        return call

    for name, fn in originals.items():
        setattr(dist, name, timed(fn))
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(dist, name, fn)


def _train(rank: int, cell: DDPCell) -> DDPResult:
    import torch
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel

    import norms
    from models.study.classify import SmallResNet, digits

    name, kw = DDP_NORMS[cell.norm]
    torch.manual_seed(cell.seed)  # the same initial weights on every rank (DDP broadcasts rank 0's anyway)
    x_train, y_train, x_test, y_test = digits()
    net = SmallResNet(name, cell.width, **kw)
    model = DistributedDataParallel(net)  # broadcast_buffers=True: Lightning's default
    grad_clock, sync_clock = _Clock(), _Clock()
    model.register_comm_hook(grad_clock, _timed_allreduce)
    lr = cell.lr * (cell.global_batch / 32) ** 0.5
    opt = torch.optim.SGD(norms.proxy_param_groups(net, 5e-4, other_weight_decay=5e-4), lr=lr, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=cell.steps, pct_start=0.15)
    gen = torch.Generator().manual_seed(cell.seed)
    lo = rank * cell.batch_size
    losses: list[float] = []
    net.train()
    t0 = time.perf_counter()
    with _timed_collectives(sync_clock):
        for _ in range(cell.steps):
            idx = torch.randint(len(y_train), (cell.global_batch,), generator=gen)[lo : lo + cell.batch_size]
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()  # a diverged run keeps stepping: every rank must make the same collectives
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
    elapsed = time.perf_counter() - t0
    # The loss of the global batch: every rank's mean over its slice, averaged (slices are equal).
    tail = torch.tensor(losses[-max(1, cell.steps // 10) :], dtype=torch.float64)
    torch.distributed.all_reduce(tail)
    tail /= cell.processes
    diverged = not bool(torch.isfinite(tail).all()) or not all(np.isfinite(losses))
    net.eval()  # running statistics: no collective, so each rank may evaluate on its own
    with torch.no_grad():
        acc = 0.0 if diverged else float((net(x_test).argmax(1) == y_test).float().mean())
    steps = cell.steps
    return DDPResult(
        cell.norm,
        cell.processes,
        cell.batch_size,
        cell.global_batch,
        cell.seed,
        cell.samples,
        cell.width,
        steps,
        acc,
        float(tail.mean()),
        1000 * elapsed / steps,
        1000 * grad_clock.seconds / steps,
        1000 * sync_clock.seconds / steps,
        sync_clock.calls / steps,
        diverged,
    )


def summarize_ddp(rows: list[dict]) -> str:
    """Markdown table: one line per (norm, processes), accuracy mean ± std over seeds per per-process batch size,
    and per batch size ms/step with its communication share."""
    import statistics

    from models.common.cards import markdown_table

    world = max((int(r["processes"]) for r in rows), default=2)
    # Keyed by the multi-process cell's per-process batch b: a reference 1 x (world x b) cell sits under b.
    groups: dict[tuple[str, int], dict[int, list[dict]]] = {}
    for r in rows:
        p, b = int(r["processes"]), int(r["batch_size"])
        groups.setdefault((r["norm"], p), {}).setdefault(b if p > 1 else b // world, []).append(r)
    sizes = sorted({b for g in groups.values() for b in g})
    header = ["norm", "processes x batch", *[f"b={b}: acc. %" for b in sizes], *[f"b={b}: ms/step" for b in sizes]]
    table = []
    order = list(DDP_NORMS)
    for (norm, p), by_b in sorted(groups.items(), key=lambda kv: (-kv[0][1], order.index(kv[0][0]))):
        line = [norm, f"{p} x b" if p > 1 else f"1 x {world}b"]
        accs, times = [], []
        for b in sizes:
            cells = by_b.get(b, [])
            if not cells:
                accs.append("")
                times.append("")
                continue
            a = [100 * float(r["accuracy"]) for r in cells]
            spread = f" ± {statistics.pstdev(a):.1f}" if len(a) > 1 else ""
            div = " (div.)" if any(str(r["diverged"]) == "True" for r in cells) else ""
            accs.append(f"{statistics.fmean(a):.1f}{spread}{div}")
            ms = statistics.fmean(float(r["ms_per_step"]) for r in cells)
            comm = statistics.fmean(float(r["grad_allreduce_ms"]) + float(r["norm_sync_ms"]) for r in cells)
            sync = statistics.fmean(float(r["norm_sync_ms"]) for r in cells)
            times.append(f"{ms:.1f} ({comm:.1f} comm., {sync:.1f} norm)" if p > 1 else f"{ms:.1f}")
        table.append([*line, *accs, *times])
    return markdown_table(header, table)
