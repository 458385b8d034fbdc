"""``python -m models.eval spade``: how well does a generator follow its label maps, and how real does it look?

(a) The SPADE paper's protocol at our scale: a small segmentation network (U-Net), trained on procedural
    landscapes with their true labels, segments (i) real procedural images and (ii) images synthesized
    from the *same held-out layouts*; we report mIoU and pixel accuracy against those layouts. Real is
    the ceiling; the closer synthesized gets, the better the generator follows the map.
(b) A Fréchet distance between Gaussian fits of spatially pooled VGG-19 relu4_1 features of real and
    synthesized images ("VGG-FD"; features divided by 255 * 0.226 to the torchvision-VGG scale). It is
    *not* Inception FID and not comparable to published FIDs;
    a real-vs-real value on disjoint sets is printed as the floor for this sample size.
(c) Seed diversity (encoder models): the mean per-pixel |difference| (8-bit levels) between two images of the
    same layout drawn from two random style codes, next to the same number for two real images of *different*
    layouts as the scale. Near 0 means ``--seed`` changes nothing (mode collapse).
(d) Fine detail: the variance above 1/4 of the resolution of synthesized images over that of the real renders
    (an upscaled small image has almost none).
(e) Texture periodicity (``models/spade/texture.py``): the autocorrelation peak at 5-20 px lags of the high-pass
    residual inside one-class windows, synthesized next to real; a "knitted", repeating texture scores high.
(f) Seed spread (``--seeds N``, default 16): per layout (the first ``--spread-layouts``), N seeds; the mean pairwise
    |difference| (8-bit levels) and a Fréchet distance between per-picture colour statistics of each class region
    of the N pictures and of 64 renders of the same layout (``render_layout``, 64 looks) - how well the seed spans
    the looks the renders have; next to it, N other renders scored the same way (the floor).

``--layouts painted`` measures on hand-painted-style layouts (``models/landscape/painted.py``, seeds from
``PAINTED_EVAL_SEED``, never trained on) textured by ``render_layout`` as the real reference.

Everything is measured at each output size of ``--sizes`` (default 256 and 512), on images made by
``Synthesizer.synthesize``: what the CLI, the app and the API return.

The segmentation network is cached under ``runs/spade_eval/`` (trained on first use, ~1-2 min on CPU).
Held-out layouts use seeds from ``ProceduralSeeds.EVAL_OFFSET + 10_000`` on; training never sees them.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.common.files import write_atomic
from models.common.checkpoint import CheckpointError
from models.common.cli import HelpFormatter
from models.common.linalg import sqrtm_psd
from models.common.vgg import VGG19Features
from models.landscape.classes import CLASSES
from models.landscape.painted import PAINTED_EVAL_SEED
from models.spade.data import ProceduralSeeds, procedural_batch
from models.spade.infer import Synthesizer
from models.spade.losses import CAFFE_TO_TORCHVISION
from models.spade.texture import (
    class_colour_stats,
    fine_residual,
    mean_pairwise_difference,
    periodicity,
    spread_distance,
)

__all__ = ["SegNet", "confusion", "frechet_distance", "main", "measure", "scores", "segnet_for", "train_segnet"]

EVAL_SEED = ProceduralSeeds.EVAL_OFFSET + 10_000
SEGNET_SEED = ProceduralSeeds.EVAL_OFFSET // 2  # segmentation net's training layouts: outside both ranges


class SegNet(nn.Module):
    """Small U-Net (3 downsamplings, batch norm). ``(B, 3, H, W)`` in [-1, 1] -> logits ``(B, K, H, W)``."""

    def __init__(self, num_classes: int, width: int = 16) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(),
            )

        w = width
        self.enc = nn.ModuleList([block(3, w), block(w, 2 * w), block(2 * w, 4 * w), block(4 * w, 8 * w)])
        self.dec = nn.ModuleList([block(12 * w, 4 * w), block(6 * w, 2 * w), block(3 * w, w)])
        self.head = nn.Conv2d(w, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, enc in enumerate(self.enc):
            x = enc(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for dec, skip in zip(self.dec, reversed(skips[:-1])):
            x = dec(torch.cat([F.interpolate(x, size=skip.shape[2:], mode="nearest"), skip], 1))
        return self.head(x)


def train_segnet(num_classes: int, size: int, steps: int = 500, batch_size: int = 8, log=print) -> SegNet:
    """Train :class:`SegNet` on procedural images + true labels (with random flips and colour jitter)."""
    net = SegNet(num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    g = torch.Generator().manual_seed(0)
    t0 = time.time()
    for step in range(steps):
        img, ids = procedural_batch(torch.arange(batch_size) + SEGNET_SEED + step * batch_size, size)
        # jitter brightness/contrast so the net does not key on the renderer's exact colours
        gain = 1 + 0.2 * (torch.rand(batch_size, 1, 1, 1, generator=g) - 0.5)
        bias = 0.1 * (torch.rand(batch_size, 3, 1, 1, generator=g) - 0.5)
        img = (img * gain + bias).clamp(-1, 1)
        if step % 2:
            img, ids = img.flip(-1), ids.flip(-1)
        loss = F.cross_entropy(net(img), ids)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"  segnet step {step + 1}/{steps}  loss {loss.item():.3f}  ({time.time() - t0:.0f}s)")
    return net.eval()


def confusion(pred: torch.Tensor, target: torch.Tensor, k: int) -> torch.Tensor:
    """``(K, K)`` counts, rows = true class, cols = predicted; target 255 (ignore) is skipped."""
    valid = (target >= 0) & (target < k)
    return torch.bincount(target[valid] * k + pred[valid], minlength=k * k).view(k, k)


def scores(conf: torch.Tensor) -> tuple[float, float]:
    """``(mIoU over classes present in the ground truth, pixel accuracy)`` from a confusion matrix."""
    conf = conf.double()
    tp = conf.diag()
    union = conf.sum(0) + conf.sum(1) - tp
    present = conf.sum(1) > 0
    miou = (tp[present] / union[present]).mean().item()
    return miou, (tp.sum() / conf.sum()).item()


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussian fits of two feature sets ``(N, D)``, ``(M, D)`` (float64)."""
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = torch.cov(a.T), torch.cov(b.T)
    sa = sqrtm_psd(ca)
    # Tr(sqrt(ca cb)) = Tr(sqrt(sa cb sa)), and sa cb sa is symmetric PSD: stable via eigh
    tr_covmean = torch.linalg.eigvalsh(sa @ cb @ sa).clamp(min=0).sqrt().sum()
    return float((mu_a - mu_b).pow(2).sum() + ca.trace() + cb.trace() - 2 * tr_covmean)


@torch.no_grad()
def detail_energy(imgs: torch.Tensor, factor: int = 4) -> float:
    """Fine detail of a batch ``(N, 3, H, W)``: the variance of each image minus its ``factor``-x down-and-up-sampled
    copy (the part above 1/``factor`` of its resolution), averaged. A blurry upscale has almost none.

    >>> flat = torch.ones(2, 3, 32, 32)
    >>> detail_energy(flat)
    0.0
    >>> noisy = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> detail_energy(noisy) > 10 * detail_energy(F.interpolate(F.interpolate(noisy, 8, mode="area"), 32))
    True
    """
    return float(fine_residual(imgs.float(), factor).var(dim=(1, 2, 3)).mean())


def _synthesized(syn: Synthesizer, ids: torch.Tensor, seeds: list[int], size: int) -> torch.Tensor:
    """``syn.synthesize`` of each layout ``ids (N, S, S)`` with its seed, at ``size``: ``(N, 3, size, size)``,
    in [-1, 1]."""
    out = [
        torch.from_numpy(np.array(syn.synthesize(ids[i].numpy(), seed=s, size=size))).permute(2, 0, 1)
        for i, s in enumerate(seeds)
    ]
    return torch.stack(out).float() / 127.5 - 1


LAYOUTS = ("procedural", "painted")


def _renders(
    seeds: torch.Tensor, size: int, chunk: int = 16, layouts: str = "procedural"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Held-out pictures in chunks (a 512 px batch of 128 would need gigabytes at once): ``(images in [-1, 1], ids)``.

    ``procedural``: :func:`procedural_batch` of ``seeds``; ``painted``: painted layouts of ``seeds`` textured by
    :func:`render_layout` (``seeds`` are then offsets from ``PAINTED_EVAL_SEED``).
    """
    from models.spade.crops import painted_renders

    def one(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if layouts == "painted":
            return painted_renders((s - EVAL_SEED + PAINTED_EVAL_SEED).tolist(), size)
        return procedural_batch(s, size)

    parts = [one(seeds[i : i + chunk]) for i in range(0, len(seeds), chunk)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


SPREAD_REFERENCE = 64  # renders per layout the spread is compared with (16 let 3 more sunsets swing it 2x)


def render_stats(one: torch.Tensor, seeds: list[int], num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Renders of layout ``one (1, S, S)`` with ``seeds`` and their class colour statistics: ``(stats (N, K*6),
    renders (N, 3, S, S))``, rendered in chunks of 16 (64 pictures at 512 px at once would need gigabytes)."""
    from models.landscape.render import render_layout

    parts, pics = [], []
    for i in range(0, len(seeds), 16):
        chunk = seeds[i : i + 16]
        lab = one.expand(len(chunk), -1, -1)
        pic = render_layout(lab, chunk)
        parts.append(class_colour_stats(pic, lab, num_classes))
        pics.append(pic)
    return torch.cat(parts), torch.cat(pics)


def seed_spread(
    syn: Synthesizer, ids: torch.Tensor, size: int, n_seeds: int = 16, n_reference: int = SPREAD_REFERENCE
) -> dict[str, float]:
    """(f) of the module docstring for layouts ``ids (L, S, S)``: means over the layouts.

    Keys: ``spread_diff`` (mean pairwise |difference| of ``n_seeds`` synthesized pictures, 8-bit levels),
    ``spread_real_diff`` (the same for the ``n_reference`` renders of the layout: what ``n_seeds`` renders differ by
    on average), ``spread_fd`` (Fréchet distance of class-region colour statistics, the ``n_seeds`` synthesized
    pictures vs ``n_reference`` renders) and
    ``spread_fd_floor`` (``n_seeds`` other renders vs the same reference: what a perfect generator scores).

    The reference is larger than the samples because a look's rare modes (a sunset in ~1 of 6 seeds, an overcast
    sky in 1 of 10) make 16 renders a noisy reference: on one layout the distance of the same 16 pictures moved
    from 0.07 to 0.13 between two sets of 16 reference renders.
    """
    k = syn.num_classes
    diffs, rdiffs, fds, floors = [], [], [], []
    for i in range(ids.shape[0]):
        lab = ids[i : i + 1].expand(n_seeds, -1, -1)
        fake = (_synthesized(syn, lab, [10**7 + j for j in range(n_seeds)], size) + 1) / 2
        f_real, reference = render_stats(ids[i : i + 1], [7_000 + j for j in range(n_reference)], k)
        f_other, _ = render_stats(ids[i : i + 1], [8_000 + j for j in range(n_seeds)], k)
        diffs.append(mean_pairwise_difference(fake))
        rdiffs.append(mean_pairwise_difference(reference))
        fds.append(spread_distance(class_colour_stats(fake, lab, k), f_real))
        floors.append(spread_distance(f_other, f_real))
    mean = lambda v: float(np.mean(v))  # noqa: E731
    return {
        "spread_diff": mean(diffs),
        "spread_real_diff": mean(rdiffs),
        "spread_fd": mean(fds),
        "spread_fd_floor": mean(floors),
    }


def segnet_for(num_classes: int, size: int, steps: int, cache_dir: Path, log=print) -> SegNet:
    """The evaluation's segmentation net for ``size``, from ``cache_dir`` or trained now (and cached)."""
    cache = cache_dir / f"segnet_{size}_{steps}.pt"
    net = SegNet(num_classes)
    if cache.is_file():
        net.load_state_dict(torch.load(cache, map_location="cpu", weights_only=True))
        log(f"segmentation net: {cache} (cached)")
        return net.eval()
    log(f"training the segmentation net on procedural images at {size}x{size} ({steps} steps)...")
    net = train_segnet(num_classes, size, steps=steps, log=log)
    cache.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()  # written whole and renamed: another process reading the cache never sees half a file
    torch.save(net.state_dict(), buf)
    write_atomic(cache, buf.getvalue())
    return net


def measure(
    syn: Synthesizer,
    net: SegNet,
    num: int,
    size: int | None = None,
    net_size: int | None = None,
    layouts: str = "procedural",
    n_seeds: int = 16,
    spread_layouts: int = 8,
) -> dict[str, float | None]:
    """The evaluation's numbers on ``num`` held-out layouts at output ``size`` (default: the generator's size).

    Images come from ``syn.synthesize`` (what the CLI, the app and the API return), two seeds per layout.
    ``net`` segments at ``net_size`` (default ``size``): outputs of another size are area-resized to it and
    compared with the same layouts rendered at ``net_size``.

    Keys: ``real_miou``, ``real_acc`` (the segmentation net on real renders: the ceiling), ``miou``, ``acc`` (on
    synthesized images of the same layouts), ``vgg_fd`` and ``vgg_fd_floor`` (real vs disjoint real), ``detail``
    (fine detail of synthesized over real, see :func:`detail_energy`), and ``seed_diff`` / ``real_diff`` (8-bit
    levels; ``seed_diff`` is None for a generator without style codes), ``period`` / ``real_period`` (texture
    periodicity, synthesized / real) and the :func:`seed_spread` keys (with ``n_seeds`` > 1 and style codes).
    """
    if layouts not in LAYOUTS:
        raise ValueError(f"unknown layouts {layouts!r}; choose one of: {', '.join(LAYOUTS)}")
    k = syn.num_classes
    size = size or syn.config.size
    net_size = net_size or size
    seeds = torch.arange(num) + EVAL_SEED
    real, ids = _renders(seeds, size, layouts=layouts)
    real2, _ = _renders(seeds + num, size, layouts=layouts)  # disjoint real set: the VGG-FD floor
    fake = _synthesized(syn, ids, list(range(num)), size)
    out: dict[str, float | None] = {"seed_diff": None}
    if syn.config.use_vae:  # same layouts, other codes: how much does the seed change the picture?
        other = _synthesized(syn, ids, [10**6 + i for i in range(num)], size)
        out["seed_diff"] = float((fake - other).abs().mean() * 127.5)
    seg_ids = ids if net_size == size else _renders(seeds, net_size, layouts=layouts)[1]

    def at_net(imgs: torch.Tensor) -> torch.Tensor:
        return imgs if net_size == size else F.interpolate(imgs, size=(net_size, net_size), mode="area")

    with torch.no_grad():
        for prefix, imgs in (("real_", real), ("", fake)):
            pred = torch.cat([net(at_net(imgs[i : i + 16])).argmax(1) for i in range(0, num, 16)])
            out[prefix + "miou"], out[prefix + "acc"] = scores(confusion(pred, seg_ids, k))
        vgg = VGG19Features(("relu4_1",))
        f_real = _pooled_vgg(vgg, real)
        out["vgg_fd"] = frechet_distance(f_real, _pooled_vgg(vgg, fake))
        out["vgg_fd_floor"] = frechet_distance(f_real, _pooled_vgg(vgg, real2))
    out["detail"] = detail_energy(fake) / max(detail_energy(real), 1e-12)
    out["real_diff"] = float((real - real2).abs().mean() * 127.5)
    out["period"], _ = periodicity(fake, ids)
    out["real_period"], _ = periodicity(real, ids)
    if syn.config.use_vae and n_seeds > 1 and spread_layouts > 0:
        out |= seed_spread(syn, ids[:spread_layouts], size, n_seeds)
    return out


def _pooled_vgg(vgg: nn.Module, imgs: torch.Tensor, batch: int = 8) -> torch.Tensor:
    feats = [vgg((imgs[i : i + batch] + 1) / 2)["relu4_1"].mean((2, 3)) for i in range(0, len(imgs), batch)]
    return torch.cat(feats) * CAFFE_TO_TORCHVISION  # torchvision-VGG scale: readable numbers


def table(results: dict[int, dict], name: str) -> str:
    """The evaluation table: one row per output size (see :func:`measure` for the numbers)."""
    out = [
        "| layouts | output | mIoU real | mIoU synthesized (x real) | pixel acc. real / synth. | VGG-FD (floor) "
        "| detail vs real | periodicity synth. / real (x) | seed diff (real diff) | 16-seed diff (renders) "
        "| spread FD (floor) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, m in results.items():
        kind, size = key if isinstance(key, tuple) else ("procedural", key)
        seed = "—" if m["seed_diff"] is None else f"{m['seed_diff']:.1f} ({m['real_diff']:.1f})"
        period = f"{m['period']:.2f} / {m['real_period']:.2f} ({m['period'] / max(m['real_period'], 1e-9):.1f}x)"
        spread, fd = "—", "—"
        if m.get("spread_diff") is not None:
            spread = f"{m['spread_diff']:.1f} ({m['spread_real_diff']:.1f})"
            fd = f"{m['spread_fd']:.3f} ({m['spread_fd_floor']:.3f})"
        out.append(
            f"| {kind} | {size} px | {m['real_miou']:.3f} | {m['miou']:.3f} "
            f"({m['miou'] / max(m['real_miou'], 1e-9):.2f}x) "
            f"| {m['real_acc']:.3f} / {m['acc']:.3f} | {m['vgg_fd']:.1f} ({m['vgg_fd_floor']:.1f}) "
            f"| {m['detail']:.2f}x | {period} | {seed} | {spread} | {fd} |"
        )
    return "\n".join(out) + (
        f"\n\n({name}; targets of issue 37: mIoU >= 0.9x real (painted 0.85x), detail >= 0.7x "
        "(painted 0.6x), periodicity <= 1.5x real, 16-seed diff >= 20)"
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m models.eval spade", description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter
    )
    p.add_argument("--checkpoint", default=None, help="spade .safetensors (default: the shipped one for --norm)")
    p.add_argument(
        "--norm",
        default=None,
        help="shipped generator to evaluate when --checkpoint is not given "
        "(unset: the norm of models.common.assets.DEFAULT_NORMS)",
    )
    p.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[256, 512],
        help="output sizes to evaluate at, each through synthesize() as the CLI and the app run it",
    )
    p.add_argument("-n", "--num", type=int, default=128, help="held-out layouts per size")
    p.add_argument(
        "--layouts",
        nargs="+",
        choices=LAYOUTS,
        default=["procedural", "painted"],
        help="held-out layout kinds: procedural scenes and/or hand-painted-style layouts",
    )
    p.add_argument("--seeds", type=int, default=16, help="seeds per layout for the seed spread (0: skip it)")
    p.add_argument("--spread-layouts", type=int, default=8, help="layouts the seed spread is measured on")
    p.add_argument(
        "--segnet-size",
        type=int,
        default=256,
        help="the segmentation net's size; larger outputs are area-resized to it for the mIoU",
    )
    p.add_argument("--segnet-steps", type=int, default=500, help="training steps if the segmentation net is not cached")
    p.add_argument("--cache-dir", default="runs/spade_eval")
    p.add_argument("--update-card", action="store_true", help="write the table into the checkpoint's model card")
    p.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    p.add_argument("--threads", type=int, default=None)
    return p


def _write_card_section(card: Path, section: str) -> None:
    text = card.read_text() if card.is_file() else "# SPADE generator\n"
    if "## Evaluation" in text:
        text = re.sub(r"## Evaluation\n.*?(?=\n## |\Z)", lambda _: section.rstrip("\n") + "\n", text, flags=re.S)
    else:  # before the samples/config sections of the shared card layout, else at the end
        anchor = next((h for h in ("\n## Samples", "\n## Use", "\n## Config") if h in text), None)
        if anchor:
            text = text.replace(anchor, "\n" + section.rstrip("\n") + "\n" + anchor, 1)
        else:
            text = text.rstrip("\n") + "\n\n" + section
    write_atomic(card, text)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.num < 4:
        print("error: --num must be >= 4 (covariances need several samples)", file=sys.stderr)
        return 2
    if min(args.sizes) < 32 or args.segnet_size < 32:
        print("error: --sizes and --segnet-size must be >= 32 px", file=sys.stderr)
        return 2
    try:
        path = Path(args.checkpoint) if args.checkpoint else Synthesizer.default_path(args.norm)
        syn = Synthesizer.from_checkpoint(path)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if [c["name"] for c in syn.config.classes] != [c.name for c in CLASSES]:
        print(
            "error: this evaluation uses procedural landscapes; the checkpoint has another class set", file=sys.stderr
        )
        return 2

    t0 = time.time()
    results: dict[tuple[str, int], dict] = {}
    for kind in args.layouts:
        for size in args.sizes:
            net_size = min(size, args.segnet_size)
            net = segnet_for(syn.num_classes, net_size, args.segnet_steps, Path(args.cache_dir))
            print(
                f"measuring {kind} layouts at {size} px ({args.num} layouts, two seeds each; "
                f"{args.seeds} seeds on {args.spread_layouts})...",
                file=sys.stderr,
            )
            results[(kind, size)] = measure(
                syn,
                net,
                args.num,
                size=size,
                net_size=net_size,
                layouts=kind,
                n_seeds=args.seeds,
                spread_layouts=args.spread_layouts,
            )
    cfg = syn.config
    native = (
        f"renders natively at {cfg.native_range[0]}-{cfg.native_range[1]} px"
        if cfg.arch == "crop"
        else f"renders at {cfg.size} px, resized to the output"
    )
    header = (
        f"{args.num} held-out layouts per kind and output size ({' and '.join(args.layouts)}; painted ones "
        "textured by render_layout as the real reference), each synthesized through `synthesize()` (as "
        f"the CLI, the app and the API return it) with two random seeds; `{path.name}` ({cfg.arch} generator, "
        f"{native}). mIoU: a U-Net trained {args.segnet_steps} steps on procedural images at "
        f"{min(args.segnet_size, max(args.sizes))} px (larger outputs area-resized to it). VGG-FD: Fréchet "
        "distance of pooled VGG-19 relu4_1 features at the output size (not Inception FID), floor = real vs "
        "disjoint real. Detail: variance above 1/4 of the resolution, synthesized over real. Seed diff: mean "
        "|difference| of two seeds on one layout, 8-bit levels (real diff: two real images of different layouts). "
        "Periodicity: autocorrelation peak at 5-20 px of the high-pass residual in one-class 48 px windows. "
        f"16-seed diff / spread FD: {args.seeds} seeds on each of the first {args.spread_layouts} layouts vs "
        f"{SPREAD_REFERENCE} renders of the same layout (FD of class-region colour statistics; floor: {args.seeds} "
        f"other renders vs the same {SPREAD_REFERENCE}; renders' diff: the mean over all pairs of the "
        f"{SPREAD_REFERENCE})."
    )
    text = table(results, path.name)
    print()
    print(header)
    print()
    print(text)
    print(f"\n({time.time() - t0:.0f}s; command: python -m models.eval spade {' '.join(argv or sys.argv[1:])})")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "checkpoint": str(path),
                    "num": args.num,
                    "results": {f"{k[0]}_{k[1]}": v for k, v in results.items()},
                },
                indent=1,
            )
        )
    if args.update_card:
        card = path.with_suffix(".md")
        _write_card_section(card, f"## Evaluation\n\n{header}\n\n{text}\n\n")
        print(f"updated {card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
