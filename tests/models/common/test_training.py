"""models.common.training: the Lightning pieces are plain module-level classes (picklable, so ddp_spawn works)."""

import pickle
import types

import pytest
from pathlib import Path
from dataclasses import asdict

import lightning.pytorch as pl
import torch

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

    def save_checkpoint(self, path, weights_only=None):
        self.saved.append(path)
        self.weights_only = weights_only


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
    # ... an unrelated later run (another parent; not "1": a test run started in the background has init as parent)
    monkeypatch.setenv(training._RUN_PID_ENV, str(os.getppid() + 100_000))
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
    import torch

    from models.common import training

    stats = TrainStats(keys=("loss", "d"), smoothing=0.5)
    clock = iter([100.0, 110.0, 120.0])
    # the training module's clock only: threads other tests left running (Gradio's) read time.monotonic too
    monkeypatch.setattr(training, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
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
    # the whole state (optimizers, loops) for a resume, said explicitly: Lightning logs a note when it is left out
    assert worked.weights_only is False
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


# --- finish_run / export_weights: the end of every run, on a fake trainer (mutation survivors of tools/mutate.py) ---


def _finish(tmp_path, monkeypatch, *, zero=True, world=1, card_config=None, **loop_kw):
    import types
    import warnings

    import torch

    from models.common import training as tr

    monkeypatch.setattr(tr, "hardware_summary", lambda: "HW")
    monkeypatch.setattr(tr, "cpu_has_bf16", lambda: False)  # bf16 would be slow: warned at the start, not here
    run = RunDir.create(tmp_path / "run", kind="adain", norm="layer")
    loop = LoopConfig(**{"export": tmp_path / "out" / "w.safetensors", "precision": "bf16-mixed", **loop_kw})
    stats = TrainStats(keys=("loss",))
    stats.wall, stats.ema = 125.0, {"loss": 0.25, "style": 1.5}
    trainer = types.SimpleNamespace(is_global_zero=zero, world_size=world)
    state = {"a.weight": torch.tensor([1.0, 2.5]), "steps": torch.tensor([3])}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = tr.finish_run(
            trainer,
            run,
            loop,
            kind="adain",
            norm="layer",
            state_dict=state,
            config={"c": 1},
            card_config=card_config,
            steps=77,
            stats=stats,
            title="The title",
            data="the data",
            command="train.py adain --norm layer",
            notes=["a note"],
            extra_sections={"Extra": "body text"},
        )
    assert not [w for w in caught if "emulates bf16" in str(w.message)]  # the run's start warned already
    return got, run, loop


def test_finish_run_exports_weights_samples_and_the_card(tmp_path, monkeypatch, capsys):
    import torch

    from models.common.checkpoint import load_checkpoint, read_metadata

    got, run, loop = _finish(tmp_path, monkeypatch, card_config={"shown": 2})
    assert got == tmp_path / "out" / "w.safetensors" and got.is_file()
    state, config = load_checkpoint(got, "adain")
    assert config == {"c": 1} and torch.equal(state["a.weight"], torch.tensor([1.0, 2.5]))
    assert state["a.weight"].dtype == torch.float32 and torch.equal(state["steps"], torch.tensor([3]))
    meta = read_metadata(got)
    assert meta["normlab_steps"] == "77"
    from safetensors import safe_open

    with safe_open(str(got), framework="pt") as f:
        assert f.get_tensor("a.weight").dtype == torch.float16  # exports are fp16
    card = got.with_suffix(".md").read_text()
    assert card.startswith("# The title\n")
    for words in [
        "- **kind**: `adain`",
        "- **normalizer**: `layer`",
        "77 steps, 2m 05s wall time",  # stats.wall
        "- **hardware**: HW; precision bf16-mixed\n",
        "- **data**: the data",
        "train.py adain --norm layer",
        "- a note",
        f"- run folder: {run.root}",
        "| loss | 0.25 |",
        "| style | 1.5 |",
        "## Extra\n\nbody text",
        '"shown": 2',
    ]:
        assert words in card, words
    assert '"c": 1' not in card  # the card shows card_config when given
    assert "## Samples" not in card and not got.with_name("w_samples.png").exists()  # no grid was written
    assert f"trained 77 steps; exported {got} and {got.with_suffix('.md')}" in capsys.readouterr().err


def test_finish_run_never_replaces_a_file_that_appeared(tmp_path, monkeypatch, capsys):
    from models.common.checkpoint import read_metadata

    first, _, _ = _finish(tmp_path, monkeypatch)
    capsys.readouterr()
    second, run2, _ = _finish(tmp_path / "again", monkeypatch, export=first)
    assert second == first.with_name("w-2.safetensors") and second.is_file()
    assert f"warning: {first} appeared during training; exporting to {second} instead" in capsys.readouterr().err
    third, _, _ = _finish(tmp_path / "third", monkeypatch, export=first)
    assert third == first.with_name("w-3.safetensors")
    # a resumed run replaces its own export; --force replaces too
    for kw in (dict(resume="last"), dict(force=True)):
        got, _, _ = _finish(tmp_path / f"r{len(kw)}{list(kw)[0]}", monkeypatch, export=first, **kw)
        assert got == first and read_metadata(first)["normlab_steps"] == "77"


def test_finish_run_with_a_sample_grid_links_it_from_the_card(tmp_path, monkeypatch):
    from PIL import Image

    from models.common import training as tr

    run = RunDir.create(tmp_path / "run", kind="adain", norm="layer")
    run.samples.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (9, 8, 7)).save(run.samples / "latest.png")
    monkeypatch.setattr(tr.RunDir, "create", classmethod(lambda cls, root, kind, norm: run))
    got, _, _ = _finish(tmp_path, monkeypatch)
    grid = got.with_name("w_samples.png")
    assert grid.read_bytes() == (run.samples / "latest.png").read_bytes()
    assert "## Samples\n\n![samples](w_samples.png)" in got.with_suffix(".md").read_text()


def test_finish_run_defaults_to_the_models_folder_and_the_card_shows_the_config(tmp_path, monkeypatch):
    monkeypatch.setenv("NORMLAB_MODELS", str(tmp_path / "models"))
    got, _, _ = _finish(tmp_path, monkeypatch, export=None)
    assert got == tmp_path / "models" / "adain_layer.safetensors" and got.is_file()
    assert '"c": 1' in got.with_suffix(".md").read_text()  # no card_config: the config itself


def test_finish_run_exports_nothing_off_rank_zero_or_with_export_none(tmp_path, monkeypatch):
    got, _, _ = _finish(tmp_path, monkeypatch, zero=False)
    assert got is None and not (tmp_path / "out").exists()
    got, _, _ = _finish(tmp_path, monkeypatch, export="none")
    assert got is None and not (tmp_path / "out").exists()


def test_finish_run_names_the_processes_of_a_ddp_run(tmp_path, monkeypatch):
    got, _, _ = _finish(tmp_path, monkeypatch, world=2)
    card = got.with_suffix(".md").read_text()
    assert "- **hardware**: HW; precision bf16-mixed; 2 processes (DDP), the batch size is per process\n" in card


def test_export_weights_defaults_to_the_models_folder_in_fp16(tmp_path, monkeypatch):
    import torch

    from models.common.checkpoint import read_metadata
    from models.common.training import export_weights

    monkeypatch.setenv("NORMLAB_MODELS", str(tmp_path / "models"))
    got = export_weights({"w": torch.ones(2)}, {"k": 1}, "spade", "batch", extra_metadata={"x": "y"})
    assert got == tmp_path / "models" / "spade_batch.safetensors"
    meta = read_metadata(got)
    assert meta["normlab_kind"] == "spade" and meta["x"] == "y" and meta["normlab_config"] == '{"k": 1}'
    from safetensors import safe_open

    with safe_open(str(got), framework="pt") as f:
        assert f.get_tensor("w").dtype == torch.float16
    got = export_weights({"w": torch.ones(2)}, {}, "spade", "batch", path=tmp_path / "p.safetensors", dtype=None)
    with safe_open(str(got), framework="pt") as f:
        assert got == tmp_path / "p.safetensors" and f.get_tensor("w").dtype == torch.float32


# --- build_trainer: every setting it hands Lightning (mutation survivors of tools/mutate.py) ---


def test_build_trainer_settings(tmp_path):
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint, ModelSummary

    from models.common.training import BudgetProgressBar, SaveLastOnEnd

    run = RunDir.create(tmp_path / "run", kind="adain", norm="layer")
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True  # whatever was set before, the trainer decides
    try:
        t = build_trainer(LoopConfig(ckpt_every=7, max_steps=9), run)
        assert torch.backends.cudnn.benchmark is torch.cuda.is_available()  # benchmark only with CUDA
    finally:
        torch.backends.cudnn.benchmark = before
    assert [type(lg).__name__ for lg in t.loggers] == ["CSVLogger"]
    assert Path(t.loggers[0].log_dir) == run.root / "logs"  # a new run logs to logs/metrics.csv
    assert t.precision == "32-true" and t.max_steps == 9
    assert t.num_sanity_val_steps == 0 and t.limit_val_batches == 0 and t.default_root_dir == str(run.root)
    assert any(isinstance(c, ModelSummary) for c in t.callbacks)  # not quiet: the summary is shown
    bars = [c for c in t.callbacks if isinstance(c, BudgetProgressBar)]
    assert len(bars) == 1 and bars[0].refresh_rate == 1
    last = [c for c in t.callbacks if isinstance(c, SaveLastOnEnd)]
    assert len(last) == 1 and last[0].path == run.checkpoints / "last.ckpt"
    ck = t.checkpoint_callback
    assert isinstance(ck, ModelCheckpoint) and Path(ck.dirpath) == run.checkpoints
    assert ck._every_n_train_steps == 7 and ck.save_last is True and ck.save_top_k == 1
    assert None not in t.callbacks
    # quiet and without a bar; an explicit precision; a resumed run logs to part2 (the CSV logger would erase
    # the earlier metrics.csv)
    (run.root / "logs" / "metrics.csv").parent.mkdir(parents=True, exist_ok=True)
    (run.root / "logs" / "metrics.csv").write_text("step\n")
    t = build_trainer(LoopConfig(quiet=True, no_progress=True, precision="bf16-mixed"), run)
    assert Path(t.loggers[0].log_dir) == run.root / "logs" / "part2"
    assert not any(isinstance(c, (ModelSummary, BudgetProgressBar)) for c in t.callbacks)
    assert t.precision == "bf16-mixed"


def test_build_trainer_passes_the_hardware_settings(tmp_path):
    run = RunDir.create(tmp_path / "run", kind="adain", norm="layer")
    loop = LoopConfig(quiet=True, accelerator="cpu", devices="2", num_nodes=3, strategy="ddp_spawn")
    t = build_trainer(loop, run)
    assert type(t.accelerator).__name__ == "CPUAccelerator" and t.num_devices == 2 and t.num_nodes == 3
    assert type(t.strategy).__name__ == "DDPStrategy" and t.strategy._start_method == "spawn"  # not auto's choice


def test_build_trainer_silences_lightnings_manual_optimization_advice_for_gans_only(tmp_path):
    import warnings

    run = RunDir.create(tmp_path / "run", kind="spade", norm="batch")
    msg = ".*manual optimization and every_n_train_steps.*"
    for k, want in ((1, False), (2, True)):
        with warnings.catch_warnings():
            build_trainer(LoopConfig(quiet=True), run, optimizer_steps_per_iteration=k)
            found = any(f[0] == "ignore" and f[1] is not None and f[1].pattern == msg for f in warnings.filters)
        assert found is want, k


@pytest.mark.parametrize("module", ["tensorboard", "tensorboardX"])
def test_build_trainer_adds_tensorboard_when_either_package_is_installed(tmp_path, monkeypatch, module):
    import importlib.util

    import lightning.pytorch.loggers as loggers
    from lightning.pytorch.loggers import CSVLogger

    seen = []

    class FakeTB(CSVLogger):  # a real Logger, recording how it was made
        def __init__(self, save_dir, name, version):
            seen.append((save_dir, name, version))
            super().__init__(save_dir, name=name, version=version)

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == module else real(n, *a))
    monkeypatch.setattr(loggers, "TensorBoardLogger", FakeTB)
    run = RunDir.create(tmp_path / "run", kind="adain", norm="layer")
    t = build_trainer(LoopConfig(quiet=True), run)
    assert seen == [(str(run.root), "tb", "")]
    assert [type(lg).__name__ for lg in t.loggers] == ["CSVLogger", "FakeTB"]


def test_the_progress_bar_sets_its_total_from_the_timer(monkeypatch):
    """BudgetProgressBar.on_train_batch_end on a fake trainer: the total becomes what fits in the time left."""
    from types import SimpleNamespace as NS

    from lightning.pytorch.callbacks import Timer, TQDMProgressBar

    from models.common import training as tr

    calls = []
    monkeypatch.setattr(TQDMProgressBar, "on_train_batch_end", lambda self, *a: calls.append(("batch", *a)))
    monkeypatch.setattr(TQDMProgressBar, "on_train_epoch_start", lambda self, *a: calls.append(("epoch", *a)))
    clock = [100.0]
    monkeypatch.setattr(tr, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))  # this module's clock only

    class Bar:
        def __init__(self, total):
            self.total, self.refreshed = total, 0

        def refresh(self):
            self.refreshed += 1

    timer = Timer(duration="00:00:10:00")
    monkeypatch.setattr(timer, "time_remaining", lambda stage: {"train": 60.0}[stage])
    bar = tr.BudgetProgressBar()
    trainer = NS(callbacks=[object(), timer], num_training_batches=1000, max_epochs=None, max_steps=-1)
    bar._trainer = trainer
    bar.on_train_epoch_start(trainer, "more")
    assert calls == [("epoch", trainer, "more")] and bar._t0 == 100.0
    bar._train_progress_bar = shown = Bar(total=1000)
    clock[0] = 105.0  # 10 batches in 5 s, 60 s left: 130 in all
    bar.on_train_batch_end(trainer, "module", "outputs", "batch", 9)
    assert calls[-1] == ("batch", trainer, "module", "outputs", "batch", 9)  # Lightning's own bar sees it all
    assert (shown.total, shown.refreshed) == (130, 1)
    bar.on_train_batch_end(trainer, None, None, None, 9)  # the same total: no redraw
    assert shown.refreshed == 1
    bar.on_train_batch_end(trainer, None, None, None, 3)  # 4 batches: too few for a rate, unchanged
    assert (shown.total, shown.refreshed) == (130, 1)
    trainer.num_training_batches = 100  # the step limit comes first
    bar.on_train_batch_end(trainer, None, None, None, 9)
    assert (shown.total, shown.refreshed) == (100, 2)
    trainer.callbacks = [object()]  # no Timer (no --max-minutes): the total is left alone
    trainer.num_training_batches = 1000
    bar.on_train_batch_end(trainer, None, None, None, 9)
    assert shown.total == 100 and sum(c[0] == "batch" for c in calls) == 5
    bar._train_progress_bar = None  # no bar shown: nothing to do
    trainer.callbacks = [timer]
    bar.on_train_batch_end(trainer, None, None, None, 9)


# --- callbacks, run folders and small helpers on fakes (mutation survivors of tools/mutate.py) ---


class _GridModule(torch.nn.Module):
    """A module whose ``make_grid`` records the mode it ran in and returns values outside [0, 1]."""

    def __init__(self, iteration=None):
        super().__init__()
        self.modes = []
        if iteration is not None:
            self.iteration = iteration

    def make_grid(self):
        self.modes.append((self.training, torch.is_grad_enabled()))
        return torch.tensor([-0.5, 0.25, 1.5]).view(3, 1, 1).expand(3, 2, 2)


def test_sample_grid_callback_saves_every_n_iterations_clamped_and_logs_it(tmp_path):
    from types import SimpleNamespace as NS

    import numpy as np
    from PIL import Image

    images = []
    exp = NS(add_image=lambda tag, grid, step: images.append((tag, tuple(grid.shape), step, grid.aminmax())))
    trainer = NS(is_global_zero=True, global_step=1, loggers=[object(), NS(experiment=exp)])
    cb = SampleGridCallback(1, tmp_path)
    assert cb.last_path is None and cb.every == 1
    module = _GridModule().train()
    cb.on_train_batch_end(trainer, module, None, None, 0)
    assert cb.last_path == tmp_path / "step_0000001.png" and cb.last_path.is_file()
    px = np.asarray(Image.open(tmp_path / "latest.png"))
    assert px.shape == (2, 2, 3) and px[0, 0].tolist() == [0, 64, 255]  # clamped to [0, 1], not wrapped
    assert module.modes == [(False, False)] and module.training  # eval + no_grad while drawing, then back
    assert [i[:3] for i in images] == [("samples", (3, 2, 2), 1)]
    assert [float(v) for v in images[0][3]] == [0.0, 1.0]  # TensorBoard gets the clamped grid too
    cb.on_train_batch_end(trainer, module, None, None, 0)  # the same step again (GAN's second optimizer)
    assert len(module.modes) == 1
    trainer.global_step = 14  # a GAN module counts its own iterations
    cb.on_train_batch_end(trainer, _GridModule(iteration=7), None, None, 0)
    assert cb.last_path == tmp_path / "step_0000007.png"
    cb_odd = SampleGridCallback(2, tmp_path / "odd")
    cb_odd.on_train_batch_end(trainer, _GridModule(iteration=7), None, None, 0)  # 7 is odd (14 is not)
    assert cb_odd.last_path is None
    cb.on_train_end(trainer, module)  # and once more at the end
    assert len(module.modes) == 2 and (tmp_path / "step_0000014.png").is_file()
    cb2 = SampleGridCallback(3, tmp_path / "b")
    trainer.global_step = 4
    cb2.on_train_batch_end(trainer, module, None, None, 0)
    assert not (tmp_path / "b" / "step_0000004.png").exists()  # 4 is not a multiple of 3
    off = SampleGridCallback(0, tmp_path / "c")  # 0: never, not even at the end
    off.on_train_batch_end(trainer, module, None, None, 0)
    off.on_train_end(trainer, module)
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())
    trainer.is_global_zero = False  # other ranks draw nothing
    SampleGridCallback(1, tmp_path / "d").on_train_end(trainer, module)
    assert not (tmp_path / "d").exists()


def test_train_stats_start_from_zero_and_add_the_resumed_wall_time(monkeypatch):
    from types import SimpleNamespace as NS

    from models.common import training as tr

    clock = [50.0]
    monkeypatch.setattr(tr, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))  # this module's clock only
    s = TrainStats(keys=("loss", "d"), smoothing=0.5)
    assert (s.wall, s.wall_before, s.steps, s.start, s.ema, s.first) == (0.0, 0.0, 0, 50.0, {}, {})
    s.load_state_dict({"wall": 30.0, "ema": {"loss": 4.0}})
    s.on_train_start(None, None)
    clock[0] = 60.0
    s.on_train_batch_end(NS(callback_metrics={"loss": 2.0}, global_step=5), None, None, None, 0)
    assert s.ema == {"loss": 3.0} and s.first == {"loss": 2.0} and s.steps == 5 and s.wall == 40.0
    assert s.state_dict() == {"wall": 40.0, "ema": {"loss": 3.0}}


def test_run_dir_names_and_reuses_folders(tmp_path, monkeypatch):
    import re

    from models.common import training as tr

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(tr._RUN_DIR_ENV, raising=False)
    run = RunDir.create(None, kind="adain", norm="layer")
    assert re.fullmatch(r"runs/adain_layer_\d{8}-\d{6}", run.root.as_posix()), run.root
    assert run.samples.is_dir() and run.checkpoints.is_dir()
    again = RunDir.create(tmp_path / "runs" / run.root.name, kind="adain", norm="layer")  # an existing folder
    assert again.root.resolve() == run.root.resolve()


def test_small_helpers_at_their_edges(tmp_path, monkeypatch):
    import warnings

    from models.common import training as tr

    words = r"^--resume last needs --run-dir \(the folder of the interrupted run\)$"
    with pytest.raises(FileNotFoundError, match=words):
        resolve_resume("last", None)
    logs = tmp_path / "logs"
    logs.mkdir()
    assert tr._log_version(logs) == ""
    (logs / "metrics.csv").write_text("")
    assert tr._log_version(logs) == "part2"
    (logs / "part2").mkdir()
    assert tr._log_version(logs) == "part3"
    bar = tr.BudgetProgressBar(refresh_rate=3)
    assert bar.refresh_rate == 3 and bar.min_batches == 5 and isinstance(bar._t0, float)
    assert tr.BudgetProgressBar().refresh_rate == 1
    assert bar.budget_total(10, 0.5, 60.0, None) == 1210  # half a second is a rate too
    assert bar.budget_total(10, 0.0, 60.0, None) is None
    # the slow-bf16 warning points at the caller and says what to use instead
    monkeypatch.setattr(tr, "cpu_has_bf16", lambda: False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tr.auto_precision("cpu", "bf16-mixed")
    # (the caller's file; mutmut's trampoline adds a frame, so only "not this module" is asserted)
    assert len(caught) == 1 and caught[0].filename != tr.__file__
    assert str(caught[0].message) == (
        "--precision bf16-mixed on a CPU without AMX/AVX512-BF16: torch emulates bf16 there and it runs several "
        "times slower than fp32; use --precision 32-true"
    )
    # a checkpoint into folders that do not exist yet
    tr.AtomicCheckpointIO().save_checkpoint({"a": 1}, tmp_path / "x" / "y" / "c.ckpt")
    assert torch.load(tmp_path / "x" / "y" / "c.ckpt", weights_only=True) == {"a": 1}
    # a path that cannot be resolved is not inside anything
    monkeypatch.setattr(tr.Path, "resolve", lambda self: (_ for _ in ()).throw(OSError("loop")))
    assert tr._inside(tmp_path / "a", tmp_path) is False


def test_export_problem_names_the_default_target(tmp_path, monkeypatch):
    from models.common.training import export_problem

    monkeypatch.setenv("NORMLAB_MODELS", str(tmp_path))
    (tmp_path / "spade_batch.safetensors").write_bytes(b"x")
    msg = export_problem(LoopConfig(), "spade", "batch")
    assert msg.startswith(f"the export would replace {tmp_path / 'spade_batch.safetensors'};")
    assert export_problem(LoopConfig(), "spade", "instance") is None
