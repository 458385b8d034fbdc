"""Fixtures for the web-app tests: sample files, the app launched once per session, a browser.

The app runs on the real checkpoints in ``assets/`` when both model kinds have one, else on randomly initialised
real checkpoints (the real code either way; a broken import fails the suite instead of swapping in fakes). The
unit tests of the services use small fakes on purpose (counting loaders).
"""

from __future__ import annotations

import io
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.config import DEFAULT_ASSETS_DIR, AppConfig
from app.services import Engine, scan_checkpoints
from models.landscape.classes import class_id, ids_to_color

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def pytest_configure(config):
    # gradio's queue calls pandas APIs that pandas 3 deprecates; not ours to fix
    config.addinivalue_line("filterwarnings", "ignore:.*no_silent_downcasting.*")
    config.addinivalue_line("filterwarnings", "ignore:The copy keyword is deprecated")


ARTIFACTS = Path(
    os.environ.get("NORMLAB_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "runs" / "test-artifacts")
)
TEST_MAX_PIXELS = 4_000_000  # small limit so the "too large" file stays cheap to make


def real_models_available() -> bool:
    """Trained checkpoints of both kinds in assets/ (the inference code is imported unconditionally: a broken
    import must fail the suite, not swap in fakes)."""
    import models.adain.infer  # noqa: F401
    import models.spade.infer  # noqa: F401

    return all(scan_checkpoints(k, DEFAULT_ASSETS_DIR) for k in ("adain", "spade"))


def make_random_checkpoints(folder: Path, norms: tuple[str, ...] = ("instance", "layer")) -> Path:
    """Randomly initialised but real checkpoints, written through the models' public code (real code paths)."""
    import torch

    from models.adain.net import AdaINConfig, AdaINNet
    from models.common.checkpoint import save_checkpoint
    from models.spade.generator import GenConfig, build_generator

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for norm in norms:
        net = AdaINNet(AdaINConfig(norm=norm))
        save_checkpoint(folder / f"adain_{norm}.safetensors", net.trainable_state_dict(), net.config.to_dict(), "adain")
        # the default (crop) generator, tiny: native at 32-64 px
        cfg = GenConfig(ngf=8, norm=norm, spade_hidden=16, z_dim=16, z_ch=4, native=[32, 64], size=32, spectral=False)
        save_checkpoint(folder / f"spade_{norm}.safetensors", build_generator(cfg).state_dict(), cfg.to_dict(), "spade")
    if (DEFAULT_ASSETS_DIR / "examples").is_dir() and not (folder / "examples").exists():
        shutil.copytree(DEFAULT_ASSETS_DIR / "examples", folder / "examples")
    return folder


# --- fakes with the Stylizer / Synthesizer interface (used only while real checkpoints are missing) -------
class FakeStylizer:
    def __init__(self, path: Path) -> None:
        self.norm = Path(path).stem.split("_", 1)[1]
        self.calls: list[dict] = []

    def stylize(
        self,
        content,
        styles,
        weights=None,
        alpha=1.0,
        preserve_color=None,
        mask=None,
        size=512,
        stroke=1.0,
        progress=None,
    ):
        self.calls.append(
            {
                "n_styles": len(styles),
                "weights": weights,
                "alpha": alpha,
                "preserve_color": preserve_color,
                "mask": mask,
                "size": size,
                "stroke": stroke,
                "progress": progress,
            }
        )
        if progress is not None:  # one tile: the statistics pass, then the decode pass (as the real Stylizer)
            progress(1, 2, "statistics")
            progress(2, 2, "decode")
        img = content.copy()
        if size:
            scale = size / max(img.size)
            img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
        tint = np.asarray(styles[0].convert("RGB"), np.float32).mean((0, 1))
        arr = (1 - alpha) * np.asarray(img, np.float32) + alpha * (0.5 * np.asarray(img, np.float32) + 0.5 * tint)
        return Image.fromarray(arr.clip(0, 255).astype(np.uint8))


class FakeSynthesizer:
    def __init__(self, path: Path) -> None:
        self.norm = Path(path).stem.split("_", 1)[1]

    def synthesize(self, label_ids, seed=0, style=None, size=None):
        from models.landscape.classes import ids_to_color

        img = Image.fromarray(ids_to_color(np.asarray(label_ids)))
        return img.resize((size, size)) if size else img


FAKE_LOADERS = {"adain": FakeStylizer, "spade": FakeSynthesizer}


def make_fake_assets(folder: Path, norms: tuple[str, ...] = ("instance", "batch")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for kind in ("adain", "spade"):
        for norm in norms:
            (folder / f"{kind}_{norm}.safetensors").write_bytes(b"fake")
    if (DEFAULT_ASSETS_DIR / "examples").is_dir() and not (folder / "examples").exists():
        shutil.copytree(DEFAULT_ASSETS_DIR / "examples", folder / "examples")
    return folder


@pytest.fixture
def fake_assets(tmp_path) -> Path:
    """A throw-away assets folder with dummy checkpoint files for three normalizers (use with fake_loaders)."""
    return make_fake_assets(tmp_path / "assets", norms=("batch", "instance", "group"))


@pytest.fixture(scope="session")
def fake_loaders() -> dict:
    return dict(FAKE_LOADERS)


@pytest.fixture(scope="session")
def model_source() -> str:
    """Which models the served app runs: "assets" (trained) or "random" (the real code with random weights, when a
    checkout has no trained checkpoints)."""
    return "assets" if real_models_available() else "random"


@pytest.fixture(scope="session")
def app_config(tmp_path_factory, model_source) -> AppConfig:
    if model_source == "assets":
        assets = DEFAULT_ASSETS_DIR
    else:
        assets = make_random_checkpoints(tmp_path_factory.mktemp("assets"))
    return AppConfig(
        assets_dir=assets, max_input_pixels=TEST_MAX_PIXELS, max_size=512, default_size=128, canvas_size=256
    )


@pytest.fixture(scope="session")
def engine(app_config, model_source) -> Engine:
    return Engine(app_config)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests keep files worth looking at afterwards (screenshots); CI can upload this folder."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def demo(app_config, engine):
    from app.web.ui import build_demo

    return build_demo(app_config, engine)


@pytest.fixture(scope="session")
def server(demo, app_config):
    """The app, launched once for the whole session on a free port; yields its URL."""
    from app.web.ui import launch_kwargs

    demo.launch(
        server_name="127.0.0.1",
        server_port=free_port(),
        prevent_thread_lock=True,
        quiet=True,
        show_error=True,
        **launch_kwargs(app_config),
    )
    yield demo.local_url
    demo.close()


API_TIMEOUT_S = 180  # one API call; a hang fails the test instead of stalling the suite


class TimedClient:
    """gradio_client's Client whose ``predict`` gives up after :data:`API_TIMEOUT_S` (``submit().result(timeout)``);
    everything else is the Client's own."""

    def __init__(self, client) -> None:
        self._client = client

    def predict(self, *args, **kwargs):
        return self._client.submit(*args, **kwargs).result(timeout=API_TIMEOUT_S)

    def __getattr__(self, name: str):
        return getattr(self._client, name)


@pytest.fixture(scope="session")
def client(server):
    from gradio_client import Client

    return TimedClient(Client(server, verbose=False, download_files=str(ARTIFACTS / "downloads")))


# --- sample files --------------------------------------------------------------------------------------
def gradient(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), rng.integers(0, 256, (h, w))], -1)
    return Image.fromarray(arr.astype(np.uint8))


def png_bytes(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="session")
def files(tmp_path_factory) -> dict[str, Path]:
    """Named sample uploads: good ones in every awkward format, and bad ones."""
    d = tmp_path_factory.mktemp("uploads")
    base = gradient(96, 64)
    out: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        (d / name).write_bytes(data)
        out[name] = d / name

    put("content.png", png_bytes(base))
    put("style.jpg", png_bytes(gradient(80, 80, 1).rotate(90), "JPEG"))
    put("corrupt.png", png_bytes(base)[:60] + b"\x00garbage" * 10)
    put("not_an_image.png", b"hello, I am text pretending to be a PNG\n" * 4)
    put("empty.png", b"")
    put("tiny.png", png_bytes(gradient(12, 40)))
    put("huge.png", png_bytes(Image.new("RGB", (2100, 2000), (40, 90, 200))))  # 4.2 MP > TEST_MAX_PIXELS
    frames = [Image.new("RGB", (64, 48), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    put("animated.gif", png_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0))
    put("cmyk.jpg", png_bytes(base.convert("CMYK"), "JPEG"))
    put("sixteen.png", png_bytes(Image.fromarray((np.asarray(base.convert("L"), np.uint16) * 257))))
    rgba = base.convert("RGBA")
    rgba.putalpha(Image.new("L", base.size, 0).point(lambda _: 0))  # fully transparent -> white
    put("transparent.png", png_bytes(rgba))
    put("gray.png", png_bytes(base.convert("L")))
    # label maps for /synthesize: colour-coded halves (sky over grass), and a fully transparent canvas
    from models.landscape.classes import CLASSES

    sky, grass = CLASSES[0].color, next(c.color for c in CLASSES if c.name == "grass")
    mask = np.zeros((64, 64, 3), np.uint8)
    mask[:32], mask[32:] = sky, grass
    put("mask.png", png_bytes(Image.fromarray(mask)))
    put("empty_mask.png", png_bytes(Image.new("RGBA", (64, 64), (0, 0, 0, 0))))
    put("offpalette_mask.png", png_bytes(Image.new("RGB", (64, 64), (255, 0, 255))))
    return out


@pytest.fixture
def mask(tmp_path) -> Path:
    """A small colour-coded mask: sky above, water below (24 x 36)."""
    ids = np.full((24, 36), class_id("sky"), np.int64)
    ids[12:] = class_id("water")
    path = tmp_path / "mask.png"
    Image.fromarray(ids_to_color(ids)).save(path)
    return path


# --- sample clips (PyAV) -------------------------------------------------------------------------------
CLIP_FRAMES, CLIP_SIZE, CLIP_FPS = 6, (64, 48), 24  # clip.mp4: 0.25 s, a few frames/s of work at 64 px


def write_clip(
    path: Path,
    frames: int = CLIP_FRAMES,
    size: tuple[int, int] = CLIP_SIZE,
    fps: int = CLIP_FPS,
    codec: str = "libx264",
    fmt: str | None = None,
) -> Path:
    """A short clip of 8 px blocks sliding right (H.264 in MP4 by default); ``frames=0`` leaves the stream empty."""
    import av

    w, h = size
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    with av.open(str(path), "w", format=fmt) as c:
        v = c.add_stream(codec, rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        c.start_encoding()
        for i in range(frames):
            for p in v.encode(av.VideoFrame.from_ndarray(np.roll(base, 2 * i, axis=1), format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    return path


def write_tone(path: Path, seconds: float = 0.5, rate: int = 16000) -> Path:
    """An audio-only MP4 (AAC, silence)."""
    import av

    with av.open(str(path), "w", format="mp4") as c:
        a = c.add_stream("aac", rate=rate)
        step = a.codec_context.frame_size or 1024
        for start in range(0, int(seconds * rate), step):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, step), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for p in a.encode(frame):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
    return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Named sample clips: a good one, and the bad inputs the Video tab must explain."""
    d = tmp_path_factory.mktemp("clips")
    good = write_clip(d / "clip.mp4")
    out = {
        "clip.mp4": good,
        "tone.mp4": write_tone(d / "tone.mp4"),
        "empty.avi": write_clip(d / "empty.avi", frames=0, codec="mpeg4", fmt="avi"),
    }  # a stream, no frames
    (d / "text.mp4").write_text("hello, I am a text file pretending to be a video\n" * 8)
    (d / "corrupt.mp4").write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # cut before its index
    # a codec FFmpeg has no decoder for: the H.264 sample entry renamed (PyAV then gives no codec context)
    (d / "unknown-codec.mp4").write_bytes(good.read_bytes().replace(b"avc1", b"zzz1"))
    out.update({name: d / name for name in ("text.mp4", "corrupt.mp4", "unknown-codec.mp4")})
    return out
