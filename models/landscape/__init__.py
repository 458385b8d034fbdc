"""Procedural landscapes: the class set and palette (``classes``, numpy only) and the renderer (``render``, torch).

Importing this package does not import torch, so the command line and the web app can read the classes fast.
"""

from models.landscape.classes import (
    CLASSES,
    IGNORE_INDEX,
    NUM_CLASSES,
    PALETTE,
    LandscapeClass,
    class_id,
    ids_to_color,
    mask_to_ids,
)

__all__ = [
    "CLASSES",
    "IGNORE_INDEX",
    "LandscapeClass",
    "NUM_CLASSES",
    "PALETTE",
    "class_id",
    "ids_to_color",
    "mask_to_ids",
]
