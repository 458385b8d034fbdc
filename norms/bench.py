"""Benchmark every registered norm: forward+backward time and memory, relative to ``torch.nn.BatchNorm2d``.

Run ``python -m norms.bench`` (``--quick`` for a smoke run, ``--device cuda`` / ``all``). Prints markdown tables:

1. every norm at a few ``(N, C, H, W)`` shapes: best-of-reps fwd+bwd time, memory saved for backward (the
   distinct tensors autograd keeps, input included: a CPU-measurable measure of activation memory) and, on
   CUDA, the peak allocated memory during fwd+bwd; each as a ratio to ``BatchNorm2d`` from the same run.
2. Online Normalization, vectorised (this package) vs the per-sample Python loop of the reference algorithm,
   at ``N = 128``.

This is a script, not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from norms.online import OnlineNorm
from norms.registry import build_norm, list_norms


@dataclass
class Result:
    """One measured (norm, shape) cell."""

    ms: float  # best-of-reps forward+backward wall time (the least disturbed by other load on the machine)
    saved_mb: float  # distinct storages autograd saved for backward (the input included), in MiB
    peak_mb: float | None  # CUDA peak allocated during fwd+bwd minus the memory before it; None on CPU


class LoopOnlineNormFn(torch.autograd.Function):
    """Online Normalization (no affine, no ECM) the way the reference code runs it: one sample at a time.

    Only for comparison in this benchmark; :class:`norms.online.OnlineNorm` is the real implementation.
    """

    @staticmethod
    def forward(ctx, x, m, var, u, v, alpha_fwd: float, alpha_bkw: float, eps: float):  # type: ignore[override]
        n = x.shape[0]
        flat = x.reshape(n, x.shape[1], -1)
        ys, stds = [], []
        for i in range(n):
            var_n, mu_n = torch.var_mean(flat[i], dim=1, correction=0)
            std = torch.sqrt(var + eps)
            ys.append((flat[i] - m[:, None]) / std[:, None])
            stds.append(std)
            diff = mu_n - m
            var.mul_(alpha_fwd).add_((1 - alpha_fwd) * var_n + alpha_fwd * (1 - alpha_fwd) * diff * diff)
            m.add_((1 - alpha_fwd) * diff)
        y = torch.stack(ys)
        ctx.save_for_backward(y, torch.stack(stds))
        ctx.state, ctx.alpha_bkw = (u, v), alpha_bkw
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        y, stds = ctx.saved_tensors
        u, v = ctx.state
        b = 1 - ctx.alpha_bkw
        g = grad.reshape(y.shape)
        out = []
        for i in range(y.shape[0]):
            gt = g[i] - b * v[:, None] * y[i]
            v.add_((gt * y[i]).mean(dim=1))
            gt = gt / stds[i][:, None]
            gx = gt - b * u[:, None]
            u.add_(gx.mean(dim=1))
            out.append(gx)
        return torch.stack(out).reshape(grad.shape), None, None, None, None, None, None, None


class LoopOnlineNorm(nn.Module):
    """Module wrapper of :class:`LoopOnlineNormFn` with the same state as ``OnlineNorm(C, affine=False, ecm=None)``."""

    def __init__(self, num_features: int, alpha_fwd: float = 0.999, alpha_bkw: float = 0.99, eps: float = 1e-5):
        super().__init__()
        self.alpha_fwd, self.alpha_bkw, self.eps = alpha_fwd, alpha_bkw, eps
        for name, value in (("m", 0.0), ("var", 1.0), ("u", 0.0), ("v", 0.0)):
            self.register_buffer(name, torch.full((num_features,), value))

    def forward(self, x: Tensor) -> Tensor:
        return LoopOnlineNormFn.apply(x, self.m, self.var, self.u, self.v, self.alpha_fwd, self.alpha_bkw, self.eps)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _saved_bytes(module: nn.Module, x: Tensor, grad: Tensor) -> int:
    """Bytes of the distinct storages autograd saves for backward (``x`` included when saved)."""
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = module(x)
    out.backward(grad)
    return sum(storages.values())


def _make_step(
    module: nn.Module, shape: tuple[int, ...], device: torch.device
) -> tuple[Callable[[], None], Tensor, Tensor]:
    """A closure running one train-mode fwd+bwd of ``module`` on a fixed random input, plus that input and grad."""
    module.to(device).train()
    x = torch.randn(shape, device=device) * 2 + 0.5
    grad = torch.randn_like(x)

    def step() -> None:
        xi = x.detach().requires_grad_(True)
        module(xi).backward(grad)

    return step, x, grad


def measure_many(
    modules: dict[str, nn.Module], shape: tuple[int, ...], device: torch.device, reps: int, warmup: int = 2
) -> dict[str, Result]:
    """Best-of-``reps`` fwd+bwd time (train mode) of each module on a random input of ``shape``, plus memory.

    The modules are timed *interleaved* (one step of each per round), so every one sees the same background
    load; the minimum over rounds is the least disturbed measurement.
    """
    steps = {label: _make_step(m, shape, device) for label, m in modules.items()}
    times: dict[str, list[float]] = {label: [] for label in modules}
    for round_ in range(warmup + reps):
        for label, (step, _, _) in steps.items():
            _sync(device)
            t0 = time.perf_counter()
            step()
            _sync(device)
            if round_ >= warmup:
                times[label].append(time.perf_counter() - t0)
    results = {}
    for label, (step, x, grad) in steps.items():
        peak = None
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
            step()
            _sync(device)
            peak = (torch.cuda.max_memory_allocated(device) - before) / 2**20
        saved = _saved_bytes(modules[label], x.detach().requires_grad_(True), grad) / 2**20
        results[label] = Result(min(times[label]) * 1e3, saved, peak)
    return results


def norm_cases() -> dict[str, Callable[[int], nn.Module]]:
    """Label -> factory: the torch BatchNorm2d baseline, every registry norm, and a few variants."""
    cases: dict[str, Callable[[int], nn.Module]] = {"torch BatchNorm2d": nn.BatchNorm2d}
    for name in list_norms():
        cases[name] = lambda c, name=name: build_norm(name, c)
    cases["online ecm=ls"] = lambda c: build_norm("online", c, ecm="ls")
    cases["online ecm=None"] = lambda c: build_norm("online", c, ecm=None)
    cases["proxy act=relu"] = lambda c: build_norm("proxy", c, activation="relu")
    return cases


def _fmt(v: float | None, digits: int = 1) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _ratio(v: float | None, base: float | None) -> str:
    if v is None or base is None:
        return "n/a"
    if base == 0:
        return "-" if v == 0 else "inf"
    return f"{v / base:.2f}x"


def norms_table(shapes: list[tuple[int, ...]], device: torch.device, reps: int) -> str:
    """Markdown table of every norm case at every shape."""
    lines = [
        "| shape (N, C, H, W) | norm | fwd+bwd ms | time vs BN2d | saved MB | saved vs BN2d | peak MB | peak vs BN2d |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for shape in shapes:
        torch.manual_seed(0)
        modules = {label: factory(shape[1]) for label, factory in norm_cases().items()}
        results = measure_many(modules, shape, device, reps)
        base = results["torch BatchNorm2d"]
        for label, r in results.items():
            lines.append(
                f"| {tuple(shape)} | {label} | {r.ms:.2f} | {_ratio(r.ms, base.ms)} | {_fmt(r.saved_mb, 2)} | "
                f"{_ratio(r.saved_mb, base.saved_mb)} | {_fmt(r.peak_mb)} | {_ratio(r.peak_mb, base.peak_mb)} |"
            )
    return "\n".join(lines)


def loop_table(shapes: list[tuple[int, ...]], device: torch.device, reps: int) -> str:
    """Markdown table: vectorised Online Norm vs the per-sample loop (same maths, no affine / ECM)."""

    loop_label = "online, per-sample loop (reference algorithm, no affine/ECM)"
    lines = [
        "| shape (N, C, H, W) | implementation | fwd+bwd ms | vs BN2d | speed-up over the loop |",
        "|---|---|---:|---:|---:|",
    ]
    for shape in shapes:
        c = shape[1]
        modules = {
            "torch BatchNorm2d": nn.BatchNorm2d(c),
            loop_label: LoopOnlineNorm(c),
            "online, vectorised (affine=False, ecm=None)": OnlineNorm(c, affine=False, ecm=None),
            "online, vectorised (default: affine, ecm='ac')": OnlineNorm(c),
        }
        results = measure_many(modules, shape, device, reps, warmup=1)
        base, loop = results["torch BatchNorm2d"].ms, results[loop_label].ms
        for label, r in results.items():
            lines.append(f"| {tuple(shape)} | {label} | {r.ms:.2f} | {r.ms / base:.2f}x | {loop / r.ms:.1f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m norms.bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device",
        default="cpu",
        choices=["cpu", "cuda", "all"],
        help="where to run; 'all' = CPU, then CUDA if available (default: cpu)",
    )
    parser.add_argument("--quick", action="store_true", help="small shapes and few repetitions (smoke run)")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions per cell (default 15, quick 3)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        if args.device == "cuda":
            print("error: --device cuda requested but torch.cuda.is_available() is False", file=sys.stderr)
            return 2
        print("note: no CUDA device available; measuring the CPU only", file=sys.stderr)
        devices.remove("cuda")
    reps = args.reps or (3 if args.quick else 15)
    if args.quick:
        shapes = [(8, 32, 16, 16)]
        loop_shapes = [(128, 16, 8, 8)]
    else:
        shapes = [(32, 64, 56, 56), (32, 128, 32, 32), (32, 256, 32, 32), (8, 64, 16, 16)]
        loop_shapes = [(128, 64, 32, 32), (128, 64, 8, 8)]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    for dev_name in devices:
        device = torch.device(dev_name)
        cpu = platform.processor() or platform.machine()
        what = torch.cuda.get_device_name(device) if dev_name == "cuda" else cpu
        print(
            f"\n### {dev_name.upper()}: {what}; torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
            f"{stamp}; best of {reps} fwd+bwd (train mode, fp32)\n"
        )
        print(norms_table(shapes, device, reps))
        print("\nOnline Normalization: vectorised vs the per-sample loop at N = 128\n")
        print(loop_table(loop_shapes, device, reps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
