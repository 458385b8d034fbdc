"""Parity of the torch-backed norms with torch.nn.functional, in train and eval mode."""

import pytest
import torch
import torch.nn.functional as F

import norms


def _affine(norm: torch.nn.Module) -> None:
    """Non-trivial affine parameters so parity also covers them."""
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)


@pytest.mark.parametrize("shape", [(4, 8, 5, 6), (3, 8), (2, 8, 7)])
def test_batch_matches_functional_train_and_eval(shape):
    norm = norms.build_norm("batch", 8, momentum=0.2)
    _affine(norm)
    ref_mean, ref_var = torch.zeros(8), torch.ones(8)
    for _ in range(3):
        x = torch.randn(shape) * 3 + 1
        want = F.batch_norm(x, ref_mean, ref_var, norm.weight, norm.bias, True, 0.2, 1e-5)
        torch.testing.assert_close(norm(x), want)
    torch.testing.assert_close(norm.running_mean, ref_mean)
    torch.testing.assert_close(norm.running_var, ref_var)
    norm.eval()
    x = torch.randn(shape)
    torch.testing.assert_close(norm(x), F.batch_norm(x, ref_mean, ref_var, norm.weight, norm.bias, False, 0.2, 1e-5))


def test_syncbatch_is_batchnorm_without_process_group():
    sync, plain = norms.build_norm("syncbatch", 6), norms.build_norm("batch", 6)
    x = torch.randn(5, 6, 4, 4)
    torch.testing.assert_close(sync(x), plain(x))
    torch.testing.assert_close(sync.running_var, plain.running_var)
    assert isinstance(sync, norms.batch.SyncBatchNorm)  # ours: works on CPU under gloo too (tests/norms/test_sync.py)


def test_instance_matches_functional():
    norm = norms.build_norm("instance", 8)
    _affine(norm)
    x = torch.randn(3, 8, 6, 5) * 2 - 1
    want = F.instance_norm(x, weight=norm.weight, bias=norm.bias, eps=1e-5)
    torch.testing.assert_close(norm(x), want)
    norm.eval()  # no running stats by default: eval equals train
    torch.testing.assert_close(norm(x), want)
    assert norms.build_norm("instance", 8, affine=False).weight is None


def test_layer_normalizes_over_chw_with_per_channel_affine():
    norm = norms.build_norm("layer", 8)
    _affine(norm)
    x = torch.randn(3, 8, 4, 5) * 4 + 2
    want = F.layer_norm(x, x.shape[1:], eps=1e-5) * norm.weight.view(1, -1, 1, 1) + norm.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(norm(x), want)
    norm.eval()
    torch.testing.assert_close(norm(x), want)


def test_group_matches_functional_and_checks_divisibility():
    norm = norms.build_norm("group", 16, groups=4)
    _affine(norm)
    x = torch.randn(2, 16, 3, 3)
    torch.testing.assert_close(norm(x), F.group_norm(x, 4, norm.weight, norm.bias, 1e-5))
    assert norms.build_norm("group", 64).num_groups == 32
    # the default adapts to any width (gcd(32, C)); an explicit count must divide C
    assert norms.build_norm("group", 48).num_groups == 16 and norms.build_norm("group", 3).num_groups == 1
    with pytest.raises(ValueError, match="not divisible by groups=32"):
        norms.build_norm("group", 48, groups=32)


@pytest.mark.parametrize("name", ["instance", "layer", "group"])
def test_batch_independence(name):
    norm = norms.build_norm(name, 32)
    x = torch.randn(4, 32, 5, 5)
    torch.testing.assert_close(norm(x)[1:2], norm(x[1:2]))


def test_none_is_identity_and_takes_norm_kwargs():
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(norms.build_norm("none", 3, affine=False)(x), x)
    assert torch.equal(norms.build_norm(None, 3)(x), x)


def test_resolver_accepts_names_classes_partials():
    from functools import partial

    assert isinstance(norms.build_norm("GN", 8, groups=2), norms.GroupNorm)
    assert isinstance(norms.get_norm(norms.LayerNorm)(8), norms.LayerNorm)
    gn4 = norms.get_norm(partial(norms.GroupNorm, groups=4))(8)
    assert gn4.num_groups == 4
    assert norms.norm_name("instance") == "instance"
    with pytest.raises(ValueError, match="valid names: batch, group, instance"):
        norms.get_norm("bogus")
    with pytest.raises(TypeError, match="does not accept 'groups'"):
        norms.build_norm("layer", 8, groups=2)


def test_norm_act_is_norm_then_activation():
    block = norms.norm_act("batch", 4, act="leaky_relu")
    x = torch.randn(6, 4, 3, 3)
    want = F.leaky_relu(F.batch_norm(x, None, None, block[0].weight, block[0].bias, True), 0.2)
    torch.testing.assert_close(block(x), want)
    with pytest.raises(ValueError, match="unknown activation"):
        norms.norm_act("batch", 4, act="sparkle")
