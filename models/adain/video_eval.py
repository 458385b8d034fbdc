"""`python -m models.eval video`: temporal consistency of video stylization, by warping error (Lai et al., ECCV 2018).

For each clip of the generated set (``python -m models.adain.clips``, built on first use) and each method —
frame-by-frame AdaIN, (a) tracked statistics, (b) flow blending, (a)+(b) — the table gives:

- **warping error** (/255): mean |O_t - W(O_{t-1})| over the pixels the forward-backward check trusts, with the flow
  W estimated on the *input* frames by DIS at its ``medium`` preset (the stabilizer uses ``fast``: the measuring flow
  is not the one the method was tuned with); the input clip's own warping error is the floor;
- **style ratio**: the AdaIN eval's per-pair style loss of the output / that of the unchanged frame, averaged over
  every 8th frame (lower = more style);
- **ms per frame** of each method's stylization (encode + decode, + tracking, + flow).

The four methods share each frame's encoding (the statistics only change what is decoded, and the flow blend is
applied to a decoded frame), so one pass costs about 1.5 stylizations per frame.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from models.adain.infer import Stylizer
from models.adain.net import STYLE_LAYERS, style_loss
from models.adain.temporal import FlowBlender, to_tensor
from models.adain.video import VideoConfig, VideoStylizer
from models.common.cards import markdown_table
from models.common.cli import HelpFormatter
from models.common.flow import FlowEstimator, flow_pair, warping_error
from models.common.imageio import load_image, pil_to_tensor, resize_long_side
from models.common.video import VideoReader, output_size, probe
from norms.stats import Moments, moments


def real_clips() -> list[Path]:
    """Real footage that an installed package ships: Gradio's sample clip of the night-side Earth turning
    (``gradio/media_assets/videos/b.mp4``, 480x270, 150 frames at 30 frames/s; Gradio is a dependency). Debian's
    kdenlive-data, shotcut-data, totem-common, gnome-video-effects and libmediastreamer-data and the wheels of
    scikit-image (a 14x25 GIF), OpenCV and PyAV hold no usable footage."""
    import importlib.util

    spec = importlib.util.find_spec("gradio")  # located, not imported: gradio belongs to the web UI
    if spec is None or spec.origin is None:
        return []
    clip = Path(spec.origin).parent / "media_assets" / "videos" / "b.mp4"
    return [clip] if clip.is_file() else []


METHODS = ("frame-by-frame", "(a) tracked statistics", "(b) flow blend", "(a) + (b)", "(b) plain average")


def clip_warping_error(
    frames: list[np.ndarray], outputs: list[np.ndarray], flow: FlowEstimator | None = None, flows: list | None = None
) -> float:
    """Mean warping error (/255) of ``outputs`` over a clip whose input ``frames`` give the flow (or pass
    precomputed ``flows``: ``[(flow, mask)]`` per consecutive pair). With ``outputs = frames`` it is the floor."""
    flow = flow or FlowEstimator("medium")
    errs = []
    for t in range(1, len(frames)):
        f, m = flows[t - 1] if flows is not None else flow_pair(flow, frames[t], frames[t - 1])
        e = warping_error(outputs[t], outputs[t - 1], f, m)
        if not math.isnan(e):
            errs.append(e)
    return float(np.mean(errs)) if errs else float("nan")


def _style_losses(net, images: list[np.ndarray], style_feats: dict) -> list[float]:
    """The AdaIN eval's style loss of each image ``(H, W, 3)`` uint8 against the style's features."""
    out = []
    with torch.inference_mode():
        for img in images:
            f = net.encoder(to_tensor(img)[None])
            out.append(float(style_loss({k: f[k] for k in STYLE_LAYERS}, style_feats, net.scales, net.config.eps)))
    return out


def evaluate_clip(
    stylizer: Stylizer,
    path: Path,
    style,
    size: int | None = None,
    decay: float = 0.9,
    strength: float = 0.6,
    ratio_every: int = 8,
) -> dict:
    """All five methods on one clip; returns ``{method: {"warp", "ratio", "ms"}, "input": {"warp"}, ...}``."""
    info = probe(path)
    wh = output_size(info.width, info.height, size)
    with VideoReader(path, wh) as r:
        frames = [f.rgb for f in r.frames()]
    cfg = VideoConfig(size=None, stats_decay=decay, flow=False)
    vs = VideoStylizer(stylizer, [style], config=cfg)
    blend_fbf, blend_a = FlowBlender(strength), FlowBlender(strength)
    blend_plain = FlowBlender(strength, detail=False)  # the blend before the strokes' contrast was kept
    outs = {m: [] for m in METHODS}
    t_enc = t_dec = t_track = t_flow = t_plain = 0.0
    with torch.inference_mode():
        for rgb in frames:
            t0 = time.perf_counter()
            feat, x, _ = vs.encode(rgb)
            t1 = time.perf_counter()
            own = Moments(*(t[None] for t in moments(feat, dims=[0, 2, 3])))
            tracked = vs.track(feat, x)
            t2 = time.perf_counter()
            fbf = vs.render(feat, own)
            t3 = time.perf_counter()
            stab = vs.render(feat, tracked)
            t4 = time.perf_counter()
            if vs.last_cut:  # both blends restart at a scene cut (and the first frame)
                blend_fbf.reset()
                blend_a.reset()
                blend_plain.reset()
            b_fbf = blend_fbf(rgb, fbf)
            t5 = time.perf_counter()
            b_a = blend_a(rgb, stab)
            t6 = time.perf_counter()
            b_plain = blend_plain(rgb, fbf)
            t_plain += time.perf_counter() - t6
            for m, o in zip(METHODS, (fbf, stab, b_fbf, b_a, b_plain)):
                outs[m].append(o)
            t_enc += t1 - t0
            t_track += t2 - t1
            t_dec += t3 - t2
            t_flow += t5 - t4
    n = len(frames)
    flow = FlowEstimator("medium")
    flows = [flow_pair(flow, frames[t], frames[t - 1]) for t in range(1, n)]
    with torch.inference_mode():
        style_feats = {
            k: v
            for k, v in stylizer.net.encoder(pil_to_tensor(resize_long_side(style, max(wh)))[None]).items()
            if k in STYLE_LAYERS
        }
    ms = {
        METHODS[0]: t_enc + t_dec,
        METHODS[1]: t_enc + t_dec + t_track,
        METHODS[2]: t_enc + t_dec + t_flow,
        METHODS[3]: t_enc + t_dec + t_track + t_flow,
        METHODS[4]: t_enc + t_dec + t_plain,
    }
    name = f"{path.parent.parent.parent.name}:{path.name}" if path in real_clips() else path.stem
    result = {
        "clip": name,
        "size": list(wh),
        "frames": n,
        "cuts": vs.tracker.cuts,
        "input": {"warp": clip_warping_error(frames, frames, flows=flows)},
    }
    sample = range(0, n, ratio_every)
    unchanged = _style_losses(stylizer.net, [frames[t] for t in sample], style_feats)
    for m in METHODS:
        losses = _style_losses(stylizer.net, [outs[m][t] for t in sample], style_feats)
        result[m] = {
            "warp": clip_warping_error(frames, outs[m], flows=flows),
            "ratio": float(np.mean([a / max(b, 1e-12) for a, b in zip(losses, unchanged)])),
            "ms": 1000 * ms[m] / n,
        }
    return result


def summarize(results: list[dict]) -> str:
    rows = []
    for r in results:
        rows.append(
            [r["clip"], f"{r['size'][0]}x{r['size'][1]}", r["frames"], r["cuts"], f"{r['input']['warp']:.2f}"]
            + [f"{r[m]['warp']:.2f}" for m in METHODS]
        )
    table = markdown_table(["clip", "size", "frames", "cuts found", "input (floor)"] + list(METHODS), rows)
    fbf = METHODS[0]
    summary = []
    for m in METHODS:
        rel = statistics.mean(r[m]["warp"] / r[fbf]["warp"] for r in results)
        ratio = statistics.mean(r[m]["ratio"] for r in results)
        ratio_rel = statistics.mean(r[m]["ratio"] / r[fbf]["ratio"] for r in results)
        ms = statistics.mean(r[m]["ms"] for r in results)
        ms_rel = statistics.mean(r[m]["ms"] / r[fbf]["ms"] for r in results)
        summary.append(
            [
                m,
                f"{statistics.mean(r[m]['warp'] for r in results):.2f}",
                f"{rel:.2f}x",
                f"{ratio:.3f}",
                f"{ratio_rel:.2f}x",
                f"{ms:.0f}",
                f"{ms_rel:.2f}x",
            ]
        )
    floor = statistics.mean(r["input"]["warp"] for r in results)
    return (
        f"Warping error (/255) per clip\n\n{table}\n\nSummary over {len(results)} clips (input floor "
        f"{floor:.2f})\n\n"
        + markdown_table(
            [
                "method",
                "warping error",
                "vs frame-by-frame",
                "style ratio",
                "vs frame-by-frame",
                "ms/frame (stylize)",
                "vs frame-by-frame",
            ],
            summary,
        )
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m models.eval video", description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter
    )
    p.add_argument(
        "--clips",
        type=Path,
        default=Path("data/clips"),
        help="folder of clips (built by `python -m models.adain.clips` when missing)",
    )
    p.add_argument("--photos", type=Path, default=None, help="photos for building the clips (default: lomiri)")
    p.add_argument("--style", type=Path, default=None, help="style image (default: assets/examples/starry_night.jpg)")
    p.add_argument("--checkpoint", type=Path, default=None, help="adain .safetensors (default: the shipped instance)")
    p.add_argument("--size", type=int, default=None, help="stylize at this long side (default: each clip's size)")
    p.add_argument("--decay", type=float, default=0.9, help="(a): statistics decay")
    p.add_argument("--strength", type=float, default=0.6, help="(b): flow blend strength")
    p.add_argument("--limit", type=int, default=0, help="only the first N clips (0: all)")
    p.add_argument(
        "--real",
        choices=("with", "without", "only"),
        default="with",
        help="the real footage of :func:`real_clips` with the generated set, without it, or alone",
    )
    p.add_argument("--json", type=Path, default=None, help="also write the per-clip results here")
    return p


def main(argv: list[str] | None = None) -> int:
    from models.adain import clips as clipset
    from models.common.assets import assets_dir

    args = build_parser().parse_args(argv)
    paths = sorted(args.clips.glob("*.mp4")) if args.clips.is_dir() else []
    if not paths and args.real != "only":
        print(f"building the clip set in {args.clips} ...", file=sys.stderr)
        photos = [a for _, a in clipset.load_photos(args.photos, Path("data/debs"))]
        paths = clipset.build(args.clips, photos, log=lambda m: print(m, file=sys.stderr))
    if args.limit:
        paths = paths[: args.limit]
    if args.real == "only":
        paths = real_clips()
    elif args.real == "with":
        paths = paths + real_clips()
    stylizer = Stylizer.from_checkpoint(args.checkpoint) if args.checkpoint else Stylizer.for_norm("instance")
    style = load_image(args.style or assets_dir() / "examples" / "starry_night.jpg")
    results = []
    for path in paths:
        t0 = time.perf_counter()
        r = evaluate_clip(stylizer, path, style, args.size, args.decay, args.strength)
        results.append(r)
        print(
            f"  {r['clip']}: input {r['input']['warp']:.2f}, "
            + ", ".join(f"{m} {r[m]['warp']:.2f}" for m in METHODS)
            + f" ({time.perf_counter() - t0:.0f} s)",
            file=sys.stderr,
        )
    print(summarize(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
