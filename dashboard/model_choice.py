"""The model picker of the Classify, Live and Session pages, and the cached model loader.

Default: the shipped pretrained FER2013 model. Any finished run can be chosen instead
(its last fold's model). The choice is the session's active model
(:func:`dashboard.state.active_model`), which the Train and Results pages set too.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from dashboard import state, widgets
from fer_engine.pretrained.card import plain_summary
from fer_engine.models import load_model, pretrained
from fer_engine.experiments.runs import list_runs

PRETRAINED = state.PRETRAINED


def _stamp(source: str) -> str:
    """Where the model lives and when it changed: part of the cache key, so a retrained or
    replaced model (or another artifacts folder) is loaded afresh."""
    path = pretrained.model_path() if source == PRETRAINED else Path(source) / "models"
    try:
        return f"{path.resolve()}@{os.stat(path).st_mtime_ns}"
    except OSError:
        return f"{path}@missing"


@st.cache_resource(max_entries=3, show_spinner="Loading the model...")
def _load(source: str, stamp: str):
    return load_model(source)


def load(source: str):
    """The model for ``source`` (``"pretrained"`` or a run folder), cached across sessions.

    Raises :class:`fer_engine.errors.UserFacingError` (ModelError) when it cannot be loaded.
    """
    return _load(source, _stamp(source))


@st.cache_data(max_entries=16, show_spinner=False)
def _run_summary(source: str, stamp: str) -> str | None:
    from fer_engine.analytics.plain import run_summary

    try:
        return run_summary(source)
    except Exception:  # noqa: BLE001 - a paragraph of context; the model itself still works
        return None


def summary(source: str) -> str | None:
    """How good the model behind ``source`` is, in words: the shipped model's from its card,
    a run's from its out-of-fold predictions (cached per model)."""
    if source == PRETRAINED:
        return plain_summary(pretrained.model_card())
    return _run_summary(source, _stamp(source))


def model_key(source: str) -> str:
    """A string that changes whenever the model behind ``source`` changes (for caches)."""
    return f"{source}|{_stamp(source)}"


def _run_label(row) -> str:
    missing = row.accuracy is None or row.accuracy != row.accuracy
    acc = "" if missing else f", accuracy {row.accuracy:.0%}"
    leaky = " (LEAKY protocol)" if row.leaky else ""
    data = " on synthetic data" if row.synthetic else ""
    return f"Run {row.run_id}: {row.model} / {row.protocol}{leaky}{data}{acc}"


def choose(key: str):
    """Render the picker; return ``(model, source, description)`` or stop the page with a
    clear message when no usable model exists."""
    runs = list_runs()
    options = [PRETRAINED] + [str(p) for p in runs["path"]]
    labels = {PRETRAINED: "Shipped FER2013 model (pretrained)"}
    if not pretrained.available():
        labels[PRETRAINED] += " - missing in this copy"
    for row in runs.itertuples():
        labels[str(row.path)] = _run_label(row)
    current = state.active_model() or PRETRAINED
    index = options.index(current) if current in options else 0
    source = st.selectbox(
        "Model", options, index=index, key=key, format_func=lambda s: labels.get(s, s),
        help="The shipped model was trained on FER2013 (48x48 gray faces, seven emotions). "
        "A run trained on the Train page can be used instead (its last fold's model).",
        # before the rerun draws the sidebar, so its 'Active model' follows at once
        on_change=lambda: state.set_active_model(st.session_state[key]),
    )
    state.set_active_model(source)
    if source == PRETRAINED and not pretrained.available():
        more = ("Choose one of the finished runs in the list above instead."
                if len(options) > 1 else "No finished run exists yet either: train one on the "
                "Train page, then choose it here.")
        st.warning(
            f"The shipped pretrained model is not in this copy of the project "
            f"(`{pretrained.model_path()}` is missing). {more}",
            icon=":material/warning:",
        )
        st.stop()
    try:
        model = load(source)
    except Exception as exc:  # noqa: BLE001 - shown as one sentence
        widgets.error(exc, "Loading the model")
        st.stop()
    paragraph = summary(source)
    if paragraph:
        st.caption(paragraph)
    return model, source, labels.get(source, source)
