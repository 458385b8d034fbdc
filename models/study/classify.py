"""The classification task of the normalizer study: a small ResNet, its norm injected by name, on handwritten digits.

Data: scikit-learn's bundled ``digits`` (1797 real 8x8 grey scans of handwritten digits, shipped inside the wheel,
so no download), upsampled to 16x16 and split 1347 train / 450 test with a fixed permutation. It is small enough that
one cell of the grid trains in seconds on a CPU core, yet real images with real variation (unlike random noise), and
every normalizer's spatial statistics are defined at every stage (16x16, 8x8, 4x4).

One cell = (norm, batch size, seed): train for a fixed number of *samples* (not steps), so batch size 1 and 32 see
the same data; report test accuracy (eval mode: batch norm's running statistics), time per step and peak memory.

>>> cell = CellSpec(norm="group", batch_size=8, seed=0, samples=64)
>>> result = run_cell(cell, width=8)
>>> 0.0 <= result.accuracy <= 1.0 and result.steps == 8
True
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import norms

__all__ = ["CellSpec", "CellResult", "SmallResNet", "digits", "run_cell", "NORM_VARIANTS"]

# The study's normalizers: registry name + keywords (the ECM and LN/GN variants of Online and Proxy Norm).
NORM_VARIANTS: dict[str, tuple[str, dict]] = {
    "batch": ("batch", {}),
    "group": ("group", {}),  # gcd(32, C) groups
    "layer": ("layer", {}),
    "instance": ("instance", {}),
    "online-ac": ("online", {"ecm": "ac"}),
    "online-ls": ("online", {"ecm": "ls"}),
    "online-none": ("online", {"ecm": None}),  # neither: the paper's ablation (unstable in deep nets)
    "proxy-ln": ("proxy", {"groups": 1}),
    "proxy-gn": ("proxy", {"groups": 4}),
    "none": ("none", {}),
}


@functools.lru_cache(maxsize=1)
def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x_train (1347, 1, 16, 16), y_train, x_test (450, 1, 16, 16), y_test)``, standardized, fixed split."""
    from sklearn.datasets import load_digits  # the data package: only the study needs it

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0
    x = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
    x = (x - x.mean()) / x.std()
    y = torch.tensor(d.target, dtype=torch.int64)
    perm = torch.from_numpy(np.random.default_rng(0).permutation(len(y)))
    x, y = x[perm], y[perm]
    return x[:1347], y[:1347], x[1347:], y[1347:]


class _Block(nn.Module):
    """conv -> norm+act -> conv -> norm, plus the (projected) input, then act.

    Shape: ``(B, C_in, H, W) -> (B, C, H/s, W/s)``."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm: norms.NormSpec, kw: dict) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.na1 = norms.norm_act(norm, c_out, act="relu", **kw)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.n2 = norms.build_norm(norm, c_out, **kw)
        self.skip = nn.Identity() if stride == 1 and c_in == c_out else nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.n2(self.conv2(self.na1(self.conv1(x)))) + self.skip(x))


class SmallResNet(nn.Module):
    """Stem + 3 residual stages (16x16 -> 8x8 -> 4x4) + linear head; the norm comes in by name.

    Shape: ``(B, 1, 16, 16) -> (B, 10)`` logits.
    """

    def __init__(self, norm: str = "batch", width: int = 16, **norm_kw) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, width, 3, 1, 1, bias=False), norms.norm_act(norm, width, act="relu", **norm_kw)
        )
        self.stages = nn.Sequential(
            _Block(width, width, 1, norm, norm_kw),
            _Block(width, 2 * width, 2, norm, norm_kw),
            _Block(2 * width, 4 * width, 2, norm, norm_kw),
        )
        self.head = nn.Linear(4 * width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)).mean(dim=(2, 3)))


@dataclass(frozen=True)
class CellSpec:
    """One cell of the grid."""

    norm: str  # a key of NORM_VARIANTS
    batch_size: int
    seed: int
    samples: int = 3_000  # training samples seen, the same for every batch size
    lr: float = 0.05  # SGD with momentum 0.9, scaled by sqrt(batch / 32) (small batches take smaller steps)

    def key(self) -> str:
        return f"{self.norm}|b{self.batch_size}|s{self.seed}|n{self.samples}"


@dataclass
class CellResult:
    """What the study records per cell (one CSV row)."""

    norm: str
    batch_size: int
    seed: int
    samples: int
    steps: int
    accuracy: float  # test set, eval mode
    train_loss: float  # mean of the last 10 % of steps
    ms_per_step: float
    saved_mb: float  # tensors saved for backward in one training step (the activation memory a norm costs)
    diverged: bool

    def row(self) -> dict:
        return asdict(self)


def run_cell(cell: CellSpec, width: int = 16) -> CellResult:
    """Train one cell from scratch and evaluate it (deterministic for a seed on one thread)."""
    if cell.norm not in NORM_VARIANTS:
        raise ValueError(f"unknown study norm {cell.norm!r}; choose from {', '.join(NORM_VARIANTS)}")
    name, kw = NORM_VARIANTS[cell.norm]
    torch.manual_seed(cell.seed)
    x_train, y_train, x_test, y_test = digits()
    net = SmallResNet(name, width, **kw)
    lr = cell.lr * (cell.batch_size / 32) ** 0.5
    opt = torch.optim.SGD(norms.proxy_param_groups(net, 5e-4, other_weight_decay=5e-4), lr=lr, momentum=0.9)
    steps = max(1, cell.samples // cell.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    gen = torch.Generator().manual_seed(cell.seed)
    losses, diverged, saved = [], False, 0
    net.train()
    t0 = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(len(y_train), (cell.batch_size,), generator=gen)
        if step == 0:
            saved, loss = _saved_bytes(lambda: F.cross_entropy(net(x_train[idx]), y_train[idx]))
        else:
            loss = F.cross_entropy(net(x_train[idx]), y_train[idx])
        if not torch.isfinite(loss):
            diverged = True
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    elapsed = time.perf_counter() - t0
    net.eval()
    with torch.no_grad():
        acc = 0.0 if diverged else float((net(x_test).argmax(1) == y_test).float().mean())
    tail = losses[-max(1, len(losses) // 10) :] or [float("nan")]
    return CellResult(
        cell.norm,
        cell.batch_size,
        cell.seed,
        cell.samples,
        len(losses),
        acc,
        float(np.mean(tail)),
        1000 * elapsed / max(1, len(losses)),
        saved / 2**20,
        diverged,
    )


def _saved_bytes(forward) -> tuple[int, torch.Tensor]:
    """Run ``forward()`` counting the bytes autograd saves for the backward pass; ``(bytes, output)``."""
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward()
    return total, out
