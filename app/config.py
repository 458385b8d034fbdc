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
MB = 1 << 20  # Gradio's "50mb" is 50 MiB: the app's limits count the same way
UPLOAD_MB_PER_MEGAPIXEL = 1.25  # the defaults' ratio (50 MB for 40 MP), kept when the pixel limit is raised
SIZE_STEPS = (128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192)
SPADE_MAX_SIDE = 4096  # models.spade.infer.MAX_SIDE (a literal here: no torch): the paint tab offers no more
# --- video (models.adain.video; literals here: reading the config imports no torch or PyAV) ---
VIDEO_MAX_SIDE = 1920  # models.adain.video.MAX_VIDEO_SIDE: the largest output long side the video stylizer takes
VIDEO_SIZE_STEPS = (256, 360, 480, 640, 854, 1280, 1920)  # output long sides offered (240p ... 1080p)
VIDEO_SECONDS_FLAG, VIDEO_SIDE_FLAG = "--max-video-seconds", "--max-video-side"  # named in the refusals
VIDEO_MB_FLAG, VIDEO_FRAMES_FLAG = "--max-video-mb", "--max-video-frames"
WEBCAM_SIDE = 256  # webcam frames are stylized at most this large (long side): ~5 frames/s on a 2-core CPU


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
    min_checkpoint_steps: int = 200  # checkpoints trained fewer steps are flagged and listed last in the menus
    max_batch_files: int = 24  # content images per batch run (each a full stylization)
    cache_minutes: float = 60.0  # uploads and results older than this are deleted from Gradio's cache folder
    # Video tab and /stylize_video: clips over any of these are refused before any frame is stylized (a 640 px
    # frame takes about 1 s on a 2-core CPU, so a minute of 30 fps video is about half an hour of work)
    max_video_seconds: float = 60.0  # clip duration
    max_video_side: int = 3840  # input long side: 4K is accepted (and downscaled to the output size)
    max_video_mb: float = 200  # file size; the server's upload limit is the larger of this and max_upload_mb
    max_video_frames: int = 3600  # frame count (a minute at 60 frames/s)
    default_video_size: int = 640  # output long side offered first
    max_video_size: int = 854  # largest output long side offered and accepted (at most VIDEO_MAX_SIDE)
    webcam_seconds: int = 300  # one webcam stream runs at most this long (it holds a worker), then is restarted

    def __post_init__(self) -> None:
        if self.max_upload_mb is None:
            object.__setattr__(self, "max_upload_mb", upload_mb_for(self.max_input_pixels))
        if not 0 < self.max_input_pixels <= MAX_INPUT_MEGAPIXELS * 1_000_000:
            raise ValueError(
                f"max_input_pixels must be between 1 and {MAX_INPUT_MEGAPIXELS} megapixels, "
                f"got {self.max_input_pixels / 1e6:g} MP"
            )
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
        for name in ("max_video_seconds", "max_video_side", "max_video_mb", "max_video_frames", "webcam_seconds"):
            if not getattr(self, name) > 0:  # also refuses nan
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.min_size <= self.max_video_size <= VIDEO_MAX_SIDE:
            raise ValueError(
                f"max_video_size must be between {self.min_size} and {VIDEO_MAX_SIDE} px, got {self.max_video_size}"
            )
        if self.default_video_size < self.min_size:
            raise ValueError(f"default_video_size must be >= {self.min_size}, got {self.default_video_size}")

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
    def upload_limit_mb(self) -> int:
        """What the server accepts before storing an upload (Gradio's ``max_file_size``): the larger of the image and
        the video limits; images over ``max_upload_mb`` that get through are refused by the app itself."""
        return math.ceil(max(self.max_upload_mb, self.max_video_mb))

    @property
    def video_size_limit(self) -> int:
        """The largest output long side of a video: ``max_video_size``, and never above ``max_size``."""
        return min(self.max_video_size, self.max_size)

    @property
    def video_size_choices(self) -> list[int]:
        """The Video tab's output long sides: the steps up to :attr:`video_size_limit` (offered too when not a
        step)."""
        top = self.video_size_limit
        steps = [s for s in VIDEO_SIZE_STEPS if self.min_size <= s <= top]
        return steps if top in steps else [*steps, top]

    @property
    def video_size(self) -> int:
        """The Video tab's default output size: the largest choice not above ``default_video_size``."""
        choices = self.video_size_choices
        below = [c for c in choices if c <= self.default_video_size]
        return below[-1] if below else choices[0]

    @property
    def examples_dir(self) -> Path:
        return Path(self.assets_dir) / "examples"
