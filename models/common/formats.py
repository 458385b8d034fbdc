"""File formats the project reads, in one place (no torch: the data builder and the command line import it)."""

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")

__all__ = ["IMAGE_EXTENSIONS"]
