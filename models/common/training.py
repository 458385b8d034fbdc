"""Shared Lightning conventions for every normlab trainer (AdaIN, SPADE).

One place decides: accelerator and precision (GPU -> bf16-mixed, CPU -> fp32 unless asked), the progress bar,
logging (TensorBoard when importable, CSV always), periodic resumable checkpoints, a sample-grid callback, the
export of the learned weights to ``assets/<kind>_<norm>.safetensors`` and the model card next to it.
Multi-GPU / multi-node training is Lightning's: ``--devices``, ``--num-nodes`` and ``--strategy`` are passed
through unchanged; there is no distribution code here.

Typical use in a ``*_train.py``::

    parser = argparse.ArgumentParser(...)
    add_trainer_args(parser, max_steps=3000)
    args = parser.parse_args(argv)
    run = RunDir.create(args, kind="adain", norm=args.norm)
    trainer = build_trainer(args, run, callbacks=[SampleGridCallback(make_grid, args.sample_every, run.samples)])
    trainer.fit(module, datamodule, ckpt_path=resolve_resume(args.resume, run))
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import logging
import os
import platform
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

__all__ = [
    "add_trainer_args", "auto_precision", "build_trainer", "RunDir", "SampleGridCallback", "TrainStats",
    "export_weights", "write_model_card", "hardware_summary", "resolve_resume", "quiet_lightning",
    "format_duration", "markdown_table",
]


# ------------------------------------------------------------------------------------------------ arguments
def add_trainer_args(parser: argparse.ArgumentParser, *, max_steps: int = 10_000, sample_every: int = 500,
                     ckpt_every: int = 250, log_every: int = 25) -> argparse.ArgumentParser:
    """Add the options every trainer shares (Lightning passthrough, logging, checkpointing, export)."""
    g = parser.add_argument_group("training loop (shared)")
    g.add_argument("--max-steps", type=int, default=max_steps, help="optimizer steps to run (default %(default)s)")
    g.add_argument("--max-minutes", type=float, default=None,
                   help="also stop after this much wall time (then export as usual); a budget for shared machines. "
                        "It counts the whole run: after --resume, the time of the earlier parts is included")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    g.add_argument("--accelerator", default="auto", help="Lightning accelerator: auto | cpu | gpu (default auto)")
    g.add_argument("--devices", default="auto", help="Lightning devices, e.g. 1, 4 or 0,1 (default auto)")
    g.add_argument("--num-nodes", type=int, default=1, help="Lightning num_nodes for multi-node DDP (default 1)")
    g.add_argument("--strategy", default="auto", help="Lightning strategy, e.g. ddp (default auto)")
    g.add_argument("--precision", default=None,
                   help="Lightning precision; default bf16-mixed on GPU, 32-true on CPU "
                        "(bf16-mixed on a CPU with AMX/AVX512-BF16 is about 2x faster)")
    g.add_argument("--num-workers", type=int, default=None, help="data loader workers (default: min(4, CPUs-1))")
    g.add_argument("--run-dir", type=Path, default=None,
                   help="where logs, samples and checkpoints go (default runs/<kind>_<norm>_<time>)")
    g.add_argument("--resume", default=None,
                   help="resume from a Lightning .ckpt, or 'last' for RUN_DIR/checkpoints/last.ckpt")
    g.add_argument("--sample-every", type=int, default=sample_every,
                   help="write a sample grid every N steps (0 = never; default %(default)s)")
    g.add_argument("--ckpt-every", type=int, default=ckpt_every,
                   help="save a resumable checkpoint every N steps (default %(default)s)")
    g.add_argument("--log-every", type=int, default=log_every, help="log losses every N steps (default %(default)s)")
    g.add_argument("--export", type=Path, default=None,
                   help="where to write the safetensors weights at the end (default assets/<kind>_<norm>.safetensors;"
                        " 'none' to skip)")
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar (logs still written)")
    g.add_argument("--quiet", action="store_true", help="silence Lightning's informational messages")
    return parser


def auto_precision(accelerator: str, requested: str | None) -> str:
    """bf16-mixed on GPU, fp32 on CPU, unless the user asked for something."""
    if requested:
        return requested
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    return "bf16-mixed" if on_gpu else "32-true"


def default_workers() -> int:
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def quiet_lightning() -> None:
    """Silence Lightning's CPU chatter (GPU/TPU availability lines, tips, known deprecation warnings)."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for pattern in (".*does not have many workers.*", ".*LeafSpec.*", ".*log_every_n_steps.*",
                    ".*GPU available but not used.*", ".*Tip.*", ".*isinstance.*treespec.*",
                    ".*Checkpoint directory .* exists.*", ".*torch.cuda.amp.*",
                    ".*module\\(s\\) in eval mode.*"):
        warnings.filterwarnings("ignore", message=pattern)


# ------------------------------------------------------------------------------------------------ run folder
@dataclass
class RunDir:
    """The layout of one training run's folder."""

    root: Path

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @classmethod
    def create(cls, args: argparse.Namespace, kind: str, norm: str) -> "RunDir":
        root = args.run_dir
        if root is None:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            root = Path("runs") / f"{kind}_{norm}_{stamp}"
        run = cls(Path(root))
        for folder in (run.root, run.samples, run.checkpoints):
            folder.mkdir(parents=True, exist_ok=True)
        return run


def resolve_resume(resume: str | None, run: RunDir) -> str | None:
    """``--resume`` value -> a checkpoint path for ``Trainer.fit(ckpt_path=...)``; clear error if missing."""
    if not resume:
        return None
    path = run.checkpoints / "last.ckpt" if resume == "last" else Path(resume)
    if not path.is_file():
        raise FileNotFoundError(f"--resume: checkpoint {path} does not exist"
                                + (" (pass the same --run-dir as the interrupted run)" if resume == "last" else ""))
    return str(path)


# ------------------------------------------------------------------------------------------------ callbacks
def _lightning():
    import lightning.pytorch as pl  # imported lazily: `normlab stylize` must not pay for Lightning

    return pl


class SampleGridCallback:
    """Factory for a Lightning callback that saves ``make_grid(pl_module) -> (3, H, W)`` every N steps.

    Writes ``samples/step_XXXXXXX.png`` and ``samples/latest.png`` (rank 0 only), and logs the grid to TensorBoard
    when that logger is active. ``make_grid`` runs under ``torch.no_grad`` with the module in eval mode.
    """

    def __new__(cls, make_grid: Callable[[Any], torch.Tensor], every_n_steps: int, out_dir: Path):
        pl = _lightning()

        class _SampleGrid(pl.Callback):
            def __init__(self) -> None:
                self.make_grid, self.every, self.out_dir = make_grid, every_n_steps, Path(out_dir)
                self.last_path: Path | None = None

            def _save(self, trainer, pl_module) -> None:
                if not trainer.is_global_zero:
                    return
                from models.common.imageio import save_png

                was_training = pl_module.training
                pl_module.eval()
                try:
                    with torch.no_grad():
                        grid = self.make_grid(pl_module).detach().float().cpu().clamp(0, 1)
                finally:
                    pl_module.train(was_training)
                step = trainer.global_step
                path = save_png(grid, self.out_dir / f"step_{step:07d}.png")
                save_png(grid, self.out_dir / "latest.png")
                self.last_path = path
                for logger in trainer.loggers:
                    exp = getattr(logger, "experiment", None)
                    if hasattr(exp, "add_image"):
                        exp.add_image("samples", grid, step)

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
                step = trainer.global_step
                if self.every > 0 and step > 0 and step % self.every == 0:
                    self._save(trainer, pl_module)

            def on_train_end(self, trainer, pl_module) -> None:
                if self.every > 0:
                    self._save(trainer, pl_module)

        return _SampleGrid()


class TrainStats:
    """Factory for a callback that tracks wall time and smoothed losses (for the model card and summary)."""

    def __new__(cls, keys: Iterable[str] = ("loss",), smoothing: float = 0.98):
        pl = _lightning()
        keys = tuple(keys)

        class _Stats(pl.Callback):
            def __init__(self) -> None:
                self.ema: dict[str, float] = {}
                self.first: dict[str, float] = {}
                self.start = time.monotonic()
                self.wall = 0.0
                self.wall_before = 0.0  # wall time of the runs this one resumes (restored from the checkpoint)
                self.steps = 0

            # Saved in every Lightning checkpoint, so a resumed run's card reports the whole run's wall time.
            def state_dict(self) -> dict[str, Any]:
                return {"wall": self.wall, "ema": dict(self.ema)}

            def load_state_dict(self, state: dict[str, Any]) -> None:
                self.wall_before = self.wall = float(state.get("wall", 0.0))
                self.ema.update(state.get("ema", {}))

            def on_train_start(self, trainer, pl_module) -> None:
                self.start = time.monotonic()

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
                metrics = trainer.callback_metrics
                for key in keys:
                    if key in metrics:
                        value = float(metrics[key])
                        self.first.setdefault(key, value)
                        prev = self.ema.get(key, value)
                        self.ema[key] = smoothing * prev + (1 - smoothing) * value
                self.steps = trainer.global_step
                self.wall = self.wall_before + time.monotonic() - self.start

        return _Stats()


# ------------------------------------------------------------------------------------------------ trainer
def _log_version(logs: Path) -> str:
    """``""`` (write ``logs/metrics.csv``) for a new run; ``part2``, ``part3``, ... for each resume.

    Lightning's CSV logger deletes an existing ``metrics.csv`` in its folder: a resumed run must not erase the
    history of the steps it continues from.
    """
    if not (logs / "metrics.csv").exists():
        return ""
    n = 2
    while (logs / f"part{n}").exists():
        n += 1
    return f"part{n}"


def build_trainer(args: argparse.Namespace, run: RunDir, callbacks: list | None = None, **overrides: Any):
    """A ``lightning.pytorch.Trainer`` from the shared arguments (see :func:`add_trainer_args`)."""
    pl = _lightning()
    from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
    from lightning.pytorch.loggers import CSVLogger

    if args.quiet:
        quiet_lightning()
    if args.threads:
        torch.set_num_threads(args.threads)
    loggers: list = [CSVLogger(str(run.root), name="logs", version=_log_version(run.root / "logs"))]
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(str(run.root), name="tb", version=""))
    cbs = list(callbacks or [])
    cbs.append(ModelCheckpoint(dirpath=str(run.checkpoints), every_n_train_steps=max(1, args.ckpt_every),
                               save_last=True, save_top_k=1, monitor=None))
    if not args.no_progress:
        cbs.append(TQDMProgressBar(refresh_rate=1))
    kw: dict[str, Any] = dict(
        accelerator=args.accelerator, devices=args.devices, num_nodes=args.num_nodes, strategy=args.strategy,
        precision=auto_precision(args.accelerator, args.precision), max_steps=args.max_steps, logger=loggers,
        callbacks=cbs, log_every_n_steps=max(1, args.log_every), enable_progress_bar=not args.no_progress,
        enable_model_summary=not args.quiet, default_root_dir=str(run.root), num_sanity_val_steps=0,
        limit_val_batches=0, benchmark=torch.cuda.is_available(),
        **({"max_time": {"minutes": args.max_minutes}} if args.max_minutes else {}),
    )
    kw.update(overrides)
    return pl.Trainer(**kw)


# ------------------------------------------------------------------------------------------------ export
def export_weights(state_dict: dict[str, torch.Tensor], config: dict[str, Any], kind: str, norm: str,
                   path: Path | None = None, dtype: torch.dtype = torch.float16,
                   extra_metadata: dict[str, str] | None = None) -> Path:
    """Write the learned weights to ``assets/<kind>_<norm>.safetensors`` (or ``path``) with the config embedded."""
    from models.common.checkpoint import ASSETS_DIR, save_checkpoint

    target = Path(path) if path is not None else ASSETS_DIR / f"{kind}_{norm}.safetensors"
    return save_checkpoint(target, state_dict, config, kind, dtype=dtype, extra_metadata=extra_metadata)


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
        dev = f"CPU {cpu}, {torch.get_num_threads()} threads (no GPU)"
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


def write_model_card(path: Path, *, title: str, kind: str, norm: str, weights: Path, data: str, steps: int,
                     wall_seconds: float, hardware: str, losses: dict[str, float], config: dict[str, Any],
                     command: str | None = None, grid: Path | None = None, eval_table: str | None = None,
                     notes: Iterable[str] = (), extra_sections: dict[str, str] | None = None) -> Path:
    """Markdown model card next to the weights: what was trained on what, for how long, how well."""
    path = Path(path)
    lines = [f"# {title}", "", f"- **kind**: `{kind}`  ", f"- **normalizer**: `{norm}`  ",
             f"- **weights**: `{weights.name}` ({weights.stat().st_size / 2**20:.1f} MiB)" if weights.exists()
             else f"- **weights**: `{weights.name}`", f"- **trained**: {_dt.date.today().isoformat()}, {steps} steps, "
             f"{format_duration(wall_seconds)} wall time", f"- **hardware**: {hardware}", f"- **data**: {data}"]
    if command:
        lines += ["", "## Command", "", "```", command, "```"]
    notes = list(notes)
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    if losses:
        lines += ["", "## Final training losses (smoothed)", "",
                  markdown_table(["term", "value"], [[k, float(v)] for k, v in losses.items()])]
    if eval_table:
        lines += ["", "## Evaluation", "", eval_table]
    if grid is not None:
        rel = os.path.relpath(grid, path.parent)
        lines += ["", "## Samples", "", f"![samples]({rel})"]
    for heading, body in (extra_sections or {}).items():
        lines += ["", f"## {heading}", "", body]
    lines += ["", "## Config", "", "```json", _json(config), "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=2, sort_keys=True)
