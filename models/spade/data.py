"""Segmentation-to-image training data: procedural landscapes and real labelled datasets.

Two sources, one batch format ``(image (B, 3, S, S) in [-1, 1], ids (B, S, S) int64)``:

* :class:`ProceduralSeeds` — an endless stream of seed batches. The landscapes themselves are rendered
  by :func:`procedural_batch` *on the training device* (GPU when present), so data never starves it.
* :class:`SegFolder` — a real dataset laid out as::

      ROOT/images/NAME.jpg|png      RGB photos
      ROOT/labels/NAME.png          integer label maps (pixel value = class id, IGNORE = don't care)
      ROOT/classes.json             [{"id": 0, "name": "sky", "color": [r, g, b]}, ...]
                                    (or classes.txt: one "name r g b" per line, id = line number)

  (ADE20K/COCO-Stuff/Cityscapes exports fit once their label PNGs hold class ids.) Ignore pixels
  become all-zero one-hot vectors in the generator's input.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, IterableDataset

from models.common.formats import IMAGE_EXTENSIONS
from models.landscape.classes import IGNORE_INDEX
from models.landscape.render import generate_batch

__all__ = ["ProceduralSeeds", "SegFolder", "load_classes", "procedural_batch"]


def procedural_batch(seeds: torch.Tensor, size: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Render landscapes for ``seeds (B,)`` on ``device``: ``(images (B, 3, S, S) in [-1, 1], ids (B, S, S))``."""

    img, ids = generate_batch(seeds, size, device=device)
    return img * 2 - 1, ids


class ProceduralSeeds(IterableDataset):
    """Endless batches of distinct seeds ``(B,)`` int64 (use with ``DataLoader(batch_size=None)``).

    With ``render_size`` the batches are rendered here instead (CPU training: loader workers do the
    work) and items are ``(images (B, 3, S, S) in [-1, 1], ids (B, S, S))``. Training seeds stay below
    :attr:`EVAL_OFFSET`, so held-out evaluation layouts (seeds from there on) are never trained on.
    Several loader workers get interleaved, non-overlapping seed ranges.
    """

    EVAL_OFFSET = 10**9

    def __init__(self, batch_size: int, start: int = 0, render_size: int | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size, self.start, self.render_size = batch_size, start, render_size

    def __iter__(self) -> Iterator:
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        step = wid
        while True:
            base = (self.start + step * self.batch_size) % (self.EVAL_OFFSET - self.batch_size)
            seeds = torch.arange(base, base + self.batch_size, dtype=torch.int64)
            yield procedural_batch(seeds, self.render_size) if self.render_size else seeds
            step += nw


def load_classes(root: str | Path) -> list[dict]:
    """Read ``classes.json`` or ``classes.txt`` from ``root``: ``[{id, name, color}]``."""
    root = Path(root)
    js, txt = root / "classes.json", root / "classes.txt"
    if js.is_file():
        try:
            raw = json.loads(js.read_text())
            classes = [{"id": int(c["id"]), "name": str(c["name"]), "color": [int(v) for v in c["color"]]} for c in raw]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{js}: expected a JSON list of {{id, name, color: [r, g, b]}} objects ({exc})") from None
    elif txt.is_file():
        classes = []
        for n, line in enumerate(l for l in txt.read_text().splitlines() if l.strip() and not l.startswith("#")):
            parts = line.split()
            if len(parts) != 4:
                raise ValueError(f"{txt}: line {n + 1} must be 'name r g b', got {line!r}")
            classes.append({"id": n, "name": parts[0], "color": [int(v) for v in parts[1:]]})
    else:
        raise ValueError(f"no classes.json or classes.txt in {root}")
    ids = sorted(c["id"] for c in classes)
    if ids != list(range(len(ids))):
        raise ValueError(f"class ids must be 0..{len(ids) - 1} without gaps, got {ids[:10]}")
    return sorted(classes, key=lambda c: c["id"])


class SegFolder(Dataset):
    """Real images + integer label PNGs (see module docstring).

    Items: ``(image (3, S, S) float in [-1, 1], ids (S, S) int64)``; a random square crop (train) or
    centre crop (eval) resized to ``size`` (labels with nearest), plus a random horizontal flip in train.
    Label values ``>= num_classes`` other than ``ignore_index`` raise a ValueError naming the file.
    """

    def __init__(self, root: str | Path, size: int = 256, train: bool = True, ignore_index: int = IGNORE_INDEX) -> None:
        root = Path(root)
        for sub in ("images", "labels"):
            if not (root / sub).is_dir():
                raise ValueError(f"dataset {root} needs an '{sub}/' folder (see models/spade/data.py)")
        self.classes = load_classes(root)
        self.size, self.train, self.ignore_index = size, train, ignore_index
        labels = {p.stem: p for p in (root / "labels").glob("*.png")}
        self.items = [
            (p, labels[p.stem])
            for p in sorted((root / "images").iterdir())
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.stem in labels
        ]
        if not self.items:
            raise ValueError(f"no image/label pairs in {root}: images/NAME.jpg needs labels/NAME.png")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        img_path, lbl_path = self.items[i]
        img = Image.open(img_path).convert("RGB")
        lbl = Image.open(lbl_path)
        if lbl.mode not in ("L", "P", "I", "I;16"):
            raise ValueError(f"{lbl_path}: label PNG must be single-channel class ids, got mode {lbl.mode}")
        if lbl.size != img.size:
            raise ValueError(f"{lbl_path}: size {lbl.size} differs from its image {img.size}")
        w, h = img.size
        side = min(w, h)
        if self.train:
            x0, y0 = random.randint(0, w - side), random.randint(0, h - side)
        else:
            x0, y0 = (w - side) // 2, (h - side) // 2
        box = (x0, y0, x0 + side, y0 + side)
        img = img.crop(box).resize((self.size, self.size), Image.BICUBIC)
        # nearest keeps ids intact; palette ("P") PNGs read back as their indices, which are the ids
        ids = np.asarray(lbl.crop(box).resize((self.size, self.size), Image.NEAREST)).astype(np.int64)
        bad = (ids >= len(self.classes)) & (ids != self.ignore_index)
        if bad.any():
            raise ValueError(
                f"{lbl_path}: label values {np.unique(ids[bad])[:5].tolist()} exceed the "
                f"{len(self.classes)} classes (ignore label is {self.ignore_index})"
            )
        ids = np.where(ids == self.ignore_index, IGNORE_INDEX, ids)
        t = torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)
        lab = torch.from_numpy(ids)
        if self.train and random.random() < 0.5:
            t, lab = t.flip(-1), lab.flip(-1)
        return t.contiguous(), lab.contiguous()
