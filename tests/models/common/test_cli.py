"""models.common.cli: the shared `error:` line and the dispatcher behind train.py / models.eval / models.bench."""

import sys
import types

from models.common.cli import dispatch, user_error


def test_user_error_prints_one_line_and_returns_2(capsys):
    assert user_error("bad thing") == 2
    assert capsys.readouterr().err == "error: bad thing\n"


def test_dispatch_runs_the_target_and_turns_argparse_exits_into_codes(monkeypatch, capsys):
    calls = []
    fake = types.ModuleType("fake_target")
    fake.main = lambda argv: calls.append(argv) or 7
    exits = types.ModuleType("exiting_target")

    def exiting(argv):
        raise SystemExit(2)

    exits.main = exiting
    monkeypatch.setitem(sys.modules, "fake_target", fake)
    monkeypatch.setitem(sys.modules, "exiting_target", exits)
    targets = {"a": "fake_target", "b": "exiting_target"}
    assert dispatch("prog", targets, ["a", "--x", "1"]) == 7 and calls == [["--x", "1"]]
    assert dispatch("prog", targets, ["b"]) == 2
    assert dispatch("prog", targets, ["c"]) == 2
    assert "unknown model 'c'; choose one of: a, b" in capsys.readouterr().err
    assert dispatch("prog", targets, []) == 2 and dispatch("prog", targets, ["--help"]) == 0


def test_the_model_tools_show_each_default_once():
    import re

    from models.adain.bench import build_parser as adain_bench
    from models.adain.eval import build_parser as adain_eval
    from models.spade.eval import build_parser as spade_eval

    for build in (adain_bench, adain_eval, spade_eval):
        text = build().format_help()
        assert "(default: None)" not in text
        for para in re.split(r"\n(?=  -)", text):  # one option's help
            assert para.count("default") <= 1 + para.count("defaults"), para
