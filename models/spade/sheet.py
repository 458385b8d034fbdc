"""``python -m models.spade.sheet``: a contact sheet of SPADE generators on held-out layouts.

One row per held-out procedural layout: colour label map | real render | for each checkpoint, two seeds, all
synthesized through ``Synthesizer.synthesize`` at ``--size`` and shown at full size (the point is the detail).
The before/after figure of ``docs/spade.md``::

    python -m models.spade.sheet --checkpoint before.safetensors --label before \\
        --checkpoint assets/spade_instance.safetensors --label after --size 512 --out docs/spade_512.jpg
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

from models.common.sheet import contact_sheet
from models.landscape.classes import ids_to_color

__all__ = ["main", "sheet_rows"]


def sheet_rows(
    synths: list, layouts: int, size: int, seeds: tuple[int, ...] = (1, 2), kind: str = "procedural"
) -> list[list[Image.Image]]:
    """For ``layouts`` held-out layouts (``procedural`` scenes or ``painted`` layouts): ``[label map, real render,
    *(synth.synthesize(ids, seed) for each synthesizer and seed)]`` at ``size`` px."""
    import torch

    from models.spade.eval import EVAL_SEED, _renders

    rows = []
    for i in range(layouts):
        real, ids = _renders(torch.tensor([EVAL_SEED + 7 * i]), size, layouts=kind)
        ids_np = ids[0].numpy()
        real_img = Image.fromarray(((real[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy())
        row = [Image.fromarray(ids_to_color(ids_np)), real_img]
        row += [syn.synthesize(ids_np, seed=s, size=size) for syn in synths for s in seeds]
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    from models.common.checkpoint import CheckpointError
    from models.common.cli import ArgumentParser, user_error

    p = ArgumentParser(prog="python -m models.spade.sheet", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", action="append", required=True, help="a spade .safetensors (repeat: columns)")
    p.add_argument("--label", action="append", default=None, help="column header per --checkpoint")
    p.add_argument("--layouts", type=int, default=3, help="rows: held-out layouts (default 3)")
    p.add_argument("--size", type=int, default=512, help="output size, and each cell's size in the sheet (default 512)")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="seeds per checkpoint (default 1 2)")
    p.add_argument(
        "--kind",
        choices=("procedural", "painted"),
        default="procedural",
        help="held-out procedural scenes or hand-painted-style layouts",
    )
    p.add_argument("--out", type=Path, required=True, help="image to write (.png, or .jpg for a smaller file)")
    args = p.parse_args(argv)
    labels = args.label or [Path(c).stem for c in args.checkpoint]
    if len(labels) != len(args.checkpoint):
        return user_error("give one --label per --checkpoint")
    if not 32 <= args.size <= 1024 or args.layouts < 1:
        return user_error("--size must be in 32..1024 and --layouts positive")

    from models.spade.infer import Synthesizer

    try:
        synths = [Synthesizer.from_checkpoint(c) for c in args.checkpoint]
    except CheckpointError as exc:
        return user_error(str(exc))
    rows = sheet_rows(synths, args.layouts, args.size, tuple(args.seeds), args.kind)
    columns = ["layout (held out)", "real render"] + [f"{label}, seed {s}" for label in labels for s in args.seeds]
    sheet = contact_sheet(rows, columns, cell=args.size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, quality=90) if args.out.suffix.lower() in (".jpg", ".jpeg") else sheet.save(args.out)
    print(
        f"wrote {args.out} ({len(rows)} {args.kind} layouts x {len(synths)} checkpoints x {len(args.seeds)} seeds "
        f"at {args.size} px)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
