"""Where checkpoints live and how they are found: the one scan of ``assets/`` (no torch, so it is cheap to import).

Two folders:

* **bundled** — the repository's ``assets/`` (``$NORMLAB_ASSETS`` points the app and the command line at another):
  the shipped weights, read-only for training. Their checkpoints are named by normalizer (``group``).
* **yours** — :func:`models_dir`, ``$NORMLAB_MODELS`` or ``$XDG_DATA_HOME/normlab/models``
  (``~/.local/share/normlab/models``): where ``train.py`` exports by default. The CLI and the app scan it too and
  name its checkpoints ``my-<norm>`` (``my-group``), so a fresh 1-step run never hides or replaces a shipped one.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ASSETS_DIR",
    "DEFAULT_NORMS",
    "MINE_PREFIX",
    "NORM_ORDER",
    "CheckpointError",
    "CheckpointInfo",
    "assets_dir",
    "available_checkpoints",
    "models_dir",
    "checkpoint_for",
    "default_norm",
    "describe_checkpoint",
    "header_metadata",
    "list_checkpoints",
]

KINDS = ("adain", "spade")

# The normalizer each model uses when none is named: its best shipped checkpoint (the model cards say why; SPADE's
# crop generator with batch norm won an equal-time comparison of four norms, docs/spade.md).
DEFAULT_NORMS = {"adain": "instance", "spade": "batch"}
# Menu order after the default, and the fallback when a folder lacks the default's file.
NORM_ORDER = ("instance", "batch", "group", "layer", "online", "proxy", "none")

REPO_ASSETS = Path(__file__).resolve().parents[2] / "assets"


def assets_dir() -> Path:
    """``$NORMLAB_ASSETS`` when set, else the repository's ``assets/`` (read at call time)."""
    env = os.environ.get("NORMLAB_ASSETS")
    return Path(env) if env else REPO_ASSETS


ASSETS_DIR = assets_dir()  # the folder at import time; functions below re-read the environment

MINE_PREFIX = "my-"  # names of the checkpoints in the user's models folder: my-group


def models_dir() -> Path:
    """The user's models folder (trained exports): ``$NORMLAB_MODELS``, else ``$XDG_DATA_HOME/normlab/models``
    (``~/.local/share/normlab/models``); read at call time."""
    env = os.environ.get("NORMLAB_MODELS")
    if env:
        return Path(env)
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "normlab" / "models"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or not a normlab checkpoint of the expected kind."""


def _scan(kind: str, folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    prefix = f"{kind}_"
    return dict(sorted((p.stem[len(prefix) :], p) for p in folder.glob(f"{prefix}*.safetensors")))


def available_checkpoints(kind: str, folder: str | os.PathLike | None = None, mine: bool = True) -> dict[str, Path]:
    """Checkpoints of ``kind`` by name: ``{folder}/{kind}_{norm}.safetensors`` -> ``{norm: path}`` (bundled; folder
    default :func:`assets_dir`), then, with ``mine``, the user's trained ones from :func:`models_dir` as
    ``{my-norm: path}``."""
    folder = Path(folder) if folder is not None else assets_dir()
    found = _scan(kind, folder)
    if mine:
        user = models_dir()
        if user.resolve() != folder.resolve():
            found |= {MINE_PREFIX + norm: path for norm, path in _scan(kind, user).items()}
    return found


def checkpoint_for(kind: str, norm: str, folder: str | os.PathLike | None = None) -> Path:
    """The checkpoint for ``norm``, or :class:`CheckpointError` listing the norms that have one."""
    folder = Path(folder) if folder is not None else assets_dir()
    found = available_checkpoints(kind, folder)
    if norm not in found:
        have = ", ".join(found) or "none"
        raise CheckpointError(
            f"no {kind} checkpoint for norm {norm!r} in {folder} or {models_dir()} (yours, named "
            f"{MINE_PREFIX}<norm>); available: {have}"
        )
    return found[norm]


def default_norm(kind: str, folder: str | os.PathLike | None = None) -> str:
    """``DEFAULT_NORMS[kind]`` when the folder has its file, else the first norm in :data:`NORM_ORDER` that has one.

    A folder with no checkpoint of the kind still gets ``DEFAULT_NORMS[kind]``, so that loading it raises the
    :class:`CheckpointError` that says what is missing.
    """
    found = available_checkpoints(kind, folder, mine=False)  # a bundled model when there is one
    want = DEFAULT_NORMS[kind]
    if want in found:
        return want
    if not found:
        return next(iter(available_checkpoints(kind, folder)), want)
    return min(found, key=lambda n: (NORM_ORDER.index(n) if n in NORM_ORDER else len(NORM_ORDER), n))


def header_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file, read from its JSON header (no torch, no tensor data read).

    The format: 8 bytes little-endian header length, then that many bytes of JSON.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > 100 * 2**20:
                raise ValueError("header too large")
            header = json.loads(f.read(length))
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint '{path}' does not exist") from None
    except (OSError, ValueError, struct.error) as exc:
        raise CheckpointError(f"'{path}' is not a readable safetensors checkpoint ({exc})") from None
    return dict(header.get("__metadata__") or {})


@dataclass
class CheckpointInfo:
    """What ``normlab checkpoints`` shows for one file (from its metadata and its model card)."""

    path: Path
    kind: str
    norm: str
    steps: str
    trained: str  # the card's "trained" line (steps, wall time, hardware), or ""
    evaluation: list[str]  # the card's PASS/FAIL lines and headline numbers, or []
    name: str = ""  # what --norm selects it by: the norm (bundled) or my-<norm> (the user's models folder)

    @property
    def total_steps(self) -> int | None:
        """All training steps behind the file: the card's "N steps in all" (a campaign of several parts), else its
        first step count, else the file's own counter (which counts the last part only)."""
        for pattern in (r"([\d,]+) steps in all", r"([\d,]+) steps"):
            m = re.search(pattern, self.trained)
            if m:
                return int(m.group(1).replace(",", ""))
        return int(self.steps) if str(self.steps).isdigit() else None

    @property
    def summary(self) -> str:
        """One short line: total steps, when, and how many of the card's targets pass."""
        date = re.search(r"\d{4}-\d{2}-\d{2}", self.trained)
        steps = self.total_steps
        parts = [f"{steps:,} steps" if steps is not None else "steps unknown"]
        if date:
            parts.append(date.group(0) if "in all" not in self.trained else f"last part {_last_date(self.trained)}")
        verdicts = [line for line in self.evaluation if line.endswith(("PASS", "FAIL"))]
        if verdicts:
            passed = sum(line.endswith("PASS") for line in verdicts)
            parts.append(f"held-out targets met: {passed}/{len(verdicts)}")
        return ", ".join(parts)


def _last_date(text: str) -> str:
    dates = re.findall(r"\d{4}-\d{2}-\d{2}", text)
    return max(dates) if dates else "?"


def describe_checkpoint(path: str | os.PathLike) -> CheckpointInfo:
    """Kind, normalizer and steps from the file's metadata; training time and eval verdicts from its card."""
    path = Path(path)
    meta = header_metadata(path)
    kind = meta.get("normlab_kind")
    if kind is None:
        raise CheckpointError(f"'{path}' is not a normlab checkpoint (no normlab metadata; foreign file?)")
    try:
        norm = str(json.loads(meta.get("normlab_config", "{}")).get("norm", "?"))
    except ValueError:
        norm = "?"
    card = path.with_suffix(".md")
    trained, evaluation = "", []
    if card.is_file():
        text = card.read_text(errors="replace")
        m = re.search(r"^- \*\*trained\*\*: (.+)$", text, flags=re.M)
        trained = m.group(1).strip() if m else ""
        section = re.search(r"^## Evaluation\s*$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
        if section:
            evaluation = [
                line[2:].strip()
                for line in section.group(1).splitlines()
                if line.startswith("- ") and re.search(r"PASS|FAIL|mIoU|ratio|distance", line)
            ]
    return CheckpointInfo(path, kind, norm, meta.get("normlab_steps", "?"), trained, evaluation)


def list_checkpoints(folder: str | os.PathLike | None = None) -> list[CheckpointInfo]:
    """Every ``{kind}_{norm}.safetensors`` in the folder (and the user's models folder), described; unreadable
    files are skipped."""
    found = []
    for kind in KINDS:
        for name, path in available_checkpoints(kind, folder).items():
            try:
                info = describe_checkpoint(path)
            except CheckpointError:
                continue
            info.name = name
            found.append(info)
    return found
