"""`python -m models.bench {adain,spade,video,ddp} [options]`: run the model's own benchmark script."""

from __future__ import annotations

import sys

from models.common.cli import dispatch

TARGETS = {
    "adain": "models.adain.bench",
    "spade": "models.spade.bench",
    "video": "models.adain.bench_video",
    "ddp": "models.common.bench_ddp",
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m models.bench", TARGETS, argv)


if __name__ == "__main__":
    sys.exit(main())
