"""Both trainers under DDP with 2 CPU processes (gloo), as `--devices 2 --strategy ddp` runs them: train, resume,
export — one run folder, one export (rank 0's), the card naming the processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[3]
DDP = [
    "--accelerator",
    "cpu",
    "--devices",
    "2",
    "--strategy",
    "ddp",
    "--threads",
    "1",
    "--num-workers",
    "0",
    "--no-progress",
    "--quiet",
    "--sample-every",
    "0",
    "--ckpt-every",
    "1",
]


def _env(cwd: Path) -> dict[str, str]:
    """A training process's environment: one thread, this checkout, exports into ``cwd/mine``, no inherited run."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(ROOT),
        "NORMLAB_MODELS": str(cwd / "mine"),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    env.pop("NORMLAB_RUN_DIR", None)
    return env


def _noise_images(folder: Path, seed: int) -> None:
    """``folder/content`` and ``folder/style`` with 4 small noise images each."""
    rng = np.random.default_rng(seed)
    for role in ("content", "style"):
        (folder / role).mkdir()
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(folder / role / f"{i}.png")


def _failure_text(stderr: str, head: int = 4000, tail: int = 2000) -> str:
    """What a failed run printed, readable: the *first* traceback (the rank that crashed first; the others then
    fail with "connection closed by peer" at the end of the output) and the end."""
    first = stderr.find("Traceback (most recent call last)")
    if len(stderr) <= head + tail:
        return stderr
    if first < 0 or len(stderr) - first <= head + tail:
        return stderr[-(head + tail) :]
    return f"{stderr[first : first + head]}\n[...]\n{stderr[-tail:]}"


def _train(cwd: Path, argv: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *argv],
        cwd=cwd,
        env=_env(cwd),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, _failure_text(proc.stderr)
    return proc


def test_failure_text_keeps_the_first_traceback_and_the_end():
    first = "Traceback (most recent call last)\n  rank 0: ValueError: the real cause\n"
    noise = "log line\n" * 2000
    out = _failure_text("startup\n" + first + noise + "Traceback (most recent call last)\nconnection closed by peer\n")
    assert "the real cause" in out and "connection closed by peer" in out and len(out) < 6100
    assert _failure_text("short failure") == "short failure"


def _check_one_run(cwd: Path, kind: str, norm: str) -> Path:
    runs = sorted((cwd / "runs").iterdir())
    assert len(runs) == 1, runs  # rank 1 uses rank 0's folder instead of making its own
    exports = sorted((cwd / "mine").glob("*.safetensors"))
    assert [p.name for p in exports] == [f"{kind}_{norm}.safetensors"]
    card = exports[0].with_suffix(".md").read_text()
    assert "2 processes (DDP)" in card
    return runs[0]


@pytest.mark.slow
def test_spade_trains_resumes_and_exports_under_ddp(tmp_path):
    tiny = [
        "spade",
        "--norm",
        "syncbatch",
        "--full-sizes",
        "32",
        "--crop",
        "32",
        "--pool-size",
        "4",
        "--pool-dir",
        str(tmp_path / "pool"),
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
        "--prior-pictures",
        "8",
        "--lambda-vgg",
        "0",
        *DDP,
    ]
    _train(tmp_path, [*tiny, "--max-steps", "2"])
    run = _check_one_run(tmp_path, "spade", "syncbatch")
    assert (run / "checkpoints" / "last.ckpt").is_file()
    _train(tmp_path, [*tiny, "--max-steps", "3", "--resume", "last", "--run-dir", str(run)])
    _check_one_run(tmp_path, "spade", "syncbatch")
    from models.common.assets import header_metadata

    assert header_metadata(tmp_path / "mine" / "spade_syncbatch.safetensors")["normlab_steps"] == "3"


@pytest.mark.slow
def test_adain_trains_resumes_and_exports_under_ddp(tmp_path):
    _noise_images(tmp_path, 0)
    tiny = [
        "adain",
        "--norm",
        "synconline",
        "--content-dir",
        str(tmp_path / "content"),
        "--style-dir",
        str(tmp_path / "style"),
        "--size",
        "32",
        "--batch-size",
        "2",
        *DDP,
    ]
    _train(tmp_path, [*tiny, "--max-steps", "2"])
    run = _check_one_run(tmp_path, "adain", "synconline")
    _train(tmp_path, [*tiny, "--max-steps", "3", "--resume", "last", "--run-dir", str(run)])
    _check_one_run(tmp_path, "adain", "synconline")


@pytest.mark.slow
def test_two_nodes_simulated_on_loopback_with_torchrun(tmp_path):
    """The README's two-node line: two torchrun launches (node ranks 0 and 1, one process each) meet on 127.0.0.1;
    Lightning sees 2 nodes x 1 device. One run folder (the shared --run-dir), one export, the card says 2 processes."""
    from tests.app.conftest import free_port

    _noise_images(tmp_path, 1)
    port = str(free_port())
    train = [
        str(ROOT / "train.py"),
        "adain",
        "--norm",
        "instance",
        "--content-dir",
        str(tmp_path / "content"),
        "--style-dir",
        str(tmp_path / "style"),
        "--size",
        "32",
        "--batch-size",
        "2",
        "--max-steps",
        "2",
        "--num-nodes",
        "2",
        "--run-dir",
        str(tmp_path / "runs" / "two_nodes"),
        *DDP[: DDP.index("--devices")],
        "--devices",
        "1",  # per node
        *DDP[DDP.index("--devices") + 2 :],
    ]
    nodes = [
        subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(rank)]
            + ["--nproc-per-node", "1", "--master-addr", "127.0.0.1", "--master-port", port, *train],
            cwd=tmp_path,
            env=_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    try:
        outs = [node.communicate(timeout=600)[0] for node in nodes]
    finally:
        for node in nodes:
            node.kill()
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(o[-2000:] for o in outs)
    _check_one_run(tmp_path, "adain", "instance")
