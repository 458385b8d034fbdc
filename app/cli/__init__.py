"""The ``normlab`` command line: a thin dispatcher over subcommand modules.

Each module in ``SUBCOMMAND_MODULES`` exposes ``register(subparsers)``, adding its subcommands with
``parser.set_defaults(handler=fn)``; ``fn(args) -> int`` returns the exit code. User errors print one line
starting with ``error:`` and exit 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from models.common.cli import HelpFormatter, user_error  # noqa: F401 - HelpFormatter: re-exported for the subcommands

SUBCOMMAND_MODULES = ("app.cli.adain", "app.cli.video", "app.cli.spade", "app.cli.checkpoints", "app.cli.study")


cli_error = user_error  # the shared `error:` format (models/common/cli.py), under the name the subcommands use
OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def prepare_output(path: str | Path) -> str | None:
    """Check an output image path and create its folder when the parent exists; an error message or None."""
    out = Path(path)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        return f"output '{out}' must end in .png, .jpg or .webp"
    if not out.parent.is_dir():
        if not out.parent.parent.is_dir():
            return f"output folder '{out.parent}' does not exist (nor does its parent)"
        out.parent.mkdir()
    return None


def missing_input(**named: str | Path | None) -> str | None:
    """``mask='x.png'`` -> ``"mask 'x.png': no such file"`` for the first input that does not exist (cheap, before
    any model code is imported)."""
    for what, path in named.items():
        if path is not None and not Path(path).exists():
            return f"{what.replace('_', ' ')} '{path}': no such file"
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="normlab",
        description="Normalization-driven image generation: style transfer (AdaIN) and label-map synthesis "
        "(SPADE) with swappable normalizers. The web UI is `python -m app`; training is `train.py`.",
    )
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


RERUNNABLE = ("stylize", "synthesize")  # commands whose PNGs carry their settings (models/common/settings.py)


def _from_png(argv: list[str]) -> list[str]:
    """``normlab stylize|synthesize --from-png R.png [flags]`` -> the stored command line with ``flags`` last."""
    from models.common.settings import rerun_argv

    i = argv.index("--from-png")
    if i + 1 >= len(argv):
        raise ValueError("--from-png needs a PNG written by normlab")
    png, rest = argv[i + 1], argv[1:i] + argv[i + 2 :]
    return rerun_argv(argv[0], png, rest)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in RERUNNABLE and "--from-png" in argv:
        try:
            argv = _from_png(argv)
        except ValueError as exc:
            print(f"error: --from-png: {exc}", file=sys.stderr)
            return 2
        print(f"re-running: normlab {' '.join(argv)}", file=sys.stderr)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    args.argv = argv  # what a PNG records to be re-run
    if rest and not getattr(args, "forwards_arguments", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.rest = rest  # a subcommand that forwards to its own parser (normlab study) gets them
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0 if not argv else 2
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
