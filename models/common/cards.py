"""Model cards and the small formatting helpers the eval and bench tables share (no Lightning here).

A model card is the Markdown file next to exported weights: what was trained on what, with which command, for
how long, how well (the eval scripts append their table), and the config that rebuilds the network.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path
from typing import Any, Iterable

import torch

from models.common.files import write_atomic

__all__ = ["format_duration", "hardware_summary", "markdown_table", "write_model_card"]


def hardware_summary() -> str:
    """One line: GPU name(s) or CPU model and core count, plus torch version."""
    if torch.cuda.is_available():
        names = sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
        dev = f"{torch.cuda.device_count()}x {', '.join(names)}"
    else:
        cpu = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        n = torch.get_num_threads()
        dev = f"CPU {cpu}, {n} thread{'s' if n != 1 else ''} (no GPU)"
    return f"{dev}; torch {torch.__version__}"


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A GitHub markdown table; floats with 4 significant digits."""

    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_model_card(
    path: Path,
    *,
    title: str,
    kind: str,
    norm: str,
    weights: Path,
    data: str,
    steps: int,
    wall_seconds: float,
    hardware: str,
    losses: dict[str, float],
    config: dict[str, Any],
    command: str | None = None,
    grid: Path | None = None,
    eval_table: str | None = None,
    notes: Iterable[str] = (),
    extra_sections: dict[str, str] | None = None,
) -> Path:
    """Markdown model card next to the weights: what was trained on what, for how long, how well."""
    path = Path(path)
    lines = [
        f"# {title}",
        "",
        f"- **kind**: `{kind}`  ",
        f"- **normalizer**: `{norm}`  ",
        f"- **weights**: `{weights.name}` ({weights.stat().st_size / 2**20:.1f} MiB)"
        if weights.exists()
        else f"- **weights**: `{weights.name}`",
        f"- **trained**: {_dt.date.today().isoformat()}, {steps} steps, {format_duration(wall_seconds)} wall time",
        f"- **hardware**: {hardware}",
        f"- **data**: {data}",
    ]
    if command:
        lines += ["", "## Command", "", "```", command, "```"]
    notes = list(notes)
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    if losses:
        lines += [
            "",
            "## Final training losses (smoothed)",
            "",
            markdown_table(["term", "value"], [[k, float(v)] for k, v in losses.items()]),
        ]
    if eval_table:
        lines += ["", "## Evaluation", "", eval_table]
    if grid is not None:
        rel = os.path.relpath(grid, path.parent)
        lines += ["", "## Samples", "", f"![samples]({rel})"]
    for heading, body in (extra_sections or {}).items():
        lines += ["", f"## {heading}", "", body]
    lines += ["", "## Config", "", "```json", _json(config), "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, "\n".join(lines))
    return path


def _json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)
