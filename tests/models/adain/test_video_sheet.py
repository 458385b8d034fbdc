"""models.adain.video_sheet: the contact sheet of consecutive frames (input / frame-by-frame / blends)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from models.adain.clips import clip_frames, write_clip
from models.adain.video_sheet import ROWS, crop_box, main, sheet


def test_crop_box_is_centred_and_never_larger_than_the_frame():
    assert crop_box(856, 480, 240) == (308, 120, 548, 360)
    assert crop_box(100, 60, 240) == (0, 0, 100, 60)  # smaller frames: the whole side
    assert crop_box(101, 60, 50) == (25, 5, 75, 55)


def test_sheet_places_each_cropped_frame_in_its_row_and_column():
    rows = {name: [np.full((10, 12, 3), 40 * r + c, np.uint8) for c in range(3)] for r, name in enumerate(ROWS)}
    rows["input"][1][3:7, 4:8] = 250  # a marker inside the crop
    out = sheet(rows, (4, 3, 8, 7))  # a 4x4 crop; labels in the first 150 px
    assert out.size == (150 + 3 * (4 + 4), 4 * (4 + 4))
    px = np.asarray(out)
    for r in range(4):
        for c in range(3):
            cell = px[r * 8 : r * 8 + 4, 150 + c * 8 : 150 + c * 8 + 4]
            want = 250 if (r, c) == (0, 1) else 40 * r + c
            assert (cell == want).all(), (r, c)
    assert (px[:, 154:158] == 255).all() and (px[4:8, 150:] == 255).all()  # white gaps between cells
    assert (px[:, :150] < 128).any()  # the row labels


def test_main_writes_the_sheet_and_refuses_a_start_past_the_end(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    photo = np.asarray(Image.new("RGB", (160, 120), (90, 140, 200)), dtype=np.float32)
    photo[40:80, 60:100] = (200, 60, 40)
    clip = tmp_path / "c.mp4"
    write_clip(clip, clip_frames([photo, photo], "pan", (96, 64), frames=6))
    out = tmp_path / "sheet.jpg"
    assert main([str(clip), "-o", str(out), "--start", "2", "--count", "3", "--crop", "32"]) == 0
    img = Image.open(out)
    assert img.size == (150 + 3 * (32 + 4), 4 * (32 + 4))
    assert main([str(clip), "-o", str(tmp_path / "x.jpg"), "--start", "6"]) == 2
    assert not (tmp_path / "x.jpg").exists()
    with pytest.raises(SystemExit):
        main([str(clip), "--start", "-1"])
