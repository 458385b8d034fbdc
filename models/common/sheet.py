"""Contact sheets: rows of images under a header of column labels (the before/after figures in docs/)."""

from __future__ import annotations

from PIL import Image, ImageDraw

__all__ = ["HEADER", "contact_sheet"]

HEADER = 28  # pixels of the label line


def _fit(img: Image.Image, cell: int) -> Image.Image:
    """``img`` fitted into a white ``cell`` square, letterboxed (shrunk if larger, never stretched)."""
    out = Image.new("RGB", (cell, cell), (255, 255, 255))
    img = img.convert("RGB")
    if max(img.size) > cell:
        img = img.copy()
        img.thumbnail((cell, cell))
    out.paste(img, ((cell - img.width) // 2, (cell - img.height) // 2))
    return out


def contact_sheet(rows: list[list[Image.Image]], labels: list[str], cell: int = 256) -> Image.Image:
    """Rows of images (each fitted into a ``cell`` square) under a header line of ``labels``.

    >>> sheet = contact_sheet([[Image.new("RGB", (10, 10))] * 2], ["a", "b"], cell=32)
    >>> sheet.size
    (64, 60)
    """
    cols = len(labels)
    sheet = Image.new("RGB", (cols * cell, HEADER + len(rows) * cell), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for c, label in enumerate(labels):
        draw.text((c * cell + 6, 8), label, fill=(0, 0, 0))
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            sheet.paste(_fit(img, cell), (c * cell, HEADER + r * cell))
    return sheet
