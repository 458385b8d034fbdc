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
