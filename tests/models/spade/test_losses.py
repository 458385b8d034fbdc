"""SPADE losses against hand-computed values."""

import torch

from models.spade.losses import VGGLoss, feature_matching_loss, hinge_d_loss, hinge_g_loss, kl_loss, mode_seeking_loss


def _outs(*vals):
    return [[torch.full((1, 2, 1, 1), 0.0), torch.full((1, 1, 2, 2), v)] for v in vals]


def test_hinge_losses_match_hand_values():
    # real logits 0.5 and 2 -> relu(1 - r): 0.5, 0; fake -0.5 and 1 -> relu(1 + f): 0.5, 2; averaged over 2 scales
    assert torch.isclose(hinge_d_loss(_outs(0.5, 2.0), _outs(-0.5, 1.0)), torch.tensor((0.5 + 0.5 + 0 + 2) / 2))
    assert torch.isclose(hinge_g_loss(_outs(0.5, -1.5)), torch.tensor(0.5))


def test_feature_matching_ignores_logits_and_detaches_real():
    real = [[torch.ones(1, 2, 2, 2), torch.zeros(1, 1, 2, 2)]]
    fake = [[torch.full((1, 2, 2, 2), 3.0, requires_grad=True), torch.full((1, 1, 2, 2), 9.0)]]
    loss = feature_matching_loss(real, fake)
    assert torch.isclose(loss, torch.tensor(2.0))
    loss.backward()
    assert fake[0][0].grad is not None


def test_kl_is_zero_for_the_prior_and_positive_otherwise():
    assert kl_loss(torch.zeros(4, 8), torch.zeros(4, 8)).abs() < 1e-7
    mu = torch.ones(4, 8)
    assert torch.isclose(kl_loss(mu, torch.zeros(4, 8)), torch.tensor(0.5 * 8))


def test_mode_seeking_matches_closed_form_and_punishes_ignored_codes():
    z1, z2 = torch.zeros(2, 4), torch.full((2, 4), 2.0)  # mean |z1 - z2| = 2
    a, b = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)  # mean |a - b| = 0.5
    assert torch.isclose(mode_seeking_loss(a, b, z1, z2), torch.tensor(1 / (0.25 + 1e-5)))
    b.requires_grad_(True)
    collapsed = mode_seeking_loss(a, a + 0.01 * b, z1, z2)  # images ignore the code: loss explodes
    assert collapsed > 50 * mode_seeking_loss(a, b, z1, z2)
    collapsed.backward()
    assert b.grad is not None and b.grad.abs().sum() > 0  # the gradient pushes the two images apart


def test_vgg_loss_zero_on_identical_and_grows_with_difference():
    loss = VGGLoss()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    near = (x + 0.05 * torch.randn_like(x)).clamp(-1, 1)
    far = torch.rand_like(x) * 2 - 1
    assert loss(x, x) < 1e-5
    assert 0 < loss(near, x) < loss(far, x)
