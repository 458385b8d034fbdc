"""The dependency rules of the layout (README, "Project layout"), checked on the source: a move that breaks one
fails here instead of in a code review."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("norms", "models", "app")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


FILES = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _importers(prefix: str) -> set[str]:
    return {m for m, p in FILES.items() if any(i == prefix or i.startswith(prefix + ".") for i in _imports(p))}


def test_norms_imports_only_torch_and_the_standard_library():
    allowed = {"torch", "norms", "__future__"} | set(sys.stdlib_module_names)
    for name, path in FILES.items():
        if name.startswith("norms"):
            bad = {i for i in _imports(path) if i.split(".")[0] not in allowed}
            assert not bad, f"{name} imports {bad}"


def test_adain_and_spade_never_import_each_other():
    assert not {m for m in _importers("models.spade") if m.startswith("models.adain")}
    assert not {m for m in _importers("models.adain") if m.startswith("models.spade")}


def test_lightning_only_in_the_shared_training_module_and_the_trainers():
    assert _importers("lightning") <= {"models.common.training", "models.adain.train", "models.spade.train"}


def test_gradio_only_in_the_web_ui():
    assert {m for m in _importers("gradio")} <= {m for m in FILES if m.startswith("app.web")}


def test_the_app_imports_no_trainer():
    trainers = ("models.common.training", "models.adain.train", "models.spade.train", "lightning")
    for name, path in FILES.items():
        if name.startswith("app"):
            bad = {i for i in _imports(path) if i.startswith(trainers)}
            assert not bad, f"{name} imports {bad}"


def test_no_import_cycle_among_module_level_imports():
    graph = {m: {i for i in _imports(p, top_level_only=True) if i in FILES and i != m} for m, p in FILES.items()}
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for dep in graph[m]:
            if dep.startswith(m + "."):  # a package importing its own submodule is not a cycle
                continue
            if state.get(dep) == 1:
                pytest.fail(
                    "import cycle: " + " -> ".join(stack[stack.index(dep) :] + [dep])
                    if dep in stack
                    else f"import cycle through {dep}"
                )
            if dep not in state:
                visit(dep, stack + [dep])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


def test_at_most_four_modules_directly_in_models():
    assert len(list((ROOT / "models").glob("*.py"))) <= 4


# imported by the package but deliberately not in [project] dependencies, and why
UNDECLARED_OK = {
    "scipy": "optional: models/landscape/classes.py falls back to NumPy when it is missing",
    "fastapi": "Gradio's own web server: a Gradio install always has it, and only app/web (with Gradio) imports it",
}


def test_every_third_party_import_is_a_declared_dependency():
    """`pip install .` on a fresh machine must bring every module the package imports; one that only arrives as
    another package's dependency (tqdm via lightning) breaks the day that package drops it."""
    import re
    from importlib.metadata import packages_distributions

    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11 on")

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    declared = {re.split(r"[<>=!~\[ ;]", d)[0].lower().replace("_", "-") for d in deps}
    own = set(PACKAGES) | {"train", "tools"}
    paths = list(FILES.values()) + [ROOT / "train.py"]
    tops = {name.split(".")[0] for p in paths for name in _imports(p)}
    third_party = {m for m in tops if m not in sys.stdlib_module_names and m not in own}
    dists = packages_distributions()
    missing = {
        m: dists.get(m, ["not installed"])
        for m in third_party - set(UNDECLARED_OK)
        if not any(d.lower().replace("_", "-") in declared for d in dists.get(m, []))
    }
    assert not missing, f"imported but not in pyproject.toml's dependencies (module: distributions): {missing}"
