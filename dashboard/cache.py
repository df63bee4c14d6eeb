"""Cached calls into fer_engine for the pages (datasets, thumbnails, runs, reports).

``st.cache_resource`` for objects shared read-only across sessions (datasets, reports);
``st.cache_data`` for small values (thumbnails, rendered files).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import streamlit as st

from fer_engine.data import Dataset, load_dataset
from fer_engine.errors import UserFacingError
from fer_engine.preprocess.detectors import LIVE_DETECTOR

THUMB = 112  # thumbnail side in pixels


@st.cache_resource(show_spinner="Loading the dataset...", max_entries=4)
def _load(path: str, _stamp: float) -> Dataset:
    return load_dataset(path)


def dataset_folder(path: str | None) -> str:
    """The folder of ``path``; None is the default synthetic demo dataset (drawn on first use)."""
    if path is None:
        from fer_engine.data.synthetic import default_dataset_path

        return str(default_dataset_path())
    return str(path)


def dataset(path: str | None) -> Dataset:
    """The validated dataset at ``path`` (None: default synthetic). Raises UserFacingError."""
    folder = dataset_folder(path)
    try:
        stamp = os.stat(folder).st_mtime
    except OSError:
        stamp = 0.0
    return _load(folder, stamp)


def clear_datasets() -> None:
    _load.clear()
    _images_table.clear()


@st.cache_data(show_spinner=False, max_entries=4)
def _images_table(key: str, _ds: Dataset):
    from fer_engine.data.summary import images_table

    return images_table(_ds)


def images_table(ds: Dataset):
    """The Dataset page's table of every image (:func:`fer_engine.data.summary.images_table`),
    built once per dataset content (0.4 s for 35,000 images), not on every rerun."""
    return _images_table(f"{ds.root}|{ds.fingerprint}", ds)


@st.cache_data(show_spinner=False, max_entries=2000)
def thumbnail(path: str, _mtime: float = 0.0, size: int = THUMB,
              detector: str = LIVE_DETECTOR) -> np.ndarray | None:
    """:func:`fer_engine.data.preview.thumbnail` of the image at ``path``: a (size, size, 3)
    uint8 crop around the largest face (the picture as it is when the face fills it, the
    centre square if none found); None when the image cannot be read. Found with
    ``detector``, by default the fast one (``LIVE_DETECTOR``), so the Dataset page neither
    waits for nor loads the training detector unless the user picks it."""
    from fer_engine.data.preview import thumbnail as preview

    try:
        return preview(path, size, detector)
    except UserFacingError:
        return None


def thumbnails(paths, detector: str = LIVE_DETECTOR) -> list[np.ndarray | None]:
    out = []
    for p in paths:
        try:
            mtime = os.stat(p).st_mtime
        except OSError:
            out.append(None)
            continue
        out.append(thumbnail(str(p), mtime, detector=detector))
    return out


@st.cache_resource(show_spinner="Computing the analyses (bootstrap, permutation tests)...",
                   max_entries=8)
def report(run_paths: tuple[str, ...], prevalence: tuple = (), n_boot: int = 1000) -> dict:
    """:func:`fer_engine.analytics.build_report` for run folders (shared; do not mutate)."""
    from fer_engine.analytics import build_report

    return build_report(list(run_paths), prevalence=dict(prevalence) or None, n_boot=n_boot)


@st.cache_data(show_spinner="Writing the report...", max_entries=8)
def report_file(run_paths: tuple[str, ...], prevalence: tuple, n_boot: int, fmt: str) -> str:
    """The study report rendered as ``html`` or ``json`` (cached per selection)."""
    from fer_engine.analytics import render

    return render(report(run_paths, prevalence, n_boot), fmt)


@st.cache_resource(max_entries=16)
def eval_run(path: str):
    from fer_engine.analytics import as_eval_run

    return as_eval_run(path)


def file_bytes(path) -> bytes:
    return Path(path).read_bytes()


@st.cache_data(show_spinner=False, max_entries=16)
def _predictions_csv(path: str, _stamp: float) -> bytes:
    from fer_engine.analytics.report import predictions_for_people
    from fer_engine.experiments.runs import load_run

    table = predictions_for_people(load_run(path).predictions)
    return table.to_csv(index=False).encode("utf-8")


def predictions_csv(path: str) -> bytes:
    """A run's predictions as people download them (folds numbered from 1), as CSV bytes."""
    from fer_engine.experiments.runs import load_run

    return _predictions_csv(path, load_run(path).predictions_path.stat().st_mtime)


@st.cache_data(show_spinner=False, max_entries=64)
def ppv_at(path: str, label: str, prevalence: float, n_boot: int = 1000):
    """PPV of ``label`` at a chosen prevalence for one run (participant bootstrap interval)."""
    from fer_engine.analytics import ppv_at_prevalence

    run = eval_run(path)
    return ppv_at_prevalence(run.predictions, run.labels, {label: prevalence}, n_boot=n_boot)


@st.cache_resource(show_spinner=False, max_entries=16)
def leakage(independent_path: str, leaky_path: str, n_boot: int = 1000):
    """:func:`fer_engine.analytics.leakage_contrast` of two run folders."""
    from fer_engine.analytics import leakage_contrast

    return leakage_contrast(eval_run(independent_path), eval_run(leaky_path), n_boot=n_boot)
