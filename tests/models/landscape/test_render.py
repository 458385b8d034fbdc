"""models.landscape.render: the procedural generator is deterministic per seed and size-consistent."""

import numpy as np
import pytest
import torch

from models.landscape.classes import class_id
from models.landscape.render import generate_batch, generate_sample


def test_generate_sample_deterministic_and_varied():
    a_img, a_ids = generate_sample(7, 48)
    b_img, b_ids = generate_sample(7, 48)
    c_img, c_ids = generate_sample(8, 48)
    assert a_img.shape == (48, 48, 3) and a_img.dtype == np.uint8
    assert a_ids.shape == (48, 48) and a_ids.dtype == np.int64
    assert (a_img == b_img).all() and (a_ids == b_ids).all()
    assert (a_ids != c_ids).mean() > 0.05 and np.abs(a_img.astype(int) - c_img).mean() > 5


def test_batch_does_not_change_a_sample_and_classes_show_up():
    img1, ids1 = generate_batch([11], 32)
    img, ids = generate_batch(list(range(4, 20)), 32)
    assert torch.allclose(img1[0], img[7], atol=1e-5) and (ids1[0] == ids[7]).all()
    assert img.shape == (16, 3, 32, 32) and 0 <= img.min() and img.max() <= 1
    present = set(ids.unique().tolist())
    assert {class_id(n) for n in ("sky", "grass", "water", "mountain", "tree")} <= present


def test_same_seed_other_size_is_the_same_scene():
    _, small = generate_sample(3, 32)
    _, big = generate_sample(3, 64)
    down = big[::2, ::2]
    assert (down == small).mean() > 0.8


def test_generate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="size"):
        generate_batch([1], 8)
    with pytest.raises(ValueError, match="seed"):
        generate_batch([], 32)
