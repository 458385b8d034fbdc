"""`normlab data starter`: assemble a small content/style starter set from images that installed packages ship.

No downloads: every image comes from a Python package or a Debian package already on the machine. Sources that are
missing are skipped and the summary says how to add them. Layout written::

    OUT/content/<source>_<name>.png     photos (content)
    OUT/style/<source>_<name>.png       paintings (style)
    OUT/SOURCES.md                      every file with its origin and licence

With so few images, training uses *every* image as content as well (the decoder learns to invert VGG features,
so variety matters more than subject): pass ``--content-dir OUT --style-dir OUT/style``.
"""

from __future__ import annotations

import importlib.util
import io
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from PIL import Image

__all__ = ["StarterImage", "build_starter", "read_qt_rcc", "reassemble_paintings", "SOURCES_HELP"]

OPENCV_DIR = Path("/usr/share/doc/opencv-doc/examples/data")
GCOMPRIS_RCC = Path("/usr/share/gcompris-qt/rcc/paintings.rcc")

# Natural colour photos among OpenCV's sample data (the rest are charts, logos, text and calibration boards).
OPENCV_PHOTOS = (
    "aero1.jpg",
    "aero3.jpg",
    "aloeL.jpg",
    "apple.jpg",
    "baboon.jpg",
    "blox.jpg",
    "building.jpg",
    "butterfly.jpg",
    "ela_original.jpg",
    "fruits.jpg",
    "HappyFish.jpg",
    "home.jpg",
    "left.jpg",
    "leuvenA.jpg",
    "leuvenB.jpg",
    "licenseplate_motion.jpg",
    "messi5.jpg",
    "orange.jpg",
    "pca_test1.jpg",
    "rubberwhale1.png",
    "smarties.png",
    "squirrel_cls.jpg",
    "stuff.jpg",
    "graf1.png",
    "graf3.png",
    "Blender_Suzanne1.jpg",
    "lena.jpg",
)
OPENCV_PAINTINGS = ("starry_night.jpg",)

# Python packages' bundled images: (import name, relative file, role, licence).
PY_IMAGES = (
    ("skimage", "data/astronaut.png", "content", "public domain (NASA)"),
    ("skimage", "data/chelsea.png", "content", "CC0 (Stefan van der Walt)"),
    ("skimage", "data/coffee.png", "content", "CC0 (Rachel Michetti)"),
    ("skimage", "data/rocket.jpg", "content", "public domain (SpaceX)"),
    ("skimage", "data/motorcycle_left.png", "content", "Middlebury stereo set (research use)"),
    ("skimage", "data/hubble_deep_field.jpg", "content", "public domain (NASA)"),
    ("skimage", "data/brick.png", "style", "CC0 (scikit-image)"),
    ("skimage", "data/grass.png", "style", "CC0 (scikit-image)"),
    ("skimage", "data/gravel.png", "style", "CC0 (scikit-image)"),
    ("sklearn", "datasets/images/china.jpg", "content", "CC BY 2.0 (Paul Wieland)"),
    ("sklearn", "datasets/images/flower.jpg", "content", "CC BY 2.0 (Paul Wieland)"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "content", "public domain (US Navy)"),
)

SOURCES_HELP = (
    "more images: `apt-get install opencv-doc` (~25 photos + Starry Night), `apt-get install gcompris-qt-data` "
    "(~25 paintings: Hokusai, Van Gogh, Bruegel...), `pip install scikit-image scikit-learn matplotlib` "
    "(a dozen photos and textures); or pass your own folders to `train.py adain --content-dir/--style-dir`"
)


@dataclass
class StarterImage:
    """One image of the starter set before it is written."""

    role: str  # "content" | "style"
    source: str  # short source tag used in the file name
    name: str  # file stem
    licence: str
    load: Callable[[], Image.Image] = field(repr=False)


# --------------------------------------------------------------------------------------------------- Qt resources
def read_qt_rcc(data: bytes) -> dict[str, bytes]:
    """Parse a Qt binary resource file (``rcc`` format versions 1-3) into ``{path: bytes}``.

    Layout: header ``qres`` + version + offsets of the tree, data and names sections. Tree nodes are fixed size
    (14 bytes, +8 for a timestamp from version 2); directories hold a child count and first child index, files a
    data offset. Names are length-prefixed UTF-16BE; data blobs are length-prefixed, zlib-compressed when flag 1
    is set (after a 4-byte uncompressed size). zstd blobs (flag 4) are skipped.
    """
    if data[:4] != b"qres":
        raise ValueError("not a Qt resource file (missing 'qres' magic)")
    version, tree, blobs, names = struct.unpack(">IIII", data[4:20])
    node_size = 14 if version < 2 else 22
    out: dict[str, bytes] = {}

    def name_at(offset: int) -> str:
        (length,) = struct.unpack(">H", data[names + offset : names + offset + 2])
        start = names + offset + 6  # skip length and 4-byte hash
        return data[start : start + 2 * length].decode("utf-16-be")

    stack = [(0, "")]
    while stack:
        index, prefix = stack.pop()
        pos = tree + index * node_size
        name_off, flags = struct.unpack(">IH", data[pos : pos + 6])
        name = name_at(name_off) if index else ""
        if flags & 2:  # directory
            count, first = struct.unpack(">II", data[pos + 6 : pos + 14])
            child_prefix = f"{prefix}{name}/" if index else ""
            stack.extend((first + j, child_prefix) for j in range(count))
            continue
        (data_off,) = struct.unpack(">I", data[pos + 10 : pos + 14])
        (length,) = struct.unpack(">I", data[blobs + data_off : blobs + data_off + 4])
        blob = data[blobs + data_off + 4 : blobs + data_off + 4 + length]
        if flags & 4:
            continue
        out[prefix + name] = zlib.decompress(blob[4:]) if flags & 1 else blob
    return out


_PIECE_RE = re.compile(
    r'"pixmapfile"\s*:\s*"(image/[^"]+\.webp)"\s*,\s*"x"\s*:\s*"([\d.]+)"\s*,\s*"y"\s*:\s*"([\d.]+)"'
)


def _board_painting(board_qml: str, files: dict[str, bytes], prefix: str) -> tuple[str, Image.Image] | None:
    """Reassemble one painting from a GCompris board: pieces are pasted with their centre at (x·W, y·H)."""
    size = re.search(r'"width"\s*:\s*(\d+)\s*,\s*"height"\s*:\s*(\d+)', board_qml)
    title = re.search(r'qsTr\("([^"]+)"\)', board_qml)
    pieces = _PIECE_RE.findall(board_qml)
    if not size or not pieces:
        return None
    width, height = int(size.group(1)), int(size.group(2))
    canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    for file, x, y in pieces:
        blob = files.get(prefix + file)
        if blob is None:
            return None
        piece = Image.open(io.BytesIO(blob)).convert("RGBA")
        left = round(float(x) * width - piece.width / 2)
        top = round(float(y) * height - piece.height / 2)
        canvas.alpha_composite(piece, (max(left, 0), max(top, 0)))
    # Crop to the opaque area (the board has a margin); hairline seams between pieces are filled with grey.
    alpha = canvas.getchannel("A").point(lambda a: 255 if a > 250 else 0)
    box = alpha.getbbox()
    if box is None:
        return None
    inset = 2
    box = (box[0] + inset, box[1] + inset, box[2] - inset, box[3] - inset)
    rgb = Image.new("RGB", canvas.size, (128, 128, 128))
    rgb.paste(canvas, mask=canvas.getchannel("A"))
    name = title.group(1) if title else pieces[0][0]
    return name, rgb.crop(box)


def reassemble_paintings(rcc_path: Path = GCOMPRIS_RCC) -> list[tuple[str, Image.Image]]:
    """All paintings of GCompris' *paintings* activity, reassembled from their jigsaw pieces: ``[(title, RGB)]``."""
    files = read_qt_rcc(rcc_path.read_bytes())
    prefix = next((k.split("board/")[0] for k in files if "/board/board" in k), None)
    if prefix is None:
        return []
    out = []
    for key in sorted(k for k in files if k.startswith(prefix + "board/") and k.endswith(".qml")):
        result = _board_painting(files[key].decode("utf-8", "replace"), files, prefix)
        if result is not None:
            out.append(result)
    return out


# --------------------------------------------------------------------------------------------------- collection
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:48] or "image"


def _iter_sources(log: Callable[[str], None]) -> Iterator[StarterImage]:
    # OpenCV sample photos (Debian opencv-doc). Licence: the OpenCV samples' BSD/Apache terms; Starry Night is PD.
    if OPENCV_DIR.is_dir():
        for role, names in (("content", OPENCV_PHOTOS), ("style", OPENCV_PAINTINGS)):
            for name in names:
                path = OPENCV_DIR / name
                if path.is_file():
                    lic = "public domain (Van Gogh, 1889)" if name == "starry_night.jpg" else "OpenCV sample data"
                    yield StarterImage(role, "opencv", Path(name).stem, lic, lambda p=path: Image.open(p))
    else:
        log(f"skip opencv-doc: {OPENCV_DIR} not found (apt-get install opencv-doc)")

    if GCOMPRIS_RCC.is_file():
        try:
            paintings = reassemble_paintings(GCOMPRIS_RCC)
        except (ValueError, OSError, struct.error) as err:
            log(f"skip gcompris-qt-data: could not read {GCOMPRIS_RCC}: {err}")
            paintings = []
        for title, img in paintings:
            yield StarterImage(
                "style", "gcompris", _slug(title), "GPL-3.0-or-later (WebMuseum scans via GCompris)", lambda im=img: im
            )
    else:
        log(f"skip gcompris-qt-data: {GCOMPRIS_RCC} not found (apt-get install gcompris-qt-data)")

    for module, rel, role, lic in PY_IMAGES:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            continue
        path = Path(list(spec.submodule_search_locations)[0]) / rel
        if path.is_file():
            yield StarterImage(role, module, path.stem, lic, lambda p=path: Image.open(p))
    missing = [m for m in ("skimage", "sklearn", "matplotlib") if importlib.util.find_spec(m) is None]
    if missing:
        log(
            f"skip python packages not installed: {', '.join(missing)} "
            "(pip install scikit-image scikit-learn matplotlib)"
        )


def build_starter(out: Path | str, max_side: int = 768, log: Callable[[str], None] = print) -> dict[str, int]:
    """Write the starter set under ``out``; returns counts ``{"content": n, "style": m, "failed": k}``.

    Images are converted to RGB and downscaled so their longer side is at most ``max_side`` (PNG, lossless).
    """
    out = Path(out)
    counts = {"content": 0, "style": 0, "failed": 0}
    rows: list[str] = []
    for item in _iter_sources(log):
        try:
            img = item.load()
            img.load()
            img = img.convert("RGB")
        except (OSError, ValueError) as err:
            counts["failed"] += 1
            log(f"skip {item.source}/{item.name}: {err}")
            continue
        if max(img.size) > max_side:
            scale = max_side / max(img.size)
            img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.LANCZOS)
        target = out / item.role / f"{item.source}_{_slug(item.name)}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        img.save(target)
        counts[item.role] += 1
        rows.append(f"| {item.role}/{target.name} | {item.source} | {item.licence} | {img.width}x{img.height} |")
    if rows:
        out.mkdir(parents=True, exist_ok=True)
        (out / "SOURCES.md").write_text(
            "# normlab starter set\n\nAssembled offline by `normlab data starter` from installed packages.\n\n"
            "| file | source | licence | size |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
        )
    return counts
