"""models.common.training: the Lightning pieces are plain module-level classes (picklable, so ddp_spawn works)."""

import pickle
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
