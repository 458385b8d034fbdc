"""Shared test settings: deterministic, quiet, CPU-sized."""

import os
import warnings

import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

# `make test` runs the suite in several pytest-xdist workers: each gets its share of the cores (and so do the
# processes it starts), since workers with a thread per core each would stall one another in OpenMP barriers
if os.environ.get("PYTEST_XDIST_WORKER"):
    _share = max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    torch.set_num_threads(_share)
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))
warnings.filterwarnings("ignore", message=".*LeafSpec.*")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _private_models_folder(tmp_path_factory, monkeypatch) -> None:
    """Trained exports go to the user's models folder: point it at a fresh folder so no test reads or writes the
    real ~/.local/share/normlab/models (tests that need their own set NORMLAB_MODELS again)."""
    monkeypatch.setenv("NORMLAB_MODELS", str(tmp_path_factory.mktemp("normlab_models")))


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's tiny-tensor tests on one thread: avoids OpenMP barrier stalls on a shared CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
