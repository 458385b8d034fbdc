"""Mutation testing of the critical modules (`make mutate`): run mutmut, score each module, write docs/testing.md.

``python -m tools.mutate [--jobs 2] [--no-run]`` runs ``mutmut run`` with the ``[tool.mutmut]`` settings in
pyproject.toml (the modules in ``only_mutate``, each mutant tested by the tests among their own test files that
call the mutated function), then reads ``mutmut results --all true`` and prints, per module, the mutants killed
out of all, with the survivors that ``tools/equivalent_mutants.toml`` lists as equivalent (a change no test can
see, each with its one-line reason) left out of the score. The table replaces the generated part of
docs/testing.md. Exit status 1 when a module is under the target (85 %), or a listed equivalent is stale (it no
longer exists or is now killed: renumbered after an edit), so the list is kept honest.

Results are cached in ``mutants/`` (mutmut's folder, git-ignored): a re-run after an edit tests only the
functions that changed. mutmut keeps a cached "survived" when only the *tests* changed: ``--retest-survivors``
forgets those verdicts first, so new tests are tried on the old survivors. ``rm -rf mutants`` for a clean run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = ROOT / "tools" / "equivalent_mutants.toml"
DOC = ROOT / "docs" / "testing.md"
BEGIN, END = "<!-- mutate:begin (written by `make mutate`) -->", "<!-- mutate:end -->"
TARGET = 0.85
DETECTED = {"killed", "timeout", "caught by type check", "segfault"}  # the tests noticed the change
LINE = re.compile(r"^\s+(\S+): (.+)$")


@dataclass
class Score:
    """One module's mutants by verdict."""

    module: str
    statuses: Counter = field(default_factory=Counter)
    equivalent: int = 0

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def checked(self) -> int:
        """Mutants with a verdict (an interrupted run leaves the rest "not checked")."""
        return self.total - self.statuses.get("not checked", 0)

    @property
    def detected(self) -> int:
        return sum(n for s, n in self.statuses.items() if s in DETECTED)

    @property
    def complete(self) -> bool:
        """Every mutant has a verdict: only then can the target count as met."""
        return self.checked == self.total

    @property
    def met(self) -> bool:
        return self.complete and self.score >= TARGET

    @property
    def score(self) -> float:
        """Killed over the mutants that a test could kill (all but the listed equivalents)."""
        scored = self.checked - self.equivalent
        return self.detected / scored if scored else 1.0


def module_of(path: str) -> str:
    """``norms/online.py`` -> ``norms.online`` (mutmut's key prefix)."""
    return path.removesuffix(".py").replace("/", ".")


def parse_results(text: str) -> dict[str, str]:
    """``mutmut results --all true`` output -> ``{mutant key: status}``."""
    return {m.group(1): m.group(2).strip() for m in map(LINE.match, text.splitlines()) if m}


def load_equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
    """``{mutant key: reason}`` from the equivalents file (empty when there is none)."""
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text("utf-8"))
    return {str(k): str(v) for k, v in data.get("equivalent", {}).items()}


def score_modules(
    modules: list[str], results: dict[str, str], equivalents: dict[str, str]
) -> tuple[list[Score], list[str]]:
    """Per-module scores, and the equivalents that are stale (absent, or no longer surviving)."""
    scores = {m: Score(m) for m in modules}
    # longest module name first: `models.common.memory` must not be claimed by a shorter prefix
    by_length = sorted(modules, key=len, reverse=True)
    for key, status in results.items():
        owner = next((m for m in by_length if key.startswith(m + ".")), None)
        if owner is None:
            continue
        scores[owner].statuses[status] += 1
        if key in equivalents and status == "survived":
            scores[owner].equivalent += 1
    stale = [k for k in equivalents if results.get(k) != "survived"]
    return [scores[m] for m in modules], stale


def table(scores: list[Score], minutes: float | None, fresh: bool = False, jobs: int = 1) -> str:
    rows = [
        "| module | mutants | not run | killed | survived | equivalent (listed) | no tests | score | target 85 % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in scores:
        survived = s.statuses.get("survived", 0)
        untested = s.statuses.get("no tests", 0)
        verdict = "met" if s.met else ("**not met**" if s.complete else "**not run to the end**")
        if s.total == 0:
            rows.append(f"| `{s.module}` | 0 | - | - | - | - | - | - | (no code of its own) |")
            continue
        rows.append(
            f"| `{s.module}` | {s.total} | {s.total - s.checked} | {s.detected} | {survived - s.equivalent} | "
            f"{s.equivalent} | {untested} | "
            f"{100 * s.score:.1f} % | {verdict} |"
        )
    total = sum(s.total for s in scores)
    checked = sum(s.checked for s in scores)
    detected = sum(s.detected for s in scores)
    equivalent = sum(s.equivalent for s in scores)
    overall = 100 * detected / max(1, checked - equivalent)
    rows.append(f"| **all** | {total} | {total - checked} | {detected} | | {equivalent} | | {overall:.1f} % | |")
    if minutes is not None:
        rows.append("")
        how = "from scratch (no mutants/ cache)" if fresh else "re-using the verdicts cached in mutants/"
        rows.append(f"Run time: {minutes:.1f} min (`make mutate`, {jobs} at a time, {how}).")
    return "\n".join(rows)


def write_doc(body: str, doc: Path = DOC) -> None:
    """Replace the generated block of ``doc`` (append one when it has none)."""
    text = doc.read_text("utf-8") if doc.exists() else "# Testing\n"
    block = f"{BEGIN}\n{body}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(text, "utf-8")


def forget_survivors(folder: Path, keep: set[str] = frozenset()) -> int:
    """Clear the cached "survived" and "no tests" verdicts (mutmut's exit codes 0, 5 and 33) in its ``*.meta`` files
    under ``folder``, except the names in ``keep`` (listed equivalents): the next ``mutmut run`` tests them again.
    Returns how many."""
    forgotten = 0
    for meta in sorted(folder.rglob("*.meta")):
        data = json.loads(meta.read_text("utf-8"))
        codes = data.get("exit_code_by_key", {})
        names = [k for k, code in codes.items() if code in (0, 5, 33) and k not in keep]
        for k in names:
            codes[k] = None
        if names:
            meta.write_text(json.dumps(data, indent=4), "utf-8")
            forgotten += len(names)
    return forgotten


def mutmut(*args: str, capture: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The venv's ``mutmut`` in the repository root (``capture=False`` shows its progress live)."""
    exe = Path(sys.executable).with_name("mutmut")
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=capture, text=True, env=env)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.mutate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="mutants tested at once (default: cores)")
    ap.add_argument("--no-run", action="store_true", help="only score the results already in mutants/")
    ap.add_argument("--no-doc", action="store_true", help="print the table without writing docs/testing.md")
    ap.add_argument(
        "--retest-survivors",
        action="store_true",
        help="test the cached survivors and untested mutants again (after adding tests: mutmut itself re-tests only "
        "functions whose code changed)",
    )
    args = ap.parse_args(argv)
    if args.retest_survivors and not args.no_run:
        n = forget_survivors(ROOT / "mutants", keep=set(load_equivalents()))
        print(f"{n} cached survivors will be tested again", flush=True)

    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["mutmut"]
    modules = [module_of(p) for p in config["only_mutate"]]
    minutes, fresh = None, not (ROOT / "mutants").is_dir()
    if not args.no_run:
        print(f"mutmut run over {len(modules)} modules, {args.jobs} at a time (progress below) ...", flush=True)
        start = time.monotonic()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread per mutant: the jobs share the cores
        run = mutmut("run", "--max-children", str(args.jobs), capture=False, env=env)
        minutes = (time.monotonic() - start) / 60
        if run.returncode != 0:
            print(f"mutmut run failed (exit {run.returncode}); see its output above", file=sys.stderr)
            return run.returncode
    listed = mutmut("results", "--all", "true")
    if listed.returncode != 0:
        print(listed.stderr or listed.stdout, file=sys.stderr)
        return listed.returncode
    results = parse_results(listed.stdout)
    if not results:
        print("no mutmut results in mutants/: run without --no-run first", file=sys.stderr)
        return 1
    equivalents = load_equivalents()
    scores, stale = score_modules(modules, results, equivalents)
    body = table(scores, minutes, fresh, args.jobs)
    print(body)
    if not args.no_doc:
        write_doc(body)
        print(f"\nwritten to {DOC.relative_to(ROOT)}")
    survivors = [k for k, s in results.items() if s == "survived" and k not in equivalents]
    if survivors:
        print(f"\n{len(survivors)} surviving mutants (`mutmut show NAME` for the diff):")
        for k in survivors:
            print("  ", k)
    for k in stale:
        print(f"stale entry in {EQUIVALENTS.name}: {k} is {results.get(k, 'absent')} (renumbered after an edit?)")
    low = [s.module for s in scores if s.total and not s.met]
    if low:
        print(f"under the {TARGET:.0%} target: {', '.join(low)}", file=sys.stderr)
    return 1 if low or stale else 0


if __name__ == "__main__":
    sys.exit(main())
