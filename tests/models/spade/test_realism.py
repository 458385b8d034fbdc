"""python -m models.spade.realism: VGG-FD against an other-looks floor, periodicity and detail (small sizes)."""

import pytest
import torch
import torch.nn.functional as F

from models.common.vgg import VGG19Features
from models.spade import realism
from models.spade.eval import EVAL_SEED, _renders
from tests.models.spade.conftest import crop_checkpoint


def test_bootstrap_fd_is_zero_for_a_copy_and_the_squared_shift_for_a_moved_mean():
    a = torch.randn(32, 6, generator=torch.Generator().manual_seed(0))
    fd, se = realism.bootstrap_fd(a, a.clone())
    assert abs(fd) < 1e-6 and se < 1e-6
    moved = a.clone()
    moved[:, 2] += 3.0  # same covariance, mean moved by 3 along one axis: FD = 9 in closed form
    fd, se = realism.bootstrap_fd(a, moved)
    assert fd == pytest.approx(9.0, abs=1e-6) and se < 1e-6  # every resample moves by exactly 3 too
    fd, se = realism.bootstrap_fd(a, torch.randn(32, 6, generator=torch.Generator().manual_seed(1)))
    assert fd > 0.5 and se > 0  # two samples differ, and how much depends on the layouts drawn
    with pytest.raises(ValueError, match="one row per layout"):
        realism.bootstrap_fd(a, a[:5])


def test_the_paired_difference_cancels_what_both_share():
    g = torch.Generator().manual_seed(2)
    real = torch.randn(40, 5, generator=g)
    base = real + 0.5 * torch.randn(40, 5, generator=g)
    moved = base.clone()
    moved[:, 0] += 2.0  # the same pictures, mean moved by 2 more along one axis
    d, se = realism.fd_difference(real, base, base)
    assert d == 0 and se == 0
    d, se = realism.fd_difference(real, moved, base)
    assert d == pytest.approx(realism.bootstrap_fd(real, moved)[0] - realism.bootstrap_fd(real, base)[0])
    assert d > 2 and se < realism.bootstrap_fd(real, moved)[1]  # the shared layouts cancel
    with pytest.raises(ValueError, match="one row per layout"):
        realism.fd_difference(real, moved[:3], base)


@pytest.fixture(scope="module")
def ref():
    torch.set_num_threads(1)
    vgg = VGG19Features(("relu4_1",))
    return vgg, realism.reference(vgg, "procedural", 6, 192)


def test_the_renders_themselves_score_zero_and_a_blurred_copy_loses_its_detail(ref):
    vgg, r = ref
    real, ids = _renders(torch.arange(6) + EVAL_SEED, 192)
    assert torch.equal(ids, r.ids)
    assert r.floor > 0 and r.period > 0 and r.detail > 0
    same = realism.score(vgg, real, r)
    assert abs(same["vgg_fd"]) < 1e-4 * r.floor
    assert same["period"] == pytest.approx(1.0) and same["detail"] == pytest.approx(1.0)
    blurred = F.interpolate(F.interpolate(real, scale_factor=0.25, mode="area"), scale_factor=4, mode="bilinear")
    soft = realism.score(vgg, blurred, r)
    assert soft["detail"] < 0.3 and soft["vgg_fd"] > same["vgg_fd"] + 1
    with pytest.raises(ValueError, match="need 6 pictures of 192 px"):
        realism.score(vgg, real[:3], r)


def test_main_prints_the_floor_and_each_generator(tmp_path, capsys):
    path = crop_checkpoint(tmp_path / "g.safetensors")
    argv = [f"{path}:renderer@1", str(path), "--kinds", "painted", "--layouts", "4", "--size", "64", "--threads", "1"]
    assert realism.main(argv) == 0
    out = capsys.readouterr().out
    assert "| painted | renders, other looks (the floor) |" in out
    assert f"| painted | {tmp_path}/g (renderer @1) |" in out
    second = next(line for line in out.splitlines() if line.startswith(f"| painted | {tmp_path}/g (prior) |"))
    assert " ± " in second.split("|")[4]  # the paired difference against the first generator


@pytest.mark.parametrize(
    "argv, message",
    [
        (["nope.safetensors"], "error: "),
        (["x.safetensors", "--layouts", "2"], "--layouts must be at least 4"),
        (["x.safetensors", "--size", "32"], "--size must be at least 48"),
    ],
)
def test_bad_arguments_say_what_is_wrong(argv, message, capsys):
    assert realism.main(argv) == 2
    assert message in capsys.readouterr().err
