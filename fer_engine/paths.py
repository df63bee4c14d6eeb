"""Where things live on disk. Every location can be moved with an environment variable.

- ``FER_CACHE_DIR``: generated synthetic datasets, unpacked uploads, pre-processed array
  caches, training jobs and logs (default ``$XDG_CACHE_HOME/fer_engine/cache``, that is
  ``~/.cache/fer_engine/cache``: outside the repository, so ``streamlit run``, which watches
  the repository's folders, is not flooded with the cache's file events).
- ``FER_ARTIFACTS_DIR``: the shipped model (``pretrained/``) and user runs (``runs/``)
  (default ``<repo>/artifacts``).
- ``FER_RUNS_DIR``: user runs only (default ``<artifacts>/runs``, git-ignored).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def shown(path: str | Path) -> str:
    """``path`` as shipped text writes it (a model card's commands): relative to the
    repository root where it lies in the repository or beside it
    (``../shared/datasets/fer2013``), so no machine's folder layout is published; any other
    path as given."""
    p = Path(path)
    if not p.is_absolute():
        return str(path)
    p = p.resolve()
    for base, prefix in ((REPO_ROOT, ""), (REPO_ROOT.parent, "../")):
        if p.is_relative_to(base):
            return prefix + (p.relative_to(base).as_posix() or ".")
    return str(path)


def _dir(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser().resolve() if value else default


def user_cache_root() -> Path:
    """The user's cache folder: ``$XDG_CACHE_HOME`` when it is an absolute path, else
    ``~/.cache``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"


def cache_dir() -> Path:
    return _dir("FER_CACHE_DIR", user_cache_root() / "fer_engine" / "cache")


def artifacts_dir() -> Path:
    return _dir("FER_ARTIFACTS_DIR", REPO_ROOT / "artifacts")


def runs_dir() -> Path:
    return _dir("FER_RUNS_DIR", artifacts_dir() / "runs")


def pretrained_dir() -> Path:
    return artifacts_dir() / "pretrained"
