"""Every registered norm, through the registry: gradients, modes, state_dict, norm_act, errors.

Like timm's test over every registered model: a norm added to the registry is covered here automatically.
"""

from __future__ import annotations

import functools

import pytest
import torch

import norms
from norms import build_norm, list_norms, norm_act

C = 32  # divisible by the group norm's default 32 groups
SHAPE = (4, C, 5, 5)
ALL = list_norms()
BATCH_INDEPENDENT = ["instance", "layer", "group", "proxy", "none"]
HAS_AFFINE = [n for n in ALL if n != "none"]


def _x(seed=0, shape=SHAPE):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen) * 2 + 0.5


def test_registry_lists_the_issue_names():
    assert set(ALL) >= {"batch", "syncbatch", "instance", "layer", "group", "online", "proxy", "none"}


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_forward_backward_every_parameter_gets_a_finite_gradient(name, mode):
    torch.manual_seed(0)
    norm = build_norm(name, C)
    norm.train(mode == "train")
    x = _x().requires_grad_(True)
    out = norm(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all()
    (out * torch.randn_like(out)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0
    for pname, p in norm.named_parameters():
        assert p.grad is not None, f"{name}.{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}.{pname} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name}.{pname} got an all-zero gradient"
    if name in HAS_AFFINE:
        assert len(list(norm.parameters())) >= 2


@pytest.mark.parametrize("name", ALL)
def test_several_training_steps_stay_finite(name):
    norm = build_norm(name, C)
    opt = torch.optim.SGD(norm.parameters(), lr=0.1) if list(norm.parameters()) else None
    for step in range(3):
        out = norm(_x(step))
        loss = (out - 1).square().mean()
        if opt is not None:
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert torch.isfinite(loss)
    norm.eval()
    assert torch.isfinite(norm(_x(9))).all()


@pytest.mark.parametrize("name", ALL)
def test_state_dict_round_trip(name):
    a = build_norm(name, C)
    a.train()
    for step in range(2):  # move running statistics / online state away from their init
        x = _x(step).requires_grad_(True)
        a(x).square().sum().backward()
    with torch.no_grad():
        for p in a.parameters():
            p.add_(0.1 * torch.randn_like(p))
    b = build_norm(name, C)
    b.load_state_dict(a.state_dict())
    a.eval()
    b.eval()
    x = _x(5)
    torch.testing.assert_close(a(x), b(x))
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        torch.testing.assert_close(va, vb)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("act", ["relu", "leaky_relu", "silu", "gelu", "tanh", "identity"])
def test_norm_act_every_norm(name, act):
    torch.manual_seed(0)
    block = norm_act(name, C, act=act)
    x = _x().requires_grad_(True)
    out = block(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    if name == "proxy":
        assert isinstance(block, norms.ProxyNorm) and block.activation == act
    else:
        # norm then activation: compare against the norm alone (eval mode: deterministic and state-free)
        block.eval()
        acts = {
            "relu": torch.relu,
            "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.2),
            "silu": torch.nn.functional.silu,
            "gelu": torch.nn.functional.gelu,
            "tanh": torch.tanh,
            "identity": lambda t: t,
        }
        with torch.no_grad():
            torch.testing.assert_close(block(x), acts[act](block[0](x)))


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as err:
        build_norm("batchh", C)
    for name in ALL:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="online"):
        norm_act("nope", C)


@pytest.mark.parametrize("name", HAS_AFFINE)
def test_affine_false_has_no_parameters(name):
    norm = build_norm(name, C, affine=False)
    assert list(norm.parameters()) == []
    out = norm(_x())
    assert out.shape == SHAPE and torch.isfinite(out).all()


@pytest.mark.parametrize("name", BATCH_INDEPENDENT)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_batch_independence(name, mode):
    norm = build_norm(name, C)
    norm.train(mode == "train")
    x = _x()
    full = norm(x)
    other = x.clone()
    other[1:] = 50 * torch.randn_like(other[1:]) - 7  # wildly different batch mates
    torch.testing.assert_close(norm(other)[0], full[0])
    torch.testing.assert_close(norm(x[2:3]), full[2:3])


def test_online_is_batch_independent_in_eval_and_streams_in_training():
    norm = build_norm("online", C)
    x = _x()
    other = x.clone()
    other[1:] = 50 * torch.randn_like(other[1:])
    norm.eval()
    torch.testing.assert_close(norm(other)[0], norm(x)[0])
    norm.train()
    state = {k: v.clone() for k, v in norm.state_dict().items()}
    first = norm(x)
    norm.load_state_dict(state)
    second = norm(other)
    # sample 0 only sees the state before the batch; later samples see their predecessors
    torch.testing.assert_close(second[0], first[0])
    assert not torch.allclose(second[2], first[2])


@pytest.mark.parametrize(
    "name, kw",
    [("online", {"ecm": "ls"}), ("online", {"ecm": None}), ("proxy", {"groups": 4}), ("group", {"groups": 8})],
)
def test_variant_keywords_reach_the_class(name, kw):
    # the variants promised in DESIGN.md: keywords go through the registry to the class
    norm = build_norm(name, C, **kw)
    for k, v in kw.items():
        assert getattr(norm, "num_groups" if (name, k) == ("group", "groups") else k) == v
    assert norm(_x()).shape == SHAPE
    with pytest.raises(TypeError, match=name):
        build_norm(name, C, not_a_keyword=1)


def test_benchmark_table_covers_every_registered_norm():
    # a smoke run of `python -m norms.bench` machinery (no timing assertions): one row per norm, sane memory
    from norms.bench import norms_table

    table = norms_table([(2, C, 32, 32)], torch.device("cpu"), reps=1)  # 0.25 MB input
    rows = [line for line in table.splitlines() if line.startswith("| (")]
    labels = [row.split("|")[2].strip() for row in rows]
    assert set(ALL) <= set(labels) and "torch BatchNorm2d" in labels
    bn_saved = float(rows[labels.index("torch BatchNorm2d")].split("|")[5])
    assert bn_saved == pytest.approx(0.25, abs=0.01)  # BatchNorm2d keeps its input for backward


def test_norm_act_gives_proxy_its_activation_for_every_spec():
    """The capability is declared by the class, so a name, the class and a partial all behave the same."""
    from norms.proxy import ProxyNorm

    for spec in ("proxy", ProxyNorm, functools.partial(ProxyNorm, groups=2)):
        m = norms.norm_act(spec, 8, act="relu")
        assert isinstance(m, ProxyNorm), spec
        assert m.activation == "relu", spec
    # a partial of a plain norm still gets a separate activation
    m = norms.norm_act(functools.partial(norms.GroupNorm, groups=2), 8, act="relu")
    assert isinstance(m, norms.NormAct) and isinstance(m[0], norms.GroupNorm) and m[0].num_groups == 2


def test_factories_are_built_once_per_name():
    assert norms.get_norm("group") is norms.get_norm("GN")
    assert norms.norm_class("layer") is norms.LayerNorm
