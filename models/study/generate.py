"""The generative check of the normalizer study: SPADE's parameter-free norm x batch size, equal time per cell.

Each cell trains a small SPADE generator (32x32 procedural landscapes) with ``python train.py spade`` for the same
wall-clock budget on one core, with the discriminator's norm fixed (instance) so only the generator's normalize
step changes, then scores it with the metrics of ``python -m models.eval spade`` (:func:`models.spade.eval.measure`:
mIoU of a segmentation net on synthesized images of held-out layouts, VGG Fréchet distance to real renders, seed
diversity). Finished cells are appended to ``OUT/generative.csv`` at once, so a resumed run skips them.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path


from models.common.cards import markdown_table
from models.study.resumable import run_resumable

__all__ = ["GEN_NORMS", "GenCell", "GenResult", "gen_grid", "run_gen_grid", "summarize_gen"]

ROOT = Path(__file__).resolve().parents[2]
GEN_NORMS = ("instance", "batch", "group", "online", "proxy")
GEN_BATCH_SIZES = (1, 8)


@dataclass(frozen=True)
class GenCell:
    """One cell: the generator's norm, the batch size and the training budget."""

    norm: str
    batch_size: int
    minutes: float
    size: int = 32
    ngf: int = 16
    max_steps: int = 1_000_000  # the budget is the time; a test sets a few steps

    def key(self) -> str:
        return f"{self.norm}|b{self.batch_size}|m{self.minutes:g}|s{self.size}"

    def name(self) -> str:
        return f"spade_{self.norm}_b{self.batch_size}"


@dataclass
class GenResult:
    """One CSV row of the generative check."""

    norm: str
    batch_size: int
    minutes: float
    steps: int
    miou: float
    real_miou: float
    vgg_fd: float
    vgg_fd_floor: float
    seed_diff: float
    train_s: float


def gen_grid(
    minutes: float = 3.0, norms_: tuple[str, ...] = GEN_NORMS, batch_sizes: tuple[int, ...] = GEN_BATCH_SIZES, **kw
) -> list[GenCell]:
    """The declared cells, in a fixed order (batch sizes inside norms)."""
    return [GenCell(n, b, minutes, **kw) for n in norms_ for b in batch_sizes]


def train_command(cell: GenCell, out: Path) -> list[str]:
    """The ``train.py spade`` command of a cell: one thread, the time budget, the export path.

    The study's numbers were measured with the fixed-size ``grid`` generator, so its cells keep that architecture.
    """
    return [
        sys.executable,
        str(ROOT / "train.py"),
        "spade",
        "--arch",
        "grid",
        "--norm",
        cell.norm,
        "--d-norm",
        "instance",
        "--batch-size",
        str(cell.batch_size),
        "--size",
        str(cell.size),
        "--ngf",
        str(cell.ngf),
        "--spade-hidden",
        "32",
        "--z-dim",
        "32",
        "--ndf",
        "16",
        "--d-layers",
        "3",
        "--max-minutes",
        f"{cell.minutes:g}",
        "--max-steps",
        str(cell.max_steps),
        "--threads",
        "1",
        "--num-workers",
        "0",
        "--sample-every",
        "1000000",
        "--ckpt-every",
        "1000000",
        "--no-progress",
        "--quiet",
        "--run-dir",
        str(out / "runs" / cell.name()),
        "--export",
        str(out / f"{cell.name()}.safetensors"),
    ]


def run_gen_cell(cell: GenCell, out: Path, eval_num: int = 128, segnet_steps: int = 500) -> GenResult:
    """Train one cell in a subprocess (its own thread budget), then score the exported generator."""
    import torch

    from models.common.checkpoint import read_metadata
    from models.spade.eval import measure, segnet_for
    from models.spade.infer import Synthesizer

    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs" / f"{cell.name()}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with log.open("w") as f:
        done = subprocess.run(train_command(cell, out), cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, check=False)
    train_s = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"training {cell.name()} failed (exit {done.returncode}); see {log}")
    path = out / f"{cell.name()}.safetensors"
    torch.set_num_threads(1)
    syn = Synthesizer.from_checkpoint(path)
    net = segnet_for(syn.num_classes, cell.size, segnet_steps, out / "segnet", log=lambda *_: None)
    m = measure(syn, net, eval_num)
    steps = int(read_metadata(path).get("normlab_steps", 0) or 0)
    return GenResult(
        cell.norm,
        cell.batch_size,
        cell.minutes,
        steps,
        m["miou"],
        m["real_miou"],
        m["vgg_fd"],
        m["vgg_fd_floor"],
        m["seed_diff"] or 0.0,
        train_s,
    )


def _row_key(r: dict) -> str:
    return f"{r['norm']}|b{r['batch_size']}|m{float(r['minutes']):g}|s{r.get('size', 32)}"


def run_gen_grid(cells: list[GenCell], out: Path, jobs: int = 1, progress: bool = True, **kw) -> list[dict]:
    """Run the cells not yet in ``out/generative.csv`` (``jobs`` at once, one core each); returns every row."""
    return run_resumable(
        cells,
        out / "generative.csv",
        [x.name for x in fields(GenResult)],
        lambda c: run_gen_cell(c, out, **kw),
        GenCell.key,
        _row_key,
        jobs=jobs,
        pool="thread",  # threads: each cell's work is in its own subprocess
        desc="generative",
        progress=progress,
    )


def summarize_gen(rows: list[dict]) -> str:
    """Markdown table: per norm, mIoU / VGG-FD / seed diversity at each batch size, and iterations trained."""
    sizes = sorted({int(r["batch_size"]) for r in rows})
    by = {(r["norm"], int(r["batch_size"])): r for r in rows}
    table = []
    for norm in [n for n in GEN_NORMS if any(k[0] == n for k in by)] + sorted({k[0] for k in by} - set(GEN_NORMS)):
        line = [norm]
        for b in sizes:
            r = by.get((norm, b))
            line += (
                [
                    f"{float(r['miou']):.3f}",
                    f"{float(r['vgg_fd']):.1f}",
                    f"{float(r['seed_diff']):.1f}",
                    str(r["steps"]),
                ]
                if r
                else ["", "", "", ""]
            )
        table.append(line)
    header = ["G norm"] + [f"b{b} {m}" for b in sizes for m in ("mIoU", "VGG-FD", "seed diff", "iterations")]
    real = statistics.fmean(float(r["real_miou"]) for r in rows) if rows else float("nan")
    floor = statistics.fmean(float(r["vgg_fd_floor"]) for r in rows) if rows else float("nan")
    return (
        markdown_table(header, table) + f"\n\nReal renders: mIoU {real:.3f}; VGG-FD real vs disjoint real "
        f"(floor) {floor:.1f}. Seed diff: mean |difference| of two style codes on one layout, of 255."
    )
