"""``python -m models.spade.spread A.safetensors [B ...]``: the seed spread of generators, side by side.

The seed spread of ``python -m models.eval spade`` on more layouts and several sets of 16 seeds, so that one
draw of rare looks (a sunset in ~1 of 6 seeds) does not decide a comparison. For each checkpoint and for the renders
themselves (16 other looks: the floor), per layout and seed set: the Fréchet distance of class-region colour
statistics to 64 reference renders of the layout, and the mean pairwise difference of the 16 pictures (8-bit
levels). Prints a table of means with standard errors. A checkpoint given as ``FILE:renderer`` or ``FILE:prior``
is loaded with that ``seed_looks`` (the file is not changed).

Example (docs/spade.md, part 4; ~5 minutes on 2 cores)::

    python -m models.spade.spread assets/spade_batch.safetensors \\
        assets/candidates/spade_batch_issue37_p3.safetensors \\
        assets/candidates/spade_batch_issue37_p3.safetensors:renderer --layouts 8 --sets 3
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np
import torch

from models.common.checkpoint import CheckpointError
from models.common.cli import HelpFormatter
from models.spade.eval import EVAL_SEED, LAYOUTS, SPREAD_REFERENCE, _renders, _synthesized, render_stats
from models.spade.infer import Synthesizer
from models.spade.looks import SEED_LOOKS
from models.spade.texture import class_colour_stats, mean_pairwise_difference, spread_distance

__all__ = ["load", "load_all", "spread_table", "main"]


def load(spec: str) -> tuple[str, Synthesizer]:
    """``FILE``, ``FILE:MODE`` (MODE one of :data:`SEED_LOOKS`) or ``FILE:renderer@X`` (look_match X) ->
    ``(label, synthesizer)``."""
    tail = spec.rsplit(":", 1)[-1]
    mode, _, match = tail.partition("@")
    path = spec.rpartition(":")[0] if mode in SEED_LOOKS else spec
    syn = Synthesizer.from_checkpoint(path)
    if mode in SEED_LOOKS:
        try:
            look_match = float(match) if match else 0.0
        except ValueError:
            raise ValueError(f"{spec}: the look match after @ must be a number, got {match!r}") from None
        syn.config = dataclasses.replace(syn.config, seed_looks=mode, look_match=look_match).validate()
    label = syn.config.seed_looks + (f" @{syn.config.look_match:g}" if syn.config.look_match else "")
    return f"{path.removesuffix('.safetensors')} ({label})", syn


def load_all(specs: list[str], threads: int = 0) -> list[tuple[str, Synthesizer]] | None:
    """:func:`load` of each spec after setting torch's threads (0: its default); None after printing the first
    line of what went wrong (a missing, foreign or unreadable file, a bad ``@`` suffix)."""
    if threads:
        torch.set_num_threads(threads)
    try:
        return [load(c) for c in specs]
    except (CheckpointError, ValueError, OSError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return None


def spread_table(
    synths: list[tuple[str, Synthesizer]], kind: str, layouts: int, sets: int, size: int, log=print
) -> dict[str, tuple[float, float, float]]:
    """``{label: (mean spread FD, its standard error, mean 16-seed difference)}``, renders first."""
    from models.landscape.render import render_layout

    k = synths[0][1].num_classes
    _, ids = _renders(torch.arange(layouts) + EVAL_SEED, size, layouts=kind)
    ref = [render_stats(ids[i : i + 1], [7_000 + j for j in range(SPREAD_REFERENCE)], k)[0] for i in range(layouts)]
    rows: dict[str, list[tuple[float, float]]] = {"renders (16 other looks: the floor)": []}
    labels = [label for label, _ in synths]
    if len(set(labels)) < len(labels):
        raise ValueError(f"each generator once, please: {', '.join(labels)}")
    rows |= {label: [] for label in labels}
    for s in range(sets):
        seeds = [(s + 1) * 10**7 + j for j in range(16)]
        for i in range(layouts):
            lab = ids[i : i + 1].expand(16, -1, -1)
            pics = render_layout(lab, seeds)
            rows["renders (16 other looks: the floor)"].append(
                (spread_distance(class_colour_stats(pics, lab, k), ref[i]), mean_pairwise_difference(pics))
            )
            for label, syn in synths:
                fake = (_synthesized(syn, lab, seeds, size) + 1) / 2
                rows[label].append(
                    (spread_distance(class_colour_stats(fake, lab, k), ref[i]), mean_pairwise_difference(fake))
                )
        log(f"  {kind}: seed set {s + 1}/{sets} done")
    out = {}
    for label, v in rows.items():
        a = np.array(v)
        out[label] = (float(a[:, 0].mean()), float(a[:, 0].std() / np.sqrt(len(a))), float(a[:, 1].mean()))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m models.spade.spread", description=__doc__.split("\n\n")[1], formatter_class=HelpFormatter
    )
    p.add_argument(
        "checkpoints",
        nargs="+",
        help="SPADE files, each optionally FILE:renderer, FILE:renderer@LOOK_MATCH or FILE:prior",
    )
    p.add_argument("--kinds", nargs="+", choices=LAYOUTS, default=list(LAYOUTS), help="held-out layout kinds")
    p.add_argument("--layouts", type=int, default=8, help="held-out layouts per kind")
    p.add_argument("--sets", type=int, default=3, help="sets of 16 seeds per layout")
    p.add_argument("--size", type=int, default=256, help="output side in pixels")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args(argv)
    if args.layouts < 1 or args.sets < 1:
        print("error: --layouts and --sets must be at least 1", file=sys.stderr)
        return 2
    synths = load_all(args.checkpoints, args.threads)
    if synths is None:
        return 2
    print(f"{args.layouts} held-out layouts x {args.sets} sets of 16 seeds, {args.size} px, vs 64 renders each")
    print("| layouts | seeds draw from | spread FD (± s.e.) | 16-seed diff |\n|---|---|---|---|")
    for kind in args.kinds:
        table = spread_table(synths, kind, args.layouts, args.sets, args.size, log=lambda m: print(m, file=sys.stderr))
        for label, (fd, se, diff) in table.items():
            print(f"| {kind} | {label} | {fd:.3f} ± {se:.3f} | {diff:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
