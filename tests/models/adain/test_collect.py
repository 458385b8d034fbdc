"""`normlab data build` on fake package trees in tmp_path: no network, no apt, no dpkg."""

import io
import json
import re
import shutil
import struct

import numpy as np
import pytest
from PIL import Image

import models.adain.collect as col


def _pat(pixels: np.ndarray, name: str = "test pattern") -> bytes:
    """A GIMP .pat written from the format description (big-endian header, GPAT magic, NUL-ended name)."""
    height, width = pixels.shape[:2]
    bpp = 1 if pixels.ndim == 2 else pixels.shape[2]
    label = name.encode() + b"\0"
    header = struct.pack(">5I", 24 + len(label), 1, width, height, bpp) + b"GPAT" + label
    return header + pixels.astype(np.uint8).tobytes()


def _noise(seed: int, size=(320, 300)) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size[1] // 20, size[0] // 20, 3), dtype=np.uint8)  # blocky: survives JPEG
    return Image.fromarray(small).resize(size, Image.NEAREST)


def _save(img: Image.Image, path, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)


# ------------------------------------------------------------------------------------------ the .pat reader
def test_read_gimp_pat_decodes_rgb_pixels_exactly():
    pixels = np.arange(4 * 3 * 3).reshape(4, 3, 3) * 7 % 256  # 3 wide, 4 high
    name, img = col.read_gimp_pat(_pat(pixels, "Wood & more"))
    assert name == "Wood & more"
    assert img.mode == "RGB" and img.size == (3, 4)
    np.testing.assert_array_equal(np.asarray(img), pixels)


@pytest.mark.parametrize("bpp, mode", [(1, "L"), (2, "LA"), (4, "RGBA")])
def test_read_gimp_pat_other_depths(bpp, mode):
    pixels = np.arange(5 * 2 * bpp).reshape((5, 2) if bpp == 1 else (5, 2, bpp)) % 256
    _, img = col.read_gimp_pat(_pat(pixels))
    assert img.mode == mode and img.size == (2, 5)
    np.testing.assert_array_equal(np.asarray(img), pixels)


def test_read_gimp_pat_rejects_bad_files():
    good = _pat(np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="GPAT"):
        col.read_gimp_pat(good[:20] + b"XXXX" + good[24:])
    with pytest.raises(ValueError, match="truncated"):
        col.read_gimp_pat(good[:-5])


def test_tiling_reaches_min_side_with_whole_tiles():
    tile = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 70, 3), dtype=np.uint8))
    out = col.tile_to(tile, 256)
    assert min(out.size) >= 256 and out.size == (70 * 4, 40 * 7)
    np.testing.assert_array_equal(np.asarray(out)[40:80, 70:140], np.asarray(tile))


def test_prepare_image_drops_transparent_and_small_and_rotates_clockwise():
    see_through = Image.new("RGBA", (400, 400), (255, 0, 0, 255))
    see_through.paste((0, 0, 0, 0), (0, 0, 400, 40))  # 10 % clear
    assert col.prepare_image(see_through) == (None, "transparent")
    nearly = Image.new("RGBA", (400, 400), (255, 0, 0, 255))
    nearly.paste((0, 0, 0, 0), (0, 0, 400, 12))  # 3 %: kept, the clear strip goes white
    img, _ = col.prepare_image(nearly)
    assert img.mode == "RGB" and img.getpixel((5, 5)) == (255, 255, 255)
    assert col.prepare_image(Image.new("RGB", (300, 200))) == (None, "small")
    big, _ = col.prepare_image(Image.new("RGB", (3000, 600)))
    assert big.size == (1024, 205)
    marked = Image.new("RGB", (400, 300), (0, 0, 255))
    marked.paste((255, 0, 0), (0, 0, 200, 300))  # left half red
    upright, _ = col.prepare_image(marked, angle=90)  # KPhotoAlbum angles are clockwise: left -> top
    assert upright.size == (300, 400) and upright.getpixel((150, 10)) == (255, 0, 0)


def test_reassemble_shapes_pastes_pieces_back_at_their_centres():
    def webp(colour, size, alpha=255):
        buf = io.BytesIO()
        Image.new("RGBA", size, (*colour, alpha)).save(buf, "WEBP", lossless=True)
        return buf.getvalue()

    holey = Image.new("RGBA", (100, 50), (0, 0, 255, 255))
    holey.paste((255, 255, 255, 255), (40, 15, 60, 35))
    buf = io.BytesIO()
    holey.save(buf, "WEBP", lossless=True)
    qml = (
        'levels: [ { "pixmapfile" : "image/a_background.webp", "type" : "SHAPE_BACKGROUND_IMAGE" },'
        ' { "pixmapfile" : "image/a_1.webp", "dropAreaSize" : "10", "x" : "0.5", "y" : "0.5" } ]'
    )
    files = {
        "g/resource/board/board7_0.qml": qml.encode(),
        "g/resource/image/a_background.webp": buf.getvalue(),
        "g/resource/image/a_1.webp": webp((0, 255, 0), (20, 20)),
    }
    [(member, img)] = col.reassemble_shapes(files)
    assert member == "g/resource/image/a_background.webp"
    assert img.getpixel((50, 25))[:3] == (0, 255, 0) and img.getpixel((5, 5))[:3] == (0, 0, 255)


def test_dep5_licence_last_matching_stanza_wins():
    text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: Someone\nLicense: GPL-3+\n\n"
        "Files: images/land/*\nCopyright: Various\nLicense: public-domain\n text\n\n"
        "Files:\n images/land/bw*\n images/land/zz*\nCopyright: B. W.\nLicense: CC-BY-SA-3.0\n"
    )
    stanzas = col.parse_dep5(text)
    assert col.dep5_licence(stanzas, "/usr/share/game/images/land/bw1.jpg") == "CC-BY-SA-3.0 (B. W.)"
    assert col.dep5_licence(stanzas, "/usr/share/game/images/land/sea.jpg") == "public-domain"
    assert col.dep5_licence(stanzas, "/usr/share/game/sounds/a.wav") == "GPL-3+ (Someone)"
    assert col.parse_dep5("This package was debianized by ...") == []


# ------------------------------------------------------------------------------------------ guards and holdout
def test_reserved_packages_are_refused(tmp_path):
    for package in ("plasma-workspace-wallpapers", "palapeli-data"):
        with pytest.raises(col.ReservedSourceError, match="reserved"):
            col.check_not_reserved(package)
        src = col.Source("x", package, "style", "painting", "?", ("usr/share/x/*.jpg",))
        with pytest.raises(col.ReservedSourceError):
            col.build_dataset(tmp_path / "out", sources=[src], use_system=False, fetch=False, log=lambda m: None)
        with pytest.raises(col.ReservedSourceError):
            col.Fetcher(tmp_path / "debs", use_system=False, fetch=False).tree(package)
    with pytest.raises(col.ReservedSourceError):  # their folders too, whatever the package is called
        col.check_not_reserved("other", "/usr/share/wallpapers/Next/contents/images/1920x1080.jpg")
    assert not (tmp_path / "out").exists()
    assert not any(s.package in col.RESERVED_PACKAGES for s in col.SOURCES)


def test_choose_holdout_is_by_source_and_covers_the_kinds():
    counts = {"big": 90, "paint-a": 3, "paint-b": 1, "tex": 6}
    kinds = {"big": "texture", "paint-a": "painting", "paint-b": "painting", "tex": "texture"}
    # "tex" alone reaches 6 %, but a painting source must join it.
    assert col.choose_holdout(counts, kinds, ("tex",), 0.06, ("texture", "painting")) == ["tex", "paint-b"]
    assert col.choose_holdout(counts, kinds, (), 0.06) == ["paint-b", "paint-a", "tex"]  # smallest first
    assert col.choose_holdout(counts, kinds, ("tex",), 0.0) == []
    with pytest.raises(col.BuildError, match="cannot hold out"):
        col.choose_holdout({"only": 5}, {"only": "photo"}, (), 0.1)


# ------------------------------------------------------------------------------------------ the whole build
@pytest.fixture
def trees(tmp_path):
    """Per-package trees as the cache keeps them: <root>/<package>/usr/share/..."""
    root = tmp_path / "pkgs"
    land = root / "land-data/usr/share/land"
    for i in range(8):
        _save(_noise(i), land / f"photo{i}.jpg", quality=95)
    _save(_noise(0).resize((300, 281)), land / "photo0_small_copy.jpg", quality=80)  # near duplicate
    _save(_noise(20, (200, 150)), land / "tiny.jpg")  # short side < 256
    clear = _noise(21).convert("RGBA")
    clear.putalpha(0)
    _save(clear, land / "clear.png")  # transparent
    _save(_noise(22), land / "logo.jpg")  # excluded by name
    album = root / "album/usr/share/album/demo"
    marked = Image.new("RGB", (400, 300), (0, 0, 255))
    marked.paste((255, 0, 0), (0, 0, 200, 300))
    _save(marked, album / "turned.jpg", quality=95)
    _save(_noise(30), album / "straight.jpg", quality=95)
    (album / "index.xml").write_text(
        '<?xml version="1.0"?><KPhotoAlbum><images>'
        '<image file="turned.jpg" angle="90"/><image file="straight.jpg" angle="0"/>'
        "</images></KPhotoAlbum>"
    )
    shutil.copy(land / "photo3.jpg", album / "photo3_again.jpg")  # exact duplicate from another package
    pats = root / "pat-data/usr/share/pats"
    pats.mkdir(parents=True)
    for i in range(3):
        rgb = np.random.default_rng(40 + i).integers(0, 256, (8, 8, 3)).repeat(8, 0).repeat(8, 1)
        (pats / f"tex{i}.pat").write_bytes(_pat(rgb, f"tex {i}"))
    art = root / "art-data/usr/share/art"
    for i in range(3):
        _save(_noise(50 + i, (400, 300)), art / f"painting{i}.png")
    _save(_noise(60, (300, 400)), root / "art-two/usr/share/art2/portrait.jpg")
    return root


SOURCES = (
    col.Source("land", "land-data", "content", "photo", "CC0 (test)", ("usr/share/land/*.*",), exclude=r"logo"),
    col.Source(
        "album",
        "album",
        "content",
        "photo",
        "GPL (test)",
        ("usr/share/album/demo/*.jpg",),
        angles="usr/share/album/demo/index.xml",
    ),
    col.Source("pats", "pat-data", "style", "texture", "GPL (test)", ("usr/share/pats/*.pat",), tile=True),
    col.Source("art", "art-data", "style", "painting", "PD (test)", ("usr/share/art/*.png",)),
    col.Source("art-two", "art-two", "style", "painting", "PD (test)", ("usr/share/art2/*.jpg",)),
    col.Source("gone", "not-packaged-anywhere", "style", "painting", "?", ("usr/share/gone/*.jpg",)),
)


def test_build_dataset_end_to_end(tmp_path, trees):
    out, messages = tmp_path / "out", []
    summary = col.build_dataset(
        out,
        debs_dir=tmp_path / "debs",
        holdout=0.1,
        sources=SOURCES,
        roots=[trees],
        use_system=False,
        fetch=False,
        targets={},
        log=messages.append,
        progress=False,
    )
    manifest = json.loads((out / "manifest.json").read_text())
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert written == sorted(f["file"] for f in manifest["files"])

    # Drops: tiny, transparent, excluded by name, and both duplicates; photo0 kept at its larger size.
    reasons = {d["origin"].rsplit("/", 1)[-1]: d["reason"] for d in manifest["dropped"]}
    assert reasons["tiny.jpg"] == "small" and reasons["clear.png"] == "transparent"
    assert reasons["photo0_small_copy.jpg"].startswith("duplicate of land_photo0")
    assert reasons["photo3_again.jpg"].startswith("duplicate of land_photo3")
    assert not any("logo" in f for f in written)
    content = [f for f in written if f.startswith("content/")]
    assert len(content) == 8 + 2  # land photo0..7, album turned + straight

    # Holdout by whole source: the small album (content) and a texture + a painting source (style).
    assert summary.holdout_sources == {"content": ["album"], "style": ["art-two", "pats"]}
    by_split: dict[str, set] = {"train": set(), "holdout": set()}
    for f in manifest["files"]:
        by_split[f["split"]].add(f["source"])
        assert f["file"].startswith(f"{f['role']}/{f['split']}/{f['source']}_")
    assert not by_split["train"] & by_split["holdout"]
    assert summary.counts == {"content": {"train": 8, "holdout": 2}, "style": {"train": 3, "holdout": 4}}

    # The rotated photo is upright (red left half -> top), the tiled textures reach 256 px.
    turned = Image.open(out / "content/holdout/album_turned.jpg")
    assert turned.size == (300, 400) and turned.getpixel((150, 20))[0] > 200
    for f in manifest["files"]:
        img = Image.open(out / f["file"])
        assert img.mode == "RGB" and min(img.size) >= 256 and max(img.size) <= 1024
        assert f["tiled"] == (f["source"] == "pats")

    # SOURCES.md lists every written file with its package, original path and licence.
    text = (out / "SOURCES.md").read_text()
    for f in manifest["files"]:
        row = next(line for line in text.splitlines() if line.startswith(f"| {f['file']} |"))
        assert f["package"] in row and f["origin"] in row and f["licence"] in row
    assert re.search(r"\| content \| 8 \| 2 \| 10 \|", text)

    # A missing package is reported with the commands to get it; the rest still builds.
    assert "not-packaged-anywhere" in summary.missing
    hint = next(m for m in messages if m.startswith("missing not-packaged-anywhere"))
    assert "apt-get download not-packaged-anywhere" in hint and "dpkg -x" in hint


def test_rebuild_replaces_and_refuses_foreign_folders(tmp_path, trees):
    kw = dict(
        sources=SOURCES[:2],
        roots=[trees],
        use_system=False,
        fetch=False,
        targets={},
        log=lambda m: None,
        debs_dir=tmp_path / "debs",
        holdout=0.0,
    )
    out = tmp_path / "out"
    col.build_dataset(out, **kw)
    stale = out / "content/train/stale_old.jpg"
    stale.write_bytes(b"old")
    summary = col.build_dataset(out, **kw)
    assert not stale.exists() and summary.counts["content"] == {"train": 10, "holdout": 0}
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(col.BuildError, match="not empty"):
        col.build_dataset(foreign, **kw)
    with pytest.raises(col.BuildError, match="holdout"):
        col.build_dataset(tmp_path / "new", **{**kw, "holdout": 0.9})


def test_cli_reports_user_errors_with_exit_code_2(tmp_path, capsys):
    from app.cli import main

    assert main(["data", "build", "--out", str(tmp_path / "o"), "--holdout", "0.9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --holdout")
