"""python -m models.spade.spread: the side-by-side seed spread table (tiny generators, 32 px)."""

import pytest

from models.spade import spread
from tests.models.spade.conftest import crop_checkpoint


def test_load_takes_a_seed_looks_suffix_without_changing_the_file(tmp_path):
    path = crop_checkpoint(tmp_path / "g.safetensors")
    label, syn = spread.load(f"{path}:renderer")
    assert label == f"{tmp_path}/g (renderer)" and syn.config.seed_looks == "renderer"
    label, syn = spread.load(str(path))
    assert label == f"{tmp_path}/g (prior)" and syn.config.seed_looks == "prior"
    label, syn = spread.load(f"{path}:renderer@0.5")
    assert label == f"{tmp_path}/g (renderer @0.5)" and syn.config.look_match == 0.5
    with pytest.raises(ValueError, match="must be a number, got 'x'"):
        spread.load(f"{path}:renderer@x")


def test_the_table_has_the_floor_and_every_generator_and_a_seedless_one_scores_worst(tmp_path, capsys):
    path = crop_checkpoint(tmp_path / "g.safetensors")
    synths = [spread.load(f"{path}:renderer"), spread.load(f"{path}:prior")]
    table = spread.spread_table(synths, "procedural", layouts=1, sets=1, size=32, log=lambda m: None)
    r, p = (f"{tmp_path}/g (renderer)", f"{tmp_path}/g (prior)")
    assert list(table) == ["renders (16 other looks: the floor)", r, p]
    floor = table["renders (16 other looks: the floor)"]
    assert floor[2] > 5 and floor[0] > 0  # renders differ; 16 of them are not the 64 reference looks
    for fd, se, diff in table.values():
        assert fd >= 0 and se == 0  # one spread per row: no spread of spreads
    # an untrained generator paints neither the renders' colours nor their spread
    assert table[p][0] > 3 * floor[0]
    with pytest.raises(ValueError, match="each generator once"):
        spread.spread_table(synths[:1] * 2, "procedural", layouts=1, sets=1, size=32)
    assert spread.main([str(path), "--kinds", "painted", "--layouts", "1", "--sets", "1", "--size", "32"]) == 0
    out = capsys.readouterr().out
    assert "| painted | renders (16 other looks: the floor) |" in out and f"| painted | {p} |" in out


@pytest.mark.parametrize("argv", [["nope.safetensors"], ["x.safetensors", "--layouts", "0"]])
def test_bad_arguments_exit_2_with_a_message(argv, capsys):
    assert spread.main(argv) == 2
    assert capsys.readouterr().err.startswith("error: ")
