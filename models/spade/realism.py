"""``python -m models.spade.realism A.safetensors [B ...]``: realism and texture of generators, side by side.

The 16 layouts of ``python -m models.eval spade`` are too few for VGG-FD: its floor (real against *other* layouts)
lies above every generator's, so two generators' distances differ by noise. Here every generator is scored on the
same, larger set of held-out layouts (default 64 per kind), at one output size, against the renders of those
layouts; the floor is the same layouts rendered with *other looks* (``render_layout``), so it measures what a
generator that paints the renderer's layouts perfectly but with its own looks would score. Per generator and kind:

- VGG-FD (pooled VGG-19 relu4_1, as in the eval) with a bootstrap standard error over the layouts;
- VGG-KID: the kernel distance of Binkowski et al. (2018) on the same features, unbiased, with a jackknife
  standard error. With 64 pictures in 512 dimensions the Fréchet distance carries a bias that grows with each
  set's own spread, so a set of *less varied* pictures can score below the floor; KID's estimate has no such bias
  (its expected value is the population distance, 0 for two samples of one distribution), so it decides which
  generator is closer to the renders (docs/spade.md, part 12);
- texture periodicity (``models/spade/texture.py``), synthesized over real;
- fine detail (variance above 1/4 of the resolution), synthesized over real.

``--controls`` also scores the floor's renders softened (2x and 4x area down, bilinear up): pictures known to be
worse, so both distances can be seen to rank them behind every generator.

The real renders' features are computed once per run and shared by every generator. A checkpoint given as
``FILE:renderer@X`` is loaded with those looks and look match (as in ``models.spade.spread``).

Example (docs/spade.md, part 6; about 3 minutes per generator and kind at 256 px on 2 cores)::

    python -m models.spade.realism assets/spade_batch.safetensors \\
        assets/candidates/spade_batch_issue37_p5.safetensors --layouts 64 --size 256 --threads 2
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from models.common.cli import HelpFormatter
from models.common.vgg import VGG19Features
from models.spade.eval import EVAL_SEED, LAYOUTS, _pooled_vgg, _renders, _synthesized, detail_energy, frechet_distance
from models.spade.spread import load_all
from models.spade.texture import periodicity

__all__ = [
    "Reference",
    "bootstrap_fd",
    "fd_difference",
    "kernel_distance",
    "kid_difference",
    "reference",
    "score",
    "main",
]

OTHER_LOOKS = 3_000_000  # look seeds of the floor's renders: far from every layout seed and every eval seed


KID_SCALE = 1000  # KIDs are printed x 1000: the renders' floor then reads in the tens


def _down_up(imgs: torch.Tensor, factor: int) -> torch.Tensor:
    """``imgs (N, 3, S, S)`` without the detail above 1/``factor`` of their resolution (area down, bilinear up)."""
    small = F.interpolate(imgs, scale_factor=1 / factor, mode="area")
    return F.interpolate(small, size=imgs.shape[-2:], mode="bilinear", align_corners=False)


# controls (--controls): real renders made visibly worse, so a distance that ranks them above the renders
# themselves is measuring something other than realism
CONTROLS = {
    "floor's renders, 2x softened": lambda imgs: _down_up(imgs, 2),
    "floor's renders, 4x softened": lambda imgs: _down_up(imgs, 4),
}


@dataclasses.dataclass
class Reference:
    """Held-out renders of one kind and size, reduced to what a generator is compared with.

    ``ids (N, S, S)``: the layouts; ``feats (N, 512)``: pooled VGG features of their renders; ``floor`` /
    ``floor_kid``: VGG-FD / KID of the same layouts rendered with other looks, ``other (N, 3, S, S)`` in [-1, 1];
    ``period`` / ``detail``: the renders' periodicity and detail energy.
    """

    kind: str
    size: int
    ids: torch.Tensor
    feats: torch.Tensor
    floor: float
    floor_se: float
    floor_kid: float
    floor_kid_se: float
    other: torch.Tensor
    period: float
    detail: float


def _resamples(n: int, rounds: int, seed: int) -> list[torch.Tensor]:
    """``rounds`` bootstrap draws of ``n`` layout indices (with replacement), the same for a given seed."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(n, (n,), generator=gen) for _ in range(rounds)]


def _spread(draws: list[float]) -> float:
    return float(np.std(draws, ddof=1)) if len(draws) > 1 else 0.0


def bootstrap_fd(a: torch.Tensor, b: torch.Tensor, rounds: int = 20, seed: int = 0) -> tuple[float, float]:
    """VGG-FD of paired feature sets ``a, b (N, D)`` (row i of both from layout i) and its standard error over
    ``rounds`` resamplings of the layouts (the same rows drawn from both, so layout difficulty is shared)."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"paired feature sets need one row per layout each, got {a.shape[0]} and {b.shape[0]}")
    draws = [frechet_distance(a[i], b[i]) for i in _resamples(a.shape[0], rounds, seed)]
    return frechet_distance(a, b), _spread(draws)


def fd_difference(
    real: torch.Tensor, fake: torch.Tensor, base: torch.Tensor, rounds: int = 20, seed: int = 0
) -> tuple[float, float]:
    """``FD(real, fake) - FD(real, base)`` for features ``(N, D)`` of one layout per row, and its standard error
    over ``rounds`` resamplings of the layouts, the same rows for all three: the layouts both generators find hard
    cancel, so the error of the difference is far below either distance's own."""
    if not real.shape[0] == fake.shape[0] == base.shape[0]:
        raise ValueError(f"one row per layout each, got {real.shape[0]}, {fake.shape[0]} and {base.shape[0]}")
    picks = _resamples(real.shape[0], rounds, seed)
    draws = [frechet_distance(real[i], fake[i]) - frechet_distance(real[i], base[i]) for i in picks]
    return frechet_distance(real, fake) - frechet_distance(real, base), _spread(draws)


def _kid_terms(a: torch.Tensor, b: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """``h (N, N)`` of paired features ``a, b (N, D)``: ``h[i, j] = k(a_i, a_j) + k(b_i, b_j) - k(a_i, b_j) -
    k(a_j, b_i)`` with the cubic kernel ``k(x, y) = (x.y / D + 1) ** 3`` on features divided by the RMS of ``ref``'s
    (the renders'): pooled VGG activations average ~8, so unscaled the kernel is a cube of their overall size and
    blind to everything else. The unbiased MMD^2 is the mean of ``h`` off the diagonal: same-layout pairs
    ``(a_i, b_i)`` never meet, so the pairing adds no similarity of its own."""
    scale = ref.double().pow(2).mean().sqrt()
    a, b = a.double() / scale, b.double() / scale
    d = a.shape[1]
    kaa, kbb, kab = ((a @ a.T) / d + 1) ** 3, ((b @ b.T) / d + 1) ** 3, ((a @ b.T) / d + 1) ** 3
    return kaa + kbb - kab - kab.T


def _jackknife(h: torch.Tensor) -> tuple[float, float]:
    """The off-diagonal mean of a symmetric ``h (N, N)`` and its jackknife standard error (each layout left out
    once: leaving out layout i removes row i and column i, twice its off-diagonal row sum)."""
    n = h.shape[0]
    if n < 3:
        raise ValueError(f"a kernel distance needs at least 3 layouts, got {n}")
    rows = h.sum(1) - h.diagonal()
    total = rows.sum()
    loo = (total - 2 * rows) / ((n - 1) * (n - 2))
    return float(total / (n * (n - 1))), float(((n - 1) / n * (loo - loo.mean()).pow(2).sum()).sqrt())


def kernel_distance(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Unbiased KID (MMD^2, cubic kernel) between paired feature sets ``a, b (N, D)`` (row i of both from layout
    i; ``a`` the renders, whose RMS scales both), x :data:`KID_SCALE`, and its jackknife standard error over the
    layouts. Its expected value is 0 for two samples of one distribution, whatever their size or spread, so it
    can come out slightly negative."""
    if a.shape != b.shape:
        raise ValueError(f"paired feature sets need one row per layout each, got {tuple(a.shape)} and {tuple(b.shape)}")
    kid, se = _jackknife(_kid_terms(a, b, a))
    return kid * KID_SCALE, se * KID_SCALE


def kid_difference(real: torch.Tensor, fake: torch.Tensor, base: torch.Tensor) -> tuple[float, float]:
    """``KID(real, fake) - KID(real, base)`` (x :data:`KID_SCALE`) for features ``(N, D)`` of one layout per row,
    and its jackknife standard error: leaving a layout out of both cancels what both generators find hard."""
    if not real.shape == fake.shape == base.shape:
        raise ValueError(f"one row per layout each, got {real.shape[0]}, {fake.shape[0]} and {base.shape[0]}")
    d, se = _jackknife(_kid_terms(real, fake, real) - _kid_terms(real, base, real))
    return d * KID_SCALE, se * KID_SCALE


@torch.no_grad()
def reference(vgg: torch.nn.Module, kind: str, num: int, size: int) -> Reference:
    """The renders of ``num`` held-out layouts of ``kind`` at ``size`` px and the floor (other looks)."""
    from models.landscape.render import render_layout

    real, ids = _renders(torch.arange(num) + EVAL_SEED, size, layouts=kind)
    chunks = [ids[i : i + 16] for i in range(0, num, 16)]  # 64 pictures at 512 px at once would need gigabytes
    looks = [[OTHER_LOOKS + k * 16 + j for j in range(len(c))] for k, c in enumerate(chunks)]
    other = torch.cat([render_layout(c, s) for c, s in zip(chunks, looks)])
    feats, other_feats = _pooled_vgg(vgg, real), _pooled_vgg(vgg, other * 2 - 1)
    floor, floor_se = bootstrap_fd(feats, other_feats)
    kid, kid_se = kernel_distance(feats, other_feats)
    period, detail = periodicity(real, ids)[0], detail_energy(real)
    return Reference(kind, size, ids, feats, floor, floor_se, kid, kid_se, other * 2 - 1, period, detail)


@torch.no_grad()
def score(vgg: torch.nn.Module, fake: torch.Tensor, ref: Reference) -> dict[str, Any]:
    """Scores of ``fake (N, 3, S, S)`` in [-1, 1], picture i painted from ``ref.ids[i]``: ``vgg_fd``, ``vgg_fd_se``,
    ``kid``, ``kid_se``, ``period`` (x the renders'), ``detail`` (x the renders') and ``feats`` (its pooled VGG
    features, for :func:`fd_difference` and :func:`kid_difference`)."""
    if fake.shape[0] != ref.ids.shape[0] or fake.shape[-1] != ref.size:
        raise ValueError(f"need {ref.ids.shape[0]} pictures of {ref.size} px, got {tuple(fake.shape)}")
    feats = _pooled_vgg(vgg, fake)
    fd, se = bootstrap_fd(ref.feats, feats)
    kid, kid_se = kernel_distance(ref.feats, feats)
    return {
        "feats": feats,
        "vgg_fd": fd,
        "vgg_fd_se": se,
        "kid": kid,
        "kid_se": kid_se,
        "period": periodicity(fake, ref.ids)[0] / ref.period,
        "detail": detail_energy(fake) / max(ref.detail, 1e-12),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m models.spade.realism", description=__doc__.split("\n\n")[1], formatter_class=HelpFormatter
    )
    p.add_argument("checkpoints", nargs="+", help="SPADE files, each optionally FILE:renderer@LOOK_MATCH or FILE:prior")
    p.add_argument("--kinds", nargs="+", choices=LAYOUTS, default=list(LAYOUTS), help="held-out layout kinds")
    p.add_argument("--layouts", type=int, default=64, help="held-out layouts per kind (one seed each)")
    p.add_argument("--size", type=int, default=256, help="output side in pixels")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument(
        "--controls",
        action="store_true",
        help="also score the floor's renders with their fine detail removed (a worse 'generator' of known rank)",
    )
    args = p.parse_args(argv)
    if args.layouts < 4:
        print("error: --layouts must be at least 4 (covariances need several samples)", file=sys.stderr)
        return 2
    if args.size < 48:
        print("error: --size must be at least 48 px (the periodicity's windows)", file=sys.stderr)
        return 2
    synths = load_all(args.checkpoints, args.threads)
    if synths is None:
        return 2
    vgg = VGG19Features(("relu4_1",))
    print(f"{args.layouts} held-out layouts per kind, one seed each, {args.size} px; KID x {KID_SCALE}")
    print(
        "| layouts | generator | VGG-FD (± s.e.) | VGG-FD minus the first generator's (± paired s.e.) "
        "| VGG-KID (± s.e.) | VGG-KID minus the first generator's (± paired s.e.) "
        "| periodicity (x real) | detail (x real) |\n|---|---|---|---|---|---|---|---|"
    )
    for kind in args.kinds:
        print(f"  {kind}: rendering {args.layouts} layouts and the floor...", file=sys.stderr)
        ref = reference(vgg, kind, args.layouts, args.size)
        floor, kid = f"{ref.floor:.0f} ± {ref.floor_se:.0f}", f"{ref.floor_kid:.1f} ± {ref.floor_kid_se:.1f}"
        print(f"| {kind} | renders, other looks (the floor) | {floor} | | {kid} | | 1.00x | 1.00x |")
        rows = [
            (label, lambda syn=syn: _synthesized(syn, ref.ids, list(range(args.layouts)), args.size))
            for label, syn in synths
        ]
        if args.controls:
            rows += [(label, lambda f=f: f(ref.other)) for label, f in CONTROLS.items()]
        base = None
        for label, pictures in rows:
            print(f"  {kind}: {label}...", file=sys.stderr)
            s = score(vgg, pictures(), ref)
            fd, kid = f"{s['vgg_fd']:.0f} ± {s['vgg_fd_se']:.0f}", f"{s['kid']:.1f} ± {s['kid_se']:.1f}"
            if base is None:
                base, diff, kdiff = s["feats"], "", ""
            else:
                d, d_se = fd_difference(ref.feats, s["feats"], base)
                k, k_se = kid_difference(ref.feats, s["feats"], base)
                diff, kdiff = f"{d:+.0f} ± {d_se:.0f}", f"{k:+.1f} ± {k_se:.1f}"
            cells = f"{fd} | {diff} | {kid} | {kdiff} | {s['period']:.2f}x | {s['detail']:.2f}x"
            print(f"| {kind} | {label} | {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
