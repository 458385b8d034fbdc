"""Synchronized norms across 2 CPU processes (gloo): SyncOnlineNorm and SyncBatchNorm against one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from norms.online import OnlineNorm
from norms.sync import SyncOnlineNorm, convert_sync_online_norm

ROOT = Path(__file__).resolve().parents[2]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(tmp_path: Path, body: str, world: int = 2, timeout: float = 120) -> list[dict]:
    """Run ``body`` (Python, with ``rank``, ``world``, ``out`` (a dict to fill) and ``dist`` initialized with gloo)
    in ``world`` processes on loopback; returns each rank's ``out``."""
    script = tmp_path / "worker.py"
    script.write_text(
        "import json, os, sys, torch\nimport torch.distributed as dist\ntorch.set_num_threads(1)\n"
        "dist.init_process_group('gloo')\nrank, world = dist.get_rank(), dist.get_world_size()\nout = {}\n"
        + textwrap.dedent(body)
        + "\nopen(sys.argv[1], 'w').write(json.dumps(out))\ndist.destroy_process_group()\n"
    )
    port = _port()
    procs = []
    for rank in range(world):
        env = {
            **os.environ,
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "RANK": str(rank),
            "WORLD_SIZE": str(world),
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(ROOT),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), str(tmp_path / f"rank{rank}.json")],
                env=env,
                cwd=ROOT,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    errors = []
    for p in procs:
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            err = "timed out"
        if p.returncode:
            errors.append(err[-2000:])
    assert not errors, "\n".join(errors)
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(world)]


@pytest.mark.parametrize("ecm", ["ac", "ls", None])
def test_synced_online_norm_on_2_processes_equals_one_process_on_the_concatenated_stream(tmp_path, ecm):
    """Outputs, input gradients and all four buffers, after two steps, with uneven slices (2 and 3 samples)."""
    results = run_ranks(
        tmp_path,
        f"""
        from norms.online import OnlineNorm
        from norms.sync import SyncOnlineNorm
        torch.manual_seed(0)
        sizes = [2, 3]
        kw = dict(ecm={ecm!r}, alpha_fwd=0.8, alpha_bkw=0.7, clamp_val=1.0)
        synced, alone, ref = (cls(3, **kw).double() for cls in (SyncOnlineNorm, OnlineNorm, OnlineNorm))
        lo = sum(sizes[:rank])
        worst = dict(out=0.0, grad=0.0, buffers=0.0, alone=0.0)
        for step in range(2):
            x = torch.randn(5, 3, 4, 4, dtype=torch.float64) * (1 + step) + step
            g = torch.randn(5, 3, 4, 4, dtype=torch.float64)
            mine = x[lo:lo + sizes[rank]].clone().requires_grad_()
            whole = x.clone().requires_grad_()
            y, want = synced(mine), ref(whole)
            y.backward(g[lo:lo + sizes[rank]])
            want.backward(g)
            alone(x[lo:lo + sizes[rank]].clone())  # unsynced: sees only this rank's samples
            worst["out"] = max(worst["out"], float((y - want[lo:lo + sizes[rank]]).abs().max()))
            worst["grad"] = max(worst["grad"], float((mine.grad - whole.grad[lo:lo + sizes[rank]]).abs().max()))
        worst["buffers"] = max(float((getattr(synced, k) - getattr(ref, k)).abs().max()) for k in "m var u v".split())
        worst["alone"] = float((alone.m - ref.m).abs().max())
        out.update(worst)
    """,
    )
    for r in results:
        assert r["out"] < 1e-10 and r["grad"] < 1e-10 and r["buffers"] < 1e-10, r
        assert r["alone"] > 1e-3, r  # an unsynced norm's statistics differ: the test can tell


def test_syncbatch_ddp_on_2_processes_equals_batch_on_one_process_with_the_whole_batch(tmp_path):
    """2 processes x batch 4 with syncbatch = 1 process x batch 8 with batch: weights after 3 SGD steps (and the
    running statistics); unsynced batch norm under DDP differs."""
    body = """
        from torch.nn.parallel import DistributedDataParallel as DDP
        from norms import build_norm

        def net(norm):
            torch.manual_seed(1)
            return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), build_norm(norm, 4), torch.nn.ReLU(),
                                       torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))

        def train(model, shard):
            opt = torch.optim.SGD(model.parameters(), lr=0.5)
            for step in range(3):
                g = torch.Generator().manual_seed(step)
                x, y = torch.randn(8, 3, 6, 6, generator=g), torch.randn(8, 2, generator=g)
                x, y = (x[rank * 4:(rank + 1) * 4], y[rank * 4:(rank + 1) * 4]) if shard else (x, y)
                opt.zero_grad()
                torch.nn.functional.mse_loss(model(x), y).backward()
                opt.step()
            return model.module if shard else model

        single = train(net("batch"), shard=False)
        for name in ("syncbatch", "batch"):
            ddp = train(DDP(net(name)), shard=True)
            diff = max(float((a - b).abs().max()) for a, b in zip(ddp.state_dict().values(),
                                                                single.state_dict().values())
                       if a.is_floating_point())
            out[name] = diff
    """
    for r in run_ranks(tmp_path, body):
        assert r["syncbatch"] < 1e-5, r
        assert r["batch"] > 1e-4, r  # unsynced batch norm: each rank's statistics of 4 samples


def test_convert_keeps_weights_and_state_and_one_process_is_plain_online_norm():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), OnlineNorm(4, ecm="ls", alpha_fwd=0.9)).double()
    with torch.no_grad():
        model[1].weight.fill_(2.0)
        model[1].m.fill_(0.3)
    x = torch.randn(3, 4, 5, 5, dtype=torch.float64)
    ref = OnlineNorm(4, ecm="ls", alpha_fwd=0.9).double()
    ref.load_state_dict(model[1].state_dict())
    converted = convert_sync_online_norm(model)
    assert isinstance(converted[1], SyncOnlineNorm) and converted[1].weight.dtype == torch.float64
    assert float(converted[1].m[0]) == pytest.approx(0.3) and converted[1].alpha_fwd == 0.9
    assert torch.allclose(converted[1](x), ref(x)) and torch.allclose(converted[1].m, ref.m)
