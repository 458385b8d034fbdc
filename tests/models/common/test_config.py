"""models.common.config: flags generated from config dataclasses, each default written (and shown) once."""

import argparse
from dataclasses import dataclass
from pathlib import Path

import pytest

from models.adain.net import AdaINConfig
from models.common.cli import ArgumentParser
from models.common.config import add_config_args, config_from_args, export_arg, norm_arg, option
from models.common.training import LoopConfig
from models.spade.discriminator import DiscConfig
from models.spade.generator import GenConfig


@dataclass
class _Demo:
    dirs: list[Path] = option(help="input folders", nargs="+", required=True)
    size: int = option(256, "crop size")
    limit: int | None = option(None, "optional cap", default_text="no cap")
    use_vae: bool = option(True, "turn the encoder off", flag="--no-vae")
    fast: bool = option(False, "take shortcuts")
    norm: str = option("instance", "a normalizer", type=norm_arg)
    other_norm: str = option("instance", "another one", flag="--d-norm", dest="d_norm", type=norm_arg)
    note: list[str] = option([], "repeatable", action="append")
    hidden: float = 1.5  # no option(): not a flag


def _parser(**defaults) -> ArgumentParser:
    p = ArgumentParser(prog="demo")
    add_config_args(p, _Demo, defaults=defaults)
    return p


def test_round_trip_types_and_defaults():
    cfg = config_from_args(
        _Demo,
        _parser().parse_args(
            ["--dirs", "a", "b", "--size", "64", "--no-vae", "--fast", "--norm", "GN", "--note", "x", "--note", "y"]
        ),
    )
    assert cfg == _Demo(
        dirs=[Path("a"), Path("b")],
        size=64,
        limit=None,
        use_vae=False,
        fast=True,
        norm="group",
        other_norm="instance",
        note=["x", "y"],
    )
    plain = config_from_args(_Demo, _parser().parse_args(["--dirs", "a"]))
    assert plain.use_vae is True and plain.fast is False and plain.note == [] and plain.hidden == 1.5
    assert config_from_args(_Demo, _parser(size=32).parse_args(["--dirs", "a"])).size == 32  # per-command default


def test_each_default_is_shown_exactly_once():
    text = _parser().format_help()
    assert text.count("(default: 256)") == 1 and "(default: no cap)" in text
    assert "default: None" not in text and "--hidden" not in text
    # the real trainers: no flag shows its default twice
    for cls in (AdaINConfig, GenConfig, DiscConfig, LoopConfig):
        p = argparse.ArgumentParser()
        add_config_args(p, cls)
        for action in p._actions:
            assert (action.help or "").count("default") <= 1, action.option_strings


def test_bad_norm_is_refused_at_the_edge_with_the_valid_names(capsys):
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["--dirs", "a", "--d-norm", "bogus"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument --d-norm: unknown normalizer 'bogus'; valid names: batch, group")
    assert err.count("\n") == 1  # one line, no usage block


def test_export_arg():
    assert export_arg("None") == "none" and export_arg("x/y.safetensors") == Path("x/y.safetensors")
