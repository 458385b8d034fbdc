"""Shared test settings: deterministic, quiet, CPU-sized."""
import os
import warnings

import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
warnings.filterwarnings("ignore", message=".*LeafSpec.*")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
