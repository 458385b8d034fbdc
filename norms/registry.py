"""Name -> normalizer resolution: the one place that knows every norm.

Every norm shares the constructor ``Norm(num_features, **kw)`` and maps ``(B, C, H, W) -> (B, C, H, W)``, so a
model takes a *spec* (name, class, ``functools.partial`` or None) once, resolves it with :func:`get_norm`, and
passes the resulting factory down to its blocks. What a norm can do is declared by its class (for example
``ProxyNorm.takes_activation``), never inferred from its name.

>>> from functools import partial
>>> from norms import ProxyNorm, norm_act
>>> type(norm_act(partial(ProxyNorm, groups=2), 8, act="relu")).__name__
'ProxyNorm'
>>> type(norm_act("group", 8, act="relu")).__name__
'NormAct'
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any, Callable, Union

from torch import nn

from norms.activations import build_activation

NormFactory = Callable[..., nn.Module]
NormSpec = Union[str, NormFactory, None]

# name -> "module:Class"; imported on first use so a broken/optional norm never breaks the others.
NORMS: dict[str, str] = {
    "batch": "norms.batch:BatchNorm",
    "syncbatch": "norms.batch:SyncBatchNorm",
    "instance": "norms.instance:InstanceNorm",
    "layer": "norms.group:LayerNorm",
    "group": "norms.group:GroupNorm",
    "online": "norms.online:OnlineNorm",
    "synconline": "norms.sync:SyncOnlineNorm",
    "proxy": "norms.proxy:ProxyNorm",
    "none": "norms.identity:NoNorm",
}
_ALIASES = {
    "bn": "batch",
    "in": "instance",
    "ln": "layer",
    "gn": "group",
    "sync_batch": "syncbatch",
    "sync_online": "synconline",
    "identity": "none",
}


def list_norms() -> list[str]:
    """The registered norm names, sorted."""
    return sorted(NORMS)


def canonical_name(name: str) -> str:
    """A registry name from user text (case, ``-``/``_`` and common aliases folded); ``ValueError`` lists the names.

    >>> canonical_name("GN"), canonical_name("Sync-Batch")
    ('group', 'syncbatch')
    """
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in NORMS:
        raise ValueError(f"unknown normalizer {name!r}; valid names: {', '.join(list_norms())}")
    return key


@functools.lru_cache(maxsize=None)
def _factory(name: str) -> NormFactory:
    """The checked factory of a registered norm, built once per name (its signature is read here, not per layer)."""
    module, cls_name = NORMS[name].split(":")
    cls = getattr(importlib.import_module(module), cls_name)
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = tuple(p for p in params if p not in ("self", "num_features", "args", "kwargs"))

    @functools.wraps(cls, updated=())
    def factory(num_features: int, **kw: Any) -> nn.Module:
        if not takes_any:
            unknown = [k for k in kw if k not in accepted]
            if unknown:  # name the norm and list what it accepts instead of Python's bare TypeError
                raise TypeError(
                    f"norm {name!r} does not accept {', '.join(map(repr, unknown))}; "
                    f"its keywords are: {', '.join(accepted)}"
                )
        return cls(num_features, **kw)

    factory.norm_name = name  # type: ignore[attr-defined]
    factory.norm_cls = cls  # type: ignore[attr-defined]
    return factory


def get_norm(spec: NormSpec) -> NormFactory:
    """Resolve a norm spec to a factory ``f(num_features, **kw) -> nn.Module``.

    ``spec`` is a registry name (case-insensitive), ``None`` (= ``"none"``), or any callable with the norm
    signature (a class or a ``functools.partial`` such as ``partial(GroupNorm, groups=8)``), returned as is.
    Raises ``ValueError`` listing the valid names for an unknown name.
    """
    if spec is None:
        spec = "none"
    if isinstance(spec, str):
        return _factory(canonical_name(spec))
    if callable(spec):
        return spec
    raise TypeError(f"a norm spec is a name, a callable or None, got {type(spec).__name__}")


def norm_class(spec: NormSpec) -> type | None:
    """The class a spec builds (through names, checked factories and nested partials), or None if unknown."""
    target: Any = get_norm(spec)
    while isinstance(target, functools.partial):
        target = target.func
    target = getattr(target, "norm_cls", target)
    return target if isinstance(target, type) else None


def norm_name(spec: NormSpec) -> str:
    """A readable name for a spec (registry name, or the callable's name)."""
    if spec is None or isinstance(spec, str):
        return getattr(get_norm(spec), "norm_name")
    return getattr(spec, "norm_name", getattr(getattr(spec, "func", spec), "__name__", repr(spec)))


def build_norm(name: NormSpec, num_features: int, **kw: Any) -> nn.Module:
    """Build one norm: ``build_norm("group", 64, groups=8)``. Input/output ``(B, C, H, W)``."""
    return get_norm(name)(num_features, **kw)


class NormAct(nn.Sequential):
    """A norm followed by an activation, as one module (what ``norm_act`` returns for most norms)."""


def norm_act(name: NormSpec, num_features: int, act: str | None = "relu", **kw: Any) -> nn.Module:
    """Norm + activation as one module.

    A norm whose class declares ``takes_activation = True`` (Proxy Normalization: it normalizes the *activated*
    proxy) receives the activation as ``activation=``, whichever spec builds it (name, class or partial); every
    other norm is ``norm`` then ``act``.
    """
    factory = get_norm(name)
    if getattr(norm_class(factory), "takes_activation", False):
        return factory(num_features, activation=act if act is not None else "identity", **kw)
    return NormAct(factory(num_features, **kw), build_activation(act))
