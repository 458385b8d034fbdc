"""normlab.norms — every normalization layer, swappable by name.

>>> import torch, norms
>>> norms.list_norms()
['batch', 'group', 'instance', 'layer', 'none', 'online', 'proxy', 'syncbatch', 'synconline']
>>> layer = norms.build_norm("group", 64, groups=8)
>>> layer(torch.randn(2, 64, 8, 8)).shape
torch.Size([2, 64, 8, 8])
"""

from norms.activations import build_activation, list_activations
from norms.adain import AdaIN, adain, mean_std
from norms.batch import BatchNorm, SyncBatchNorm
from norms.group import GroupNorm, LayerNorm
from norms.identity import NoNorm
from norms.instance import InstanceNorm
from norms.online import OnlineNorm
from norms.proxy import ProxyNorm, proxy_param_groups
from norms.registry import (
    NORMS,
    NormAct,
    NormSpec,
    build_norm,
    canonical_name,
    get_norm,
    list_norms,
    norm_act,
    norm_class,
    norm_name,
)
from norms.spade import SPADE
from norms.sync import SyncOnlineNorm, convert_sync_online_norm
from norms.weight import WSConv2d, standardize_weight

__all__ = [
    "NORMS",
    "AdaIN",
    "BatchNorm",
    "GroupNorm",
    "InstanceNorm",
    "LayerNorm",
    "NoNorm",
    "NormAct",
    "NormSpec",
    "OnlineNorm",
    "ProxyNorm",
    "SPADE",
    "SyncBatchNorm",
    "SyncOnlineNorm",
    "convert_sync_online_norm",
    "WSConv2d",
    "adain",
    "build_activation",
    "build_norm",
    "canonical_name",
    "get_norm",
    "list_activations",
    "list_norms",
    "mean_std",
    "norm_act",
    "norm_class",
    "norm_name",
    "proxy_param_groups",
    "standardize_weight",
]
