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


def _rms(a):
    return (sum(v * v for row in a.double().tolist() for v in row) / a.numel()) ** 0.5


def _kid_by_loop(a, b, rms):
    """Unbiased MMD^2 (Gretton et al. 2012, eq. 3) with k(x, y) = (x.y / D + 1)^3 on features divided by ``rms``,
    pair by pair in float64."""
    a, b = (a.double() / rms).tolist(), (b.double() / rms).tolist()
    n, d = len(a), len(a[0])

    def k(x, y):
        return (sum(p * q for p, q in zip(x, y)) / d + 1) ** 3

    total = sum(
        k(a[i], a[j]) + k(b[i], b[j]) - k(a[i], b[j]) - k(a[j], b[i]) for i in range(n) for j in range(n) if i != j
    )
    return total / (n * (n - 1)) * realism.KID_SCALE


def test_kernel_distance_matches_a_loop_over_pairs_and_its_jackknife():
    g = torch.Generator().manual_seed(3)
    a, b = torch.rand(7, 5, generator=g), torch.rand(7, 5, generator=g) + 0.3
    kid, se = realism.kernel_distance(a, b)
    assert kid == pytest.approx(_kid_by_loop(a, b, _rms(a)), rel=1e-9)
    # the jackknife leaves one layout out of the pairs, not out of the unit (the RMS of all the renders' features)
    loo = [_kid_by_loop(torch.cat([a[:i], a[i + 1 :]]), torch.cat([b[:i], b[i + 1 :]]), _rms(a)) for i in range(7)]
    mean = sum(loo) / 7
    assert se == pytest.approx((6 / 7 * sum((x - mean) ** 2 for x in loo)) ** 0.5, rel=1e-9)
    assert realism.kernel_distance(a, a.clone())[0] == pytest.approx(0, abs=1e-9)
    assert realism.kernel_distance(8 * a, 8 * b)[0] == pytest.approx(kid, rel=1e-9)  # in units of the renders' size
    with pytest.raises(ValueError, match="one row per layout"):
        realism.kernel_distance(a, b[:4])
    with pytest.raises(ValueError, match="at least 3 layouts"):
        realism.kernel_distance(a[:2], b[:2])


def test_fd_rewards_a_narrower_sample_and_kid_does_not():
    """Why the realism tool reports KID: with few samples in many dimensions the Fréchet distance's bias grows
    with the spread of the sets, so a sample of a *narrower* distribution scores below a second sample of the
    reference distribution itself (48 samples in 128 dimensions; the realism tool has 64 in 512). KID is unbiased:
    about 0 for the same distribution, above it for the narrower."""
    g = torch.Generator().manual_seed(0)
    fd_same, fd_narrow, kid_same, kid_narrow = [], [], [], []
    for _ in range(24):
        real, again = torch.randn(48, 128, generator=g) + 1, torch.randn(48, 128, generator=g) + 1
        narrow = 0.5 * torch.randn(48, 128, generator=g) + 1
        fd_same.append(realism.bootstrap_fd(real, again, rounds=2)[0])
        fd_narrow.append(realism.bootstrap_fd(real, narrow, rounds=2)[0])
        kid_same.append(realism.kernel_distance(real, again)[0])
        kid_narrow.append(realism.kernel_distance(real, narrow)[0])
    same, narrow = torch.tensor(kid_same), torch.tensor(kid_narrow)
    assert sum(fd_narrow) < 0.8 * sum(fd_same)  # the bias: FD prefers the wrong sample, by a wide margin
    assert abs(same.mean()) < 2 * same.std() / 24**0.5  # unbiased: no distance between samples of one distribution
    assert narrow.mean() > same.mean()  # and the narrower one is farther (KID has little power here: not by much)


def test_the_paired_kid_difference_is_the_difference_of_the_kids():
    g = torch.Generator().manual_seed(4)
    real = torch.randn(30, 8, generator=g)
    base = real + 0.5 * torch.randn(30, 8, generator=g)
    moved = base + torch.tensor([1.5] + [0.0] * 7)
    assert realism.kid_difference(real, base, base) == (0.0, 0.0)
    d, se = realism.kid_difference(real, moved, base)
    assert d == pytest.approx(realism.kernel_distance(real, moved)[0] - realism.kernel_distance(real, base)[0])
    assert d > 3 * se > 0
    with pytest.raises(ValueError, match="one row per layout"):
        realism.kid_difference(real, moved[:3], base)


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
    cells = second.split("|")
    assert " ± " in cells[4] and " ± " in cells[6]  # the paired FD and KID differences against the first generator
    assert "softened" not in out


def test_main_scores_softened_renders_as_controls(tmp_path, capsys):
    path = crop_checkpoint(tmp_path / "g.safetensors")
    argv = [str(path), "--kinds", "procedural", "--layouts", "4", "--size", "64", "--threads", "1", "--controls"]
    assert realism.main(argv) == 0
    rows = {line.split("|")[2].strip(): line.split("|") for line in capsys.readouterr().out.splitlines() if "|" in line}
    detail = {name: float(rows[name][8].strip().rstrip("x")) for name in realism.CONTROLS}
    for name in realism.CONTROLS:
        assert detail[name] < 0.9  # detail removed: the control is worse, as designed
        assert " ± " in rows[name][4] and " ± " in rows[name][6]
    two, four = realism.CONTROLS  # softened more, less detail left: the controls are what their names say
    assert detail[four] < 0.5 * detail[two]


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
