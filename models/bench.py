"""`python -m models.bench {adain,spade} [options]`: dispatch to the model's own bench script."""
from __future__ import annotations

import importlib
import sys

TARGETS = {"adain": "models.adain.bench", "spade": "models.spade.bench"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in TARGETS:
        print(f"usage: python -m models.bench {{{','.join(TARGETS)}}} [options]", file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    return int(importlib.import_module(TARGETS[argv[0]]).main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
