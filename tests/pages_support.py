"""Helpers of the AppTest page tests and browser tests (not a test module)."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[1]


_CACHE: Path | None = None


def shared_cache() -> Path:
    """One cache folder for all page tests of a pytest session, holding the default synthetic
    dataset (19 participants) and the small one (4): drawn once, thumbnails and pre-processed
    arrays reused. Removed when the session ends."""
    global _CACHE
    if _CACHE is None:
        import atexit
        import os
        import shutil
        import tempfile

        from fer_engine.data import synthetic

        _CACHE = Path(tempfile.mkdtemp(prefix="fer-pages-cache-"))
        atexit.register(shutil.rmtree, _CACHE, True)
        old = os.environ.get("FER_CACHE_DIR")
        os.environ["FER_CACHE_DIR"] = str(_CACHE)
        try:
            synthetic.default_dataset_path()
            synthetic.default_dataset_path(participants=4, seed=0)
        finally:
            if old is None:
                del os.environ["FER_CACHE_DIR"]
            else:
                os.environ["FER_CACHE_DIR"] = old
    return _CACHE


def small_dataset(cache: Path) -> Path:
    """The 4-participant synthetic dataset inside :func:`shared_cache`."""
    return next(p for p in (cache / "synthetic").glob("v*-p4-*") if p.is_dir())


def zip_folder(folder: Path, prefix: str = "dataset", skip=(), extra: dict | None = None) -> bytes:
    """The files under ``folder`` as a zip (paths ``prefix/<relative>``), leaving out names in
    ``skip``; ``extra`` adds ``{archive name: bytes}`` entries verbatim."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file() and path.name not in skip:
                zf.write(path, f"{prefix}/{path.relative_to(folder).as_posix()}")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def new_app(timeout: float = 120) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=timeout)
    at.run()
    assert not at.exception, at.exception
    return at


def local_app(monkeypatch, runs: Path, cache: Path | None = None,
              timeout: float = 120) -> AppTest:
    """The app as a local user starts it (no hosted-demo switch), with its runs folder at
    ``runs`` and its cache at ``cache`` (default: the tests' shared cache)."""
    monkeypatch.setenv("FER_CACHE_DIR", str(cache if cache is not None else shared_cache()))
    monkeypatch.setenv("FER_RUNS_DIR", str(runs))
    monkeypatch.delenv("FER_HOSTED_DEMO", raising=False)
    return new_app(timeout)


def open_page(page: str, artifacts: Path, monkeypatch, timeout: float = 120) -> AppTest:
    """The app with its artifacts folder (shipped model, runs) at ``artifacts``, on ``page``."""
    monkeypatch.setenv("FER_ARTIFACTS_DIR", str(artifacts))
    monkeypatch.delenv("FER_RUNS_DIR", raising=False)
    at = new_app(timeout)
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def run_until(at: AppTest, predicate, timeout: float = 180.0, poll: float = 1.0):
    """Re-run the page every ``poll`` s until ``predicate(at)`` is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        assert not at.exception, at.exception
        value = predicate(at)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                "timed out; errors: " + texts(at.error) + " markdown: " + texts(at.markdown)[-500:]
            )
        time.sleep(poll)
