"""The dispatchers: `normlab`, `train.py`, `python -m models.eval|bench` route and fail cleanly."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import train
from app import cli


def test_normlab_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    assert "usage: normlab" in capsys.readouterr().out


def test_normlab_without_command_prints_help(capsys):
    assert cli.main([]) == 0
    assert "COMMAND" in capsys.readouterr().out


def test_train_unknown_model(capsys):
    assert train.main(["gan"]) == 2
    assert "unknown model 'gan'; choose one of: adain, spade" in capsys.readouterr().err


def test_console_script_is_installed():
    """The `normlab` entry point that pip installed next to this interpreter (not `python -m app.cli`)."""
    script = Path(sys.executable).with_name("normlab")
    assert script.is_file(), f"{script} is missing: the package is not installed (pip install -e .)"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "usage: normlab" in out.stdout and "checkpoints" in out.stdout
    out = subprocess.run([str(script), "checkpoints", "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and json.loads(out.stdout)


def test_python_dash_m_app_cli_still_works():
    out = subprocess.run([sys.executable, "-m", "app.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "usage: normlab" in out.stdout


@pytest.mark.parametrize("module", ["models.eval", "models.bench"])
def test_eval_bench_dispatch_rejects_unknown(module):
    out = subprocess.run([sys.executable, "-m", module, "nope"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "choose one of: adain, spade" in out.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["synthesize", "missing.png", "-o", "out.png"],
        ["synthesize", "missing.png", "-o", "out.png", "--background", "lava"],
        ["stylize", "missing.jpg", "style.jpg", "-o", "out.png"],
        ["stylize", "a.jpg", "b.jpg", "-o", "out.txt"],
        ["checkpoints", "--assets", "no/such/folder"],
    ],
)
def test_argument_and_file_errors_come_before_torch_is_imported(argv, tmp_path):
    code = "import sys; from app.cli import main; rc = main(sys.argv[1:]); print('torch' in sys.modules); sys.exit(rc)"
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.startswith("error: "), out.stderr
    assert out.stdout.strip() == "False"  # no torch: the error costs a fraction of a second, not 3-7 s
