"""``normlab study``: run the declared grid of the normalizer study, resumably, and write a CSV and plots.

The grid (classification, :mod:`models.study.classify`): every norm of ``NORM_VARIANTS`` x batch sizes 1, 2, 8, 32 x
seeds, each cell trained on the same number of samples. ``--quick`` runs a minutes-long subset. Each finished cell is
appended to ``OUT/results.csv`` at once, so an interrupted study resumes where it stopped (finished cells are not
re-run); ``OUT/accuracy_vs_batch.png`` and ``OUT/summary.md`` are rewritten at the end.
"""

from __future__ import annotations

import csv
import os
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields
from pathlib import Path

from tqdm import tqdm

from models.common.cards import markdown_table
from models.study.classify import NORM_VARIANTS, CellResult, CellSpec, run_cell

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


def _done(csv_path: Path) -> dict[str, dict]:
    if not csv_path.is_file():
        return {}
    with csv_path.open() as f:
        return {
            CellSpec(r["norm"], int(r["batch_size"]), int(r["seed"]), int(r["samples"])).key(): r
            for r in csv.DictReader(f)
        }


def _run_one(cell: CellSpec) -> CellResult:
    import torch

    torch.set_num_threads(1)  # one core per cell: cells run side by side with --jobs
    return run_cell(cell)


def run_grid(cells: list[CellSpec], out: Path, jobs: int = 1, progress: bool = True) -> list[dict]:
    """Run the cells not yet in ``out/results.csv``; returns every row (old and new)."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "results.csv"
    done = _done(csv_path)
    todo = [c for c in cells if c.key() not in done]
    columns = [f.name for f in fields(CellResult)]
    new_file = not csv_path.is_file()
    with (
        csv_path.open("a", newline="") as f,
        tqdm(total=len(cells), initial=len(cells) - len(todo), desc="study", unit="cell", disable=not progress) as bar,
    ):
        writer = csv.DictWriter(f, fieldnames=columns)
        if new_file:
            writer.writeheader()
        results = map(_run_one, todo) if jobs <= 1 else ProcessPoolExecutor(max_workers=jobs).map(_run_one, todo)
        for result in results:
            writer.writerow(result.row())
            f.flush()  # a crash or Ctrl-C keeps every finished cell
            done[CellSpec(result.norm, result.batch_size, result.seed, result.samples).key()] = result.row()
            bar.update(1)
    wanted = {c.key() for c in cells}
    return [row for key, row in done.items() if key in wanted]


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
    args = p.parse_args(argv)
    if args.generative:
        return _generative(args)
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
