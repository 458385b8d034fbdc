"""Train a normlab model: ``python train.py adain --norm instance ...`` or ``python train.py spade --norm online``.

The normalizer is chosen on the command line (``--norm``); Lightning picks the GPU (bf16) when there is one.
Run ``python train.py MODEL --help`` for each model's options.
"""

from __future__ import annotations

import sys

from models.common.cli import dispatch

TRAINERS = {"adain": "models.adain.train", "spade": "models.spade.train"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip() + "\n")
    return dispatch("python train.py", TRAINERS, argv)


if __name__ == "__main__":
    sys.exit(main())
