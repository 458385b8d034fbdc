"""File formats the project reads, in one place (no torch: the data builder and the command line import it)."""

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")

__all__ = ["IMAGE_EXTENSIONS", "too_small"]


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
