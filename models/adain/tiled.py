"""Tiles for AdaIN on images of any size: exact global statistics, bounded memory, no seams.

The network is run on a grid of tiles in two passes, and the result is the one the whole image would get if it were
encoded at once (Huang & Belongie's AdaIN normalizes with the *whole* image's channel statistics):

1. **statistics pass** — each tile *core* (a square of ``tile`` px on the 8-px feature grid) is encoded to relu4_1
   together with a margin that covers the encoder's receptive field; the margin's features are dropped, so every
   feature position is counted once: the core's features are merged into the image's per-channel moments
   (:mod:`norms.stats`, float64) and kept in a :class:`FeatureStore` (RAM, or a temporary file for large images);
2. **decode pass** — each core's features, plus a margin covering the decoder's receptive field, are read back,
   re-normalized with the global content statistics and the style statistics (AdaIN), decoded, and the core's pixels
   are written to an output sink (an array, or a raw file for large outputs).

Receptive fields (measured by perturbing one input in float64, ``tests/models/adain/test_tiled.py``): a relu4_1
cell depends on pixels up to 30 px beyond its 8-px cell; an output pixel on feature cells within 30 px. A margin of
32 px (4 cells) in both passes therefore makes the tiled result equal the untiled one up to float rounding, and tile
origins on multiples of 8 px keep VGG's pooling grid aligned with the whole image's. The margins are the whole
overhead: ``((tile + 64) / tile)**2`` per pass at most (interior tiles), 17 % at the default ``tile=768``; smaller
tiles run at the same speed per pixel here (better cache use), and peak memory grows with the tile's area.

URST's *thumbnail instance normalization* (Chen et al., AAAI 2022: content statistics from a 1024-px thumbnail) is
available as ``stats="thumbnail"`` for comparison; it is approximate by construction.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = [
    "TileConfig",
    "Grid",
    "ContentReader",
    "FeatureStore",
    "ArraySink",
    "RawImageFile",
    "FileSink",
    "Progress",
    "STATS_MODES",
    "feature_mask",
]

STATS_MODES = ("exact", "thumbnail")
CELL = 8  # px per relu4_1 cell (three 2x2 poolings)

# progress(done, total, stage): called after every tile of every pass
Progress = Callable[[int, int, str], None]


@dataclasses.dataclass(frozen=True)
class TileConfig:
    """How large images are cut up. The defaults keep peak memory under 2 GB for any size on a CPU."""

    tile: int = 768  # core side in px (multiple of 8); an image that fits in one tile is not tiled
    margin: int = 32  # px around each core in both passes (multiple of 8); >= 32 makes tiled == untiled
    stats: str = "exact"  # content statistics: "exact" (merged over all tiles) or "thumbnail" (URST)
    thumbnail: int = 1024  # thumbnail long side for stats="thumbnail"
    store: str = "auto"  # relu4_1 features between passes: "auto" (RAM up to store_ram_mb), "memory" or "disk"
    store_ram_mb: int = 64
    tmp_dir: str | None = None  # folder for the disk store (default: the system's temporary folder)

    def __post_init__(self) -> None:
        if self.tile < CELL or self.tile % CELL:
            raise ValueError(f"tile must be a positive multiple of {CELL} px, got {self.tile}")
        if self.margin < 0 or self.margin % CELL:
            raise ValueError(f"margin must be a non-negative multiple of {CELL} px, got {self.margin}")
        if self.stats not in STATS_MODES:
            raise ValueError(f"stats must be one of {', '.join(STATS_MODES)}, got {self.stats!r}")
        if self.store not in ("auto", "memory", "disk"):
            raise ValueError(f"store must be 'auto', 'memory' or 'disk', got {self.store!r}")
        if self.thumbnail < 64:
            raise ValueError(f"thumbnail must be >= 64 px, got {self.thumbnail}")


@dataclasses.dataclass(frozen=True)
class Grid:
    """The tile grid of one image. Pixel sizes are the content's; the network sees it reflect-padded to multiples of
    8 (``padded``), i.e. ``cells`` relu4_1 positions. Cores split the cells into near-equal parts (no thin last tile).
    """

    height: int
    width: int
    tile: int
    margin: int

    @property
    def cells(self) -> tuple[int, int]:
        return math.ceil(self.height / CELL), math.ceil(self.width / CELL)

    @property
    def padded(self) -> tuple[int, int]:
        h, w = self.cells
        return h * CELL, w * CELL

    def _splits(self, n_cells: int) -> list[int]:
        parts = max(1, math.ceil(n_cells * CELL / self.tile))
        return [round(i * n_cells / parts) for i in range(parts + 1)]

    def cores(self) -> list[tuple[int, int, int, int]]:
        """``(r0, r1, c0, c1)`` in cells, row-major."""
        rows, cols = self._splits(self.cells[0]), self._splits(self.cells[1])
        return [
            (rows[i], rows[i + 1], cols[j], cols[j + 1]) for i in range(len(rows) - 1) for j in range(len(cols) - 1)
        ]

    def expand(self, core: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """The core plus the margin, clipped to the image, in cells."""
        m = self.margin // CELL
        r0, r1, c0, c1 = core
        h, w = self.cells
        return max(0, r0 - m), min(h, r1 + m), max(0, c0 - m), min(w, c1 + m)

    @property
    def single(self) -> bool:
        return len(self.cores()) == 1


class ContentReader:
    """Pixels of the padded content image, a region at a time, as the network's input.

    ``pixels(r0, r1, c0, c1)`` (px, multiples of 8) -> ``(3, h, w)`` float32 in [0, 1]: the in-bounds crop, padded past
    the right/bottom edge exactly as the whole image is (reflect, or replicate for images of under 8 px).
    With ``luminance`` the channels are the luminance Y, three times (luminance-only transfer); ``chroma`` gives the
    region's YCbCr for putting the colours back.
    """

    def __init__(self, image: "Image.Image | torch.Tensor | RawImageFile", luminance: bool = False) -> None:
        if isinstance(image, torch.Tensor):
            if image.dim() != 3 or image.shape[0] != 3:
                raise ValueError(f"an image tensor must be (3, H, W), got {tuple(image.shape)}")
        elif isinstance(image, Image.Image) and image.mode != "RGB":
            image = image.convert("RGB")
        self.image = image
        self.luminance = luminance

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``, as PIL."""
        if isinstance(self.image, torch.Tensor):
            return self.image.shape[2], self.image.shape[1]
        return self.image.size

    def _crop(self, r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
        if isinstance(self.image, torch.Tensor):
            return self.image[:, r0:r1, c0:c1].float()
        if isinstance(self.image, RawImageFile):
            arr = self.image.read(r0, r1, c0, c1)
        else:
            arr = np.asarray(self.image.crop((c0, r0, c1, r1)), dtype=np.uint8)
        return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)

    def rgb(self, r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
        w, h = self.size
        x = self._crop(r0, min(r1, h), c0, min(c1, w))
        ph, pw = r1 - min(r1, h), c1 - min(c1, w)
        if ph or pw:
            mode = "reflect" if x.shape[1] > ph and x.shape[2] > pw else "replicate"
            x = F.pad(x[None], (0, pw, 0, ph), mode=mode)[0]
        return x

    def pixels(self, r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
        x = self.rgb(r0, r1, c0, c1)
        if self.luminance:
            from kornia.color import rgb_to_ycbcr

            x = rgb_to_ycbcr(x[None])[0, 0:1].expand(3, -1, -1).contiguous()
        return x

    def chroma(self, r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
        from kornia.color import rgb_to_ycbcr

        return rgb_to_ycbcr(self.rgb(r0, r1, c0, c1)[None])[0]

    def strips(self, rows: int = 256) -> Iterator[torch.Tensor]:
        """The unpadded image in horizontal strips, ``(3, h, W)`` float32 each (for pixel statistics)."""
        w, h = self.size
        for r in range(0, h, rows):
            yield self._crop(r, min(h, r + rows), 0, w)


class FeatureStore:
    """relu4_1 features of the whole image between the passes, ``(cells_h, cells_w, C)``, in RAM or in a file.

    The file is written and read a feature row at a time with ``pwrite``/``pread`` (not memory-mapped), so it lives in
    the page cache, not in the process's resident memory. ``close()`` deletes it (also on errors and Ctrl-C: use the
    store as a context manager).
    """

    def __init__(
        self, cells: tuple[int, int], channels: int, dtype: torch.dtype, disk: bool, tmp_dir: str | None = None
    ) -> None:
        self.cells, self.channels, self.dtype = cells, channels, dtype
        self.itemsize = torch.empty((), dtype=dtype).element_size()
        self.path: str | None = None
        self._fd: int | None = None
        self._ram: torch.Tensor | None = None
        if disk:
            fd, self.path = tempfile.mkstemp(prefix="normlab-features-", suffix=".bin", dir=tmp_dir)
            self._fd = fd
            os.ftruncate(fd, cells[0] * cells[1] * channels * self.itemsize)
        else:
            self._ram = torch.empty(cells[0], cells[1], channels, dtype=dtype)

    @staticmethod
    def nbytes(cells: tuple[int, int], channels: int, dtype: torch.dtype) -> int:
        return cells[0] * cells[1] * channels * torch.empty((), dtype=dtype).element_size()

    def _offset(self, r: int, c: int) -> int:
        return (r * self.cells[1] + c) * self.channels * self.itemsize

    def write(self, r0: int, c0: int, feat: torch.Tensor) -> None:
        """``feat`` ``(1, C, h, w)`` -> cells ``[r0, r0 + h) x [c0, c0 + w)``."""
        rows = feat[0].permute(1, 2, 0).to(self.dtype)  # (h, w, C)
        if self._ram is not None:
            self._ram[r0 : r0 + rows.shape[0], c0 : c0 + rows.shape[1]] = rows
            return
        data = rows.contiguous().view(torch.uint8).numpy()
        for i in range(data.shape[0]):
            os.pwrite(self._fd, data[i].tobytes(), self._offset(r0 + i, c0))

    def read(self, r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
        """Cells ``[r0, r1) x [c0, c1)`` -> ``(1, C, h, w)`` in channels_last memory (no copy to reorder)."""
        if self._ram is not None:
            block = self._ram[r0:r1, c0:c1].contiguous()
        else:
            row_bytes = (c1 - c0) * self.channels * self.itemsize
            buf = bytearray(row_bytes * (r1 - r0))
            view = memoryview(buf)
            for i in range(r1 - r0):
                got = os.preadv(self._fd, [view[i * row_bytes : (i + 1) * row_bytes]], self._offset(r0 + i, c0))
                if got != row_bytes:
                    raise OSError(f"feature store {self.path}: short read ({got} of {row_bytes} bytes)")
            block = torch.frombuffer(buf, dtype=torch.uint8).view(self.dtype).view(r1 - r0, c1 - c0, self.channels)
        return block.permute(2, 0, 1)[None]

    def close(self) -> None:
        self._ram = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.path is not None:
            Path(self.path).unlink(missing_ok=True)
            self.path = None

    def __enter__(self) -> "FeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ArraySink:
    """The output image in RAM, ``(H, W, 3)`` uint8; ``image()`` returns it as PIL."""

    def __init__(self, height: int, width: int) -> None:
        self.array = np.empty((height, width, 3), dtype=np.uint8)

    def write(self, r0: int, c0: int, block: np.ndarray) -> None:
        self.array[r0 : r0 + block.shape[0], c0 : c0 + block.shape[1]] = block

    def image(self) -> Image.Image:
        return Image.fromarray(self.array, "RGB")

    def close(self) -> None:
        pass


class RawImageFile:
    """An RGB image as a raw ``(H, W, 3)`` uint8 file, written and read a row segment at a time with
    ``pwrite``/``pread`` (page cache, not resident memory). The file is deleted by :meth:`close` (also on errors and
    Ctrl-C: use it as a context manager)."""

    def __init__(self, height: int, width: int, tmp_dir: str | None = None, prefix: str = "normlab-image-") -> None:
        self.height, self.width = height, width
        fd, self.path = tempfile.mkstemp(prefix=prefix, suffix=".rgb", dir=tmp_dir)
        self._fd: int | None = fd
        os.ftruncate(fd, height * width * 3)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``, as PIL."""
        return self.width, self.height

    @classmethod
    def from_image(cls, image: Image.Image, tmp_dir: str | None = None, rows: int = 256) -> "RawImageFile":
        """Copy a PIL image to disk in strips (so the caller can free the decoded photo)."""
        raw = cls(image.height, image.width, tmp_dir)
        try:
            for r in range(0, image.height, rows):
                strip = np.asarray(image.crop((0, r, image.width, min(image.height, r + rows))).convert("RGB"))
                raw.write(r, 0, strip)
        except BaseException:
            raw.close()
            raise
        return raw

    def write(self, r0: int, c0: int, block: np.ndarray) -> None:
        """``block`` ``(h, w, 3)`` uint8 -> rows ``r0..``, columns ``c0..``."""
        block = np.ascontiguousarray(block, dtype=np.uint8)
        if block.shape[1] == self.width:  # whole rows are contiguous in the file: one call
            os.pwrite(self._fd, block.tobytes(), r0 * self.width * 3)
            return
        for i in range(block.shape[0]):
            os.pwrite(self._fd, block[i].tobytes(), ((r0 + i) * self.width + c0) * 3)

    def read(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Rows ``[r0, r1)``, columns ``[c0, c1)`` -> ``(h, w, 3)`` uint8."""
        row = (c1 - c0) * 3
        buf = bytearray(row * (r1 - r0))
        view = memoryview(buf)
        for i in range(r1 - r0):
            got = os.preadv(self._fd, [view[i * row : (i + 1) * row]], ((r0 + i) * self.width + c0) * 3)
            if got != row:
                raise OSError(f"{self.path}: short read ({got} of {row} bytes)")
        return np.frombuffer(buf, dtype=np.uint8).reshape(r1 - r0, c1 - c0, 3)

    def image(self) -> Image.Image:
        """The whole image as PIL (one copy in RAM: 3 bytes per pixel)."""
        raw = np.memmap(self.path, dtype=np.uint8, mode="r", shape=(self.height, self.width, 3))
        try:
            return Image.frombuffer("RGB", (self.width, self.height), raw, "raw", "RGB", 0, 1)  # copies
        finally:
            del raw

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        Path(self.path).unlink(missing_ok=True)

    def __enter__(self) -> "RawImageFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FileSink(RawImageFile):
    """The output image as a :class:`RawImageFile`, encoded to its final format by :meth:`save`."""

    def __init__(self, height: int, width: int, tmp_dir: str | None = None) -> None:
        super().__init__(height, width, tmp_dir, prefix="normlab-output-")

    def save(self, target: str | os.PathLike, **save_kw) -> Path:
        """Encode to ``target`` (format from its suffix) through a temporary file in the same folder, renamed into
        place at the end: an interrupted run leaves no partial file at ``target``."""
        from models.common.files import publish, temp_beside

        target = Path(target)
        tmp = temp_beside(target)
        try:
            img = self.image()
            img.save(tmp, format=Image.registered_extensions().get(target.suffix.lower()), **save_kw)
            del img
            publish(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target


def feature_mask(mask: Image.Image, padded: tuple[int, int], rows: int = 1024) -> torch.Tensor:
    """A user mask (mode ``L``, bright = first style) -> the relu4_1-grid mask ``(1, 1, H/8, W/8)`` float in {0, 1}.

    The mask is resized to the padded content size, thresholded at 0.5, and a cell is in the region when at least half
    of its 8x8 pixels are: the same for tiled and untiled runs, computed in strips so a 100 MP mask needs no
    full-size float copy.
    """
    hp, wp = padded
    big = mask.convert("L").resize((wp, hp), Image.Resampling.BILINEAR)
    out = np.empty((hp // CELL, wp // CELL), dtype=np.float32)
    rows -= rows % CELL
    for r in range(0, hp, rows):
        strip = np.asarray(big.crop((0, r, wp, min(hp, r + rows))), dtype=np.uint8) >= 128
        cells = strip.reshape(strip.shape[0] // CELL, CELL, wp // CELL, CELL).mean(axis=(1, 3))
        out[r // CELL : r // CELL + cells.shape[0]] = cells >= 0.5
    return torch.from_numpy(out)[None, None]
