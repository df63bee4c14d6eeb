"""Dataset page: which dataset is active, what it holds, and every problem the loader found."""

from __future__ import annotations

import streamlit as st

from fer_engine.data import load_dataset
from fer_engine.data.summary import (
    LAYOUT_DESCRIPTIONS,
    SMALL_N,
    SYNTHETIC_NOTE,
    emotion_counts,
    group_counts,
)
from fer_engine.errors import UserFacingError

st.session_state.setdefault("dataset_path", None)


@st.cache_resource(show_spinner="Loading the dataset...", max_entries=4)
def _load(path: str | None):
    """The dataset at ``path``; None is the synthetic demo dataset (drawn on first use)."""
    if path is None:
        from fer_engine.data.synthetic import default_dataset_path

        path = str(default_dataset_path())
    return load_dataset(path)


def _use_folder() -> None:
    st.session_state["dataset_path"] = st.session_state["dataset_folder"].strip() or None


def _use_default() -> None:
    st.session_state["dataset_path"] = None
    st.session_state["dataset_folder"] = ""


st.title("Dataset")
with st.form("choose"):
    st.text_input(
        "Dataset folder on this computer",
        key="dataset_folder",
        placeholder="empty: the synthetic demo data",
        help="Kaggle tapakah68 layout (images/<set_id>/<Emotion>.jpg + emotions.csv) or one folder "
        "per emotion (optionally inside train/ and test/).",
    )
    use, default, reload = st.columns(3)
    use.form_submit_button("Use this folder", on_click=_use_folder)
    default.form_submit_button("Use the synthetic demo data", on_click=_use_default)
    reload.form_submit_button("Reload from disk", on_click=_load.clear)

try:
    ds = _load(st.session_state["dataset_path"])
except UserFacingError as exc:
    st.error(str(exc))
    st.stop()

st.session_state["dataset_label"] = ds.name
st.session_state["dataset_synthetic"] = ds.synthetic
if ds.synthetic:
    st.warning(f"**Synthetic demo data.** {SYNTHETIC_NOTE}", icon=":material/science:")

st.subheader(ds.name)
layout = LAYOUT_DESCRIPTIONS.get(ds.layout, ds.layout)
st.caption(f"{layout} · folder `{ds.root}` · fingerprint `{ds.fingerprint[:12]}`")
c1, c2, c3, c4 = st.columns(4)
c1.metric("Images", ds.n_images)
c2.metric("Participants", ds.n_participants if ds.participants_known else "unknown")
c3.metric("Emotions", len(ds.labels))
c4.metric("Warnings", len(ds.warnings))
if not ds.participants_known:
    st.info(
        "This dataset does not say who is on each photo, so every image counts as its own "
        "participant and person-wise evaluation is not possible. Add a manifest.csv "
        "(path, participant, ...) to fix that."
    )

st.markdown("#### Validation")
if ds.warnings:
    for issue in ds.warnings:
        st.warning(issue.message)
else:
    st.success("No problems found.")

left, right = st.columns(2)
with left:
    st.markdown("#### Images per emotion")
    st.dataframe(emotion_counts(ds))
with right:
    st.markdown("#### Participants and images per group")
    groups = group_counts(ds)
    st.dataframe(groups, hide_index=True)
    if groups["small_n"].any():
        st.caption(
            f"small_n: fewer than {SMALL_N} participants in the group; any comparison "
            "involving it is very uncertain."
        )

if ds.participants_known:
    st.markdown("#### Participants")
    st.dataframe(ds.participants(), hide_index=True)
st.markdown("#### Images")
st.dataframe(ds.table, hide_index=True)
