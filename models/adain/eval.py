"""`python -m models.eval adain`: score an AdaIN model on fixed content/style pairs against two baselines.

Metrics, per (content, style) pair, averaged:

- **style loss**: the paper's loss, Σ over relu1_1..relu4_1 of MSE(channel means) + MSE(channel stds) between the
  result and the style image (each layer divided by its feature scale, as in training). Lower = more stylized.
- **structure distance**: MSE between the *instance-normalised* relu3_1 features of the result and of the content.
  Instance normalisation removes per-channel statistics (which is what style is made of here), so what remains is
  spatial structure. Lower = content better kept. The distance between the content and an *unrelated* image of the
  set gives the scale of "structure lost".

Methods in the same run: the network, the content unchanged (style-loss reference), a per-channel RGB mean/std
colour transfer (the cheapest "style" baseline). One diagnostic row: the network given the content as its own style
("self-reconstruction"), where AdaIN is the identity and the output should be the content - its structure distance
is the decoder's own fidelity, the floor the stylized outputs cannot beat. Targets (on held-out pairs): mean per-pair
style ratio <= 0.20, its 90th percentile <= 0.35, mean structure distance <= 1.0 (an unrelated image scores ~2).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from models.common.files import write_atomic
from models.adain.data import find_images
from models.adain.infer import Stylizer
from models.adain.net import STYLE_LAYERS, style_loss
from models.common.cards import markdown_table
from models.common.checkpoint import CheckpointError, checkpoint_for
from models.common.cli import HelpFormatter
from models.common.imageio import load_image, pil_to_tensor, resize_long_side

__all__ = ["main", "evaluate", "structure_distance", "colour_transfer", "EvalResult"]

STRUCTURE_LAYER = "relu3_1"


def colour_transfer(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Baseline: match each RGB channel's mean/std of ``content (1, 3, H, W)`` to ``style``'s; clamped to [0, 1]."""
    cm, cs = content.mean((2, 3), keepdim=True), content.std((2, 3), keepdim=True)
    sm, ss = style.mean((2, 3), keepdim=True), style.std((2, 3), keepdim=True)
    return ((content - cm) / (cs + eps) * ss + sm).clamp(0, 1)


def structure_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """MSE between instance-normalised feature maps ``(B, C, H, W)`` (same size) -> ``(B,)``."""
    na, nb = F.instance_norm(a.float()), F.instance_norm(b.float())
    return (na - nb).pow(2).mean(dim=(1, 2, 3))


class EvalResult(dict):
    """``{method: {"style": float, "structure": float}}`` plus ``pairs``, ``seconds`` and ``ratios`` attributes.

    ``ratios``: per pair, the network's style loss divided by the unchanged content's (1 = no style transferred,
    0 = the style's statistics exactly); their mean and 90th percentile are the headline style numbers.
    """

    pairs: int = 0
    seconds: float = 0.0
    ratios: list[float] = []

    def ratio_summary(self) -> dict[str, float]:
        r = torch.tensor(self.ratios or [float("nan")], dtype=torch.float64)
        return {"mean": float(r.mean()), "p90": float(torch.quantile(r, 0.9)), "worst": float(r.max())}

    def table(self) -> str:
        rows = []
        ref = self["content unchanged"]["style"]
        for method, m in self.items():
            style = m.get("style")  # None: not a stylization (the self-reconstruction diagnostic)
            rows.append(
                [
                    method,
                    "—" if style is None else float(style),
                    "—" if style is None else f"{style / ref:.2f}x",
                    float(m["structure"]),
                ]
            )
        table = markdown_table(["method", "style loss", "vs unchanged", "structure distance"], rows)
        r = self.ratio_summary()
        return (
            table + f"\n\nPer-pair style ratio (network / unchanged): mean {r['mean']:.3f}, worst 10 % "
            f"(90th percentile) {r['p90']:.3f}, worst pair {r['worst']:.3f}."
        )

    def verdict(self) -> list[str]:
        net = self["network"]
        unrelated = self["unrelated image"]["structure"]
        r = self.ratio_summary()
        return [
            f"mean per-pair style ratio = {r['mean']:.3f} (target <= 0.20): {'PASS' if r['mean'] <= 0.20 else 'FAIL'}",
            f"worst 10 % of pairs: style ratio {r['p90']:.3f} (target <= 0.35): "
            f"{'PASS' if r['p90'] <= 0.35 else 'FAIL'}",
            f"mean structure distance = {net['structure']:.3f} (target <= 1.0; unrelated image {unrelated:.3f}): "
            f"{'PASS' if net['structure'] <= 1.0 else 'FAIL'}",
        ]


def _load_set(folder: Path, limit: int) -> list[tuple[str, Image.Image]]:

    out = []
    for path in find_images(folder):
        try:
            out.append((path.name, load_image(path)))
        except ValueError:
            continue
        if len(out) >= limit:
            break
    return out


def flat_graphic(kind: str, size: int = 512) -> Image.Image:
    """A flat graphic as a style image (hard edges, few saturated colours: far from paintings and photos).

    ``"hexagons"``: orange and green hexagons on cream; ``"stripes"``: magenta, navy and yellow diagonal bands.
    """
    img = Image.new("RGB", (size, size), (250, 240, 215))
    draw = ImageDraw.Draw(img)
    if kind == "hexagons":
        r = size // 10
        for row in range(-1, size // int(1.5 * r) + 2):
            for col in range(-1, size // int(1.75 * r) + 2):
                cx = col * 1.75 * r + (row % 2) * 0.875 * r
                cy = row * 1.5 * r
                pts = [
                    (
                        cx + 0.9 * r * math.cos(math.radians(60 * k + 30)),
                        cy + 0.9 * r * math.sin(math.radians(60 * k + 30)),
                    )
                    for k in range(6)
                ]
                draw.polygon(pts, fill=(240, 120, 20) if (row + col) % 3 else (40, 150, 60))
    elif kind == "stripes":
        colours = [(200, 30, 140), (20, 30, 90), (250, 210, 30)]
        w = size // 8
        for i in range(-size // w, 2 * size // w + 2):
            x = i * w
            draw.polygon([(x, 0), (x + w, 0), (x + w - size, size), (x - size, size)], fill=colours[i % 3])
    else:
        raise ValueError(f"unknown flat graphic {kind!r}; choose hexagons or stripes")
    return img


def _spread(items: list, n: int) -> list:
    """``n`` items evenly spread over the (sorted) list, so the choice is fixed but not just the first few."""
    if len(items) <= n:
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def evaluate(stylizer, contents: list[Image.Image], styles: list[Image.Image], size: int = 256) -> EvalResult:
    """Run every content with every style through the network and the baselines; average the metrics."""

    net = stylizer.net
    encoder, scales, eps = net.encoder, net.scales, net.config.eps
    device = stylizer.device
    sums: dict[str, dict[str, float]] = {}
    pairs, recon_sum, ratios = 0, 0.0, []
    t0 = time.perf_counter()

    def feats(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return encoder(x.to(device).float())

    def add(method: str, style_v: float, struct_v: float) -> None:
        s = sums.setdefault(method, {"style": 0.0, "structure": 0.0})
        s["style"] += style_v
        s["structure"] += struct_v

    with torch.inference_mode():
        for ci, content_img in enumerate(contents):
            content_img = resize_long_side(content_img, size)
            c = pil_to_tensor(content_img)[None]
            fc = feats(c)
            # An unrelated image: the next content of the set, resized to this content's exact size.
            other = contents[(ci + 1) % len(contents)].resize(content_img.size, Image.Resampling.BICUBIC)
            f_other = feats(pil_to_tensor(other)[None])
            recon = pil_to_tensor(stylizer.stylize(content_img, [content_img], size=size))[None]
            recon_sum += float(structure_distance(feats(recon)[STRUCTURE_LAYER], fc[STRUCTURE_LAYER])[0])
            for style_img in styles:
                s = pil_to_tensor(resize_long_side(style_img, size))[None]
                fs = feats(s)
                out = pil_to_tensor(stylizer.stylize(content_img, [style_img], size=size))[None]
                candidates = {"network": out, "content unchanged": c, "colour transfer": colour_transfer(c, s)}
                losses = {}
                for method, img in candidates.items():
                    fo = fc if img is c else feats(img)
                    losses[method] = float(style_loss({k: fo[k] for k in STYLE_LAYERS}, fs, scales, eps))
                    add(method, losses[method], float(structure_distance(fo[STRUCTURE_LAYER], fc[STRUCTURE_LAYER])[0]))
                ratios.append(losses["network"] / max(losses["content unchanged"], 1e-12))
                add(
                    "unrelated image",
                    float(style_loss({k: f_other[k] for k in STYLE_LAYERS}, fs, scales, eps)),
                    float(structure_distance(f_other[STRUCTURE_LAYER], fc[STRUCTURE_LAYER])[0]),
                )
                pairs += 1
    result = EvalResult({m: {k: v / pairs for k, v in d.items()} for m, d in sums.items()})
    result["network, self-reconstruction"] = {"style": None, "structure": recon_sum / len(contents)}
    result.pairs, result.seconds, result.ratios = pairs, time.perf_counter() - t0, ratios
    return result


def update_card(card: Path, section: str) -> None:
    """Replace (or append) the ``## Evaluation`` section of a model card."""
    text = card.read_text() if card.is_file() else ""
    block = f"## Evaluation\n\n{section.strip()}\n"
    if re.search(r"^## Evaluation\s*$", text, flags=re.M):
        text = re.sub(r"^## Evaluation\s*$.*?(?=^## |\Z)", block + "\n", text, count=1, flags=re.M | re.S)
    else:
        text = text.rstrip() + "\n\n" + block
    write_atomic(card, text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m models.eval adain", description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter
    )
    p.add_argument("--checkpoint", type=Path, default=None, help="adain .safetensors (default: shipped for --norm)")
    p.add_argument("--norm", default="instance", help="shipped model to evaluate when --checkpoint is not given")
    p.add_argument(
        "--data",
        type=Path,
        default=Path("data/starter"),
        help="starter-set folder with content/ and style/ (see `normlab data starter`)",
    )
    p.add_argument(
        "--content-dir",
        type=Path,
        default=None,
        help="content images (default: DATA/content; a `normlab data build` set: DATA/content/holdout)",
    )
    p.add_argument(
        "--style-dir",
        type=Path,
        default=None,
        help="style images (default: DATA/style; a `normlab data build` set: DATA/style/holdout)",
    )
    p.add_argument("--contents", type=int, default=6, help="number of content images (fixed choice)")
    p.add_argument("--styles", type=int, default=3, help="number of style images (fixed choice)")
    p.add_argument(
        "--photo-styles",
        type=int,
        default=2,
        help="also use this many content photos (not among the evaluated contents) as styles",
    )
    p.add_argument(
        "--graphic-styles",
        type=int,
        default=1,
        help="also use this many generated flat graphics as styles (hexagons, stripes)",
    )
    p.add_argument("--size", type=int, default=256, help="long side of the evaluated images")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--card", type=Path, default=None, help="write the table into this model card's Evaluation section")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers as JSON here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def default(role: str) -> Path:  # a built set evaluates on its held-out split
        return args.data / role / "holdout" if (args.data / role / "holdout").is_dir() else args.data / role

    content_dir = args.content_dir or default("content")
    style_dir = args.style_dir or default("style")
    if not content_dir.is_dir() or not style_dir.is_dir():
        print(
            f"error: {args.data} has no content/ and style/ folders; build it with "
            f"`normlab data starter --out {args.data}`",
            file=sys.stderr,
        )
        return 2
    try:
        path = args.checkpoint or checkpoint_for("adain", args.norm)
        stylizer = Stylizer.from_checkpoint(path, device=args.device)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    all_contents = _load_set(content_dir, 10_000)
    chosen = _spread(all_contents, args.contents)
    contents = [img for _, img in chosen]
    rest = [item for item in all_contents if item not in chosen]
    styles_named = (
        _spread(_load_set(style_dir, 10_000), args.styles)
        + _spread(rest, args.photo_styles)
        + [(f"graphic:{k}", flat_graphic(k)) for k in ("hexagons", "stripes")[: args.graphic_styles]]
    )
    if len(contents) < 2 or not styles_named:
        print(f"error: need >= 2 content and >= 1 style images under {args.data}", file=sys.stderr)
        return 2
    print(
        f"evaluating {path} on {len(contents)} contents x {len(styles_named)} styles "
        f"({', '.join(n for n, _ in styles_named)}) at {args.size}px ...",
        file=sys.stderr,
    )
    result = evaluate(stylizer, contents, [img for _, img in styles_named], size=args.size)
    table = result.table()
    verdict = result.verdict()
    print(table)
    print()
    print("\n".join(verdict))
    print(f"\n{result.pairs} pairs, {result.seconds:.0f}s")
    if args.card:
        section = (
            f"`python -m models.eval adain --checkpoint {path} --content-dir {content_dir} --style-dir "
            f"{style_dir} --contents {args.contents} --styles {args.styles} --size {args.size}` on "
            f"{result.pairs} fixed pairs ({len(contents)} contents x {len(styles_named)} styles: "
            f"{', '.join(n for n, _ in styles_named)}), {args.size}px. Style loss: the paper's mean/std loss "
            f"over relu1_1-relu4_1 (per-layer scaled); structure distance: MSE of instance-normalised "
            f"relu3_1 to the content's; self-reconstruction = the network with the content as its own "
            f"style (the decoder's fidelity floor).\n\n{table}\n\n" + "\n".join(f"- {v}" for v in verdict)
        )
        update_card(args.card, section)
        print(f"updated {args.card}", file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "pairs": result.pairs,
                    "metrics": dict(result),
                    "style_ratio": result.ratio_summary(),
                    "ratios": result.ratios,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
