"""Where things live on disk. Every location can be moved with an environment variable.

- ``FER_CACHE_DIR``: generated synthetic datasets and pre-processed array caches
  (default ``<repo>/.cache``, git-ignored).
- ``FER_ARTIFACTS_DIR``: the shipped model (``pretrained/``) and user runs (``runs/``)
  (default ``<repo>/artifacts``).
- ``FER_RUNS_DIR``: user runs only (default ``<artifacts>/runs``, git-ignored).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _dir(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser().resolve() if value else default


def cache_dir() -> Path:
    return _dir("FER_CACHE_DIR", REPO_ROOT / ".cache")


def artifacts_dir() -> Path:
    return _dir("FER_ARTIFACTS_DIR", REPO_ROOT / "artifacts")


def runs_dir() -> Path:
    return _dir("FER_RUNS_DIR", artifacts_dir() / "runs")


def pretrained_dir() -> Path:
    return artifacts_dir() / "pretrained"
