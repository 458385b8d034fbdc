"""The ``normlab`` command line: a thin dispatcher over subcommand modules.

Each module in ``SUBCOMMAND_MODULES`` exposes ``register(subparsers)``, adding its subcommands with
``parser.set_defaults(handler=fn)``; ``fn(args) -> int`` returns the exit code. User errors print one line
starting with ``error:`` and exit 2 — never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from models.common.cli import user_error

SUBCOMMAND_MODULES = ("app.cli.adain", "app.cli.spade", "app.cli.checkpoints")


cli_error = user_error  # the shared `error:` format (models/common/cli.py), under the name the subcommands use


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="normlab",
        description="Normalization-driven image generation: style transfer (AdaIN) and label-map synthesis "
                    "(SPADE) with swappable normalizers. The web UI is `python -m app`; training is `train.py`.")
    parser.add_argument("--version", action="version", version=f"normlab {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a subcommand module that is not installed must not hide the rest
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("normlab")
    except Exception:  # running from a source tree without installing
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0 if not argv else 2
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130

