"""Settings of the web app: one small dataclass, no globals."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from app.limits import MIN_SIDE
from models.common.assets import assets_dir

# Resolved here (not imported from models.common.checkpoint) so that reading the config never imports torch.
DEFAULT_ASSETS_DIR = assets_dir()  # the repository's assets/, or $NORMLAB_ASSETS


@dataclasses.dataclass(frozen=True)
class AppConfig:
    """What a deployment may want to change; every field has a safe default for a small CPU box."""

    assets_dir: Path = DEFAULT_ASSETS_DIR  # checkpoints `{kind}_{norm}.safetensors` + examples/
    max_input_pixels: int = 40_000_000  # uploads above this are refused (decompression-bomb guard)
    max_upload_mb: int = 50  # larger files are refused by the server before they are stored
    min_side: int = 16  # uploads with a side below this are refused
    default_size: int = 512  # output long side offered first
    max_size: int = 1024  # guarded maximum output long side (memory grows with its square)
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
    def size_choices(self) -> list[int]:
        """Output long sides offered in the UI: powers-of-two-ish steps up to the guarded maximum."""
        steps = [128, 256, 384, 512, 768, 1024, 1536, 2048]
        return [s for s in steps if self.min_size <= s <= self.max_size]

    @property
    def examples_dir(self) -> Path:
        return Path(self.assets_dir) / "examples"
