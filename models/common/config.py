"""Command-line flags generated from config dataclasses, so each default and help text is written once.

A config field declares its flag with :func:`option`; :func:`add_config_args` turns the fields of a dataclass into
argparse flags (``--batch-size`` for ``batch_size``, ``store_true`` for a ``False`` bool, the field's own flag such
as ``--no-vae`` for a ``True`` one) and :func:`config_from_args` builds the dataclass back from the parsed
namespace. Fields without ``option`` metadata are not exposed (they keep their defaults).

>>> import argparse
>>> from dataclasses import dataclass
>>> @dataclass
... class Demo:
...     batch_size: int = option(8, "images per step")
...     fast: bool = option(False, "take shortcuts")
>>> p = argparse.ArgumentParser()
>>> add_config_args(p, Demo)
>>> config_from_args(Demo, p.parse_args(["--batch-size", "4", "--fast"]))
Demo(batch_size=4, fast=True)
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any, Callable

__all__ = ["option", "add_config_args", "config_from_args", "norm_arg", "export_arg"]

_MISSING = dataclasses.MISSING


def option(
    default: Any = _MISSING,
    help: str = "",
    *,
    flag: str | None = None,
    type: Callable | None = None,
    nargs: str | None = None,
    action: str | None = None,
    metavar: str | None = None,
    default_text: str | None = None,
    required: bool = False,
    dest: str | None = None,
    **field_kw: Any,
) -> Any:
    """A dataclass field that is also a command-line flag.

    ``dest`` names the parsed attribute when two configs of one command share a field name (``--d-norm``).

    ``default_text`` replaces the shown default (e.g. ``"2x --size"`` for a computed one); a mutable default
    (list) is copied per instance.
    """
    meta = {
        "help": help,
        "flag": flag,
        "type": type,
        "nargs": nargs,
        "action": action,
        "metavar": metavar,
        "default_text": default_text,
        "required": required,
        "dest": dest,
    }
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda d=default: list(d), metadata={"cli": meta}, **field_kw)
    if default is _MISSING:
        return dataclasses.field(metadata={"cli": meta}, **field_kw)
    return dataclasses.field(default=default, metadata={"cli": meta}, **field_kw)


def _base_type(hint: Any) -> Any:
    """``Optional[X]`` / ``X | None`` -> X; ``list[X]`` -> X."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin in (list, tuple) and args:
        return args[0]
    if args and origin is not None and len(args) == 1:
        return args[0]
    return hint


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not _MISSING:
        return f.default
    if f.default_factory is not _MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def add_config_args(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    defaults: dict[str, Any] | None = None,
    exclude: tuple[str, ...] = (),
) -> None:
    """Add one flag per ``option`` field of dataclass ``cls`` (``defaults`` overrides shown and used defaults)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("cli")
        if meta is None or f.name in exclude:
            continue
        default = (defaults or {}).get(f.name, _field_default(f))
        flag = meta["flag"] or "--" + f.name.replace("_", "-")
        kw: dict[str, Any] = {"dest": meta["dest"] or f.name, "default": default}
        base = _base_type(hints[f.name])
        if meta["action"] == "append":
            kw.update(action="append", type=meta["type"] or base)
        elif base is bool:
            kw["action"] = "store_false" if default else "store_true"
        else:
            kw["type"] = meta["type"] or base
            if meta["nargs"]:
                kw["nargs"] = meta["nargs"]
        if meta["metavar"] or kw.get("type") is not None and kw.get("action") is None:
            kw["metavar"] = meta["metavar"] or flag.lstrip("-").replace("-", "_").upper()
        if meta["required"]:
            kw["required"] = True
            kw.pop("default")
        shown = meta["default_text"] or (
            "" if default in (None, [], ()) or base is bool or meta["required"] else str(default)
        )
        kw["help"] = meta["help"] + (f" (default: {shown})" if shown else "")
        parser.add_argument(flag, **kw)


def config_from_args(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """The dataclass ``cls`` from parsed flags (fields without a flag keep their defaults; ``overrides`` win)."""
    kw = {}
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("cli")
        if meta is not None and hasattr(args, meta["dest"] or f.name):
            kw[f.name] = getattr(args, meta["dest"] or f.name)
    kw.update(overrides)
    return cls(**kw)


def norm_arg(text: str) -> str:
    """argparse ``type=`` for a normalizer flag: the canonical registry name, or an error listing the valid ones.

    This is the one place a command-line normalizer name is validated; everything downstream trusts it.
    """
    from norms import (
        canonical_name,  # norms imports torch: only when a norm flag is actually parsed
    )

    try:
        return canonical_name(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def export_arg(text: str) -> Path | str:
    """argparse ``type=`` for ``--export``: ``none`` (any case) skips the export, anything else is a path."""
    return "none" if text.strip().lower() == "none" else Path(text)
