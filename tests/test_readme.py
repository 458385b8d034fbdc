"""The README's commands work as written: the cheap ones are run, every other one uses only flags its --help lists.

Run: `normlab stylize ...` and `normlab stylize-video ...` (the file names mapped to the bundled examples),
`normlab checkpoints`, `normlab classes`.
Checked against --help: training, evaluation, benchmarks, the app and the data builder (too slow, or they start a
server, to run here). A README edit that renames a flag or a file fails here.
"""

from __future__ import annotations

import io
import re
import runpy
import shlex
import subprocess
import sys
import warnings
from contextlib import redirect_stdout
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "assets" / "examples"


def shell_blocks(text: str) -> list[str]:
    """The bodies of the fenced blocks marked ``bash``/``sh`` or unmarked (a fence opens and closes on its own line)."""
    blocks, body, lang = [], None, ""
    for line in text.splitlines():
        if line.startswith("```"):
            if body is None:
                body, lang = [], line[3:].strip()
            else:
                if lang in ("", "bash", "sh"):
                    blocks.append("\n".join(body))
                body = None
        elif body is not None:
            body.append(line)
    return blocks


def readme_commands() -> list[str]:
    """Every command line of the README's shell blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in shell_blocks((ROOT / "README.md").read_text()):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #")[0].split("# ")[0].strip() if not line.lstrip().startswith("#") else ""
            if line:
                commands.append(line)
    return commands


def _argv(command: str) -> list[str]:
    """A command's words, without the README's ``...`` placeholders (the flags around them are still checked)."""
    return [w for w in shlex.split(command.strip()) if w != "..."]


def _prefix(argv: list[str]) -> tuple[str, ...]:
    """The command without its options and file arguments: what ``--help`` is asked of."""
    if argv[:2] == ["python", "-m"]:
        head = argv[:3]
        rest = argv[3:]
    elif argv[:2] == ["python", "train.py"] or argv[0] == "normlab":
        head, rest = argv[:1] if argv[0] == "normlab" else argv[:2], argv[1:] if argv[0] == "normlab" else argv[2:]
    else:
        return tuple(argv[:1])
    sub = []
    for w in rest[:2]:  # subcommands (``data build``) are bare words; files have a dot or a slash
        if not re.fullmatch(r"[a-z][a-z-]*", w):
            break
        sub.append(w)
    if head[-1] in ("app", "norms.bench"):
        sub = []
    return tuple(head + sub)


@cache
def _help(prefix: tuple[str, ...]) -> str:
    """``--help`` of a README command, run in this process (a subprocess per command cost ~50 s of suite time)."""
    argv = list(prefix)
    if argv[0] == "normlab":
        run, args = (lambda: runpy.run_module("app.cli", run_name="__main__", alter_sys=True)), argv[1:]
    elif argv[1] == "-m":
        run, args = (lambda: runpy.run_module(argv[2], run_name="__main__", alter_sys=True)), argv[3:]
    else:
        run, args = (lambda: runpy.run_path(str(ROOT / argv[1]), run_name="__main__")), argv[2:]
    out, saved = io.StringIO(), sys.argv
    sys.argv = [argv[0], *args, "--help"]
    try:
        with redirect_stdout(out), pytest.raises(SystemExit) as done, warnings.catch_warnings():
            # runpy's note that the module was imported before (by other tests): true and harmless here
            warnings.filterwarnings("ignore", ".*found in sys.modules after import", RuntimeWarning)
            run()
    finally:
        sys.argv = saved
    assert done.value.code in (0, None), f"{' '.join(prefix)} --help failed with {done.value.code}"
    return out.getvalue()


def unwrap_launcher(command: str) -> tuple[list[str], str]:
    """``(torchrun's own words, the python command it launches)``: the README's multi-node lines put environment
    variables, ``srun`` or ``torchrun [its options]`` before ``train.py``; what follows is checked like any other
    ``python train.py`` line, torchrun's options against ``torchrun --help``."""
    words = shlex.split(command)
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
        words = words[1:]  # VAR=value prefixes
    if words[:1] == ["srun"]:
        words = words[1:]
    if words[:1] == ["torchrun"]:
        script = next(i for i, w in enumerate(words) if w.endswith(".py"))
        return words[1:script], shlex.join(["python", *words[script:]])
    return [], shlex.join(words)


# every `&&` segment of every line is a command of its own
SEGMENTS = [seg.strip() for c in readme_commands() for seg in c.split("&&") if seg.strip()]
LAUNCHED = [unwrap_launcher(c) for c in SEGMENTS if re.match(r"(torchrun|srun|[A-Z_]+=)", c)]
CHECKED = [c for c in SEGMENTS if c.split()[0] in ("python", "normlab") and not c.startswith("python -m app --share")]
CHECKED += [c for _, c in LAUNCHED]


def test_the_multi_node_lines_are_unwrapped_and_their_launcher_options_exist():
    assert ["--nnodes", "2"] == unwrap_launcher("torchrun --nnodes 2 train.py adain --norm x")[0]
    assert unwrap_launcher("A=1 B_2=x srun python train.py spade")[1] == "python train.py spade"
    torchrun = [words for words, _ in LAUNCHED if words]
    assert torchrun, "the README lost its torchrun line"
    text = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--help"], capture_output=True, text=True, timeout=120
    ).stdout
    for flag in (w for words in torchrun for w in words if w.startswith("--")):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text), f"torchrun has no option {flag}"


MAKE = [c for c in SEGMENTS if c.split()[0] == "make"]


@pytest.mark.parametrize("command", MAKE)
def test_every_make_target_of_the_readme_exists(command):
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", (ROOT / "Makefile").read_text(), flags=re.M))
    for target in command.split()[1:]:
        if not target.startswith("-") and "=" not in target:
            assert target in targets, f"make {target}: no such target in the Makefile"


def test_the_readme_has_the_commands_this_test_knows():
    prefixes = {_prefix(_argv(c)) for c in CHECKED}
    assert ("python", "train.py", "adain") in prefixes and ("normlab", "stylize") in prefixes
    assert ("normlab", "checkpoints") in prefixes and ("python", "-m", "app") in prefixes
    assert ("python", "train.py", "spade") in prefixes and ("normlab", "synthesize") in prefixes


def test_shell_blocks_are_the_bash_and_unmarked_fences_only():
    text = "a\n```bash\nmake app\n```\n```python\nimport x\n```\n```\nnormlab classes\n```\n`inline` ``` x\n"
    assert shell_blocks(text) == ["make app", "normlab classes"]


@pytest.mark.slow
@pytest.mark.parametrize("command", CHECKED)
def test_every_flag_of_a_readme_command_is_in_its_help(command):
    argv = _argv(command)
    text = _help(_prefix(argv))
    for flag in (w.split("=")[0] for w in argv if w.startswith("--")):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text), f"{flag} is not an option of: {command}"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """The files the README's stylize lines name, made from the bundled examples."""
    d = tmp_path_factory.mktemp("readme")
    for name, src in (
        ("photo.jpg", "chelsea.jpg"),
        ("starry.jpg", "starry_night.jpg"),
        ("a.jpg", "great_wave.jpg"),
        ("b.jpg", "kandinsky_composition_viii.jpg"),
    ):
        (d / name).write_bytes((EXAMPLES / src).read_bytes())
    w, h = Image.open(EXAMPLES / "chelsea.jpg").size
    sky = np.zeros((h, w), np.uint8)
    sky[: h // 2] = 255
    Image.fromarray(sky).save(d / "sky.png")
    (d / "photos").mkdir()
    for name in ("coffee.jpg", "rocket.jpg"):
        (d / "photos" / name).write_bytes((EXAMPLES / name).read_bytes())
    from models.adain.clips import clip_frames, write_clip  # a short pan over the photo, for `stylize-video`

    write_clip(
        d / "clip.mp4",
        clip_frames([np.asarray(Image.open(EXAMPLES / "chelsea.jpg"), np.float32)], "pan", (96, 64), frames=6),
    )
    return d


RUN = [
    c for c in CHECKED if c.startswith(("normlab stylize", "normlab checkpoints", "normlab classes")) and "..." not in c
]


@pytest.mark.slow
@pytest.mark.parametrize("command", RUN)
def test_cheap_readme_commands_run_as_written(command, workdir, monkeypatch, capsys):
    from app import cli

    argv = _argv(command)[1:]
    if argv[0] == "stylize" and "--size" not in argv:
        argv += ["--size", "128"]  # the only change: a small output keeps the suite fast (the size flag is tested)
    monkeypatch.chdir(workdir)
    assert cli.main(argv) == 0, capsys.readouterr().err
    out = workdir / argv[argv.index("-o") + 1] if "-o" in argv else None
    if out is not None:
        assert out.exists() and (out.is_file() or any(out.iterdir()))
        if out.is_file() and argv[0] == "stylize" and "--from-png" not in argv:
            size = int(argv[len(argv) - 1 - argv[::-1].index("--size") + 1])  # the last --size given
            if size:  # 0 keeps the content's size
                assert max(Image.open(out).size) == size  # the long side is the --size asked for
