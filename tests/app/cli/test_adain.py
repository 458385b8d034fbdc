"""`normlab stylize` / `normlab data starter`: success path on a tiny checkpoint, clean one-line errors otherwise."""

import numpy as np
import pytest
import torch
from PIL import Image

from app.cli import main
from models.adain.net import AdaINNet
from models.common.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_adain")
    rng = np.random.default_rng(0)
    for name in ("c.png", "s1.png", "s2.png"):
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(d / name)
    Image.fromarray(np.tile(np.r_[np.full(16, 255), np.zeros(16)].astype(np.uint8), (24, 1))).save(d / "m.png")
    (d / "bad.png").write_bytes(b"garbage")
    torch.manual_seed(0)
    net = AdaINNet()
    save_checkpoint(d / "adain_instance.safetensors", net.trainable_state_dict(), net.config.to_dict(), "adain")
    return d


def _run(capsys, *argv):
    code = main(list(map(str, argv)))
    return code, capsys.readouterr().err


def test_stylize_writes_png(files, capsys):
    out = files / "out.png"
    code, err = _run(
        capsys,
        "stylize",
        files / "c.png",
        files / "s1.png",
        files / "s2.png",
        "-o",
        out,
        "--weights",
        "1",
        "3",
        "--alpha",
        "0.7",
        "--size",
        "40",
        "--checkpoint",
        files / "adain_instance.safetensors",
        "--preserve-color",
    )
    assert code == 0, err
    assert Image.open(out).size == (40, 30)
    from models.common.settings import read_png_settings

    st = read_png_settings(out)  # the settings travel with the picture...
    assert (st["command"], st["alpha"], st["weights"], st["size"], st["norm"]) == (
        "stylize",
        0.7,
        [1.0, 3.0],
        40,
        "instance",
    )
    assert st["content"] == "c.png" and st["preserve_color"] == "covariance"
    again = files / "again.png"  # ...and re-run into the same picture
    code, err = _run(capsys, "stylize", "--from-png", out, "-o", again)
    assert code == 0, err
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(again)))


def test_stylize_with_mask(files, capsys):
    out = files / "mask_out.png"
    code, err = _run(
        capsys,
        "stylize",
        files / "c.png",
        files / "s1.png",
        files / "s2.png",
        "-o",
        out,
        "--mask",
        files / "m.png",
        "--size",
        "0",
        "--checkpoint",
        files / "adain_instance.safetensors",
    )
    assert code == 0, err
    assert Image.open(out).size == (32, 24)


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--alpha", "1.5"], "--alpha must be in [0, 1]"),
        (["--weights", "1", "2"], "one weight per style"),
        (["--mask", "MASK"], "exactly 2 styles"),
        (["--norm", "syncbatch"], "available"),
        (["--size", "3"], "--size"),
    ],
)
def test_bad_input_exits_2_with_one_line(files, capsys, extra, needle):
    extra = [str(files / "m.png") if e == "MASK" else e for e in extra]
    argv = ["stylize", files / "c.png", files / "s1.png", "-o", files / "x.png", *extra]
    if "--norm" not in extra:
        argv += ["--checkpoint", files / "adain_instance.safetensors"]
    code, err = _run(capsys, *argv)
    assert code == 2
    assert err.startswith("error: ") and needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_unreadable_image_and_bad_output(files, capsys):
    code, err = _run(
        capsys,
        "stylize",
        files / "bad.png",
        files / "s1.png",
        "-o",
        files / "x.png",
        "--checkpoint",
        files / "adain_instance.safetensors",
    )
    assert code == 2 and err.startswith("error: ") and "bad.png" in err
    code, err = _run(capsys, "stylize", files / "c.png", files / "s1.png", "-o", files / "x.gif")
    assert code == 2 and ".png" in err
    code, err = _run(
        capsys, "stylize", files / "c.png", files / "s1.png", "-o", files / "x.png", "--checkpoint", files / "c.png"
    )
    assert code == 2 and err.startswith("error: ")


def test_data_starter_reports_counts(tmp_path, capsys, monkeypatch):
    import models.adain.starter as sd

    monkeypatch.setattr(sd, "OPENCV_DIR", tmp_path / "none")
    monkeypatch.setattr(sd, "GCOMPRIS_RCC", tmp_path / "none.rcc")
    monkeypatch.setattr(sd, "PY_IMAGES", ())
    code = main(["data", "starter", "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 2 and "apt-get install opencv-doc" in captured.err


def _fake_sources(monkeypatch, tmp_path, skip: bool):
    import models.adain.starter as sd
    from PIL import Image

    def fake_iter(log):
        if skip:
            log("skip opencv-doc: not found (apt-get install opencv-doc)")
        yield sd.StarterImage("content", "test", "photo", "CC0", lambda: Image.new("RGB", (80, 64), (10, 200, 30)))
        yield sd.StarterImage("style", "test", "paint", "CC0", lambda: Image.new("RGB", (64, 80), (200, 10, 30)))

    monkeypatch.setattr(sd, "_iter_sources", fake_iter)


def test_data_starter_suggests_sources_only_when_one_was_missing(tmp_path, capsys, monkeypatch):
    _fake_sources(monkeypatch, tmp_path, skip=True)
    assert main(["data", "starter", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "wrote 1 content and 1 style images" in out and "more images:" in out

    _fake_sources(monkeypatch, tmp_path, skip=False)
    assert main(["data", "starter", "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "more images:" not in out and "every known source was found" in out


def test_a_content_folder_is_stylized_into_an_output_folder_and_a_bad_file_does_not_stop_it(files, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes((files / "c.png").read_bytes())
    (folder / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "styled"  # created (its parent exists)
    code = main(
        [
            "stylize",
            str(folder),
            str(files / "s1.png"),
            "-o",
            str(out),
            "--checkpoint",
            str(files / "adain_instance.safetensors"),
            "--size",
            "32",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "wrote 2 of 3 images" in err and "broken.jpg" in err  # one bad file: reported, exit 1
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert Image.open(out / "a.png").size == (32, 24)
    from models.common.settings import read_png_settings

    assert read_png_settings(out / "b.png")["argv"][1] == str(folder / "b.png")  # each remembers its own photo
    code = main(
        [
            "stylize",
            str(folder),
            str(files / "s1.png"),
            "-o",
            str(tmp_path / "x.png"),
            "--checkpoint",
            str(files / "adain_instance.safetensors"),
        ]
    )
    assert code == 2 and "-o must be an output folder" in capsys.readouterr().err
