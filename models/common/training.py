"""Shared Lightning pieces for every normlab trainer (AdaIN, SPADE): the only module besides the trainers that
imports Lightning.

One place decides: the training-loop flags (:class:`LoopConfig`, turned into ``--max-steps``, ``--precision``, ...),
accelerator and precision (GPU -> bf16-mixed, CPU -> fp32 unless asked), the progress bar, logging (TensorBoard when
importable, CSV always), periodic resumable checkpoints, the sample-grid and statistics callbacks, and the end of a
run (:func:`finish_run`: export to ``assets/<kind>_<norm>.safetensors``, sample grid, model card).
Multi-GPU / multi-node training is Lightning's: ``--devices``, ``--num-nodes`` and ``--strategy`` are passed through
unchanged; there is no distribution code here.

Typical use in a trainer::

    add_config_args(parser, LoopConfig, defaults={"max_steps": 3000})
    loop = config_from_args(LoopConfig, args)
    run = RunDir.create(loop.run_dir, kind="adain", norm=norm)
    trainer = build_trainer(loop, run, callbacks=[SampleGridCallback(loop.sample_every, run.samples)])
    trainer.fit(module, datamodule=data, ckpt_path=resolve_resume(loop.resume, run))
    finish_run(trainer, run, loop, kind="adain", norm=norm, state_dict=..., config=..., stats=stats, ...)
"""

from __future__ import annotations

import datetime as _dt
import io
import importlib.util
import logging
import os
import shlex
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, Timer, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from models.common.accel import cpu_has_bf16
from models.common.assets import REPO_ASSETS, assets_dir, models_dir
from models.common.files import write_atomic
from models.common.cards import hardware_summary, write_model_card
from models.common.checkpoint import save_checkpoint
from models.common.config import export_arg, option
from models.common.imageio import save_png

__all__ = [
    "BudgetProgressBar",
    "LoopConfig",
    "auto_precision",
    "build_trainer",
    "RunDir",
    "SampleGridCallback",
    "TrainStats",
    "export_problem",
    "export_target",
    "export_weights",
    "finish_run",
    "resolve_resume",
    "quiet_lightning",
    "silence_harmless_warnings",
    "default_workers",
    "command_line",
]


# ------------------------------------------------------------------------------------------------ flags
@dataclass
class LoopConfig:
    """The training-loop options every trainer shares (each model overrides a few defaults)."""

    max_steps: int = option(10_000, "optimizer steps (iterations) to run")
    max_minutes: float | None = option(
        None,
        "also stop after this much wall time (then export as usual); a budget for shared machines. It counts "
        "the whole run: after --resume, the time of the earlier parts is included",
    )
    threads: int | None = option(None, "torch CPU threads", default_text="torch's choice")
    seed: int = option(0, "random seed")
    accelerator: str = option("auto", "Lightning accelerator: auto | cpu | gpu")
    devices: str = option("auto", "Lightning devices, e.g. 1, 4 or 0,1")
    num_nodes: int = option(1, "Lightning num_nodes for multi-node DDP")
    strategy: str = option("auto", "Lightning strategy, e.g. ddp")
    precision: str | None = option(
        None,
        "Lightning precision (bf16-mixed on a CPU with AMX/AVX512-BF16 is about 2x faster)",
        default_text="bf16-mixed on GPU, 32-true on CPU",
    )
    num_workers: int | None = option(None, "data loader workers", default_text="min(4, CPUs - 1)")
    run_dir: Path | None = option(
        None, "where logs, samples and checkpoints go", default_text="runs/<kind>_<norm>_<time>"
    )
    resume: str | None = option(None, "resume from a Lightning .ckpt, or 'last' for RUN_DIR/checkpoints/last.ckpt")
    sample_every: int = option(500, "write a sample grid every N steps (0 = never)")
    ckpt_every: int = option(250, "save a resumable checkpoint every N steps")
    log_every: int = option(25, "log losses every N steps")
    export: Path | str | None = option(
        None,
        "where to write the weights and model card at the end; 'none' skips the export",
        type=export_arg,
        default_text="your models folder, ~/.local/share/normlab/models/<kind>_<norm>.safetensors ($NORMLAB_MODELS "
        "moves it), which `normlab` and the app also read, as my-<norm>",
    )
    force: bool = option(
        False,
        "let the export replace an existing file or write into the bundled assets/ "
        "folder (refused otherwise, before training starts)",
    )
    no_progress: bool = option(False, "hide the progress bar (logs still written)")
    quiet: bool = option(False, "silence Lightning's informational messages")

    def workers(self) -> int:
        return default_workers() if self.num_workers is None else self.num_workers


def auto_precision(accelerator: str, requested: str | None, warn: bool = True) -> str:
    """bf16-mixed on GPU, fp32 on CPU, unless the user asked for something (warned when it is a slow choice;
    ``warn=False`` for the second look-up of the same run, so the warning is printed once)."""
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if requested:
        if warn and requested.startswith("bf16") and not on_gpu and not cpu_has_bf16():
            warnings.warn(
                f"--precision {requested} on a CPU without AMX/AVX512-BF16: torch emulates bf16 there "
                "and it runs several times slower than fp32; use --precision 32-true",
                stacklevel=2,
            )
        return requested
    return "bf16-mixed" if on_gpu else "32-true"


def default_workers() -> int:
    return max(0, min(4, (os.cpu_count() or 1) - 1))


# Warnings Lightning prints on every normlab run that say nothing about the user's run; each is filtered by its
# message, so any other (real) warning still shows:
HARMLESS_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\).*",  # Lightning's own use of a torch API that torch deprecated
    r".*LeafSpec.*is deprecated.*",
    r".*module\(s\) in eval mode.*",  # the frozen VGG encoder / loss network is in eval mode on purpose
    r".*does not have many workers.*",  # data is preloaded (AdaIN) or rendered on the device (SPADE) on purpose
    r".*Experiment logs directory .* exists and is not empty.*",  # a resume logs to its own partN/ folder
    r".*Checkpoint directory .* exists and is not empty.*",  # resuming into the same run folder is the point
    r".*log_every_n_steps.*",  # short test runs log less often than Lightning's default expects
    r".*that the dataloader is not resumable.*|.*dataloader.*not.*resum.*",  # fresh random pairs on resume
    r".*GPU available but not used.*",  # --accelerator cpu was asked for
)


def silence_harmless_warnings() -> None:
    """Filter :data:`HARMLESS_WARNINGS` (always on: they flood every run's log)."""
    for pattern in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def quiet_lightning() -> None:
    """``--quiet``: also Lightning's informational log lines (GPU/TPU availability, model summary, tips)."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*Tip.*")


def command_line(prefix: str, argv: list[str] | None) -> str:
    """The command that started this run, for the model card."""
    return prefix + " " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))


# ------------------------------------------------------------------------------------------------ run folder
_RUN_DIR_ENV, _RUN_PID_ENV = "NORMLAB_RUN_DIR", "NORMLAB_RUN_PARENT"  # read by the processes a DDP launch starts


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
    def create(cls, root: Path | None, kind: str, norm: str) -> "RunDir":
        """The run folder: ``root``, or ``runs/<kind>_<norm>_<time>``. Processes that a multi-process launch
        (Lightning's DDP) starts from this one inherit its folder through the environment: one folder per run."""
        if root is None:
            inherited = os.environ.get(_RUN_DIR_ENV)
            if inherited and os.environ.get(_RUN_PID_ENV) == str(os.getppid()):
                root = Path(inherited)
            else:
                stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
                root = Path("runs") / f"{kind}_{norm}_{stamp}"
        os.environ[_RUN_DIR_ENV], os.environ[_RUN_PID_ENV] = str(root), str(os.getpid())
        run = cls(Path(root))
        for folder in (run.root, run.samples, run.checkpoints):
            folder.mkdir(parents=True, exist_ok=True)
        return run


def resolve_resume(resume: str | None, run_dir: Path | None) -> str | None:
    """``--resume`` value -> a checkpoint path for ``Trainer.fit(ckpt_path=...)``; clear error if missing.

    Checked before the run folder is created, so a mistyped resume leaves no empty folder behind.
    """
    if not resume:
        return None
    if resume == "last":
        if run_dir is None:
            raise FileNotFoundError("--resume last needs --run-dir (the folder of the interrupted run)")
        path = Path(run_dir) / "checkpoints" / "last.ckpt"
    else:
        path = Path(resume)
    if not path.is_file():
        raise FileNotFoundError(
            f"--resume: checkpoint {path} does not exist"
            + (" (pass the same --run-dir as the interrupted run)" if resume == "last" else "")
        )
    return str(path)


# ------------------------------------------------------------------------------------------------ callbacks
def _iteration(trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> int:
    # A GAN module steps two optimizers per iteration; it reports its own count.
    return int(getattr(pl_module, "iteration", trainer.global_step))


class SampleGridCallback(pl.Callback):
    """Saves the module's ``make_grid() -> (3, H, W)`` every N iterations and at the end of training.

    Writes ``samples/step_XXXXXXX.png`` and ``samples/latest.png`` (rank 0 only), and logs the grid to TensorBoard
    when that logger is active. ``make_grid`` runs under ``torch.no_grad`` with the module in eval mode. The grid
    comes from a method of the module (not a closure), so the callback pickles (``ddp_spawn``).
    """

    def __init__(self, every_n_steps: int, out_dir: Path) -> None:
        self.every, self.out_dir = every_n_steps, Path(out_dir)
        self.last_path: Path | None = None
        self._last_step = -1

    def _save(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        if not trainer.is_global_zero:
            return
        was_training = pl_module.training
        pl_module.eval()
        try:
            with torch.no_grad():
                grid = pl_module.make_grid().detach().float().cpu().clamp(0, 1)
        finally:
            pl_module.train(was_training)
        step = _iteration(trainer, pl_module)
        path = save_png(grid, self.out_dir / f"step_{step:07d}.png")
        save_png(grid, self.out_dir / "latest.png")
        self.last_path, self._last_step = path, step
        for logger in trainer.loggers:
            exp = getattr(logger, "experiment", None)
            if hasattr(exp, "add_image"):
                exp.add_image("samples", grid, step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = _iteration(trainer, pl_module)
        if self.every > 0 and step > 0 and step % self.every == 0 and step != self._last_step:
            self._save(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.every > 0:
            self._save(trainer, pl_module)


class TrainStats(pl.Callback):
    """Tracks wall time and smoothed losses (for the model card and summary); saved in checkpoints, so a resumed
    run's card reports the whole run's wall time."""

    def __init__(self, keys: Iterable[str] = ("loss",), smoothing: float = 0.98) -> None:
        self.keys, self.smoothing = tuple(keys), smoothing
        self.ema: dict[str, float] = {}
        self.first: dict[str, float] = {}
        self.start = time.monotonic()
        self.wall = 0.0
        self.wall_before = 0.0  # wall time of the runs this one resumes (restored from the checkpoint)
        self.steps = 0

    def state_dict(self) -> dict[str, Any]:
        return {"wall": self.wall, "ema": dict(self.ema)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.wall_before = self.wall = float(state.get("wall", 0.0))
        self.ema.update(state.get("ema", {}))

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        metrics = trainer.callback_metrics
        for key in self.keys:
            if key in metrics:
                value = float(metrics[key])
                self.first.setdefault(key, value)
                prev = self.ema.get(key, value)
                self.ema[key] = self.smoothing * prev + (1 - self.smoothing) * value
        self.steps = _iteration(trainer, pl_module)
        self.wall = self.wall_before + time.monotonic() - self.start


class BudgetProgressBar(TQDMProgressBar):
    """Lightning's progress bar, with a total (and so an ETA) that tells the truth when ``--max-minutes`` ends the
    run: the iterations that fit in the remaining wall-time budget at the rate measured so far, or the step limit,
    whichever is smaller."""

    def __init__(self, refresh_rate: int = 1, min_batches: int = 5) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self.min_batches = min_batches
        self._t0 = time.monotonic()

    def on_train_epoch_start(self, trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self._t0 = time.monotonic()

    def budget_total(self, n: int, elapsed: float, remaining: float | None, limit: float | None) -> int | None:
        """The total to show after ``n`` batches in ``elapsed`` s with ``remaining`` s of budget left."""
        if remaining is None or n < self.min_batches or elapsed <= 0:
            return None
        estimate = n + int(n / elapsed * max(remaining, 0.0))
        return estimate if limit is None or limit == float("inf") else min(int(limit), estimate)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
        bar = self._train_progress_bar
        if timer is None or bar is None:
            return
        total = self.budget_total(
            batch_idx + 1, time.monotonic() - self._t0, timer.time_remaining("train"), self.total_train_batches
        )
        if total is not None and total != bar.total:
            bar.total = total
            bar.refresh()


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


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, through a temporary file and a rename: a run killed mid-write (or a reader in
    another process, e.g. `normlab checkpoints` on a live run) never sees a half-written ``last.ckpt``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, buffer.getvalue())


class SaveLastOnEnd(pl.Callback):
    """Write ``last.ckpt`` when training ends (``--max-steps`` reached, ``--max-minutes`` up, or stopped), so a resume
    starts from the last step instead of redoing up to ``--ckpt-every`` of them."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_train_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        if trainer.global_step > 0:  # the whole state (optimizers, loops): what a resume needs
            trainer.save_checkpoint(str(self.path), weights_only=False)


def build_trainer(
    loop: LoopConfig,
    run: RunDir,
    callbacks: list | None = None,
    *,
    optimizer_steps_per_iteration: int = 1,
    **overrides: Any,
) -> "pl.Trainer":
    """A ``lightning.pytorch.Trainer`` from the loop config.

    ``optimizer_steps_per_iteration``: Lightning's ``global_step`` counts every optimizer step, so a GAN (one G
    and one D step per iteration) passes 2 and the settings counted in global steps (``max_steps``, checkpoint
    interval) are scaled to iterations; logging is counted in batches already.
    """
    silence_harmless_warnings()
    if loop.quiet:
        quiet_lightning()
    if loop.threads:
        torch.set_num_threads(loop.threads)
    k = max(1, optimizer_steps_per_iteration)
    if k > 1:  # a manual GAN loop checkpoints after both updates on purpose; Lightning's generic advice is moot
        warnings.filterwarnings("ignore", message=".*manual optimization and every_n_train_steps.*")
    loggers: list = [CSVLogger(str(run.root), name="logs", version=_log_version(run.root / "logs"))]
    # TensorBoard is optional (not a dependency): logged to only when it is installed.
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(str(run.root), name="tb", version=""))
    cbs = list(callbacks or [])
    cbs.append(SaveLastOnEnd(run.checkpoints / "last.ckpt"))
    cbs.append(
        ModelCheckpoint(
            dirpath=str(run.checkpoints),
            every_n_train_steps=k * max(1, loop.ckpt_every),
            save_last=True,
            save_top_k=1,
            monitor=None,
        )
    )
    if not loop.no_progress:
        cbs.append(BudgetProgressBar(refresh_rate=1))
    kw: dict[str, Any] = dict(
        accelerator=loop.accelerator,
        devices=loop.devices,
        num_nodes=loop.num_nodes,
        strategy=loop.strategy,
        precision=auto_precision(loop.accelerator, loop.precision),
        max_steps=k * loop.max_steps,
        logger=loggers,
        callbacks=cbs,
        plugins=[AtomicCheckpointIO()],
        log_every_n_steps=max(1, loop.log_every),  # (counted in batches, i.e. iterations)
        enable_progress_bar=not loop.no_progress,
        enable_model_summary=not loop.quiet,
        default_root_dir=str(run.root),
        num_sanity_val_steps=0,
        limit_val_batches=0,
        benchmark=torch.cuda.is_available(),
        **({"max_time": {"minutes": loop.max_minutes}} if loop.max_minutes else {}),
    )
    kw.update(overrides)
    return pl.Trainer(**kw)


# ------------------------------------------------------------------------------------------------ export
def export_target(loop: LoopConfig, kind: str, norm: str) -> Path | None:
    """Where the run's export goes: ``--export PATH``, else the user's models folder; None for ``--export none``."""
    if loop.export == "none":
        return None
    return Path(loop.export) if loop.export is not None else models_dir() / f"{kind}_{norm}.safetensors"


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def export_problem(loop: LoopConfig, kind: str, norm: str) -> str | None:
    """Why the export would clobber something (checked before training, so no run is lost to it), or None.

    Without ``--force`` a run never writes into the bundled assets folder and never replaces an existing file
    (except a resumed run, which replaces its own earlier export).
    """
    target = export_target(loop, kind, norm)
    if target is None or loop.force:
        return None
    bundled = {REPO_ASSETS, assets_dir()}
    if any(_inside(target, folder) for folder in bundled):
        return (
            f"--export {target} is in the bundled weights folder ({target.parent}); training never replaces "
            f"shipped weights unless you pass --force. Leave --export out to write to your models folder "
            f"({models_dir()}), or pass another path"
        )
    if target.exists() and loop.resume is None:  # a resumed run may replace its own earlier export
        return (
            f"the export would replace {target}; pass --force to replace it, --export PATH to write elsewhere, "
            f"or --export none"
        )
    return None


def export_weights(
    state_dict: dict[str, torch.Tensor],
    config: dict[str, Any],
    kind: str,
    norm: str,
    path: Path | None = None,
    dtype: torch.dtype = torch.float16,
    extra_metadata: dict[str, str] | None = None,
) -> Path:
    """Write the learned weights to ``path`` (default: the user's models folder) with the config embedded."""
    target = Path(path) if path is not None else models_dir() / f"{kind}_{norm}.safetensors"
    return save_checkpoint(target, state_dict, config, kind, dtype=dtype, extra_metadata=extra_metadata)


def _free_name(target: Path) -> Path:
    """``target``, or ``<stem>-2``, ``-3``... when a file of that name exists (never replace without --force)."""
    n, candidate = 2, target
    while candidate.exists():
        candidate = target.with_name(f"{target.stem}-{n}{target.suffix}")
        n += 1
    return candidate


def finish_run(
    trainer: "pl.Trainer",
    run: RunDir,
    loop: LoopConfig,
    *,
    kind: str,
    norm: str,
    state_dict: dict[str, torch.Tensor],
    config: dict[str, Any],
    card_config: dict[str, Any] | None = None,
    steps: int,
    stats: TrainStats,
    title: str,
    data: str,
    command: str,
    notes: Iterable[str] = (),
    extra_sections: dict[str, str] | None = None,
) -> Path | None:
    """The end of every training run: export the weights, copy the latest sample grid next to them, write the
    model card. Returns the weights' path, or None when ``--export none`` (or not rank 0)."""
    target = export_target(loop, kind, norm)
    if not trainer.is_global_zero or target is None:
        return None
    if not loop.force and loop.resume is None and target.exists():
        # the start-up check passed, so the file appeared during the run: keep both rather than lose either
        free = _free_name(target)
        print(f"warning: {target} appeared during training; exporting to {free} instead", file=sys.stderr)
        target = free
    weights = export_weights(state_dict, config, kind, norm, path=target, extra_metadata={"normlab_steps": str(steps)})
    grid = None
    if (run.samples / "latest.png").is_file():
        grid = weights.with_name(weights.stem + "_samples.png")
        write_atomic(grid, (run.samples / "latest.png").read_bytes())
    precision = auto_precision(loop.accelerator, loop.precision, warn=False)
    card = write_model_card(
        weights.with_suffix(".md"),
        title=title,
        kind=kind,
        norm=norm,
        weights=weights,
        data=data,
        steps=steps,
        wall_seconds=stats.wall,
        hardware=f"{hardware_summary()}; precision {precision}"
        + (f"; {trainer.world_size} processes (DDP), the batch size is per process" if trainer.world_size > 1 else ""),
        losses=stats.ema,
        config=card_config if card_config is not None else config,
        grid=grid,
        command=command,
        notes=[*notes, f"run folder: {run.root}"],
        extra_sections=extra_sections,
    )
    print(f"trained {steps} steps; exported {weights} and {card}", file=sys.stderr)
    return weights
