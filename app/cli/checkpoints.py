"""``normlab checkpoints``: every checkpoint the CLI and the app can see, with what its card says about it.

Reads only the safetensors headers and the model cards: no torch, so it answers at once.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from app.cli import cli_error as _error
from models.common.assets import assets_dir, list_checkpoints, models_dir

__all__ = ["register", "cmd_checkpoints"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "checkpoints",
        help="list the checkpoints `normlab` and the app can use (kind, normalizer, steps, eval)",
        description="List every {adain,spade}_<norm>.safetensors in the bundled assets folder ($NORMLAB_ASSETS "
        "moves it) and in your models folder (where train.py exports; $NORMLAB_MODELS moves it; "
        "named my-<norm>) with its training steps and time and the evaluation verdicts from its "
        "model card.",
    )
    p.add_argument("--assets", type=Path, default=None, help="folder to scan (default: the assets folder)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also print each card's whole training line and its evaluation lines",
    )
    p.set_defaults(handler=cmd_checkpoints)


def cmd_checkpoints(args: argparse.Namespace) -> int:
    folder = args.assets or assets_dir()
    if not folder.is_dir():
        return _error(f"assets folder '{folder}' does not exist")
    infos = list_checkpoints(folder)
    if args.json:
        print(json.dumps([asdict(i) | {"path": str(i.path), "total_steps": i.total_steps} for i in infos], indent=2))
        return 0
    if not infos:
        print(f"no checkpoints in {folder} (train one: python train.py adain|spade --norm NAME ...)")
        return 0
    print(f"checkpoints in {folder} (bundled) and {models_dir()} (yours, my-<norm>):\n")
    for info in infos:
        where = "" if info.path.parent.resolve() == folder.resolve() else f"  [{info.path.parent}]"
        print(f"{info.kind:5s}  {info.name or info.norm:12s}  {info.summary}{where}")
        if args.verbose:
            print(f"       file: {info.path.name} (its counter: {info.steps} steps)")
            if info.trained:
                print(f"       trained: {info.trained}")
            for line in info.evaluation:
                print(f"       eval: {line}")
    print(
        "\nuse one: normlab stylize ... --norm NAME  |  normlab synthesize ... --norm NAME"
        + ("" if args.verbose else "   (-v: training history and evaluation lines)")
    )
    return 0
