"""Content/style data for AdaIN training: any folders of images, random independent content/style pairs.

Images are found recursively (jpg/png/webp/bmp), opened upright (EXIF orientation), and checked once up front:
unreadable files are skipped and counted (``ImageFolder.skipped``), never fatal. Small sets (the starter set)
are decoded once and kept in memory as uint8; larger ones are decoded per item.

Augmentation per sample: the short side is resized to a random length in ``[size, load_size]`` (scale jitter -
the reference uses a fixed 512), then a random ``size`` crop and a random horizontal flip.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from models.common.formats import IMAGE_EXTENSIONS
from models.common.imageio import load_image, pil_to_uint8

__all__ = ["find_images", "ImageFolder", "ContentStyleDataset", "DataSummary"]

PRELOAD_LIMIT = 2000  # keep decoded images in memory up to this many files


def find_images(roots: Path | str | Iterable[Path | str]) -> list[Path]:
    """Every image file under ``roots`` (recursive, sorted, hidden folders skipped)."""
    if isinstance(roots, (str, Path)):
        roots = [roots]
    found: list[Path] = []
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(f"image folder {root} does not exist")
        if root.is_file():
            found.append(root)
            continue
        for path in root.rglob("*"):
            if (
                path.suffix.lower() in IMAGE_EXTENSIONS
                and path.is_file()
                and not any(part.startswith(".") for part in path.relative_to(root).parts)
            ):
                found.append(path)
    return sorted(set(found))


@dataclass
class DataSummary:
    """What a folder scan found: used images and skipped (corrupt / too small) files."""

    root: str
    images: int
    skipped: int
    skipped_examples: list[str]

    def line(self) -> str:
        extra = (
            f", skipped {self.skipped} unreadable/too small (e.g. {', '.join(self.skipped_examples)})"
            if self.skipped
            else ""
        )
        return f"{self.root}: {self.images} images{extra}"


class ImageFolder(Dataset):
    """Images under one or more folders, augmented to ``(3, size, size)`` float in [0, 1].

    Args:
        roots: folder(s) or file(s).
        size: crop side.
        load_size: the short side is resized to a random value in ``[size, load_size]`` before cropping.
        flip: random horizontal flips.
        preload: keep decoded images in memory (default: when there are at most 2000 files). Preloaded images
            are first downscaled so their short side is ``load_size``.
    """

    def __init__(
        self,
        roots: Path | str | Sequence[Path | str],
        size: int = 256,
        load_size: int | None = None,
        flip: bool = True,
        preload: bool | None = None,
    ) -> None:
        if size < 16:
            raise ValueError(f"crop size must be >= 16 px, got {size}")
        self.size = size
        self.load_size = max(size, load_size or int(size * 2))
        self.flip = flip
        label = roots if isinstance(roots, (str, Path)) else ", ".join(map(str, roots))
        candidates = find_images(roots)
        self.paths: list[Path] = []
        self.images: list[torch.Tensor] | None = (
            [] if (preload if preload is not None else len(candidates) <= PRELOAD_LIMIT) else None
        )
        skipped: list[str] = []
        for path in candidates:
            try:
                img = load_image(path, min_side=1) if self.images is not None else None
                wh = img.size if img is not None else self._check(path)
            except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):  # ImageLoadError is a ValueError
                skipped.append(path.name)
                continue
            if min(wh) < 16:
                skipped.append(path.name)
                continue
            self.paths.append(path)
            if img is not None and self.images is not None:
                self.images.append(pil_to_uint8(self._shrink(img)))
        self.summary = DataSummary(str(label), len(self.paths), len(skipped), skipped[:3])
        if not self.paths:
            raise ValueError(
                f"no readable images (jpg/png/webp/bmp) found in {label}"
                + (f"; {len(skipped)} files could not be read" if skipped else "")
            )

    @property
    def skipped(self) -> int:
        return self.summary.skipped

    @staticmethod
    def _check(path: Path) -> tuple[int, int]:
        """Cheap validity check without a full decode; returns ``(width, height)``."""
        with Image.open(path) as img:
            size = img.size
            img.verify()
        return size

    def _shrink(self, img: Image.Image) -> Image.Image:
        short = min(img.size)
        if short <= self.load_size:
            return img
        scale = self.load_size / short
        return img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS
        )

    def __len__(self) -> int:
        return len(self.paths)

    def raw(self, index: int) -> torch.Tensor:
        """Image ``index`` as uint8 ``(3, H, W)`` (short side <= load_size when preloaded)."""
        if self.images is not None:
            return self.images[index]
        return pil_to_uint8(self._shrink(load_image(self.paths[index], min_side=1)))

    def augment(self, img: torch.Tensor, rng: random.Random) -> torch.Tensor:
        """uint8 ``(3, H, W)`` -> float ``(3, size, size)``: random short-side scale, random crop, flip."""
        h, w = img.shape[-2:]
        short = rng.randint(self.size, self.load_size)
        scale = short / min(h, w)
        nh, nw = max(self.size, round(h * scale)), max(self.size, round(w * scale))
        x = img.float().div_(255.0)[None]
        if (nh, nw) != (h, w):
            x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=scale < 1)
        top, left = rng.randint(0, nh - self.size), rng.randint(0, nw - self.size)
        x = x[0, :, top : top + self.size, left : left + self.size]
        if self.flip and rng.random() < 0.5:
            x = x.flip(-1)
        return x.clamp_(0, 1).contiguous()

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.augment(self.raw(index), random.Random())


class ContentStyleDataset(Dataset):
    """Random (content, style) pairs drawn independently; item ``i`` is deterministic given ``seed``.

    ``length`` is nominal (the trainer stops at ``max_steps``); each item picks a random content and a random
    style image, so every epoch sees fresh pairs and crops.

    Returns:
        ``(content (3, size, size), style (3, size, size))`` float in [0, 1].
    """

    def __init__(self, content: ImageFolder, style: ImageFolder, length: int = 100_000, seed: int = 0) -> None:
        self.content, self.style, self.length, self.seed = content, style, length, seed
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = random.Random(hash((self.seed, self.epoch, index)))
        c = self.content.augment(self.content.raw(rng.randrange(len(self.content))), rng)
        s = self.style.augment(self.style.raw(rng.randrange(len(self.style))), rng)
        return c, s
