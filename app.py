"""FER research dashboard: entry point (navigation and the active-dataset banner only).

Pages live in ``pages/<n>_<Name>.py`` and are picked up in the order of ``n``
(1 Dataset, then Train, Results, Classify, Live as they arrive). All maths is in
``fer_engine``; the pages only lay out what it returns.
"""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parent / "pages"
_PAGE_FILE = re.compile(r"^(\d+)_(\w+)\.py$")

st.set_page_config(page_title="FER research dashboard", page_icon=":material/face:", layout="wide")
st.session_state.setdefault("dataset_path", None)  # None: the synthetic demo dataset


def home() -> None:
    st.title("Facial emotion recognition: a research dashboard")
    st.markdown(
        """
This dashboard trains and evaluates facial emotion recognition (FER) models **honestly**:

- **Person-wise evaluation.** Every protocol keeps each participant on one side of every
  split (leave-one-subject-out and friends). A model is never tested on a face it has seen.
- **Uncertainty with small samples.** With a few dozen participants every number comes with
  a confidence interval; subgroup comparisons (country, age, gender) are flagged when a group
  has fewer than five people.
- **Leaky protocols only as a contrast.** The first study split *images* rather than people,
  so its model learned who was on the photo, not the emotion. You can reproduce that protocol,
  clearly labelled, to see how much it inflates accuracy.

Start on the **Dataset** page: it shows the active dataset, its counts per emotion and per
group, and every problem the loader found. The default dataset is **synthetic demo data**
(drawn faces), because the study's photos cannot be shipped; load your own copy of the Kaggle
tapakah68 photos or any folder-per-emotion dataset there.
"""
    )


def _pages() -> list:
    found = []
    for f in PAGES_DIR.glob("*.py"):
        m = _PAGE_FILE.match(f.name)
        if m:
            found.append((int(m.group(1)), m.group(2).replace("_", " "), f"pages/{f.name}"))
    pages = [st.Page(home, title="Home", icon=":material/home:", default=True)]
    pages += [st.Page(path, title=title) for _, title, path in sorted(found)]
    return pages


nav = st.navigation(_pages())
with st.sidebar:
    label = st.session_state.get("dataset_label", "synthetic demo data (default)")
    st.caption(f"Active dataset: **{label}**")
    if st.session_state.get("dataset_synthetic", st.session_state["dataset_path"] is None):
        st.caption(":orange-badge[Synthetic demo data]")
nav.run()
