"""Classify page: faces in uploaded photos or a camera shot, their emotions, and why."""

from __future__ import annotations

import streamlit as st

from dashboard import classify_ui, model_choice, state, widgets
from fer_engine.errors import UserFacingError
from fer_engine.explain import CMAPS, DEFAULT_METHODS, METHOD_NAMES, explanation_note, overlay_panel
from fer_engine.inference.classify import annotate
from fer_engine.models import pretrained
from fer_engine.preprocess import DEFAULT_DETECTOR
from fer_engine.preprocess.decode import EXTENSIONS, SUPPORTED
from fer_engine.preprocess.detectors import DETECTOR_LABELS

#: The file types the uploader offers: every format the decoder reads (the error names them).
TYPES = list(EXTENSIONS)
#: The page's settings, kept across visits to other pages with its photos.
SETTINGS = ("classify_detector", "classify_cropped", "classify_small", "classify_camera",
            "explain_on", "explain_methods", "explain_alpha", "explain_cmap")
#: Labels of the two detection settings, also named in the advice after a note.
CROPPED_LABEL = "The photos are cropped faces"
SMALL_LABEL = "Look for small faces"

state.init()
state.restore_kept(SETTINGS)
st.title("Classify photos")
st.caption("Classify the faces in your own photos and see which parts of each face the "
           "prediction depended on.")
st.info(
    "**Privacy.** Photos are processed in this server's memory and never written to disk. "
    "They stay in this browser session's memory, so that they are still here after a visit "
    "to another page, until you remove them or close the tab. Results stay in memory for at "
    f"most {classify_ui.TTL // 60} minutes so that changing a setting does not recompute "
    "them, then they are forgotten.",
    icon=":material/lock:",
)
settings = state.settings()
model, source, description = model_choice.choose("classify_model")
key = model_choice.model_key(source)
st.caption(f"Emotions of this model: {', '.join(model.labels)}.")

detector = widgets.detector_choice(
    "classify_detector", DEFAULT_DETECTOR,
    help="MTCNN finds more faces in ordinary photos (turned, tilted, dark) and levels the "
    "eyes before classifying; the Haar cascade is faster but misses such faces.")
o2, o3, o4 = st.columns(3)  # wide enough for each label on one line
cropped = o2.checkbox(CROPPED_LABEL, key="classify_cropped",
                      help="Skip face detection and classify the centre square of each photo "
                      "(for photos that already show one face filling the frame).")
small = o3.checkbox(f"{SMALL_LABEL} (slower)", key="classify_small",
                    disabled=cropped, help="Search faces down to 3 % of the photo's shorter side "
                    "instead of 10 %.")
use_camera = o4.toggle("Use the camera", key="classify_camera",
                       help="Take a photo with this device's camera instead of uploading one.")



def _keep_photos() -> None:
    """The uploader changed (files added or removed): what it holds now is what is kept."""
    files = st.session_state.get("classify_files") or []
    state.set_classify_photos([(f.name, f.getvalue()) for f in files])


files = st.file_uploader(
    f"Photos ({SUPPORTED.replace(' and ', ' or ')})", type=TYPES, accept_multiple_files=True,
    key="classify_files", max_upload_size=settings.max_upload_mb, on_change=_keep_photos,
) or []
items = [(f.name, f.getvalue()) for f in files]
if not items and state.classify_photos():  # back from another page: the uploader forgot them
    items = state.classify_photos()
    k1, k2 = st.columns([4, 1])
    k1.caption("Photos kept from your last upload: " + ", ".join(n for n, _ in items)
               + ". Upload others to replace them.")
    if k2.button("Remove these photos", key="classify_forget"):
        state.set_classify_photos([])
        st.rerun()
state.keep(SETTINGS)
if use_camera:
    shot = st.camera_input("Take a photo", key="classify_shot")
    if shot is not None:
        items.append(("camera photo", shot.getvalue()))


def advice(kind: str) -> str:
    """What to change on this page after an engine note of ``kind`` (empty: nothing)."""
    if kind == "no_face":
        return ((f" If the faces are small, tick '{SMALL_LABEL}'." if not small else "")
                + (f" Try the detector '{DETECTOR_LABELS[DEFAULT_DETECTOR]}'."
                   if detector != DEFAULT_DETECTOR else "")
                + f" If the photo already is a cropped face, tick '{CROPPED_LABEL}'.")
    if kind == "large_photo" and not small:
        return f" If a face was missed, ticking '{SMALL_LABEL}' also finds smaller faces."
    return ""


if not items:
    st.caption("Upload one or more photos, or take one with the camera, to see the faces found "
               "and the model's probabilities for each.")
    st.stop()

classified = []  # (name, data, result) of photos with at least one face
for n_item, (name, data) in enumerate(items):
    st.subheader(name, divider="gray")
    if len(data) > settings.max_upload_bytes:
        st.error(f"'{name}' is {len(data) / 1024 / 1024:.0f} MB; this server accepts photos up "
                 f"to {settings.max_upload_mb} MB.")
        continue
    try:
        with st.spinner(f"Looking for faces in {name}..."):
            result = classify_ui.classify(key, data, name, not cropped, small, detector,
                                          model)
    except Exception as exc:  # noqa: BLE001 - shown as one sentence
        widgets.error(exc, f"Classifying {name}", icon=":material/broken_image:")
        continue
    for note in result.notes:
        (st.warning if note.level == "warning" else st.info)(note.text + advice(note.kind))
    left, right = st.columns([3, 2])
    h, w = result.rgb.shape[:2]
    left.image(annotate(result), caption=f"{name}: {w} x {h} pixels, "
               f"{len(result.faces)} face{'s' if len(result.faces) != 1 else ''}")
    with right:
        for i in range(len(result.faces)):
            st.plotly_chart(classify_ui.probability_chart(result, i), key=f"bars_{n_item}_{i}")
    if result.faces:
        classified.append((name, data, result))
        with st.expander("Table of faces"):
            st.dataframe(result.table_in_words(), hide_index=True)

if not classified:
    st.stop()

st.header("Why did the model say so?")
st.caption(
    "Each map shows which parts of the face the prediction depended on, by a different method. "
    "Where the methods disagree, trust none of them much. The figures under the maps say how "
    "faithful each map is: hiding the pixels a map calls important should lower the "
    "probability quickly (small deletion area), showing them first should raise it quickly "
    "(large insertion area); a random order of pixels is given for comparison."
)
card = pretrained.model_card() if source == state.PRETRAINED else {}
note = explanation_note(model, card.get("evaluation", {}).get("agreement_keras_graph"))
if note:
    st.caption(note)
if not st.toggle("Explain a face", key="explain_on",
                 help="Computes Grad-CAM, Integrated Gradients, SmoothGrad and occlusion maps "
                 "for one face (a few seconds)."):
    st.stop()
choices = [(i, j) for i, (_, _, r) in enumerate(classified) for j in range(len(r.faces))]


def _face_label(c) -> str:
    name, _, r = classified[c[0]]
    f = r.faces[c[1]]
    return f"{name}, face {f.index + 1} ({f.label} {f.confidence:.0%})"


c1, c2, c3, c4 = st.columns([3, 3, 2, 2])
picked = c1.selectbox("Face", choices, format_func=_face_label, key="explain_face")
methods = c2.multiselect("Methods", list(METHOD_NAMES), default=list(DEFAULT_METHODS),
                         format_func=METHOD_NAMES.get, key="explain_methods")
alpha = c3.slider("Opacity of the maps", 0.0, 1.0, 0.45, 0.05, key="explain_alpha")
cmap = c4.selectbox("Colours", list(CMAPS), key="explain_cmap")
if not methods:
    st.info("Choose at least one method.")
    st.stop()
name, data, result = classified[picked[0]]
face = result.faces[picked[1]]
try:
    with st.spinner("Computing the explanations (a few seconds)..."):
        out = classify_ui.explain(key, data, not cropped, small, detector, picked[1],
                                  tuple(methods),
                                  model, result)
except UserFacingError as exc:
    st.info(f"No explanations for this model: {exc}")
    st.stop()
except Exception as exc:  # noqa: BLE001 - shown as one sentence
    widgets.error(exc, "Computing the explanations")
    st.stop()

st.markdown(f"Explaining **{out['target']}** for {_face_label(picked)}, on the original photo "
            "around that face (the white outlined square is the region the model saw).")
cols = st.columns(len(methods))
for col, m in zip(cols, methods):
    panel = overlay_panel(result, face, out["maps"][m], alpha=alpha, cmap=cmap)
    col.image(panel, caption=f"{METHOD_NAMES[m]} ({out['seconds'][m]:.1f} s)")
for line in out["lines"]:
    st.markdown(f"- {line}")
if out["caution"]:
    st.warning(out["caution"], icon=":material/warning:")
