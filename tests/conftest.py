"""Shared test settings and fixtures.

Tests are hermetic by default: synthetic data, tiny epochs, random initialisation.
Tests that need ../shared/datasets skip with a clear reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# One worker: a training of several folds runs them in its own process instead of starting a
# local Ray for each (seconds and ~1.4 GB per training). The tests of the execution layer,
# the jobs and the session studies ask for Ray explicitly.
os.environ.setdefault("FER_WORKERS", "1")
# A training of the shipped model started by a test never touches the real working checkpoint.
os.environ["FER_PRETRAIN_DIR"] = str(Path(__file__).resolve().parents[1] / "test-output" / "pretrain")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FER_SHARED_DATASETS", REPO.parent / "shared" / "datasets"))
#: Where tests write screenshots and other things worth keeping after a run.
TEST_OUTPUT = Path(os.environ.get("FER_TEST_OUTPUT", REPO / "test-output"))


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED} (set FER_SHARED_DATASETS)")
    return SHARED


@pytest.fixture(scope="session")
def test_output() -> Path:
    TEST_OUTPUT.mkdir(parents=True, exist_ok=True)
    return TEST_OUTPUT
