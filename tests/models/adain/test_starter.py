"""Starter-set builder: the Qt resource reader, painting reassembly and the writer, on synthetic inputs."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import models.adain.starter as sd


def _rcc(version: int) -> bytes:
    """A Qt binary resource file written from the format description: a/b.txt (raw) and c.bin (zlib)."""
    names, name_off = b"", {}
    for n in ("a", "c.bin", "b.txt"):
        name_off[n] = len(names)
        names += struct.pack(">HI", len(n), 0) + n.encode("utf-16-be")
    blobs, blob_off = b"", {}
    for key, raw, compress in (("c", b"hello" * 20, True), ("b", b"plain", False)):
        blob_off[key] = len(blobs)
        payload = struct.pack(">I", len(raw)) + zlib.compress(raw) if compress else raw
        blobs += struct.pack(">I", len(payload)) + payload
    ts = b"\0" * 8 if version >= 2 else b""

    def directory(name: int, count: int, first: int) -> bytes:
        return struct.pack(">IHII", name, 2, count, first) + ts

    def file(name: int, flags: int, off: int) -> bytes:
        return struct.pack(">IHHHI", name, flags, 0, 0, off) + ts

    tree = (
        directory(0, 2, 1)
        + directory(name_off["a"], 1, 3)
        + file(name_off["c.bin"], 1, blob_off["c"])
        + file(name_off["b.txt"], 0, blob_off["b"])
    )
    t = 20
    return b"qres" + struct.pack(">IIII", version, t, t + len(tree), t + len(tree) + len(blobs)) + tree + blobs + names


@pytest.mark.parametrize("version", [1, 2, 3])
def test_read_qt_rcc_walks_the_tree_and_inflates(version):
    assert sd.read_qt_rcc(_rcc(version)) == {"a/b.txt": b"plain", "c.bin": b"hello" * 20}


def test_read_qt_rcc_rejects_other_files():
    with pytest.raises(ValueError, match="qres"):
        sd.read_qt_rcc(b"PK\x03\x04 a zip file")


def _webp(colour: tuple[int, int, int], size=(20, 20)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", size, (*colour, 255)).save(buf, "WEBP", lossless=True)
    return buf.getvalue()


def test_board_painting_places_pieces_by_their_centres():
    qml = (
        '{ "width": 40, "height": 20, "title": qsTr("Two Halves"), "levels": ['
        '{"pixmapfile": "image/l.webp", "x": "0.25", "y": "0.5"}, '
        '{"pixmapfile": "image/r.webp", "x": "0.75", "y": "0.5"}]}'
    )
    files = {"p/image/l.webp": _webp((255, 0, 0)), "p/image/r.webp": _webp((0, 0, 255))}
    name, img = sd._board_painting(qml, files, "p/")
    arr = np.asarray(img)
    assert name == "Two Halves" and img.size == (36, 16)  # opaque area minus the 2-px inset
    assert tuple(arr[8, 2]) == (255, 0, 0) and tuple(arr[8, -3]) == (0, 0, 255)
    assert sd._board_painting(qml, {}, "p/") is None  # a missing piece: skip the painting, do not crash


def test_build_starter_writes_rgb_pngs_counts_failures_and_lists_sources(tmp_path, monkeypatch):
    def broken() -> Image.Image:
        return Image.open(io.BytesIO(b"not an image"))

    items = [
        sd.StarterImage("content", "gen", "Big Photo", "CC0", lambda: Image.new("L", (1000, 500), 77)),
        sd.StarterImage("style", "gen", "rgba", "CC0", lambda: Image.new("RGBA", (30, 40), (1, 2, 3, 0))),
        sd.StarterImage("style", "gen", "broken", "CC0", broken),
    ]
    monkeypatch.setattr(sd, "_iter_sources", lambda log: iter(items))
    logs: list[str] = []
    counts = sd.build_starter(tmp_path, max_side=256, log=logs.append)
    assert counts == {"content": 1, "style": 1, "failed": 1}
    big = Image.open(tmp_path / "content" / "gen_big_photo.png")
    assert big.mode == "RGB" and big.size == (256, 128)
    assert Image.open(tmp_path / "style" / "gen_rgba.png").mode == "RGB"
    assert any("broken" in line for line in logs)
    sources = (tmp_path / "SOURCES.md").read_text()
    assert "content/gen_big_photo.png" in sources and "CC0" in sources and "broken" not in sources
