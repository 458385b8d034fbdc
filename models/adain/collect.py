"""`normlab data build`: an offline AdaIN training set (>= 500 photos, >= 300 style images) from Debian packages.

Layout written::

    OUT/content/train/<source>_<stem>.jpg     photos seen in training
    OUT/content/holdout/<source>_<stem>.jpg   photos from sources never seen in training
    OUT/style/train/<source>_<stem>.jpg       paintings, illustrations and textures
    OUT/style/holdout/<source>_<stem>.jpg
    OUT/SOURCES.md                            every file with its package, original path and licence
    OUT/manifest.json                         the same, machine-readable (plus what was dropped and why)

Sources are the combination recommended in ``/work/shared/DATA-SOURCES.md`` (section 2), see ``SOURCES``:
photos from endless-sky-data, kphotoalbum, tuxpaint-data, tuxtype-data, lomiri-wallpapers-16.04 and the
GCompris activity resources; style from the GIMP patterns (``.pat``, tiled), Extreme Tux Racer terrains and
skies, projectM textures, the WordPress 2021/2022 theme paintings and GCompris' paintings. The images of
``normlab data starter`` (OpenCV samples, scikit-image & co., GCompris' *paintings* activity) are included too.
Cheap add-ons (``addon=True``) are used only while a role is short of its target.

Packages are never installed (desktop stacks would come along): a package's files are taken from ``/`` when
dpkg says it is installed, else from ``<debs>/root/<package>/`` where its .deb, fetched with
``apt-get download``, is unpacked with ``dpkg -x``. ``plasma-workspace-wallpapers`` and ``palapeli-data`` are
reserved for evaluation and refused everywhere.

Every image is made upright (EXIF, KPhotoAlbum's stored angles), dropped when mostly transparent or when its
short side is under ``min_side`` (seamless textures are tiled up to it instead), downscaled to a long side of
at most 1024 px, saved as RGB JPEG quality 92 and deduplicated (exact and near duplicates, by a difference hash
plus a colour thumbnail). The holdout is chosen by whole source, so held-out images come from packages or
activities that training never sees.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import io
import json
import math
import re
import shutil
import struct
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from models.adain.starter import (
    GCOMPRIS_RCC,
    OPENCV_DIR,
    OPENCV_PAINTINGS,
    OPENCV_PHOTOS,
    PY_IMAGES,
    read_qt_rcc,
    reassemble_paintings,
)
from models.common.formats import IMAGE_EXTENSIONS

__all__ = [
    "RESERVED_PACKAGES",
    "SOURCES",
    "TARGETS",
    "BuildError",
    "ReservedSourceError",
    "Source",
    "Summary",
    "build_dataset",
    "check_not_reserved",
    "choose_holdout",
    "prepare_image",
    "read_gimp_pat",
    "tile_to",
]

Log = Callable[[str], None]

RESERVED_PACKAGES = frozenset({"plasma-workspace-wallpapers", "palapeli-data"})
RESERVED_DIRS = ("usr/share/wallpapers/", "usr/share/palapeli/")  # where those two put their images
TARGETS = {"content": 500, "style": 300}
MAX_SIDE = 1024
JPEG_QUALITY = 92
ALPHA_LIMIT = 0.05  # drop an image when more than this share of its area has alpha < 128
IMAGE_SUFFIXES = IMAGE_EXTENSIONS + (".pat", ".tga")  # plus the GIMP patterns and TGA textures packages ship
ROLES = ("content", "style")
SPLITS = ("train", "holdout")

GCOMPRIS_DIR = GCOMPRIS_RCC.parent.relative_to("/").as_posix()
GCOMPRIS_LICENCE = "mixed per image: CC-BY-SA-3.0, public domain, CC-BY-2.0, CC-BY-SA-4.0 (GCompris credits)"
VAN_GOGH = r"(?i)(gogh|tanguy|eglise)"  # the details activity's paintings (the rest are monument photos)


class BuildError(ValueError):
    """A user error: bad arguments, an unusable output folder, nothing to build."""


class ReservedSourceError(BuildError):
    """A source that is reserved for evaluation was asked for."""


@dataclass(frozen=True)
class Source:
    """One group of images: a package (or Python module), the globs inside it, and how to treat them.

    ``name`` prefixes the written files and is the unit of the holdout; several table rows may share a name.
    ``include``/``exclude`` are regexes on the path inside the package (or the member path inside a ``.rcc``).
    """

    name: str
    package: str  # Debian package, or "python:<module>" for images bundled with a Python package
    role: str  # "content" | "style"
    kind: str  # photo | texture | painting | illustration | render
    licence: str  # fallback when the package has no machine-readable copyright entry for the file
    patterns: tuple[str, ...]
    include: str | None = None
    exclude: str | None = None
    tile: bool = False  # seamless pattern: tile up to min_side instead of dropping
    angles: str | None = None  # KPhotoAlbum index.xml (inside the package) with each file's stored rotation
    assemble: str | None = None  # GCompris boards: "paintings" (jigsaw, starter.py) | "shapes" (background + pieces)
    addon: bool = False  # only used while the role is short of TARGETS


def _py(module: str, rel: str, role: str, licence: str) -> Source:
    name = module if role == "content" else f"{module}-textures"
    return Source(name, f"python:{module}", role, "photo" if role == "content" else "texture", licence, (rel,))


def _gcompris(activity: str, role: str = "content", kind: str = "photo", name: str | None = None, **kw) -> Source:
    return Source(
        name or f"gcompris-{activity.replace('_', '-')}",
        "gcompris-qt-data",
        role,
        kind,
        GCOMPRIS_LICENCE,
        (f"{GCOMPRIS_DIR}/{activity}.rcc",),
        **kw,
    )


_WP = "usr/share/wordpress/wp-content/themes"
SOURCES: tuple[Source, ...] = (
    # ---------------------------------------------------------------- content: photos
    Source(
        "endless-sky",
        "endless-sky-data",
        "content",
        "photo",
        "public domain (morguefile/unsplash), some CC-BY-SA-3.0/4.0",
        ("usr/share/games/endless-sky/images/land/*.jpg",),
    ),
    Source(
        "kphotoalbum",
        "kphotoalbum",
        "content",
        "photo",
        "GPL-2+ (KPhotoAlbum demo album)",
        ("usr/share/kphotoalbum/demo/*.jpg",),
        exclude=r"qt-logo\.jpg$",
        angles="usr/share/kphotoalbum/demo/index.xml",
    ),
    Source("tuxpaint", "tuxpaint-data", "content", "photo", "GPL-2+", ("usr/share/tuxpaint/templates/*.jpg",)),
    Source("tuxtype", "tuxtype-data", "content", "photo", "GPL-2", ("usr/share/tuxtype/images/kcas*.jpg",)),
    Source(
        "lomiri",
        "lomiri-wallpapers-16.04",
        "content",
        "photo",
        "CC-BY-4.0 / CC-BY-SA-3.0/4.0",
        ("usr/share/backgrounds/*.jpg",),
        exclude=r"(analogpattern|greentock|umang)_",
    ),  # abstract art
    *(
        _gcompris(a, include=r"\.(webp|jpg|png)$")
        for a in (
            "explore_monuments",
            "erase",
            "explore_world_animals",
            "explore_farm_animals",
            "clickgame",
            "explore_world_music",
            "categorization",
        )
    ),
    _gcompris("details", include=r"_background\.webp$", exclude=VAN_GOGH),
    Source(
        "opencv",
        "opencv-doc",
        "content",
        "photo",
        "OpenCV sample data (BSD/Apache terms)",
        tuple(f"{OPENCV_DIR.relative_to('/').as_posix()}/{n}" for n in OPENCV_PHOTOS),
        exclude=r"/(Blender_Suzanne\d|blox|pca_test1)\.",
    ),  # renders and a test chart, not photos
    *(_py(*row) for row in PY_IMAGES if row[2] == "content"),
    # ---------------------------------------------------------------- style: textures, paintings, illustrations
    Source(
        "gimp",
        "gimp-data",
        "style",
        "texture",
        "GPL-3+ / LGPL-3+ (GIMP)",
        ("usr/share/gimp/2.0/patterns/**/*.pat",),
        tile=True,
    ),
    Source(
        "gimp-extras",
        "gimp-data-extras",
        "style",
        "texture",
        "GPL-2+ (gimp-data-extras)",
        ("usr/share/gimp/2.0/patterns/**/*.pat",),
        tile=True,
    ),
    Source(
        "etr-terrain",
        "extremetuxracer-data",
        "style",
        "texture",
        "GPL-2+ (some CC0)",
        ("usr/share/games/etr/terrains/*.png",),
    ),
    Source(
        "etr-sky",
        "extremetuxracer-data",
        "style",
        "render",
        "GPL-2+ (some CC0)",
        ("usr/share/games/etr/env/*/*/*.png",),
    ),
    Source(
        "projectm",
        "projectm-data",
        "style",
        "texture",
        "LGPL-2.1+",
        ("usr/share/projectM/presets/presets_tryptonaut/*.jpg",),
    ),
    Source(
        "wp-twentytwentyone",
        "wordpress-theme-twentytwentyone",
        "style",
        "painting",
        "public domain (Berthe Morisot; theme readme)",
        (f"{_WP}/twentytwentyone/assets/images/*.jpg",),
    ),
    Source(
        "wp-twentytwentytwo",
        "wordpress-theme-twentytwentytwo",
        "style",
        "illustration",
        "public domain / CC0 (Gould, Hashiguchi; theme readme)",
        (f"{_WP}/twentytwentytwo/assets/images/bird-on-*.jpg", f"{_WP}/twentytwentytwo/assets/images/ducks.jpg"),
    ),
    _gcompris(
        "details", role="style", kind="painting", name="gcompris-vangogh", include=VAN_GOGH + r"[^/]*_background\.webp$"
    ),
    # The babyshapes paintings have holes where the pieces go: paste the pieces back.
    _gcompris("babyshapes", role="style", kind="painting", include=r"_background\.webp$", assemble="shapes"),
    Source(
        "gcompris-paintings",
        "gcompris-qt-data",
        "style",
        "painting",
        "GPL-3.0-or-later (WebMuseum scans via GCompris)",
        (GCOMPRIS_RCC.relative_to("/").as_posix(),),
        assemble="paintings",
    ),
    Source(
        "opencv-art",
        "opencv-doc",
        "style",
        "painting",
        "public domain (Van Gogh, 1889)",
        tuple(f"{OPENCV_DIR.relative_to('/').as_posix()}/{n}" for n in OPENCV_PAINTINGS),
    ),
    *(_py(*row) for row in PY_IMAGES if row[2] == "style"),
    # ---------------------------------------------------------------- cheap add-ons (DATA-SOURCES.md, in order)
    Source(
        "mypaint",
        "mypaint-data",
        "style",
        "texture",
        "CC0 / public domain / GPL (MyPaint backgrounds)",
        ("usr/share/mypaint/backgrounds/*.png", "usr/share/mypaint/backgrounds/*.jpg"),
        tile=True,
        addon=True,
    ),
)

# Holdout preference per role: whole sources, taken in this order until the fraction is reached and every
# listed kind is represented (style: a flat texture source and a painting source).
HOLDOUT_ORDER = {
    "content": ("tuxtype", "tuxpaint", "gcompris-clickgame", "lomiri", "gcompris-explore-world-music"),
    "style": ("projectm", "wp-twentytwentyone", "wp-twentytwentytwo", "gcompris-babyshapes", "etr-sky"),
}
HOLDOUT_KINDS = {"content": (), "style": ("texture", "painting")}


# --------------------------------------------------------------------------------------------------- guards
def check_not_reserved(package: str, path: str = "") -> None:
    """Refuse the evaluation-only packages, by package name and by the folders they install into."""
    if package in RESERVED_PACKAGES:
        raise ReservedSourceError(f"{package} is reserved for evaluation and must never be used for training")
    posix = path.replace("\\", "/").lstrip("/")
    for folder in RESERVED_DIRS:
        if posix.startswith(folder) or f"/{folder}" in f"/{posix}":
            raise ReservedSourceError(f"{path} belongs to an evaluation-only package ({folder}); refused")


# --------------------------------------------------------------------------------------------------- decoding
_PAT_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def read_gimp_pat(data: bytes) -> tuple[str, Image.Image]:
    """Decode a GIMP pattern (``.pat``): ``(name, image)``.

    Big-endian header of five uint32 (header size, version, width, height, bytes per pixel), the magic
    ``GPAT``, a NUL-terminated UTF-8 name filling the header, then ``width*height*bpp`` raw pixel bytes.
    """
    if len(data) < 24:
        raise ValueError("not a GIMP pattern (file too short)")
    header_size, version, width, height, bpp = struct.unpack(">5I", data[:20])
    if data[20:24] != b"GPAT":
        raise ValueError("not a GIMP pattern (missing 'GPAT' magic)")
    if version != 1 or bpp not in _PAT_MODES or not (0 < width <= 16384 and 0 < height <= 16384):
        raise ValueError(f"unsupported GIMP pattern (version {version}, {width}x{height}, {bpp} bytes/pixel)")
    if header_size < 24:
        raise ValueError(f"bad GIMP pattern header size {header_size}")
    name = data[24:header_size].split(b"\0", 1)[0].decode("utf-8", "replace")
    need = width * height * bpp
    pixels = data[header_size : header_size + need]
    if len(pixels) < need:
        raise ValueError(f"truncated GIMP pattern: {len(pixels)} of {need} pixel bytes")
    return name, Image.frombytes(_PAT_MODES[bpp], (width, height), pixels)


def read_angles(index_xml: bytes) -> dict[str, int]:
    """KPhotoAlbum's ``index.xml``: ``{file: clockwise angle}`` for images stored rotated."""
    angles = {}
    for node in ET.fromstring(index_xml).iter("image"):
        angle = int(node.get("angle", "0") or 0) % 360
        if angle:
            angles[node.get("file", "")] = angle
    return angles


# --------------------------------------------------------------------------------------------------- processing
_CLOCKWISE = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}


def tile_to(img: Image.Image, min_side: int) -> Image.Image:
    """Repeat a seamless pattern until both sides are at least ``min_side`` (whole tiles, so seams stay exact)."""
    nx, ny = math.ceil(min_side / img.width), math.ceil(min_side / img.height)
    if nx <= 1 and ny <= 1:
        return img
    out = Image.new(img.mode, (img.width * nx, img.height * ny))
    for y in range(ny):
        for x in range(nx):
            out.paste(img, (x * img.width, y * img.height))
    return out


def transparent_fraction(img: Image.Image) -> float:
    """Share of the area with alpha below 128 (0 for images without alpha)."""
    if img.mode not in ("RGBA", "LA", "PA", "La", "RGBa") and "transparency" not in img.info:
        return 0.0
    alpha = np.asarray(img.convert("RGBA").getchannel("A"))
    return float((alpha < 128).mean())


def prepare_image(
    img: Image.Image, *, angle: int = 0, tile: bool = False, min_side: int = 256, max_side: int = MAX_SIDE
) -> tuple[Image.Image | None, str]:
    """Upright, opaque, big-enough RGB image, downscaled to ``max_side``: ``(image, "")`` or ``(None, reason)``."""
    img = ImageOps.exif_transpose(img) or img
    if angle % 360:
        img = img.transpose(_CLOCKWISE[angle % 360]) if angle % 360 in _CLOCKWISE else img.rotate(-angle, expand=True)
    if transparent_fraction(img) > ALPHA_LIMIT:
        return None, "transparent"
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:  # the few see-through pixels go white
        img = Image.alpha_composite(Image.new("RGBA", img.size, (255, 255, 255, 255)), img.convert("RGBA"))
    img = img.convert("RGB")
    if tile and min(img.size) < min_side:
        img = tile_to(img, min_side)
    if min(img.size) < min_side:
        return None, "small"
    if max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.LANCZOS)
    return img, ""


@dataclass
class Fingerprint:
    """Exact digest plus two small hashes for near duplicates (resized, recompressed, slightly edited copies)."""

    exact: bytes
    dhash: int  # 64-bit difference hash of a 9x8 grey thumbnail: structure
    thumb: np.ndarray  # 16x16 RGB thumbnail: colour, so recoloured variants are kept


def fingerprint(img: Image.Image) -> Fingerprint:
    grey = np.asarray(img.convert("L").resize((9, 8), Image.BOX), dtype=np.int16)
    bits = (grey[:, 1:] > grey[:, :-1]).flatten()
    dhash = int("".join("1" if b else "0" for b in bits), 2)
    thumb = np.asarray(img.resize((16, 16), Image.BOX), dtype=np.float32)
    return Fingerprint(hashlib.sha1(img.tobytes()).digest(), dhash, thumb)


def near_duplicate(a: Fingerprint, b: Fingerprint, max_bits: int = 6, max_colour: float = 10.0) -> bool:
    if a.exact == b.exact:
        return True
    return (a.dhash ^ b.dhash).bit_count() <= max_bits and float(np.abs(a.thumb - b.thumb).mean()) <= max_colour


# --------------------------------------------------------------------------------------------------- licences
def parse_dep5(text: str) -> list[tuple[list[str], str]]:
    """Machine-readable ``debian/copyright`` (DEP-5): ``[(file globs, "Licence (copyright holder)")]``."""
    if not text.startswith("Format:"):
        return []
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if "Files" in fields and "License" in fields:
            licence = fields["License"].split("\n", 1)[0].strip()
            holder = fields.get("Copyright", "").split("\n", 1)[0].strip()
            text_ = f"{licence} ({holder})" if holder and holder.lower() not in ("various", "") else licence
            stanzas.append((fields["Files"].split(), text_))
    return stanzas


def dep5_licence(stanzas: list[tuple[list[str], str]], installed_path: str) -> str | None:
    """Licence of an installed file: the last stanza whose glob matches the tail of its path wins."""
    found = None
    for globs, licence in stanzas:
        if any(
            fnmatch.fnmatchcase(installed_path, g) or fnmatch.fnmatchcase(installed_path, "*/" + g)
            for g in globs
            if not g.startswith("debian/")
        ):
            found = licence
    return found


# --------------------------------------------------------------------------------------------------- packages
@dataclass
class Tree:
    """Where one package's files are: ``root`` plus, for ``/``, the files dpkg says the package owns."""

    root: Path
    owned: frozenset[str] | None = None
    via: str = "cache"  # system | cache | python

    def glob(self, pattern: str) -> list[Path]:
        found = sorted(p for p in self.root.glob(pattern) if p.is_file())
        if self.owned is not None:
            found = [p for p in found if "/" + p.relative_to(self.root).as_posix() in self.owned]
        return found


@dataclass
class Fetcher:
    """Finds a package's files: installed under ``/``, in a tree root, or downloaded (never installed)."""

    debs_dir: Path
    roots: Sequence[Path] = ()
    use_system: bool = True
    fetch: bool = True
    log: Log = print
    downloaded_bytes: int = 0
    missing: dict[str, str] = field(default_factory=dict)  # package -> reason
    _trees: dict[str, Tree | None] = field(default_factory=dict)

    @property
    def cache_root(self) -> Path:
        return self.debs_dir / "root"

    def tree(self, package: str) -> Tree | None:
        if package not in self._trees:
            self._trees[package] = self._find(package)
        return self._trees[package]

    def _find(self, package: str) -> Tree | None:
        check_not_reserved(package)
        if package.startswith("python:"):
            return _python_tree(package.split(":", 1)[1], self.missing)
        if self.use_system:
            owned = _dpkg_files(package)
            if owned is not None:
                return Tree(Path("/"), owned, "system")
        for root in (*self.roots, self.cache_root):
            if (root / package).is_dir():
                return Tree(root / package)
        if not self.fetch:
            self.missing[package] = "not installed and downloads are off"
            return None
        deb = self._download(package)
        if deb is None:
            return None
        return self._extract(package, deb)

    def _download(self, package: str) -> Path | None:
        self.debs_dir.mkdir(parents=True, exist_ok=True)
        have = sorted(self.debs_dir.glob(f"{package}_*.deb"))  # '_' cannot occur in a package name
        if have:
            return have[-1]
        if shutil.which("apt-get") is None:
            self.missing[package] = "apt-get is not available"
            return None
        for attempt in range(2):
            self.log(f"downloading {package} (apt-get download)")
            run = _run(["apt-get", "download", package], cwd=self.debs_dir)
            have = sorted(self.debs_dir.glob(f"{package}_*.deb"))
            if run.returncode == 0 and have:
                self.downloaded_bytes += have[-1].stat().st_size
                return have[-1]
            if attempt == 0 and _apt_lists_empty():  # a fresh container: the package lists were never fetched
                self.log("the apt package lists are empty: running apt-get update")
                _run(["apt-get", "update"])
                continue
            break
        lines = [ln for ln in (run.stderr or run.stdout).splitlines() if ln.startswith("E:")] or ["failed"]
        self.missing[package] = f"apt-get download: {lines[-1]}"
        return None

    def _extract(self, package: str, deb: Path) -> Tree | None:
        # Unpack into a temporary folder and rename, so an interrupted run never leaves a half tree behind.
        target, tmp = self.cache_root / package, self.cache_root / f".{package}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        run = _run(["dpkg", "-x", str(deb), str(tmp)]) if shutil.which("dpkg") else None
        if run is None or run.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            self.missing[package] = f"dpkg -x failed: {(run.stderr.strip() if run else 'dpkg is not available')}"
            return None
        tmp.rename(target)
        return Tree(target)

    def help(self, package: str) -> str:
        """The exact commands to get a missing package by hand."""
        if package.startswith("python:"):
            module = package.split(":", 1)[1]
            pip = {"skimage": "scikit-image", "sklearn": "scikit-learn"}.get(module, module)
            return f"pip install {pip}"
        return (
            f"apt-get update && (mkdir -p {self.debs_dir} && cd {self.debs_dir} && apt-get download {package})"
            f" && dpkg -x {self.debs_dir}/{package}_*.deb {self.cache_root}/{package}"
        )


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def _dpkg_files(package: str) -> frozenset[str] | None:
    """Files of an installed package (``dpkg-query -L``), or None when it is not installed."""
    if shutil.which("dpkg-query") is None:
        return None
    status = _run(["dpkg-query", "-W", "-f=${db:Status-Status}", package])
    if status.returncode != 0 or status.stdout.strip() != "installed":
        return None
    files = _run(["dpkg-query", "-L", package])
    return frozenset(files.stdout.splitlines()) if files.returncode == 0 else None


def _apt_lists_empty() -> bool:
    return not any(Path("/var/lib/apt/lists").glob("*_Packages*"))


def _python_tree(module: str, missing: dict[str, str]) -> Tree | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        missing[f"python:{module}"] = "Python package not installed"
        return None
    return Tree(Path(next(iter(spec.submodule_search_locations))), via="python")


# --------------------------------------------------------------------------------------------------- candidates
@dataclass
class Candidate:
    """One image to process, before decoding."""

    source: Source
    origin: str  # installed path, or "<rcc path>!<member>"
    stem: str
    licence: str
    load: Callable[[], Image.Image] = field(repr=False)
    angle: int = 0


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "image"


def _stem(pattern: str, rel: str) -> str:
    """File stem from the part of the path below the pattern's fixed folder (keeps sky moods, pattern groups)."""
    fixed = pattern.split("*", 1)[0].rsplit("/", 1)[0]
    tail = rel[len(fixed) :].lstrip("/") if rel.startswith(fixed) else rel.rsplit("/", 1)[-1]
    return _safe(tail.rsplit(".", 1)[0])


def _filtered(src: Source, rel: str) -> bool:
    return bool(
        (src.include is None or re.search(src.include, rel)) and not (src.exclude and re.search(src.exclude, rel))
    )


def _open(data: bytes, suffix: str) -> Image.Image:
    if suffix == ".pat":
        return read_gimp_pat(data)[1]
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def candidates(src: Source, tree: Tree, log: Log = print) -> Iterator[Candidate]:
    """The images a source offers in a package tree (files, ``.rcc`` members, reassembled paintings)."""
    stanzas = _copyright(src.package, tree)
    angles: dict[str, int] = {}
    if src.angles and (tree.root / src.angles).is_file():
        angles = read_angles((tree.root / src.angles).read_bytes())
    for pattern in src.patterns:
        for path in tree.glob(pattern):
            rel = path.relative_to(tree.root).as_posix()
            origin = f"/{rel}" if tree.via != "python" else f"{tree.root.name}/{rel}"
            check_not_reserved(src.package, origin)
            if src.assemble == "paintings":
                yield from _painting_candidates(src, path, origin, log)
            elif src.assemble == "shapes":
                yield from _shapes_candidates(src, path, origin, log)
            elif path.suffix == ".rcc":
                yield from _rcc_candidates(src, path, origin, log)
            elif path.suffix.lower() in IMAGE_SUFFIXES and _filtered(src, rel):
                licence = dep5_licence(stanzas, origin) or src.licence
                yield Candidate(
                    src,
                    origin,
                    _stem(pattern, rel),
                    licence,
                    lambda p=path: _open(p.read_bytes(), p.suffix.lower()),
                    angles.get(path.name, 0),
                )


def _copyright(package: str, tree: Tree) -> list[tuple[list[str], str]]:
    path = tree.root / "usr/share/doc" / package / "copyright"
    try:
        return parse_dep5(path.read_text(errors="replace")) if tree.via != "python" else []
    except OSError:
        return []


def _rcc_candidates(src: Source, path: Path, origin: str, log: Log) -> Iterator[Candidate]:
    try:
        members = read_qt_rcc(path.read_bytes())
    except (ValueError, struct.error, OSError) as err:
        log(f"skip {origin}: not a readable Qt resource file ({err})")
        return
    for member in sorted(members):
        if member.lower().endswith(IMAGE_SUFFIXES) and _filtered(src, member):
            stem = _safe(member.split("/resource/", 1)[-1].rsplit(".", 1)[0])
            yield Candidate(
                src,
                f"{origin}!{member}",
                stem,
                src.licence,
                lambda b=members[member], s=Path(member).suffix.lower(): _open(b, s),
            )


_BOARD_ITEM = re.compile(r"\{[^{}]*\}")


def reassemble_shapes(files: dict[str, bytes]) -> list[tuple[str, Image.Image]]:
    """GCompris *babyshapes*-style boards: ``[(background member, RGBA)]`` with the pieces pasted back.

    A board's ``levels`` list one item of type ``SHAPE_BACKGROUND_IMAGE`` (the picture with holes) and pieces
    whose centres sit at ``(x*W, y*H)`` of the background, at the background's scale.
    """
    out = []
    for key in sorted(k for k in files if "/board/" in k and k.endswith(".qml")):
        prefix = key.split("board/")[0]
        background, pieces = None, []
        for item in _BOARD_ITEM.findall(files[key].decode("utf-8", "replace")):
            pixmap = re.search(r'"pixmapfile"\s*:\s*"([^"]+)"', item)
            x, y = (re.search(rf'"{axis}"\s*:\s*"?([\d.]+)', item) for axis in "xy")
            if pixmap and "SHAPE_BACKGROUND_IMAGE" in item:
                background = prefix + pixmap.group(1)
            elif pixmap and x and y:
                pieces.append((prefix + pixmap.group(1), float(x.group(1)), float(y.group(1))))
        if background not in files or any(p not in files for p, _, _ in pieces):
            continue
        canvas = Image.open(io.BytesIO(files[background])).convert("RGBA")
        for member, x, y in pieces:
            piece = Image.open(io.BytesIO(files[member])).convert("RGBA")
            canvas.paste(
                piece, (round(x * canvas.width - piece.width / 2), round(y * canvas.height - piece.height / 2)), piece
            )
        out.append((background, canvas))
    return out


def _shapes_candidates(src: Source, path: Path, origin: str, log: Log) -> Iterator[Candidate]:
    try:
        boards = reassemble_shapes(read_qt_rcc(path.read_bytes()))
    except (ValueError, struct.error, OSError) as err:
        log(f"skip {origin}: could not reassemble the boards ({err})")
        return
    for member, img in boards:
        if _filtered(src, member):
            stem = _safe(member.rsplit("/", 1)[-1].rsplit(".", 1)[0])
            yield Candidate(src, f"{origin}!{member}", stem, src.licence, lambda im=img: im)


def _painting_candidates(src: Source, path: Path, origin: str, log: Log) -> Iterator[Candidate]:
    try:
        paintings = reassemble_paintings(path)
    except (ValueError, struct.error, OSError) as err:
        log(f"skip {origin}: could not reassemble the paintings ({err})")
        return
    for title, img in paintings:
        yield Candidate(src, f"{origin}!{title}", _safe(title), src.licence, lambda im=img: im)


# --------------------------------------------------------------------------------------------------- holdout
def choose_holdout(
    counts: dict[str, int], kinds: dict[str, str], order: Sequence[str], fraction: float, need_kinds: Sequence[str] = ()
) -> list[str]:
    """Whole sources to hold out: ``order`` first, then the smallest others, until at least ``fraction`` of the
    images are held out and every kind in ``need_kinds`` is among them. Deterministic; never all sources."""
    total = sum(counts.values())
    if fraction <= 0 or total == 0:
        return []
    rest = sorted((n for n in counts if n not in order), key=lambda n: (counts[n], n))
    chosen: list[str] = []
    for name in [n for n in order if counts.get(n)] + rest:
        held = sum(counts[c] for c in chosen)
        missing_kinds = set(need_kinds) - {kinds[c] for c in chosen}
        if held >= fraction * total and not missing_kinds:
            break
        if held >= fraction * total and kinds[name] not in missing_kinds:
            continue  # enough images already: only a source of a missing kind may still join
        chosen.append(name)
    if sum(counts[c] for c in chosen) >= total:
        raise BuildError(
            f"cannot hold out {fraction:.0%} by source and still train: only "
            f"{len(counts)} source(s) ({', '.join(sorted(counts))})"
        )
    return chosen


# --------------------------------------------------------------------------------------------------- build
@dataclass
class Record:
    """One kept image, encoded, waiting for its split."""

    source: Source
    origin: str
    licence: str
    file: str  # "<source>_<stem>.jpg"
    size: tuple[int, int]
    jpeg: bytes = field(repr=False)
    fp: Fingerprint = field(repr=False)
    tiled: bool = False
    rotated: int = 0
    split: str = "train"


@dataclass
class Summary:
    """What a build wrote: counts per role and split, per source, the holdout sources, what was missing."""

    out: Path
    counts: dict[str, dict[str, int]]
    per_source: dict[str, dict]
    holdout_sources: dict[str, list[str]]
    missing: dict[str, str]
    downloaded_bytes: int
    seconds: float

    def total(self, role: str) -> int:
        return sum(self.counts[role].values())

    def line(self) -> str:
        parts = [
            f"{self.total(r)} {r} ({self.counts[r]['train']} train / {self.counts[r]['holdout']} holdout)"
            for r in ROLES
        ]
        return (
            f"wrote {parts[0]} and {parts[1]} images to {self.out}; downloaded "
            f"{self.downloaded_bytes / 1e6:.1f} MB; {len(self.missing)} package(s) missing; "
            f"{self.seconds:.0f} s"
        )


def build_dataset(
    out: Path,
    *,
    debs_dir: Path | None = None,
    holdout: float = 0.06,
    min_side: int = 256,
    log: Log = print,
    sources: Sequence[Source] | None = None,
    roots: Sequence[Path] = (),
    use_system: bool = True,
    fetch: bool = True,
    targets: dict[str, int] | None = None,
    progress: bool | None = None,
) -> Summary:
    """Collect, clean, deduplicate, split and write the training set under ``out`` (see the module docstring).

    ``sources``, ``roots`` (folders of per-package trees ``<root>/<package>/usr/...``), ``use_system`` (look
    under ``/``), ``fetch`` (``apt-get download``) and ``targets`` make the inputs injectable for tests.
    ``progress=None`` shows the bar only on a terminal.
    """
    started = time.perf_counter()
    out, sources = Path(out), tuple(SOURCES if sources is None else sources)
    targets = dict(TARGETS if targets is None else targets)
    if not 0.0 <= holdout <= 0.5:
        raise BuildError(f"--holdout must be between 0 and 0.5, got {holdout}")
    if min_side < 16:
        raise BuildError(f"min_side must be at least 16, got {min_side}")
    roles: dict[str, str] = {}
    for src in sources:  # refuse reserved sources before anything is fetched
        if roles.setdefault(src.name, src.role) != src.role:
            raise BuildError(f"source name {src.name!r} is used for both content and style")
        check_not_reserved(src.package)
        for pattern in src.patterns:
            check_not_reserved(src.package, pattern)
    _check_out(out)
    fetcher = Fetcher(Path("data/debs") if debs_dir is None else Path(debs_dir), roots, use_system, fetch, log)

    kept: list[Record] = []
    dropped: list[dict[str, str]] = []
    used: dict[str, Source] = {}  # every source looked at, by name (also those that yielded nothing)
    for batch in _batches(sources, kept, targets):
        for src in batch:
            used.setdefault(src.name, src)
        _process(batch, fetcher, kept, dropped, min_side, log, progress)
    for package, reason in fetcher.missing.items():
        log(f"missing {package}: {reason}; to get it: {fetcher.help(package)}")
    if not kept:
        raise BuildError("no usable images found: every source is missing (see the 'missing' lines above)")

    chosen = _split(kept, holdout)
    for role in ROLES:
        total = sum(1 for r in kept if r.source.role == role)
        if total < targets.get(role, 0):
            log(f"warning: only {total} {role} images (target {targets[role]})")
    return _write(out, kept, dropped, used, chosen, fetcher, holdout, min_side, started)


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise BuildError(f"output '{out}' exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise BuildError(
            f"output folder '{out}' is not empty and holds no earlier build (manifest.json); "
            "choose an empty or new folder"
        )


def _batches(sources: Sequence[Source], kept: list[Record], targets: dict[str, int]) -> Iterator[list[Source]]:
    """The base sources in one batch, then each add-on alone, only while its role is short of its target."""
    yield [s for s in sources if not s.addon]
    for src in (s for s in sources if s.addon):
        if sum(1 for r in kept if r.source.role == src.role) < targets.get(src.role, 0):
            yield [src]


def _process(
    batch: Sequence[Source],
    fetcher: Fetcher,
    kept: list[Record],
    dropped: list[dict[str, str]],
    min_side: int,
    log: Log,
    progress: bool | None,
) -> None:
    from tqdm import tqdm

    items: list[Candidate] = []
    for src in batch:
        tree = fetcher.tree(src.package)
        if tree is not None:
            items.extend(candidates(src, tree, log))
    names = {r.file for r in kept}
    bar = tqdm(items, desc="images", unit="img", disable=None if progress is None else not progress)
    for item in bar:

        def drop(reason: str, item: Candidate = item) -> None:
            dropped.append({"source": item.source.name, "origin": item.origin, "reason": reason})

        try:
            raw = item.load()
            tiled = item.source.tile and min(raw.size) < min_side
            img, reason = prepare_image(raw, angle=item.angle, tile=item.source.tile, min_side=min_side)
        except (OSError, ValueError, struct.error, Image.DecompressionBombError) as err:
            bar.write(f"skip {item.origin}: unreadable ({err})")
            drop("unreadable")
            continue
        if img is None:
            drop(reason)
            continue
        fp = fingerprint(img)
        twin = next((i for i, r in enumerate(kept) if near_duplicate(fp, r.fp)), None)
        if twin is not None and img.width * img.height <= kept[twin].size[0] * kept[twin].size[1]:
            drop(f"duplicate of {kept[twin].file}")
            continue
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True)
        if twin is not None:  # keep the larger copy (splits are not chosen yet, so this cannot leak)
            old = kept.pop(twin)
            names.discard(old.file)
            dropped.append(
                {"source": old.source.name, "origin": old.origin, "reason": f"duplicate of {item.origin} (smaller)"}
            )
        file = _unique(f"{item.source.name}_{item.stem}", names)
        kept.insert(
            len(kept) if twin is None else twin,
            Record(item.source, item.origin, item.licence, file, img.size, buf.getvalue(), fp, tiled, item.angle),
        )
    bar.close()


def _unique(stem: str, names: set[str]) -> str:
    name, n = f"{stem}.jpg", 2
    while name in names:
        name, n = f"{stem}_{n}.jpg", n + 1
    names.add(name)
    return name


def _split(kept: list[Record], fraction: float) -> dict[str, list[str]]:
    chosen: dict[str, list[str]] = {}
    for role in ROLES:
        counts: dict[str, int] = {}
        kinds: dict[str, str] = {}
        for r in kept:
            if r.source.role == role:
                counts[r.source.name] = counts.get(r.source.name, 0) + 1
                kinds[r.source.name] = r.source.kind
        chosen[role] = (
            choose_holdout(counts, kinds, HOLDOUT_ORDER[role], fraction, HOLDOUT_KINDS[role]) if counts else []
        )
    for r in kept:
        r.split = "holdout" if r.source.name in chosen[r.source.role] else "train"
    return chosen


def _write(
    out: Path,
    kept: list[Record],
    dropped: list[dict[str, str]],
    used: dict[str, Source],
    chosen: dict[str, list[str]],
    fetcher: Fetcher,
    fraction: float,
    min_side: int,
    started: float,
) -> Summary:
    for role in ROLES:  # a rebuild replaces the previous one (stale files would leak into a split)
        shutil.rmtree(out / role, ignore_errors=True)
        for split in SPLITS:
            (out / role / split).mkdir(parents=True, exist_ok=True)
    for r in kept:
        (out / r.source.role / r.split / r.file).write_bytes(r.jpeg)

    counts = {role: {split: 0 for split in SPLITS} for role in ROLES}
    per_source = {
        name: {
            "package": src.package,
            "role": src.role,
            "kind": src.kind,
            "licence": src.licence,
            "train": 0,
            "holdout": 0,
            "dropped": {},
        }
        for name, src in used.items()
    }
    for r in kept:
        counts[r.source.role][r.split] += 1
        per_source[r.source.name][r.split] += 1
    for d in dropped:
        reason = "duplicate" if d["reason"].startswith("duplicate") else d["reason"]
        tally = per_source[d["source"]]["dropped"]
        tally[reason] = tally.get(reason, 0) + 1
    summary = Summary(
        out, counts, per_source, chosen, dict(fetcher.missing), fetcher.downloaded_bytes, time.perf_counter() - started
    )
    files = [
        {
            "file": f"{r.source.role}/{r.split}/{r.file}",
            "role": r.source.role,
            "split": r.split,
            "source": r.source.name,
            "package": r.source.package,
            "origin": r.origin,
            "licence": r.licence,
            "width": r.size[0],
            "height": r.size[1],
            "tiled": r.tiled,
            "rotated": r.rotated,
        }
        for r in kept
    ]
    manifest = {
        "format": 1,
        "built": time.strftime("%Y-%m-%d %H:%M:%S"),
        "min_side": min_side,
        "max_side": MAX_SIDE,
        "jpeg_quality": JPEG_QUALITY,
        "holdout": {"fraction": fraction, "sources": chosen},
        "counts": counts,
        "sources": per_source,
        "missing": summary.missing,
        "downloaded_bytes": summary.downloaded_bytes,
        "files": files,
        "dropped": dropped,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (out / "SOURCES.md").write_text(_sources_md(summary, files, fraction, min_side))
    return summary


def _sources_md(summary: Summary, files: list[dict], fraction: float, min_side: int) -> str:
    held = {role: ", ".join(summary.holdout_sources[role]) or "none" for role in ROLES}
    lines = [
        "# normlab AdaIN training set",
        "",
        (
            "Built offline by `normlab data build` from Debian packages (taken from `/` when installed, otherwise "
            "fetched with `apt-get download` and unpacked with `dpkg -x`; never installed) and images bundled with "
            "installed Python packages. `plasma-workspace-wallpapers` and `palapeli-data` are reserved for "
            "evaluation and were not used."
        ),
        "",
        (
            f"Every image is RGB JPEG (quality {JPEG_QUALITY}), long side <= {MAX_SIDE} px, short side >= "
            f"{min_side} px (seamless textures were tiled up to that), upright, opaque, and deduplicated."
        ),
        "",
        (
            f"Holdout (>= {fraction:.0%} per role, whole sources never seen in training): content: "
            f"{held['content']}; style: {held['style']}."
        ),
        "",
        "## Counts",
        "",
        "| role | train | holdout | total |",
        "|---|---:|---:|---:|",
    ]
    for role in ROLES:
        c = summary.counts[role]
        lines.append(f"| {role} | {c['train']} | {c['holdout']} | {c['train'] + c['holdout']} |")
    lines += [
        "",
        "## Per source",
        "",
        "| source | package | role | kind | licence | train | holdout | dropped |",
        "|---|---|---|---|---|---:|---:|---|",
    ]
    for name, row in sorted(summary.per_source.items(), key=lambda kv: (kv[1]["role"], kv[0])):
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(row["dropped"].items())) or "-"
        lines.append(
            f"| {name} | {row['package']} | {row['role']} | {row['kind']} | {row['licence']} | "
            f"{row['train']} | {row['holdout']} | {dropped} |"
        )
    if summary.missing:
        lines += ["", "## Missing sources", ""] + [f"- {p}: {why}" for p, why in sorted(summary.missing.items())]
    lines += ["", "## Files", "", "| file | package | original path | licence |", "|---|---|---|---|"]
    for f in files:
        origin = f["origin"].replace("|", "\\|")
        lines.append(f"| {f['file']} | {f['package']} | `{origin}` | {f['licence']} |")
    return "\n".join(lines) + "\n"
