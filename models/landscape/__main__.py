"""``python -m models.landscape docs/landscapes.png [N] [SIZE]``: a contact sheet of procedural landscapes."""

from __future__ import annotations

import sys

from PIL import Image

from models.landscape.render import contact_sheet


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    out = argv[0] if argv else "docs/landscapes.png"
    n, size = (int(argv[1]) if len(argv) > 1 else 18), (int(argv[2]) if len(argv) > 2 else 128)
    Image.fromarray(contact_sheet(range(n), size)).save(out, optimize=True)
    print(f"wrote {out} ({n} landscapes at {size}x{size}, label maps underneath)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
