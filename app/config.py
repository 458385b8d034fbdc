"""Settings of the web app: one small dataclass, no globals."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from app.limits import MAX_MEGAPIXELS, MIN_SIDE
from models.common.assets import assets_dir

# Resolved here (not imported from models.common.checkpoint) so that reading the config never imports torch.
DEFAULT_ASSETS_DIR = assets_dir()  # the repository's assets/, or $NORMLAB_ASSETS

ORIGINAL_SIZE = 0  # the output-size value meaning "the content's own size" (style transfer only; as `--size 0`)
DEFAULT_INPUT_MEGAPIXELS = 40  # uploads above this are refused unless the server raises it
MAX_INPUT_MEGAPIXELS = MAX_MEGAPIXELS  # the most `--max-input-megapixels` allows: the tiled stylizer's limit
INPUT_LIMIT_FLAG = "--max-input-megapixels"  # the server flag that raises max_input_pixels (named in refusals)
DEFAULT_UPLOAD_MB = 50
UPLOAD_MB_PER_MEGAPIXEL = 1.25  # the defaults' ratio (50 MB for 40 MP), kept when the pixel limit is raised
SIZE_STEPS = (128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192)
SPADE_MAX_SIDE = 4096  # models.spade.infer.MAX_SIDE (a literal here: no torch): the paint tab offers no more


def upload_mb_for(max_input_pixels: int) -> int:
    """The upload limit (MB) that goes with a pixel limit: 50 MB up to 40 MP, then 1.25 MB per megapixel, so that
    raising the pixel limit does not leave its images refused for their file size first."""
    return max(DEFAULT_UPLOAD_MB, math.ceil(UPLOAD_MB_PER_MEGAPIXEL * max_input_pixels / 1e6))


@dataclasses.dataclass(frozen=True)
class AppConfig:
    """What a deployment may want to change; every field has a safe default for a small CPU box."""

    assets_dir: Path = DEFAULT_ASSETS_DIR  # checkpoints `{kind}_{norm}.safetensors` + examples/
    # uploads above this are refused (decompression-bomb guard; `--max-input-megapixels` raises it up to 100 MP);
    # it bounds "original size" outputs and every output's pixels too
    max_input_pixels: int = DEFAULT_INPUT_MEGAPIXELS * 1_000_000
    # larger files are refused by the server before they are stored; None: upload_mb_for(max_input_pixels)
    max_upload_mb: int | None = None
    min_side: int = 16  # uploads with a side below this are refused
    default_size: int = 512  # output long side offered first
    # largest output long side: the stylizer works on 768 px tiles in bounded memory, so what bounds an output is
    # its time (it grows with the pixels) and max_input_pixels, not the server's memory
    max_size: int = 8192
    min_size: int = MIN_SIDE  # smallest output long side (the same as the command line)
    concurrency: int = 2  # model calls running at once; the rest wait in the queue
    max_queue: int = 64  # requests waiting beyond this are turned away with a clear message
    canvas_size: int = 512  # paint-to-image canvas, pixels per side
    alpha_threshold: int = 128  # editor pixels with alpha below this count as unpainted
    # normalizers listed first in the menus (the first available one is the default); empty: each model's best
    # shipped checkpoint first (models.common.assets.DEFAULT_NORMS), then NORM_ORDER
    preferred_norms: tuple[str, ...] = ()
    cache_minutes: float = 60.0  # uploads and results older than this are deleted from Gradio's cache folder

    def __post_init__(self) -> None:
        if self.max_upload_mb is None:
            object.__setattr__(self, "max_upload_mb", upload_mb_for(self.max_input_pixels))
        if not 0 < self.max_input_pixels <= MAX_INPUT_MEGAPIXELS * 1_000_000:
            raise ValueError(f"max_input_pixels must be between 1 and {MAX_INPUT_MEGAPIXELS} megapixels, "
                             f"got {self.max_input_pixels / 1e6:g} MP")
        if not self.min_size <= self.default_size <= self.max_size:
            raise ValueError(
                f"default_size must lie in [min_size, max_size] = [{self.min_size}, {self.max_size}], "
                f"got {self.default_size}"
            )
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {self.max_queue}")
        if not self.cache_minutes >= 0:
            raise ValueError(f"cache_minutes must be >= 0, got {self.cache_minutes}")

    @property
    def delete_cache(self) -> tuple[int, int]:
        """Gradio's ``delete_cache=(every_s, older_than_s)``: a sweep every half retention deletes older files.

        Gradio deletes by age on a schedule (and everything the app made when it shuts down); it has no
        per-request deletion, so ``cache_minutes=0`` means the shortest safe sweep: files older than 10 s,
        every 5 s (a result must survive long enough to be downloaded).
        """
        age = max(10, round(self.cache_minutes * 60))
        return max(1, age // 2), age

    @property
    def max_input_megapixels(self) -> float:
        return self.max_input_pixels / 1e6

    @property
    def size_choices(self) -> list[int]:
        """Output long sides offered in the UI: powers-of-two-ish steps up to the guarded maximum (which is offered
        too when it is not a step, e.g. ``--max-size 5000``)."""
        steps = [s for s in SIZE_STEPS if self.min_size <= s <= self.max_size]
        return steps if self.max_size in steps else [*steps, self.max_size]

    @property
    def spade_size_choices(self) -> list[int]:
        """The paint tab's sizes: :attr:`size_choices` up to what the SPADE synthesizer renders (4096 px)."""
        return [s for s in self.size_choices if s <= SPADE_MAX_SIDE]

    @property
    def style_size_choices(self) -> list[tuple[str, int]]:
        """The style-transfer tab's ``(label, value)`` sizes: the numeric steps, then "original size"
        (``ORIGINAL_SIZE``: the content's own size, still refused above ``max_input_pixels``)."""
        return [(str(s), s) for s in self.size_choices] + [("original size", ORIGINAL_SIZE)]

    @property
    def examples_dir(self) -> Path:
        return Path(self.assets_dir) / "examples"
