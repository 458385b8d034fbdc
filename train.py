"""Train a normlab model: ``python train.py adain --norm instance ...`` or ``python train.py spade --norm online``.

The normalizer is chosen on the command line (``--norm``); Lightning picks the GPU (bf16) when there is one.
Run ``python train.py MODEL --help`` for each model's options.
"""
from __future__ import annotations

import importlib
import sys

from models.common.cli import user_error

TRAINERS = {"adain": "models.adain.train", "spade": "models.spade.train"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        print(f"\nusage: python train.py {{{','.join(TRAINERS)}}} [options]")
        return 0 if argv else 2
    model, rest = argv[0], argv[1:]
    if model not in TRAINERS:
        return user_error(f"unknown model {model!r}; choose one of: {', '.join(TRAINERS)}")
    try:
        return int(importlib.import_module(TRAINERS[model]).main(rest) or 0)
    except SystemExit as exc:  # argparse's --help and argument errors: an exit code for callers such as tests
        return exc.code if isinstance(exc.code, int) else 2


if __name__ == "__main__":
    sys.exit(main())
