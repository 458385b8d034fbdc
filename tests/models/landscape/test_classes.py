"""models.landscape.classes: the class set, colour masks -> ids and back."""

import itertools

import numpy as np
import pytest

from models.landscape.classes import CLASSES, IGNORE_INDEX, NUM_CLASSES, PALETTE, class_id, ids_to_color, mask_to_ids

REQUIRED = {"sky", "cloud", "mountain", "rock", "snow", "water", "sand", "grass", "tree"}


def _layout(h=32, w=48) -> np.ndarray:
    ids = np.full((h, w), class_id("sky"), np.int64)
    ids[h // 2 :, :] = class_id("grass")
    ids[h // 2 :, : w // 3] = class_id("water")
    ids[h // 4 : h // 2, w // 2 :] = class_id("mountain")
    return ids


def test_classes_are_complete_and_distinct():
    assert [c.id for c in CLASSES] == list(range(NUM_CLASSES))
    assert REQUIRED <= {c.name for c in CLASSES}
    dists = [
        np.linalg.norm(PALETTE[i].astype(float) - PALETTE[j]) for i, j in itertools.combinations(range(NUM_CLASSES), 2)
    ]
    assert min(dists) > 70  # far enough apart for anti-aliased paint to snap unambiguously


def test_class_id_unknown_lists_names():
    with pytest.raises(ValueError, match="valid classes: sky, cloud"):
        class_id("lava")


def test_exact_colours_round_trip():
    ids = _layout()
    assert (mask_to_ids(ids_to_color(ids)) == ids).all()


def test_anti_aliased_edges_snap_to_a_neighbouring_class():
    ids = _layout()
    rgb = ids_to_color(ids).astype(np.float32)
    # anti-alias: 50/50 blend along every horizontal class edge (what a brush's soft edge produces)
    blurred = rgb.copy()
    blurred[1:] = 0.5 * rgb[1:] + 0.5 * rgb[:-1]
    out = mask_to_ids(blurred.round().astype(np.uint8))
    edge = (ids[1:] != ids[:-1]).any(1)
    for y in np.nonzero(edge)[0] + 1:
        assert set(np.unique(out[y])) <= set(np.unique(ids[y - 1 : y + 1]))  # never a third class
    assert (out == ids).mean() > 0.95


def test_unknown_colour_region_snaps_to_nearest_class():
    rgb = ids_to_color(_layout())
    rgb[:4, :] = (100, 160, 225)  # a slightly-off sky blue, a whole band of it
    far = np.array([30, 30, 30])  # far from every class colour
    rgb[-8:, :] = far
    out = mask_to_ids(rgb)
    assert (out[:4] == class_id("sky")).all()
    nearest = int(np.argmin(((PALETTE.astype(float) - far) ** 2).sum(1)))
    assert (out[-4:] == nearest).all()  # deep inside the band (edge pixels follow their neighbours)
    assert set(np.unique(out[-8])) <= set(np.unique(out[-9])) | {nearest}  # the band's edge follows neighbours


def test_image_matching_no_class_raises():
    with pytest.raises(ValueError, match="matches no class colour"):
        mask_to_ids(np.zeros((16, 16, 3), np.uint8))


def test_empty_and_malformed_masks_raise():
    with pytest.raises(ValueError, match="nothing is painted"):
        mask_to_ids(np.zeros((8, 8, 4), np.uint8))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        mask_to_ids(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        mask_to_ids(np.zeros((0, 8, 3), np.uint8))


def test_transparent_pixels_background_or_nearest_painted():
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[:, :8, :3] = CLASSES[class_id("water")].color
    rgba[:, :8, 3] = 255
    rgba[:, 8:, 3] = 40  # faint: below the alpha threshold -> unpainted
    filled = mask_to_ids(rgba)
    assert (filled == class_id("water")).all()
    bg = mask_to_ids(rgba, background=class_id("sand"))
    assert (bg[:, 8:] == class_id("sand")).all() and (bg[:, :8] == class_id("water")).all()
    assert (mask_to_ids(np.zeros((4, 4, 4), np.uint8), background=0) == 0).all()
    with pytest.raises(ValueError, match="background"):
        mask_to_ids(rgba, background=NUM_CLASSES)


def test_ids_to_color_validates_and_handles_ignore():
    ids = np.array([[0, IGNORE_INDEX]])
    out = ids_to_color(ids)
    assert tuple(out[0, 0]) == CLASSES[0].color and tuple(out[0, 1]) == (0, 0, 0)
    with pytest.raises(ValueError, match="outside"):
        ids_to_color(np.array([[NUM_CLASSES]]))


def test_fill_without_scipy_matches(monkeypatch):
    import builtins

    import models.landscape.classes as L

    rgb = ids_to_color(_layout())
    blurred = rgb.astype(np.float32)
    blurred[1:] = 0.5 * blurred[1:] + 0.5 * blurred[:-1]
    rgba = np.dstack([blurred.round().astype(np.uint8), np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:, -10:, 3] = 0  # unpainted strip: filled from the nearest painted pixels
    with_scipy = L.mask_to_ids(rgba)
    real_import = builtins.__import__

    def no_scipy(name, *a, **k):
        if name.startswith("scipy"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_scipy)
    without = L.mask_to_ids(rgba)
    assert (without == with_scipy).mean() > 0.97
    assert (without[:, -10:] == without[:, -11:-10]).all()  # rows continue their last painted class
