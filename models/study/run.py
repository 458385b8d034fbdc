"""``normlab study``: run the declared grid of the normalizer study, resumably, and write a CSV and plots.

The grid (classification, :mod:`models.study.classify`): every norm of ``NORM_VARIANTS`` x batch sizes 1, 2, 8, 32 x
seeds, each cell trained on the same number of samples. ``--quick`` runs a minutes-long subset. Each finished cell is
appended to ``OUT/results.csv`` at once, so an interrupted study resumes where it stopped (finished cells are not
re-run); ``OUT/accuracy_vs_batch.png`` and ``OUT/summary.md`` are rewritten at the end.
"""

from __future__ import annotations

import os
import statistics
import sys
from dataclasses import fields
from pathlib import Path

from models.common.cards import markdown_table
from models.study.classify import NORM_VARIANTS, CellResult, CellSpec, run_cell
from models.study.resumable import run_resumable

__all__ = ["grid", "run_grid", "summarize", "plot", "main"]

BATCH_SIZES = (1, 2, 8, 32)
QUICK_NORMS = ("batch", "group")


def grid(
    quick: bool = False,
    seeds: int = 5,
    samples: int = 3_000,
    norms_: tuple[str, ...] | None = None,
    batch_sizes: tuple[int, ...] | None = None,
) -> list[CellSpec]:
    """The declared cells, in a fixed order."""
    names = norms_ or (QUICK_NORMS if quick else tuple(NORM_VARIANTS))
    sizes = batch_sizes or ((2, 32) if quick else BATCH_SIZES)
    return [
        CellSpec(n, b, s, 2_000 if quick else samples)
        for s in range(1 if quick else seeds)
        for n in names
        for b in sizes
    ]


def _row_key(r: dict) -> str:
    return CellSpec(r["norm"], int(r["batch_size"]), int(r["seed"]), int(r["samples"])).key()


def _run_one(cell: CellSpec) -> CellResult:
    import torch

    torch.set_num_threads(1)  # one core per cell: cells run side by side with --jobs
    return run_cell(cell)


def run_grid(cells: list[CellSpec], out: Path, jobs: int = 1, progress: bool = True) -> list[dict]:
    """Run the cells not yet in ``out/results.csv``; returns every row (old and new)."""
    columns = [f.name for f in fields(CellResult)]
    return run_resumable(
        cells, out / "results.csv", columns, _run_one, CellSpec.key, _row_key, jobs=jobs, progress=progress
    )


def summarize(rows: list[dict]) -> tuple[str, dict]:
    """Markdown table: test accuracy mean ± std over seeds per (norm, batch size), ms/step, saved MB."""
    cells: dict[tuple[str, int], list[dict]] = {}
    for r in rows:
        cells.setdefault((r["norm"], int(r["batch_size"])), []).append(r)
    sizes = sorted({b for _, b in cells})
    stats: dict = {}
    table_rows = []
    for norm in [n for n in NORM_VARIANTS if any(k[0] == n for k in cells)]:
        line = [norm]
        for b in sizes:
            group = cells.get((norm, b), [])
            accs = [float(r["accuracy"]) for r in group]
            if not accs:
                line.append("")
                continue
            mean = statistics.fmean(accs)
            std = statistics.pstdev(accs) if len(accs) > 1 else 0.0
            stats[(norm, b)] = (mean, std, len(accs))
            spread = f" ± {100 * std:.1f}" if len(accs) > 1 else " (1 seed)"
            line.append(
                f"{100 * mean:.1f}{spread}" + (" (div.)" if any(str(r["diverged"]) == "True" for r in group) else "")
            )
        group = [r for (n, _), g in cells.items() if n == norm for r in g]
        line.append(f"{statistics.fmean(float(r['ms_per_step']) for r in group):.1f}")
        line.append(f"{statistics.fmean(float(r['saved_mb']) for r in group):.2f}")
        table_rows.append(line)
    header = ["norm", *[f"batch {b} (acc. %)" for b in sizes], "ms/step", "saved MB/step"]
    return markdown_table(header, table_rows), stats


def plot(stats: dict, path: Path) -> Path:
    """Accuracy vs batch size, one line per norm, error bars = std over seeds."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for norm in NORM_VARIANTS:
        points = sorted((b, m, s) for (n, b), (m, s, _) in stats.items() if n == norm)
        if points:
            xs, ms, ss = zip(*points)
            ax.errorbar(xs, [100 * m for m in ms], yerr=[100 * s for s in ss], marker="o", capsize=3, label=norm)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (same number of samples per cell)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Digits, small ResNet: accuracy vs batch size per normalizer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None, prog: str = "normlab study") -> int:
    from models.common.cli import ArgumentParser, user_error

    p = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/study"), help="results folder (default: runs/study)")
    p.add_argument("--quick", action="store_true", help="a minutes-long subset: 2 norms x batch 2, 32, one seed")
    p.add_argument("--seeds", type=int, default=5, help="seeds per cell (default: 5)")
    p.add_argument(
        "--samples",
        type=int,
        default=3_000,
        help="training samples per cell (default: 3000, about 2 epochs: long enough to learn, short "
        "enough that the normalizers differ; at 20000 every one reaches about 99.5 %%)",
    )
    p.add_argument("--norms", nargs="+", default=None, help=f"subset of: {', '.join(NORM_VARIANTS)}")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="cells run at once, one core each")
    p.add_argument(
        "--generative",
        action="store_true",
        help="instead: the generative check (SPADE's norm x batch 1, 8; equal time per cell)",
    )
    p.add_argument(
        "--gen-minutes",
        type=float,
        default=3.0,
        help="--generative: training minutes per cell (default 3; --quick: 0.3)",
    )
    p.add_argument(
        "--ddp",
        action="store_true",
        help="instead: the DDP cell (online, synconline, batch, syncbatch, group x per-process batch 1, 2, 8 on "
        "--processes gloo processes, plus 1-process references; accuracy, ms/step, communication cost)",
    )
    p.add_argument("--processes", type=int, default=2, help="--ddp: processes per cell (default 2)")
    args = p.parse_args(argv)
    if args.generative and args.ddp:
        return user_error("choose one of --generative and --ddp")
    if args.generative:
        return _generative(args)
    if args.ddp:
        return _ddp(args)
    unknown = [n for n in args.norms or () if n not in NORM_VARIANTS]
    if unknown:
        return user_error(f"unknown study norm(s) {', '.join(unknown)}; choose from {', '.join(NORM_VARIANTS)}")
    if args.seeds < 1 or args.samples < 1 or args.jobs < 1:
        return user_error("--seeds, --samples and --jobs must be positive")
    cells = grid(args.quick, args.seeds, args.samples, tuple(args.norms) if args.norms else None)
    rows = run_grid(cells, args.out, jobs=args.jobs, progress=sys.stderr.isatty())
    table, stats = summarize(rows)
    plot(stats, args.out / "accuracy_vs_batch.png")
    (args.out / "summary.md").write_text(
        f"# Normalizer study: classification\n\n{table}\n\n![accuracy vs batch size](accuracy_vs_batch.png)\n"
    )
    print(table)
    print(f"\n{len(rows)} cells in {args.out / 'results.csv'}; plot {args.out / 'accuracy_vs_batch.png'}")
    return 0


def _ddp(args) -> int:
    from models.common.cli import user_error
    from models.study.ddp import DDP_NORMS, DDPCell, DDPResult, ddp_grid, run_ddp_cell, summarize_ddp

    names = tuple(args.norms) if args.norms else (("batch", "syncbatch") if args.quick else tuple(DDP_NORMS))
    unknown = [n for n in names if n not in DDP_NORMS]
    if unknown:
        return user_error(f"unknown DDP study norm(s) {', '.join(unknown)}; choose from {', '.join(DDP_NORMS)}")
    if args.processes < 2 or args.seeds < 1 or args.samples < 1:
        return user_error("--processes must be at least 2; --seeds and --samples positive")
    if args.quick:
        cells = ddp_grid(1, 400, names, (2,), args.processes)
    else:
        cells = ddp_grid(args.seeds, args.samples, names, processes=args.processes)
    rows = run_resumable(
        cells,
        args.out / "ddp.csv",
        [f.name for f in fields(DDPResult)],
        run_ddp_cell,  # each cell starts its own processes: one cell at a time
        DDPCell.key,
        lambda r: DDPCell.from_row(r).key(),
        desc="ddp",
        progress=sys.stderr.isatty(),
    )
    table = summarize_ddp(rows)
    (args.out / "ddp.md").write_text(f"# Normalizer study: the DDP cell\n\n{table}\n")
    print(table)
    print(f"\n{len(rows)} cells in {args.out / 'ddp.csv'}")
    return 0


def _generative(args) -> int:
    from models.common.cli import user_error
    from models.study.generate import GEN_NORMS, gen_grid, run_gen_grid, summarize_gen

    names = tuple(args.norms) if args.norms else (("instance", "batch") if args.quick else GEN_NORMS)
    unknown = [n for n in names if n not in GEN_NORMS]
    if unknown:
        return user_error(f"unknown generative-check norm(s) {', '.join(unknown)}; choose from {', '.join(GEN_NORMS)}")
    if args.gen_minutes <= 0 or args.jobs < 1:
        return user_error("--gen-minutes and --jobs must be positive")
    cells = gen_grid(0.3 if args.quick else args.gen_minutes, names)
    rows = run_gen_grid(
        cells, args.out, jobs=args.jobs, progress=sys.stderr.isatty(), **({"eval_num": 32} if args.quick else {})
    )
    table = summarize_gen(rows)
    (args.out / "generative.md").write_text(f"# Normalizer study: generative check (SPADE)\n\n{table}\n")
    print(table)
    print(f"\n{len(rows)} cells in {args.out / 'generative.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
