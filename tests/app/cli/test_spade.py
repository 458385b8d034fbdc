"""`normlab classes` and `normlab synthesize`: output formats and clean failures."""

import json

import numpy as np
import pytest
from PIL import Image

from app import cli
from models.common.checkpoint import save_checkpoint
from models.landscape.classes import CLASSES
from models.spade.generator import GenConfig, SPADEGenerator, baked_state_dict


@pytest.fixture
def ckpt(tmp_path):
    cfg = GenConfig(arch="grid", size=32, ngf=4, spade_hidden=8, z_dim=8)
    return save_checkpoint(
        tmp_path / "g.safetensors",
        baked_state_dict(SPADEGenerator(cfg)),
        cfg.to_dict() | {"spectral": False},
        kind="spade",
    )


def test_classes_table_and_json(capsys):
    assert cli.main(["classes"]) == 0
    out = capsys.readouterr().out
    assert "sky" in out and "#" in out and len(out.strip().splitlines()) == len(CLASSES) + 1
    assert cli.main(["classes", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    r, g, b = CLASSES[0].color
    assert data[0] == {"id": 0, "name": CLASSES[0].name, "color": f"#{r:02x}{g:02x}{b:02x}", "rgb": [r, g, b]}
    assert [d["id"] for d in data] == list(range(len(CLASSES)))


def test_synthesize_writes_image_of_mask_size_and_seed_matters(tmp_path, ckpt, mask, capsys):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert cli.main(["synthesize", str(mask), "-o", str(a), "--checkpoint", str(ckpt), "--seed", "1"]) == 0
    assert cli.main(["synthesize", str(mask), "-o", str(b), "--checkpoint", str(ckpt), "--seed", "2"]) == 0
    assert "wrote" in capsys.readouterr().out
    ia, ib = np.asarray(Image.open(a), np.float32), np.asarray(Image.open(b), np.float32)
    assert ia.shape == (24, 36, 3) and np.abs(ia - ib).mean() > 0.1
    c = tmp_path / "c.png"
    assert (
        cli.main(["synthesize", str(mask), "-o", str(c), "--checkpoint", str(ckpt), "--size", "72", "--style", str(a)])
        == 0
    )
    assert Image.open(c).size == (72, 48)


def _run_err(capsys, argv):
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    return err


def test_bad_inputs_exit_cleanly(tmp_path, ckpt, mask, capsys):
    out = str(tmp_path / "o.png")
    ck = ["--checkpoint", str(ckpt)]
    assert "no such file" in _run_err(capsys, ["synthesize", str(tmp_path / "none.png"), "-o", out, *ck])
    corrupt = tmp_path / "bad.png"
    corrupt.write_bytes(b"not a png at all")
    assert "not a readable image" in _run_err(capsys, ["synthesize", str(corrupt), "-o", out, *ck])
    black = tmp_path / "black.png"
    Image.new("RGB", (20, 20)).save(black)
    assert "matches no class colour" in _run_err(capsys, ["synthesize", str(black), "-o", out, *ck])
    empty = tmp_path / "empty.png"
    Image.new("RGBA", (20, 20)).save(empty)
    assert "nothing is painted" in _run_err(capsys, ["synthesize", str(empty), "-o", out, *ck])
    assert "must end in" in _run_err(capsys, ["synthesize", str(mask), "-o", str(tmp_path / "o.txt"), *ck])
    # a missing output folder is created when its parent exists; deeper than that is refused
    assert cli.main(["synthesize", str(mask), "-o", str(tmp_path / "x" / "o.png"), *ck]) == 0
    assert (tmp_path / "x" / "o.png").is_file()
    capsys.readouterr()
    assert "does not exist" in _run_err(
        capsys, ["synthesize", str(mask), "-o", str(tmp_path / "y" / "z" / "o.png"), *ck]
    )
    assert "--size" in _run_err(capsys, ["synthesize", str(mask), "-o", out, "--size", "3", *ck])
    assert "checkpoint" in _run_err(
        capsys, ["synthesize", str(mask), "-o", out, "--checkpoint", str(tmp_path / "nope.safetensors")]
    )
    err = _run_err(capsys, ["synthesize", str(mask), "-o", out, "--norm", "proxy"])  # none ships for proxy
    assert "no spade checkpoint for norm 'proxy'" in err and "available: " in err
    err = _run_err(capsys, ["synthesize", str(mask), "-o", out, "--background", "lava", *ck])
    assert err.startswith("error: --background: unknown class 'lava'") and "valid classes" in err
    assert "style image" in _run_err(capsys, ["synthesize", str(mask), "-o", out, "--style", str(corrupt), *ck])


def test_the_png_remembers_its_settings_and_from_png_reruns_them(tmp_path, ckpt, mask, capsys):
    from models.common.settings import read_png_settings

    a = tmp_path / "a.png"
    assert cli.main(["synthesize", str(mask), "-o", str(a), "--checkpoint", str(ckpt), "--seed", "5"]) == 0
    settings = read_png_settings(a)
    assert settings["command"] == "synthesize" and settings["seed"] == 5 and settings["checkpoint"] == ckpt.name
    assert settings["norm"] == "instance" and settings["argv"][:2] == ["synthesize", str(mask)]
    again = tmp_path / "again.png"
    assert cli.main(["synthesize", "--from-png", str(a), "-o", str(again)]) == 0
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(again)))  # the same picture
    other = tmp_path / "other.png"
    assert cli.main(["synthesize", "--from-png", str(a), "-o", str(other), "--seed", "6"]) == 0  # a flag overrides
    assert read_png_settings(other)["seed"] == 6
    assert not np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(other)))
    capsys.readouterr()
    assert cli.main(["stylize", "--from-png", str(a), "-o", str(other)]) == 2  # made by synthesize
    assert "not `normlab stylize`" in capsys.readouterr().err
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    assert cli.main(["synthesize", "--from-png", str(plain), "-o", str(other)]) == 2
    assert "has no normlab settings" in capsys.readouterr().err
