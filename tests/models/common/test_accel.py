"""Fast-path defaults: CUDA always, CPU only with native bf16 kernels; the autocast helper."""

import torch

from models.common.accel import autocast_for, cpu_has_bf16, fast_bf16_default


def test_defaults_follow_the_device():
    assert fast_bf16_default(torch.device("cuda")) is True
    assert fast_bf16_default(torch.device("cpu")) is cpu_has_bf16()
    assert fast_bf16_default(torch.device("meta")) is False


def test_autocast_for_switches_matmul_precision_on_cpu():
    a, b = torch.randn(8, 8), torch.randn(8, 8)
    with autocast_for(torch.device("cpu"), bf16=True):
        assert (a @ b).dtype == torch.bfloat16
    with autocast_for(torch.device("cpu"), bf16=False):
        assert (a @ b).dtype == torch.float32
