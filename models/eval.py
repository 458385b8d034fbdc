"""`python -m models.eval {adain,spade,video} [options]`: run the model's own evaluation script."""

from __future__ import annotations

import sys

from models.common.cli import dispatch

TARGETS = {"adain": "models.adain.eval", "spade": "models.spade.eval", "video": "models.adain.video_eval"}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m models.eval", TARGETS, argv)


if __name__ == "__main__":
    sys.exit(main())
