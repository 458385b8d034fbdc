"""models.adain.sheet: the contact sheet's layout (no model needed for the grid itself)."""

from PIL import Image

from models.adain.sheet import HEADER, THUMB, contact_sheet


def test_sheet_has_one_column_per_label_and_one_row_per_pair():
    rows = [
        [
            Image.new("RGB", (40, 20), (255, 0, 0)),
            Image.new("RGB", (20, 40), (0, 0, 255)),
            Image.new("RGB", (64, 64), (0, 255, 0)),
        ]
        for _ in range(2)
    ]
    sheet = contact_sheet(rows, ["content", "style", "after"])
    assert sheet.size == (3 * THUMB, HEADER + 2 * THUMB)
    assert sheet.getpixel((2 * THUMB + THUMB // 2, HEADER + THUMB + THUMB // 2)) == (0, 255, 0)  # row 2, column 3
    assert sheet.getpixel((THUMB // 2, HEADER + 2)) == (255, 255, 255)  # a wide image is letterboxed, not stretched
