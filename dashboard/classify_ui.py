"""Cached engine calls and charts for the Classify page.

Caches live in this server's memory only (``st.cache_data`` without ``persist``), hold at
most a few entries and forget them after :data:`TTL` seconds: the photos and results are
never written to disk. Cache keys include the photo's bytes and the model's identity
(:func:`dashboard.model_choice.model_key`).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from fer_engine.explain import explain_face, face_faithfulness
from fer_engine.inference.classify import ImageResult, classify_image

#: Seconds a photo's results stay in the in-memory cache.
TTL = 30 * 60


@st.cache_data(max_entries=16, ttl=TTL, show_spinner=False)
def classify(model_key: str, data: bytes, name: str, detect: bool, small_faces: bool,
             detector: str, _model) -> ImageResult:
    """:func:`fer_engine.inference.classify.classify_image` of uploaded bytes (in memory)."""
    return classify_image(_model, data, name=name, detect=detect, small_faces=small_faces,
                          detector=detector)


@st.cache_data(max_entries=16, ttl=TTL, show_spinner=False)
def explain(model_key: str, data: bytes, detect: bool, small_faces: bool, detector: str,
            face: int, methods: tuple[str, ...], _model, _result: ImageResult) -> dict:
    """Maps (48x48 or the model's input size) per method and the faithfulness figures."""
    f = _result.faces[face]
    exps = explain_face(_model, f, methods)
    faith = face_faithfulness(_model, f, exps)
    return {"maps": {m: e.map for m, e in exps.items()},
            "target": _model.labels[next(iter(exps.values())).target],
            "seconds": {m: e.timings.get("total", 0.0) for m, e in exps.items()},
            # the sentence that no map beats a random order, shown apart (None when one does)
            "lines": faith.lines()[:3],
            "caution": None if faith.beats_random else faith.lines()[3]}


def probability_chart(result: ImageResult, face: int) -> go.Figure:
    """Bar chart of one face's probabilities, the top class highlighted."""
    df = result.probabilities(face)
    top = int(np.argmax(df["probability"].to_numpy()))
    colours = ["#2E6F9E" if i == top else "#9DB7CC" for i in range(len(df))]
    fig = go.Figure(go.Bar(x=df["emotion"], y=df["probability"], marker_color=colours,
                           text=[f"{p:.0%}" for p in df["probability"]], textposition="outside"))
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title=f"Face {face + 1}", yaxis_range=[0, 1.1], yaxis_title="probability",
                      showlegend=False)
    return fig
