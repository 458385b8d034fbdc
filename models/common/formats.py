"""File formats the project reads, in one place (no torch: the data builder and the command line import it)."""

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")

__all__ = ["IMAGE_EXTENSIONS", "too_large", "too_small"]


def too_small(width: int, height: int, min_side: int) -> str | None:
    """The one wording for an image or mask below the minimum side (the CLI, the app and the API all use it).

    >>> too_small(12, 40, 16)
    '12x40 is too small (each side must be >= 16 px)'
    >>> too_small(16, 16, 16) is None
    True
    """
    if min(width, height) >= min_side:
        return None
    return f"{width}x{height} is too small (each side must be >= {min_side} px)"


def too_large(width: int, height: int, max_pixels: int) -> str | None:
    """The one wording for an image over the pixel limit (the advice that follows is the caller's).

    >>> too_large(1400, 1000, 1_000_000)
    '1400x1000 is too large (1.4 MP; the limit is 1.0 MP)'
    >>> too_large(1000, 1000, 1_000_000) is None
    True
    """
    if width * height <= max_pixels:
        return None
    return f"{width}x{height} is too large ({width * height / 1e6:.1f} MP; the limit is {max_pixels / 1e6:.1f} MP)"
