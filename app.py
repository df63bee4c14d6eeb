"""FER research dashboard: entry point (Home, navigation and the sidebar status only).

Pages live in ``pages/<n>_<Name>.py`` and are picked up in the order of ``n``
(1 Dataset, 2 Train, 3 Results, 4 Classify, 5 Live). All maths is in ``fer_engine``;
the pages only lay out what it returns. Shared Streamlit helpers are in ``dashboard/``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # `dashboard` and `fer_engine` import from any working folder
    sys.path.insert(0, str(ROOT))

from dashboard import state, widgets  # noqa: E402

PAGES_DIR = ROOT / "pages"
_PAGE_FILE = re.compile(r"^(\d+)_(\w+)\.py$")
_PAGE_BLURBS = {
    "Dataset": "choose the data (synthetic demo, an uploaded Kaggle zip or a server folder), "
    "see who is in it and every problem the loader found.",
    "Train": "train a model under a leakage-proof protocol in the background, follow its "
    "curves, cancel it, and manage finished runs.",
    "Results": "how accurate a finished run is, with 95% ranges: per emotion, how often each "
    "answer is right (PPV), per group of people, how far to trust the model's confidence, "
    "comparisons and the study report.",
    "Classify": "classify your own photos with the shipped model or one trained here, and see "
    "why it decided.",
    "Live": "classify a webcam stream live.",
    "Session": "analyse a recorded video session: timeline, alerts and a CSV.",
}

# The icon ships with the app: a Material icon name would be fetched from fonts.gstatic.com.
st.set_page_config(page_title="FER research dashboard", page_icon=str(ROOT / "dashboard" / "icon.png"),
                   layout="wide")
state.init()


def home() -> None:
    st.title("Facial emotion recognition: a research dashboard")
    st.caption("Train, evaluate, explain and use facial emotion recognition models with "
               "person-wise protocols and honest uncertainty.")
    st.markdown(
        """
This dashboard trains and evaluates facial emotion recognition (FER) models **honestly**:

- **Person-wise evaluation.** Every protocol keeps each participant on one side of every
  split (for example, leave one subject out). A model is never tested on a face it has seen.
- **Uncertainty with small samples.** With a few dozen participants every number comes with
  a 95% range of plausible values; subgroup comparisons (country, age, gender) are flagged
  when a group has fewer than five people.
- **Leaky protocols only as a contrast.** The first study split *images* rather than people,
  so its model learned who was on the photo, not the emotion. You can reproduce that protocol,
  clearly labelled, to see how much it inflates accuracy.

**First step:** choose the images on the **Dataset** page (the synthetic demo faces are
active until you do), then train a model on the **Train** page and read it on **Results**.
**Classify** (your photos) and **Session** (a recorded video) work at once, with the shipped
model trained on FER2013; no training needed.
"""
    )
    left, right = st.columns(2)
    with left:
        st.markdown("#### Active dataset")
        label, synthetic = widgets.active_dataset()
        st.markdown(f"**{label}**")
        if synthetic:
            widgets.synthetic_banner()
    with right:
        st.markdown("#### Active model")
        description, _ = widgets.active_model()
        st.markdown(f"**{description}**")
        if widgets.active_model_is_leaky():
            widgets.leaky_banner()
    if state.settings().hosted_demo:
        st.info(
            "This is a **public demo**: data comes from the synthetic generator or a small "
            "uploaded zip, trainings are capped and queued, and nothing you upload is kept.",
            icon=":material/public:",
        )
    st.markdown("#### Pages")
    for page in PAGES[1:]:  # the link holds the page's name only: a long link is cut off
        link, blurb = st.columns([1, 6], vertical_alignment="center")
        with link:
            st.page_link(page, label=f"**{page.title}**")
        text = _PAGE_BLURBS.get(page.title, "")
        blurb.markdown(text[:1].upper() + text[1:])


def _pages() -> list:
    found = []
    for f in PAGES_DIR.glob("*.py"):
        m = _PAGE_FILE.match(f.name)
        if m:
            found.append((int(m.group(1)), m.group(2).replace("_", " "), f"pages/{f.name}"))
    pages = [st.Page(home, title="Home", icon=":material/home:", default=True)]
    pages += [st.Page(path, title=title) for _, title, path in sorted(found)]
    return pages


PAGES = _pages()
nav = st.navigation(PAGES)
widgets.sidebar_status()
nav.run()
