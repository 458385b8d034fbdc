"""Weight standardization: standardized filters, drop-in for Conv2d, correct gradients."""

import torch
import torch.nn.functional as F

from norms import WSConv2d, standardize_weight


def test_standardized_filters_have_zero_mean_unit_variance():
    w = standardize_weight(torch.randn(8, 4, 3, 3) * 5 + 2, eps=0.0)
    torch.testing.assert_close(w.mean(dim=(1, 2, 3)), torch.zeros(8), atol=1e-5, rtol=0)
    torch.testing.assert_close(w.var(dim=(1, 2, 3), unbiased=False), torch.ones(8), atol=1e-4, rtol=0)


def test_wsconv_equals_conv_with_standardized_weight():
    conv = WSConv2d(3, 6, 3, padding=1, stride=2)
    x = torch.randn(2, 3, 9, 9)
    torch.testing.assert_close(conv(x), F.conv2d(x, standardize_weight(conv.weight), conv.bias, 2, 1))
    assert conv(x).shape == torch.nn.Conv2d(3, 6, 3, padding=1, stride=2)(x).shape


def test_wsconv_gradcheck_through_the_module_forward():
    """Gradients w.r.t. the input and the raw weight, through ``WSConv2d.forward`` itself."""
    conv = WSConv2d(2, 3, 3, padding=1).double()
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)

    def run(inp, w):  # the module's own forward, with the weight swapped in as an input
        return torch.func.functional_call(conv, {"weight": w, "bias": conv.bias}, (inp,))

    assert torch.autograd.gradcheck(run, (x, conv.weight.detach().clone().requires_grad_(True)))
    # and the forward really standardizes: scaling/shifting a filter does not change the output (exact with eps 0)
    conv.ws_eps = 0.0
    with torch.no_grad():
        before = conv(x)
        conv.weight.mul_(3.0).add_(0.5)
    torch.testing.assert_close(conv(x), before, rtol=1e-9, atol=1e-9)
