"""models.common.training: the Lightning pieces are plain module-level classes (picklable, so ddp_spawn works)."""

import pickle
from pathlib import Path
from dataclasses import asdict

import lightning.pytorch as pl

from models.adain.net import AdaINConfig
from models.adain.train import AdaINModule
from models.common.training import LoopConfig, RunDir, SampleGridCallback, TrainStats, build_trainer, resolve_resume
from models.spade.discriminator import DiscConfig
from models.spade.generator import GenConfig
from models.spade.train import SPADEModule, TrainConfig


def test_callbacks_and_modules_pickle_and_are_real_callbacks(tmp_path):
    callbacks = [SampleGridCallback(10, tmp_path), TrainStats(keys=("loss",))]
    for cb in callbacks:
        assert isinstance(cb, pl.Callback)
        assert type(pickle.loads(pickle.dumps(cb))) is type(cb)
    adain = AdaINModule(AdaINConfig().to_dict())
    assert isinstance(pickle.loads(pickle.dumps(adain)), AdaINModule)
    # Module-level classes pickle by reference. A SPADE *instance* does not: torch's spectral-norm
    # parametrizations refuse pickling, so SPADE's multi-GPU path is --strategy ddp, not ddp_spawn.
    assert pickle.loads(pickle.dumps(SPADEModule)) is SPADEModule
    spade = SPADEModule(
        GenConfig(arch="grid", size=32, ngf=4, spade_hidden=8, z_dim=8).to_dict(),
        asdict(DiscConfig(ndf=4, n_layers=2)),
        asdict(TrainConfig(lambda_vgg=0.0)),
    )
    assert isinstance(spade, pl.LightningModule)


def test_gan_trainer_counts_iterations_not_optimizer_steps(tmp_path):
    loop = LoopConfig(max_steps=5, ckpt_every=3, log_every=2, no_progress=True, quiet=True)
    run = RunDir.create(tmp_path / "run", kind="spade", norm="instance")
    trainer = build_trainer(loop, run, optimizer_steps_per_iteration=2)
    assert trainer.max_steps == 10 and trainer.log_every_n_steps == 2  # logging counts batches


def test_a_missing_resume_is_reported_before_any_folder_is_made(tmp_path):
    try:
        resolve_resume("last", tmp_path / "never")
    except FileNotFoundError as err:
        assert "does not exist" in str(err)
    else:
        raise AssertionError("no error")
    assert not (tmp_path / "never").exists()


def test_the_progress_bar_total_follows_the_time_budget():
    from models.common.training import BudgetProgressBar

    bar = BudgetProgressBar()
    # 10 batches in 5 s with 60 s left: 120 more fit, so the total is 130 (under a step limit of 1000) ...
    assert bar.budget_total(10, 5.0, 60.0, 1000) == 130
    # ... the step limit when it comes first, no change before a rate is known or without a budget
    assert bar.budget_total(10, 5.0, 6000.0, 1000) == 1000
    assert bar.budget_total(10, 5.0, 60.0, float("inf")) == 130
    assert bar.budget_total(2, 1.0, 60.0, 1000) is None and bar.budget_total(10, 5.0, None, 1000) is None


def test_no_progress_really_hides_the_bar(tmp_path):
    run = RunDir.create(tmp_path / "run", kind="adain", norm="instance")
    assert not build_trainer(LoopConfig(no_progress=True, quiet=True), run).progress_bar_callback
    assert build_trainer(LoopConfig(quiet=True), run).progress_bar_callback is not None


def test_bf16_on_a_cpu_without_native_kernels_warns_and_suggests_fp32(monkeypatch):
    import warnings
    from models.common import training

    monkeypatch.setattr(training, "cpu_has_bf16", lambda: False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert training.auto_precision("cpu", "bf16-mixed") == "bf16-mixed"  # the user's choice is kept
        assert training.auto_precision("cpu", None) == "32-true"
        assert training.auto_precision("cpu", "32-true") == "32-true"
        # The export's second look-up of the same run stays quiet: the warning is printed once per run.
        assert training.auto_precision("cpu", "bf16-mixed", warn=False) == "bf16-mixed"
    assert len(caught) == 1 and "32-true" in str(caught[0].message)
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        training.auto_precision("cpu", "bf16-mixed")
    assert not caught


def test_trainer_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    """A run killed while Lightning writes ``last.ckpt`` leaves the previous checkpoint whole (issue 36, req 7)."""
    import torch

    from models.common import files
    from models.common.training import AtomicCheckpointIO

    loop = LoopConfig(max_steps=5, ckpt_every=3, no_progress=True, quiet=True)
    trainer = build_trainer(loop, RunDir.create(tmp_path / "run", kind="adain", norm="batch"))
    io_plugin = trainer.strategy.checkpoint_io
    assert isinstance(io_plugin, AtomicCheckpointIO)
    target = tmp_path / "ckpt" / "last.ckpt"
    io_plugin.save_checkpoint({"step": 1, "w": torch.arange(4)}, target)
    before = target.read_bytes()

    def killed(tmp, target):  # the process dies after the bytes reached the temporary file, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(files, "publish", killed)
    try:
        io_plugin.save_checkpoint({"step": 2, "w": torch.arange(1000)}, target)
    except KeyboardInterrupt:
        pass
    assert target.read_bytes() == before
    assert torch.load(target, weights_only=True)["step"] == 1
    monkeypatch.undo()
    io_plugin.save_checkpoint({"step": 2, "w": torch.arange(1000)}, target)
    assert torch.load(target, weights_only=True)["step"] == 2
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".last")] == []  # no temporaries left


# --- each piece on its own, with its exact limits (mutation survivors of tools/mutate.py) ---


class _FakeTrainer:
    def __init__(self, global_step=0, rank0=True, metrics=None, loggers=()):
        self.global_step, self.is_global_zero = global_step, rank0
        self.callback_metrics = metrics or {}
        self.loggers = list(loggers)
        self.saved: list[str] = []

    def save_checkpoint(self, path):
        self.saved.append(path)


class _FakeModule:
    def __init__(self, iteration=None):
        if iteration is not None:
            self.iteration = iteration
        self.training = True
        self.modes: list[bool] = []

    def eval(self):
        self.training = False

    def train(self, mode=True):
        self.training = mode

    def make_grid(self):
        import torch

        self.modes.append(self.training)
        assert not torch.is_grad_enabled()
        return torch.full((3, 4, 6), 2.0)  # clamped to 1 when saved


def test_precision_defaults_follow_the_accelerator(monkeypatch):
    import torch

    from models.common.training import auto_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert [auto_precision(a, None) for a in ("cpu", "auto", "gpu", "cuda")] == [
        "32-true",
        "32-true",
        "bf16-mixed",
        "bf16-mixed",
    ]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert auto_precision("auto", None) == "bf16-mixed" and auto_precision("cpu", None) == "32-true"
    assert auto_precision("gpu", "16-mixed") == "16-mixed" and auto_precision("cpu", "") == "32-true"


def test_worker_count_and_command_line(monkeypatch):
    import os

    from models.common.training import command_line, default_workers

    for cpus, want in [(None, 0), (1, 0), (2, 1), (5, 4), (64, 4)]:
        monkeypatch.setattr(os, "cpu_count", lambda c=cpus: c)
        assert default_workers() == want, cpus
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert LoopConfig().workers() == 2 and LoopConfig(num_workers=0).workers() == 0
    assert (
        command_line("python train.py adain", ["--norm", "batch", "a b"]) == "python train.py adain --norm batch 'a b'"
    )
    monkeypatch.setattr("sys.argv", ["train.py", "--x", "1"])
    assert command_line("p", None) == "p --x 1"


def test_run_folders_are_named_made_and_inherited_only_by_child_processes(tmp_path, monkeypatch):
    import os

    from models.common import training

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(training._RUN_DIR_ENV, raising=False)
    monkeypatch.delenv(training._RUN_PID_ENV, raising=False)
    run = RunDir.create(None, "adain", "batch")
    assert run.root.parent == Path("runs") and run.root.name.startswith("adain_batch_")
    assert run.samples == run.root / "samples" and run.checkpoints == run.root / "checkpoints"
    assert run.samples.is_dir() and run.checkpoints.is_dir()
    assert os.environ[training._RUN_DIR_ENV] == str(run.root)
    assert os.environ[training._RUN_PID_ENV] == str(os.getpid())
    # a process started by this one (DDP) finds its parent's pid there and reuses the folder ...
    monkeypatch.setenv(training._RUN_PID_ENV, str(os.getppid()))
    monkeypatch.setenv(training._RUN_DIR_ENV, str(tmp_path / "parent_run"))
    assert RunDir.create(None, "adain", "batch").root == tmp_path / "parent_run"
    # ... an unrelated later run (another parent) makes its own
    monkeypatch.setenv(training._RUN_PID_ENV, "1")
    monkeypatch.setenv(training._RUN_DIR_ENV, str(tmp_path / "parent_run"))
    assert RunDir.create(None, "spade", "group").root.name.startswith("spade_group_")
    assert RunDir.create(tmp_path / "given", "adain", "batch").root == tmp_path / "given"


def test_resume_paths(tmp_path):
    import pytest

    assert resolve_resume(None, tmp_path) is None and resolve_resume("", tmp_path) is None
    with pytest.raises(FileNotFoundError, match="--resume last needs --run-dir"):
        resolve_resume("last", None)
    with pytest.raises(FileNotFoundError, match=r"does not exist \(pass the same --run-dir as the interrupted run\)"):
        resolve_resume("last", tmp_path)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert resolve_resume("last", tmp_path) == str(tmp_path / "checkpoints" / "last.ckpt")
    with pytest.raises(FileNotFoundError, match=r"checkpoint .*other.ckpt does not exist$"):
        resolve_resume(str(tmp_path / "other.ckpt"), None)
    with pytest.raises(FileNotFoundError):
        resolve_resume(str(tmp_path / "checkpoints"), None)  # a folder is not a checkpoint
    assert resolve_resume(str(tmp_path / "checkpoints" / "last.ckpt"), None).endswith("last.ckpt")


def test_sample_grids_at_each_multiple_once_on_rank_zero_in_eval_mode(tmp_path):
    from PIL import Image

    cb = SampleGridCallback(3, tmp_path)
    module = _FakeModule()
    trainer = _FakeTrainer()
    for step in (0, 1, 2, 3, 3, 4, 6):
        trainer.global_step = step
        cb.on_train_batch_end(trainer, module, None, None, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.png", "step_0000003.png", "step_0000006.png"]
    assert module.modes == [False, False] and module.training is True  # eval for the grid, training restored
    assert cb.last_path == tmp_path / "step_0000006.png"
    assert Image.open(cb.last_path).getextrema() == ((255, 255), (255, 255), (255, 255))
    module.iteration = 7  # a GAN module's own count wins over global_step
    cb.on_train_end(trainer, module)
    assert (tmp_path / "step_0000007.png").is_file()
    other = tmp_path / "rank1"
    SampleGridCallback(3, other).on_train_end(_FakeTrainer(3, rank0=False), _FakeModule())
    assert not other.exists() or not any(other.iterdir())
    never = tmp_path / "never"
    cb0 = SampleGridCallback(0, never)
    for step in (0, 5):
        cb0.on_train_batch_end(_FakeTrainer(step), _FakeModule(), None, None, 0)
    cb0.on_train_end(_FakeTrainer(5), _FakeModule())
    assert not never.exists() or not any(never.iterdir())


def test_sample_grids_go_to_a_logger_that_takes_images(tmp_path):
    class Exp:
        def __init__(self):
            self.images = []

        def add_image(self, tag, grid, step):
            self.images.append((tag, tuple(grid.shape), step, float(grid.max())))

    class Logger:
        experiment = Exp()

    class Plain:
        experiment = object()

    logger = Logger()
    SampleGridCallback(2, tmp_path).on_train_end(_FakeTrainer(4, loggers=[Plain(), logger]), _FakeModule())
    assert logger.experiment.images == [("samples", (3, 4, 6), 4, 1.0)]


def test_train_stats_smooth_remember_first_values_and_carry_wall_time_over_a_resume(monkeypatch):
    import time

    import torch

    from models.common import training

    stats = TrainStats(keys=("loss", "d"), smoothing=0.5)
    clock = iter([100.0, 110.0, 120.0])
    monkeypatch.setattr(time, "monotonic", lambda: next(clock))
    stats.load_state_dict({"wall": 30.0, "ema": {"d": 4.0}})
    assert stats.wall_before == 30.0 and stats.ema == {"d": 4.0}
    stats.on_train_start(None, None)
    trainer = _FakeTrainer(global_step=1, metrics={"loss": torch.tensor(2.0), "d": torch.tensor(2.0), "x": 9.0})
    stats.on_train_batch_end(trainer, _FakeModule(), None, None, 0)
    assert stats.ema == {"loss": 2.0, "d": 3.0} and stats.first == {"loss": 2.0, "d": 2.0}
    trainer.callback_metrics = {"loss": torch.tensor(4.0)}
    trainer.global_step = 2
    stats.on_train_batch_end(trainer, _FakeModule(iteration=1), None, None, 0)
    assert stats.ema["loss"] == 3.0 and stats.first["loss"] == 2.0 and stats.steps == 1
    assert stats.wall == 30.0 + 20.0
    assert stats.state_dict() == {"wall": 50.0, "ema": {"loss": 3.0, "d": 3.0}}
    monkeypatch.undo()
    fresh = TrainStats()
    fresh.load_state_dict({})
    assert (fresh.wall, fresh.keys, fresh.smoothing) == (0.0, ("loss",), 0.98)
    assert training._iteration(_FakeTrainer(global_step=8), _FakeModule()) == 8


def test_budget_total_edges():
    from models.common.training import BudgetProgressBar

    bar = BudgetProgressBar(min_batches=5)
    assert bar.budget_total(5, 5.0, 10.0, None) == 15  # exactly min_batches is enough, no step limit
    assert bar.budget_total(4, 5.0, 10.0, None) is None
    assert bar.budget_total(10, 0.0, 10.0, None) is None  # no rate yet
    assert bar.budget_total(10, 5.0, -3.0, 1000) == 10  # the budget is spent: what is done is the total
    assert bar.budget_total(10, 4.0, 1.0, 1000) == 12  # 2.5 more batches fit: rounded down
    assert bar.min_batches == 5 and BudgetProgressBar().min_batches == 5


def test_metrics_of_a_resumed_run_go_to_a_new_part(tmp_path):
    from models.common.training import _log_version

    assert _log_version(tmp_path) == ""
    (tmp_path / "metrics.csv").write_text("step\n")
    assert _log_version(tmp_path) == "part2"
    (tmp_path / "part2").mkdir()
    (tmp_path / "part3").mkdir()
    assert _log_version(tmp_path) == "part4"


def test_last_checkpoint_on_end_only_after_a_step_and_no_storage_options(tmp_path):
    import pytest

    from models.common.training import AtomicCheckpointIO, SaveLastOnEnd

    cb = SaveLastOnEnd(tmp_path / "last.ckpt")
    idle, worked = _FakeTrainer(global_step=0), _FakeTrainer(global_step=1)
    cb.on_train_end(idle, None)
    cb.on_train_end(worked, None)
    assert idle.saved == [] and worked.saved == [str(tmp_path / "last.ckpt")]
    with pytest.raises(TypeError, match="AtomicCheckpointIO takes no storage_options, got {'a': 1}"):
        AtomicCheckpointIO().save_checkpoint({}, tmp_path / "x.ckpt", storage_options={"a": 1})
    AtomicCheckpointIO().save_checkpoint({"k": 1}, tmp_path / "deep" / "x.ckpt")  # parents made
    assert (tmp_path / "deep" / "x.ckpt").is_file()


def test_trainer_settings_come_from_the_loop_config(tmp_path, monkeypatch):
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint

    from models.common.training import SaveLastOnEnd

    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    run = RunDir.create(tmp_path / "run", kind="adain", norm="batch")
    loop = LoopConfig(max_steps=7, ckpt_every=4, log_every=0, threads=3, max_minutes=2.5, no_progress=True, quiet=True)
    trainer = build_trainer(loop, run, optimizer_steps_per_iteration=2)
    assert threads == [3] and trainer.max_steps == 14 and trainer.log_every_n_steps == 1
    ckpt = next(c for c in trainer.callbacks if isinstance(c, ModelCheckpoint))
    assert ckpt._every_n_train_steps == 8 and ckpt.dirpath == str(run.checkpoints) and ckpt.save_last
    last = [c for c in trainer.callbacks if isinstance(c, SaveLastOnEnd)]
    assert len(last) == 1 and last[0].path == run.checkpoints / "last.ckpt"
    from lightning.pytorch.callbacks import Timer

    timer = next(c for c in trainer.callbacks if isinstance(c, Timer))
    assert timer._duration == 150.0
    one = build_trainer(LoopConfig(max_steps=7, ckpt_every=0, no_progress=True, quiet=True), run)
    assert (
        one.max_steps == 7
        and next(c for c in one.callbacks if isinstance(c, ModelCheckpoint))._every_n_train_steps == 1
    )
    assert not any(isinstance(c, Timer) for c in one.callbacks)
    assert build_trainer(LoopConfig(quiet=True, no_progress=True), run, max_steps=3).max_steps == 3  # overrides win


def test_export_targets_and_what_stops_an_export(tmp_path, monkeypatch):
    from models.common import training

    monkeypatch.setenv("NORMLAB_MODELS", str(tmp_path / "models"))
    assert training.export_target(LoopConfig(), "adain", "batch") == tmp_path / "models" / "adain_batch.safetensors"
    assert training.export_target(LoopConfig(export="none"), "adain", "batch") is None
    assert training.export_target(LoopConfig(export=tmp_path / "w.safetensors"), "a", "b") == tmp_path / "w.safetensors"
    assert training.export_problem(LoopConfig(export="none"), "adain", "batch") is None
    shipped = training.REPO_ASSETS / "adain_batch.safetensors"
    problem = training.export_problem(LoopConfig(export=shipped), "adain", "batch")
    assert problem.startswith(f"--export {shipped} is in the bundled weights folder") and "--force" in problem
    assert training.export_problem(LoopConfig(export=shipped, force=True), "adain", "batch") is None
    existing = tmp_path / "mine.safetensors"
    existing.write_bytes(b"x")
    assert "the export would replace" in training.export_problem(LoopConfig(export=existing), "adain", "batch")
    assert training.export_problem(LoopConfig(export=existing, resume="last"), "adain", "batch") is None
    assert training.export_problem(LoopConfig(export=tmp_path / "new.safetensors"), "adain", "batch") is None
    assert training._inside(tmp_path / "a" / "b", tmp_path) and not training._inside(tmp_path, tmp_path / "a")
    free = training._free_name(existing)
    assert free == tmp_path / "mine-2.safetensors"
    free.write_bytes(b"y")
    assert training._free_name(existing) == tmp_path / "mine-3.safetensors"
    assert training._free_name(tmp_path / "absent.safetensors") == tmp_path / "absent.safetensors"


def test_quiet_lightning_and_harmless_warnings(monkeypatch):
    import logging
    import warnings

    from models.common import training

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.INFO)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        training.quiet_lightning()
        training.silence_harmless_warnings()
        warnings.warn("Tip: use a GPU")
        warnings.warn("The dataloader does not have many workers which may be a bottleneck")
        warnings.warn("a real problem")
    assert [str(w.message) for w in caught] == ["a real problem"]
    assert all(
        logging.getLogger(n).level == logging.ERROR
        for n in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning")
    )
