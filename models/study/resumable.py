"""A study grid that survives interruption: each finished cell is appended to a CSV at once, and a rerun skips the
cells already there. Shared by the classification grid, the generative check and the DDP cell.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

__all__ = ["run_resumable"]


def run_resumable(
    cells: list[Any],
    csv_path: Path,
    columns: list[str],
    run: Callable[[Any], Any],
    key: Callable[[Any], str],
    row_key: Callable[[dict], str],
    *,
    jobs: int = 1,
    pool: str = "process",
    desc: str = "study",
    progress: bool = True,
) -> list[dict]:
    """Run the ``cells`` whose ``key(cell)`` is not yet a ``row_key(row)`` of ``csv_path``; returns every wanted row.

    ``run(cell)`` returns a dataclass (one CSV row). ``jobs > 1`` runs cells side by side, in processes (``pool=
    "process"``: the cell computes in Python) or threads (``"thread"``: the cell waits on its own subprocesses).
    """
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict] = {}
    if csv_path.is_file():
        with csv_path.open() as f:
            done = {row_key(r): r for r in csv.DictReader(f)}
    todo = [c for c in cells if key(c) not in done]
    new_file = not csv_path.is_file()
    with (
        csv_path.open("a", newline="") as f,
        tqdm(total=len(cells), initial=len(cells) - len(todo), desc=desc, unit="cell", disable=not progress) as bar,
    ):
        writer = csv.DictWriter(f, fieldnames=columns)
        if new_file:
            writer.writeheader()
        executor: Executor | None = None
        if jobs > 1 and len(todo) > 1:
            executor = (ProcessPoolExecutor if pool == "process" else ThreadPoolExecutor)(max_workers=jobs)
        try:
            results: Iterable = executor.map(run, todo) if executor else map(run, todo)
            for cell, result in zip(todo, results):
                row = asdict(result)
                writer.writerow(row)
                f.flush()  # a crash or Ctrl-C keeps every finished cell
                done[key(cell)] = row
                bar.update(1)
        finally:
            if executor:
                executor.shutdown(cancel_futures=True)
    wanted = {key(c) for c in cells}
    return [row for k, row in done.items() if k in wanted]
