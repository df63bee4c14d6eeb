"""Dataset page: choose the data, see who is in it and every problem the loader found."""

from __future__ import annotations

import streamlit as st

from dashboard import cache, charts, state, widgets
from fer_engine import emotions
from fer_engine import format as fmt
from fer_engine.data.preview import sample_rows
from fer_engine.data.summary import (
    LAYOUT_DESCRIPTIONS,
    SMALL_N,
    emotion_counts,
    emotion_counts_table,
    group_counts,
    group_counts_table,
    participants_table,
)
from fer_engine.errors import DatasetError, display_text, failure_message
from fer_engine.preprocess.detectors import LIVE_DETECTOR
from fer_engine.settings import is_allowed_path
from fer_engine.data.upload import extract_zip, limits_for_upload, remove_upload

SOURCES = {
    "synthetic": "Synthetic demo data",
    "upload": "Upload a .zip",
    "folder": "Folder on this server",
}
SAMPLES_PER_EMOTION = 6

state.init()
settings = state.settings()


def shown(text: str) -> str:
    """A message as this server may show it (no server paths in the hosted demo)."""
    return display_text(text, hosted=settings.hosted_demo)


st.title("Dataset")
st.caption("Choose the images to work with, then see who is in them and every problem "
           "the loader found.")

# -- choose the source -------------------------------------------------------------------
choices = ["synthetic", "upload"] + (["folder"] if settings.server_folders_allowed else [])
current = state.dataset_source()
source = st.radio(
    "Where the images come from",
    choices,
    index=choices.index(current) if current in choices else 0,
    format_func=SOURCES.get,
    horizontal=True,
)

if source == "synthetic":
    st.caption(
        "Drawn faces in the Kaggle tapakah68 layout: eight expressions per participant, with "
        "the study's real demographics (extra participants are invented). Useful to try the "
        "tool; the numbers say nothing about real people."
    )
    cap = settings.demo_max_participants if settings.hosted_demo else 200
    with st.form("synthetic"):
        c1, c2 = st.columns(2)
        participants = widgets.bounded_int("Participants", 2, cap, min(19, cap),
                                           key="synthetic_participants", container=c1)
        seed = widgets.bounded_int("Seed", 0, 10_000, 0, key="synthetic_seed", container=c2,
                                   help="The same seed draws the same faces.")
        submitted = st.form_submit_button("Use synthetic data")
        if submitted and None in (participants, seed):
            st.error("No synthetic data drawn: correct the value above first. The previous "
                     "dataset is still active.")
        elif submitted:
            from fer_engine.data.synthetic import default_dataset_path

            with st.spinner("Drawing the faces (once per setting)..."):
                path = default_dataset_path(participants=int(participants), seed=int(seed))
            default = int(participants) == 19 and int(seed) == 0
            state.set_dataset(None if default else str(path), "synthetic")
            st.rerun()  # the sidebar was drawn before: show the new dataset everywhere

elif source == "upload":
    st.caption(
        f"A .zip of the Kaggle tapakah68 download (images/<set_id>/<Emotion>.jpg plus "
        f"emotions.csv) or of folders named after emotions, with a manifest.csv beside them "
        f"(columns path, participant and optionally gender, age, country) that says who is on "
        f"each image. At most {settings.max_upload_mb} MB; "
        "it is unpacked on the server into a temporary folder that is removed when you choose "
        "other data."
    )
    uploaded = st.file_uploader("Dataset archive (.zip)", type=["zip"], key="zip_upload")
    if uploaded is not None and state.is_new_upload(uploaded.file_id):
        folder = None
        try:
            if uploaded.size > settings.max_upload_bytes:
                raise DatasetError(
                    f"The file is {uploaded.size / 1024**2:.1f} MB; at most "
                    f"{settings.max_upload_mb} MB can be uploaded here."
                )
            with st.spinner("Checking and unpacking the archive..."):
                folder = extract_zip(uploaded, limits=limits_for_upload(settings.max_upload_bytes),
                                     name=uploaded.name)
                cache.dataset(str(folder))  # validate before switching
            state.set_dataset(str(folder), "upload")
            st.rerun()
        except Exception as exc:  # noqa: BLE001 - one sentence on the page, never a traceback
            remove_upload(folder)
            state.set_upload_error(shown(
                f"{uploaded.name} cannot be used: {failure_message(exc, 'Reading the archive')} "
                "The previous dataset is still active."
            ))
    if uploaded is not None and state.upload_error():
        st.error(state.upload_error())

elif source == "folder":
    roots = ", ".join(f"`{r}`" for r in settings.allowed_roots) or "(none configured)"
    st.caption(f"Folders inside the allowed roots only: {roots} (set FER_ALLOWED_ROOTS).")
    with st.form("folder"):
        folder = st.text_input(
            "Dataset folder on this server",
            key="dataset_folder",
            placeholder="/path/to/tapakah68 or a folder per emotion",
            help="Kaggle tapakah68 layout (images/<set_id>/<Emotion>.jpg + emotions.csv) or one "
            "folder per emotion (optionally inside train/ and test/).",
        )
        if st.form_submit_button("Use this folder"):
            folder = folder.strip()
            if not folder:
                st.error("Type the path of a dataset folder first.")
            elif not is_allowed_path(folder, settings):
                st.error(
                    f"{folder} is outside the folders this server may read ({roots}). Ask the "
                    "administrator to add it to FER_ALLOWED_ROOTS, or upload a .zip instead."
                )
            else:
                try:
                    cache.dataset(folder)
                    state.set_dataset(folder, "folder")
                    st.rerun()
                except Exception as exc:  # noqa: BLE001 - shown as one sentence
                    widgets.error(exc, "Loading the dataset",
                                  after="The previous dataset is still active.")

if st.button("Reload from disk", help="Read the active dataset again (after you changed files)."):
    cache.clear_datasets()

# -- the active dataset --------------------------------------------------------------------
try:
    ds = cache.dataset(state.dataset_path())
except Exception as exc:  # noqa: BLE001 - shown as one sentence
    widgets.error(exc, "Loading the dataset", before="The active dataset cannot be loaded:")
    if st.button("Go back to the synthetic demo data"):
        state.set_dataset(None, "synthetic")
        st.rerun()
    st.stop()

st.divider()
if ds.synthetic:
    widgets.synthetic_banner()
st.subheader(ds.name)
st.caption(
    f"{LAYOUT_DESCRIPTIONS.get(ds.layout, ds.layout)} · fingerprint `{ds.fingerprint[:12]}`"
    + ("" if settings.hosted_demo else f" · folder `{ds.root}`")
)
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
for note in ds.notes:  # what the loader did with files that are not images
    st.info(shown(note.message), icon=":material/info:")
if ds.warnings:
    st.caption("What the loader found, and what it did about it (nothing is dropped silently).")
    for issue in ds.warnings[:10]:
        st.warning(shown(issue.message))
    if len(ds.warnings) > 10:
        with st.expander(f"{len(ds.warnings) - 10} more warnings"):
            for issue in ds.warnings[10:]:
                st.warning(shown(issue.message))
else:
    st.success("No problems found.")

overview, demographics, faces, tables = st.tabs(
    ["Counts", "Demographics", "Sample faces", "Tables"]
)
counts = emotion_counts(ds)
groups = group_counts(ds)
with overview:
    left, right = st.columns(2)
    with left:
        st.plotly_chart(charts.images_per_emotion(counts), key="per_emotion")
        st.caption("How many images show each emotion. Very unequal bars mean the accuracy "
                   "overall can hide a poor emotion: read the per-emotion results too.")
        st.dataframe(emotion_counts_table(ds), hide_index=True)
    with right:
        known = groups[groups["value"] != "unknown"]
        if len(known):
            st.plotly_chart(charts.group_sizes(groups, SMALL_N), key="groups")
            st.caption(
                f"The groups the subgroup analyses compare, with their number of people. Grey "
                f"bars marked ⚠ have fewer than {SMALL_N} people: any comparison involving them is "
                "very uncertain."
            )
        else:
            st.info("No demographics (gender, age, country) in this dataset: no subgroup analyses.")
        st.dataframe(group_counts_table(ds), hide_index=True)
        if groups["small_n"].any():
            st.warning(
                "Small groups: "
                + ", ".join(f"{fmt.subgroup([r.group], [r.value])} ({fmt.n_people(r.participants)})"
                            for r in groups[groups["small_n"]].itertuples())
                + f". With fewer than {SMALL_N} people a group's accuracy can swing widely by chance."
            )

with demographics:
    per_person = ds.participants()
    if not ds.participants_known or per_person[["gender", "age", "country"]].isna().all().all():
        st.info("Demographics are unknown for this dataset (no metadata file).")
    else:
        c1, c2, c3 = st.columns(3)
        with c1:
            st.plotly_chart(charts.participants_by(per_person, "country", "Participants by country"),
                            key="country")
            st.caption("Number of people per country of origin in the metadata.")
        with c2:
            st.plotly_chart(charts.participants_by(per_person, "gender", "Participants by gender"),
                            key="gender")
            st.caption("Number of people per gender in the metadata.")
        with c3:
            st.plotly_chart(charts.age_histogram(per_person), key="age")
            st.caption("Ages in 5-year bins; the dashed line is the study's cut between "
                       "'under 31' and '31 or older' used in the age comparison.")

with faces:
    detector = widgets.detector_choice(
        state.DATASET_DETECTOR, LIVE_DETECTOR,
        help="Only for the thumbnails below, a preview: training finds faces with its own "
        "detector.")
    st.caption("One image each of different people, cropped around the detected face (the "
               "image as it is when the face fills it, its centre if no face is found). The "
               "Haar cascade is the fastest; MTCNN is slower but finds more faces "
               "(turned, tilted, dark).")
    # participants in natural order (2 before 10)
    table = ds.table.sort_values("participant", key=lambda c: c.astype(str).str.zfill(12),
                                 kind="stable")
    for label in ds.labels:
        rows = sample_rows(ds, label, SAMPLES_PER_EMOTION)  # different people
        thumbs = cache.thumbnails(rows["path"], detector)
        thumbs_shown = [(t, p) for t, p in zip(thumbs, rows["participant"]) if t is not None]
        st.markdown(f"**{emotions.display_name(label)}** ({int((table['emotion'] == label).sum())} images)")
        if thumbs_shown:
            st.image([t for t, _ in thumbs_shown],
                     caption=[f"participant {p}" for _, p in thumbs_shown],
                     width=cache.THUMB)
    if ds.participants_known:
        st.markdown("#### One strip per participant")
        ids = sorted(ds.participants()["participant"].astype(str), key=lambda v: v.zfill(12))
        chosen = st.multiselect("Participants", ids, default=ids[:3], max_selections=12)
        for pid in chosen:
            rows = table[table["participant"].astype(str) == pid]
            thumbs = cache.thumbnails(rows["path"], detector)
            st.markdown(f"**Participant {pid}**")
            st.image([t for t in thumbs if t is not None],
                     caption=[emotions.display_name(e) for e, t in zip(rows["emotion"], thumbs)
                              if t is not None],
                     width=cache.THUMB)

with tables:
    if ds.participants_known:
        st.markdown("#### Participants")
        st.dataframe(participants_table(ds), hide_index=True)
    st.markdown("#### Images")
    st.dataframe(cache.images_table(ds), hide_index=True)
