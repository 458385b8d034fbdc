"""Training data of the crop generator: random crops of whole procedural pictures, with where they came from.

One batch is ``(real (B, 3, c, c) in [-1, 1], ids (B, c, c) int64, box (B, 4), thumb (B, 3, t, t) in [-1, 1])``:
``box`` = ``(top, left, picture height, picture width)`` in pixels (what
:func:`models.spade.generator.position_channels` reads) and ``thumb`` is the *whole* picture shrunk for the style
encoder, so every crop of one picture shares one style code.

Where the pictures come from:

* GPU: :class:`CropSeeds` yields ``(seeds, side)`` and the module renders whole pictures on the device
  (:func:`models.spade.data.procedural_batch`) and crops them there.
* CPU: rendering one 512 px landscape costs about as much as a training step, so :class:`RenderPool` renders a
  fixed set of pictures per side once into ``data/spade_renders/`` (uint8, memory-mapped, reused by later runs)
  and :class:`PoolCrops` cuts fresh random crops (and flips) from it every step.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import IterableDataset

from models.common.files import write_atomic
from models.spade.data import ProceduralSeeds, procedural_batch

__all__ = [
    "CropSeeds",
    "POOL_KINDS",
    "PoolCrops",
    "RenderPool",
    "painted_renders",
    "pool_count",
    "random_crops",
    "renderer_fingerprint",
]

POOL_SEED_BASE = 200_000_000  # pool layouts: far from the eval (>= 1e9) and segmentation-net (5e8) seeds
POOL_PIXELS_SIDE = 512  # pools of larger pictures hold fewer of them: no more pixels than a pool of 512 px ones


def pool_count(count: int, side: int, least: int = 1) -> int:
    """Pictures in a render pool of ``side`` px when ``count`` are asked per side: ``count`` up to 512 px, above it
    ``count * (512 / side)**2`` (at least ``least``), so a pool never holds more pixels than a 512 px one.

    Why: a 1024 px picture costs 6x a 512 px one to render (3-5.5 s on one core) and 4x the disk, and one of them
    already holds ~28 disjoint 192 px training windows: 1000 of them would be 4 GB and an hour of rendering.

    >>> pool_count(1000, 512), pool_count(1000, 1024), pool_count(600, 1024), pool_count(20, 2048, least=4)
    (1000, 250, 150, 4)
    """
    if side <= POOL_PIXELS_SIDE:
        return count
    return max(least, round(count * (POOL_PIXELS_SIDE / side) ** 2))


def random_crops(
    images: torch.Tensor,
    ids: torch.Tensor,
    crop: int,
    thumb: int = 64,
    rng: random.Random | None = None,
    flip: bool = True,
) -> tuple[torch.Tensor, ...]:
    """Cut one random ``crop x crop`` window from each whole picture (after a random horizontal flip).

    Args:
        images: ``(B, 3, H, W)`` in [-1, 1]; ids: ``(B, H, W)`` class ids.
        crop: window side (<= H, W); thumb: side of the whole-picture thumbnail for the style encoder.

    Returns:
        ``(real (B, 3, crop, crop), ids (B, crop, crop), box (B, 4) float, thumb (B, 3, thumb, thumb))``.

    >>> img, lab = torch.zeros(2, 3, 64, 64), torch.zeros(2, 64, 64, dtype=torch.long)
    >>> real, ids, box, th = random_crops(img, lab, 32, thumb=16, rng=random.Random(0))
    >>> real.shape, ids.shape, box[:, 2:].tolist(), th.shape
    (torch.Size([2, 3, 32, 32]), torch.Size([2, 32, 32]), [[64.0, 64.0], [64.0, 64.0]], torch.Size([2, 3, 16, 16]))
    """
    rng = rng or random
    B, _, H, W = images.shape
    if crop > min(H, W):
        raise ValueError(f"crop {crop} is larger than the pictures ({H}x{W})")
    if flip:
        flips = torch.tensor([rng.random() < 0.5 for _ in range(B)], device=images.device)
        images = torch.where(flips[:, None, None, None], images.flip(-1), images)
        ids = torch.where(flips[:, None, None], ids.flip(-1), ids)
    tops = [rng.randint(0, H - crop) for _ in range(B)]
    lefts = [rng.randint(0, W - crop) for _ in range(B)]
    real = torch.stack([images[i, :, t : t + crop, l : l + crop] for i, (t, l) in enumerate(zip(tops, lefts))])
    lab = torch.stack([ids[i, t : t + crop, l : l + crop] for i, (t, l) in enumerate(zip(tops, lefts))])
    box = torch.tensor([[t, l, H, W] for t, l in zip(tops, lefts)], dtype=torch.float32, device=images.device)
    th = F.interpolate(images.float(), size=(thumb, thumb), mode="area").to(images.dtype)
    return real.contiguous(), lab.contiguous(), box, th


class CropSeeds(IterableDataset):
    """GPU data: endless ``(seeds (B,) int64, side () int64)``; the module renders and crops on the device.

    Each batch draws one picture side from ``sides`` (all pictures of a batch share it, so they stack).
    """

    def __init__(self, batch_size: int, sides: Sequence[int], start: int = 0) -> None:
        self.seeds = ProceduralSeeds(batch_size, start=start)
        self.sides = list(sides)

    def __iter__(self) -> Iterator:
        rng = random.Random(self.seeds.start)
        for seeds in self.seeds:
            yield seeds, torch.tensor(rng.choice(self.sides))


POOL_KINDS = ("procedural", "painted")
PAINTED_SEED_BASE = 100_000_000  # painted pool layouts: below the held-out painted seeds (PAINTED_EVAL_SEED)


def renderer_fingerprint(kind: str = "procedural") -> str:
    """Short hash of the renderer's source (and the painter's): a cached pool is rebuilt when either changes."""
    import models.landscape.painted as painted
    import models.landscape.render as render

    files = [render.__file__] + ([painted.__file__] if kind == "painted" else [])
    return hashlib.sha1(b"".join(Path(f).read_bytes() for f in files)).hexdigest()[:10]


def painted_renders(seeds: Sequence[int], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Painted layouts for ``seeds`` textured by the renderer: ``(images (B, 3, S, S) in [-1, 1], ids (B, S, S))``."""
    from models.landscape.painted import painted_batch
    from models.landscape.render import render_layout

    ids = painted_batch(seeds, size)
    return render_layout(ids, seeds) * 2 - 1, ids


@contextmanager
def _pool_lock(pool_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``pool_dir``'s lock file (``ROOT/.NAME.lock``) while inside; blocks until free.
    Where ``fcntl`` is missing (Windows) nothing is locked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    pool_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(pool_dir.parent / f".{pool_dir.name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class RenderPool:
    """``count`` whole pictures of one ``side``, rendered once and kept on disk (uint8, memory-mapped).

    ``kind``: ``procedural`` scenes, or ``painted`` layouts (:mod:`models.landscape.painted`) textured by
    :func:`models.landscape.render.render_layout`.
    Files: ``ROOT/[painted_]pool_{side}_{count}_{fingerprint}/{images.npy (N, S, S, 3), ids.npy (N, S, S), done.json}``.
    An interrupted build leaves no ``done.json`` and is rebuilt; pictures use training seeds from
    :data:`POOL_SEED_BASE` (painted: :data:`PAINTED_SEED_BASE`) on, so no evaluation layout is ever in a pool.
    """

    def __init__(
        self,
        root: str | Path,
        side: int,
        count: int,
        chunk: int = 8,
        progress: bool | None = None,
        kind: str = "procedural",
    ) -> None:
        if side < 16 or count < 1:
            raise ValueError(f"a render pool needs side >= 16 and count >= 1, got {side} and {count}")
        if kind not in POOL_KINDS:
            raise ValueError(f"unknown pool kind {kind!r}; choose one of: {', '.join(POOL_KINDS)}")
        self.side, self.count, self.kind = side, count, kind
        prefix = "painted_" if kind == "painted" else ""
        self.dir = Path(root) / f"{prefix}pool_{side}_{count}_{renderer_fingerprint(kind)}"
        if not (self.dir / "done.json").is_file():
            # CPU DDP ranks (and two runs sharing the pool folder) come here at once: one renders, the others wait
            # for it and then find done.json (two writers into one memory map crashed a rank)
            with _pool_lock(self.dir):
                if not (self.dir / "done.json").is_file():
                    self._build(chunk, progress)
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    def __getstate__(self) -> dict:
        # loader workers re-open the memory maps: pickling them would copy the whole pool into every worker
        return self.__dict__ | {"_arrays": None}

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(images (N, S, S, 3), ids (N, S, S))`` uint8, memory-mapped (opened on first use in each process)."""
        if self._arrays is None:
            self._arrays = (
                np.load(self.dir / "images.npy", mmap_mode="r"),
                np.load(self.dir / "ids.npy", mmap_mode="r"),
            )
        return self._arrays

    @property
    def first_seed(self) -> int:
        if self.kind == "painted":
            return PAINTED_SEED_BASE + self.side * 100_000
        return POOL_SEED_BASE + self.side * 1_000_000

    def _build(self, chunk: int, progress: bool | None) -> None:
        from tqdm import tqdm

        self.dir.mkdir(parents=True, exist_ok=True)
        S, N = self.side, self.count
        need = N * S * S * 4 / 2**20
        print(
            f"rendering {N} {self.kind} pictures at {S} px into {self.dir} ({need:.0f} MiB, once; later runs "
            "reuse them)",
            file=sys.stderr,
        )
        images = np.lib.format.open_memmap(self.dir / "images.npy", mode="w+", dtype=np.uint8, shape=(N, S, S, 3))
        ids = np.lib.format.open_memmap(self.dir / "ids.npy", mode="w+", dtype=np.uint8, shape=(N, S, S))
        bar = tqdm(
            total=N, desc=f"{self.kind} pool {S}px", unit="img", disable=None if progress is None else not progress
        )
        for i in range(0, N, chunk):
            n = min(chunk, N - i)
            seeds = torch.arange(n) + self.first_seed + i
            img, lab = procedural_batch(seeds, S) if self.kind == "procedural" else painted_renders(seeds.tolist(), S)
            images[i : i + n] = ((img + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
            ids[i : i + n] = lab.numpy().astype(np.uint8)
            bar.update(n)
        bar.close()
        images.flush()
        ids.flush()
        del images, ids
        write_atomic(
            self.dir / "done.json",
            json.dumps({"side": S, "count": N, "first_seed": self.first_seed, "kind": self.kind}),
        )

    def __len__(self) -> int:
        return self.count

    def batch(self, index: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pictures ``index``: ``(images (B, 3, S, S) float in [-1, 1], ids (B, S, S) int64)``."""
        images, ids = self.arrays
        idx = sorted(index)
        img = torch.from_numpy(np.ascontiguousarray(images[idx])).permute(0, 3, 1, 2).float() / 127.5 - 1
        return img, torch.from_numpy(np.ascontiguousarray(ids[idx])).long()


class PoolCrops(IterableDataset):
    """CPU data: endless crop batches (see the module docstring) cut from :class:`RenderPool` s.

    Each batch picks one pool (picture side and kind) at random — with probability proportional to ``weights``
    (default: equal) — then ``batch_size`` of its pictures and one random window (and flip) in each.
    """

    def __init__(
        self,
        pools: Sequence[RenderPool],
        batch_size: int,
        crop: int,
        thumb: int = 64,
        seed: int = 0,
        weights: Sequence[float] | None = None,
    ) -> None:
        if not pools:
            raise ValueError("PoolCrops needs at least one render pool")
        weights = [1.0] * len(pools) if weights is None else [float(w) for w in weights]
        if len(weights) != len(pools) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"PoolCrops needs one non-negative weight per pool (not all 0), got {weights}")
        self.pools, self.batch_size, self.crop, self.thumb, self.seed = list(pools), batch_size, crop, thumb, seed
        self.weights = weights

    def __iter__(self) -> Iterator:
        info = torch.utils.data.get_worker_info()
        rng = random.Random(self.seed * 1000 + (info.id if info is not None else 0))
        while True:
            pool = rng.choices(self.pools, weights=self.weights)[0]
            img, ids = pool.batch(rng.sample(range(len(pool)), min(self.batch_size, len(pool))))
            yield random_crops(img, ids, self.crop, self.thumb, rng)
