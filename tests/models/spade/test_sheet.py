"""models.spade.sheet: rows of layout | real | two seeds per checkpoint, at the asked size."""

import numpy as np
import pytest

from models.common.sheet import HEADER
from models.spade.sheet import main
from tests.models.spade.conftest import crop_checkpoint


def test_sheet_has_layout_real_and_two_seeds_per_checkpoint(tmp_path, capsys):
    ckpt = crop_checkpoint(tmp_path / "c.safetensors")
    out = tmp_path / "sheet.png"
    assert (
        main(["--checkpoint", str(ckpt), "--label", "after", "--layouts", "2", "--size", "64", "--out", str(out)]) == 0
    )
    from PIL import Image

    sheet = np.asarray(Image.open(out))
    assert sheet.shape == (HEADER + 2 * 64, 4 * 64, 3)
    seed_a, seed_b = sheet[HEADER : HEADER + 64, 128:192], sheet[HEADER : HEADER + 64, 192:256]
    assert np.abs(seed_a.astype(int) - seed_b).mean() > 0.5  # two seeds, two pictures
    assert "2 procedural layouts x 1 checkpoints" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--label", "a", "--label", "b"], "one --label per --checkpoint"),
        (["--size", "4000"], "--size must be in 32..1024"),
    ],
)
def test_sheet_refuses_bad_arguments(tmp_path, capsys, argv, message):
    ckpt = crop_checkpoint(tmp_path / "c.safetensors")
    assert main(["--checkpoint", str(ckpt), "--out", str(tmp_path / "s.png"), *argv]) == 2
    assert message in capsys.readouterr().err
