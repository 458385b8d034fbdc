"""`python -m models.bench adain`: AdaIN stylization latency, printed as a markdown table (a script, not a test).

Measures ``Stylizer.stylize`` end to end (PIL in, PIL out: resize, encode, AdaIN, decode) at 256² and 512², for
fp32 vs bf16 autocast and contiguous vs channels_last memory, with the style's features cached (a fixed style, the
app's common case) or recomputed every call. On a GPU it also reports network-only throughput at batch 1
(images/s), the number to compare with the paper's 15 FPS at 512² on a Pascal Titan X.

Targets (issue 3): 512² in <= 1.5 s on the 2-core CPU; >= 300 images/s at 512², batch 1, on an H100.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from models.adain.infer import Stylizer, stylize_features
from models.adain.net import AdaINNet
from models.common.accel import cpu_has_bf16
from models.common.assets import assets_dir
from models.common.cards import hardware_summary, markdown_table
from models.common.cli import HelpFormatter
from models.common.imageio import pil_to_tensor, tensor_to_pil

__all__ = ["main", "bench_stylize", "bench_network"]


def _image(size: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    # Smooth random colours (not white noise) so resizing costs what it costs on photos.
    small = rng.integers(0, 256, (size // 16 + 1, size // 16 + 1, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_stylize(stylizer, size: int, cached: bool, repeats: int, warmup: int = 1) -> list[float]:
    """Seconds per ``stylize`` call (content and style of ``size``²)."""
    content, style = _image(size, 0), _image(size, 1)
    times = []
    for i in range(warmup + repeats):
        if not cached:
            stylizer.clear_cache()
        _sync(stylizer.device)
        t0 = time.perf_counter()
        stylizer.stylize(content, [style], size=size)
        _sync(stylizer.device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def bench_network(stylizer, size: int, repeats: int, warmup: int = 5) -> list[float]:
    """Seconds per batch-1 network pass (encode content, AdaIN with cached style features, decode) on device."""

    x = torch.rand(3, size, size, device=stylizer.device)
    with torch.inference_mode():
        fs = stylizer.encode_style(torch.rand(3, size, size))
        times = []
        for i in range(warmup + repeats):
            _sync(stylizer.device)
            t0 = time.perf_counter()
            fc = stylizer.encode_content(x)
            with stylizer._autocast():
                out = stylizer.net.decode(stylize_features(stylizer.net, fc, [fs]))
            out.clamp_(0, 1)
            _sync(stylizer.device)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    return times


def bench_reference(net: AdaINNet, size: int, repeats: int, warmup: int = 1) -> list[float]:
    """Seconds per call of the plainest implementation of the same network: fp32, contiguous, no caching - PIL in,
    ``pil_to_tensor``, encode content and style, AdaIN, decode, clamp, PIL out. The row ``stylize()`` must match."""
    content, style = _image(size, 0), _image(size, 1)
    net = copy.deepcopy(net).float().to(memory_format=torch.contiguous_format).eval()
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            t0 = time.perf_counter()
            c, st = pil_to_tensor(content)[None], pil_to_tensor(style)[None]
            tensor_to_pil(net(c, st)[0])
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    return times


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m models.bench adain", description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="adain .safetensors (default: the shipped instance model, else random weights - the speed is the same)",
    )
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="square sizes to time")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per row (default 3 on CPU, 30 on GPU)")
    p.add_argument("--device", default=None, help="cpu, cuda or both (default: cpu, plus cuda when available)")
    p.add_argument("--quick", action="store_true", help="only the default configuration per device")
    p.add_argument(
        "--highres",
        action="store_true",
        help="the full-resolution benchmark instead (tiled vs untiled, 1-96 MP); its options follow, "
        "see `python -m models.bench adain --highres --help`",
    )
    return p


def _make(path: Path | None, device: str, bf16: bool, channels_last: bool):

    path = path or (assets_dir() / "adain_instance.safetensors")
    if path.is_file():
        return Stylizer.from_checkpoint(path, device=device, bf16=bf16, channels_last=channels_last)
    return Stylizer(AdaINNet(), device=device, bf16=bf16, channels_last=channels_last)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--highres" in argv:
        # The tiled benchmark has its own options; hand everything else over to it.
        from models.adain import bench_highres

        argv.remove("--highres")
        return bench_highres.main(argv)
    args = build_parser().parse_args(argv)

    if args.device in (None, "both"):
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        print("error: --device cuda requested but no CUDA device is available", file=sys.stderr)
        return 2
    rows = []
    for device in devices:
        repeats = args.repeats or (30 if device == "cuda" else 3)
        fast_bf16 = device == "cuda" or cpu_has_bf16()
        configs = (
            [(fast_bf16, fast_bf16)]
            if args.quick
            else [(False, False)] + ([(True, False), (True, True)] if fast_bf16 else [])
        )
        for bf16, cl in configs:
            stylizer = _make(args.checkpoint, device, bf16, cl)
            for size in args.sizes:
                for cached in (True, False):
                    if args.quick and not cached:
                        continue
                    t = bench_stylize(stylizer, size, cached, repeats)
                    med = statistics.median(t)
                    rows.append(
                        [
                            device,
                            f"{size}²",
                            "bf16" if bf16 else "fp32",
                            "channels_last" if cl else "contiguous",
                            "cached" if cached else "recomputed",
                            "stylize() end to end",
                            f"{med:.3f}",
                            f"{1 / med:.1f}",
                        ]
                    )
                    print(f"  {rows[-1]}", file=sys.stderr)
                if device == "cpu" and (bf16, cl) == configs[-1]:
                    t = bench_reference(stylizer.net, size, repeats)
                    med = statistics.median(t)
                    rows.append(
                        [
                            device,
                            f"{size}²",
                            "fp32",
                            "contiguous",
                            "recomputed",
                            "plain fp32 reference (same network)",
                            f"{med:.3f}",
                            f"{1 / med:.1f}",
                        ]
                    )
                    print(f"  {rows[-1]}", file=sys.stderr)
                if device == "cuda":
                    t = bench_network(stylizer, size, repeats=max(repeats, 50))
                    med = statistics.median(t)
                    rows.append(
                        [
                            device,
                            f"{size}²",
                            "bf16" if bf16 else "fp32",
                            "channels_last" if cl else "contiguous",
                            "cached",
                            "network only, batch 1",
                            f"{med:.4f}",
                            f"{1 / med:.0f}",
                        ]
                    )
                    print(f"  {rows[-1]}", file=sys.stderr)
    print(
        f"AdaIN stylization latency - {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{hardware_summary()}, median of {args.repeats or 'default'} runs\n"
    )
    print(
        markdown_table(
            ["device", "size", "precision", "memory format", "style features", "what", "median s", "images/s"], rows
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
