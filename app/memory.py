"""The app's allocator settings: glibc tuned at start and trimmed after each request.

The code lives in ``models/common/memory.py`` (the tiled AdaIN path trims after every tile too); this module keeps
the name the app and its tests use.
"""

from models.common.memory import ARENA_MAX, MMAP_THRESHOLD, _libc, trim, tune_allocator  # noqa: F401

__all__ = ["tune_allocator", "trim"]
