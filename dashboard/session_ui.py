"""Widgets and charts shared by the Live and the recorded-Session pages.

Layout only: the numbers come from :mod:`fer_engine.inference.pipeline` (``LiveConfig``) and
:mod:`fer_engine.inference.timeline` (``Timeline``).
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import widgets
from fer_engine import emotions
from fer_engine.inference.pipeline import LiveConfig
from fer_engine.preprocess.detectors import LIVE_DETECTOR
from fer_engine.inference.timeline import Timeline, break_at_gaps

#: Points drawn per line at most: the pages pass ``Timeline.to_frame(max_rows=MAX_POINTS)``
#: (longer sessions are thinned for display only; the CSV has every frame).
MAX_POINTS = 1500
#: Faces per frame the live and recorded pipelines classify at most.
MAX_FACES = 10

ALERT_HELP = (
    "The first study's clinical use: watching for heightened fear and anger during therapy. "
    "An alert starts when the smoothed probability of a watched emotion has stayed at or above "
    "the threshold for the hold time, and ends when it falls below or the face is lost for "
    "more than a second. It concerns the largest face in the picture."
)


def setting_keys(prefix: str) -> tuple[str, ...]:
    """The widget keys of :func:`config_controls` (kept across visits to other pages)."""
    return tuple(f"{prefix}_{name}" for name in (
        "smoothing", "threshold", "hold", "watched", "min_face", "faces", "detector", "gradcam"))


def config_controls(prefix: str, labels, *, live: bool) -> LiveConfig:
    """Smoothing, alert and (live only) Grad-CAM settings -> :class:`LiveConfig`."""
    watchable = [e for e in emotions.CLINICAL_EMOTIONS if e in labels] or list(labels[:1])
    c1, c2, c3 = st.columns(3)
    smoothing = c1.slider(
        "Smoothing (seconds)", 0.0, 5.0, 0.5, 0.1, key=f"{prefix}_smoothing",
        help="Time constant of the exponential moving average of the probabilities: after a "
        "sudden change the average has moved 63 % of the way after this many seconds. "
        "0 = no smoothing.")
    threshold = c2.slider("Alert threshold", 0.05, 0.95, 0.5, 0.05, key=f"{prefix}_threshold",
                          help=ALERT_HELP)
    hold = c3.slider("Alert after (seconds above the threshold)", 0.0, 20.0, 3.0, 0.5,
                     key=f"{prefix}_hold", help=ALERT_HELP)
    with st.expander("More settings"):
        watched = st.multiselect(
            "Emotions watched for alerts", list(labels), default=watchable,
            key=f"{prefix}_watched", format_func=emotions.display_name)
        d1, d2, d3 = st.columns(3)
        min_face = d1.slider(
            "Smallest face (fraction of the picture height)", 0.05, 0.5, 0.2, 0.05,
            key=f"{prefix}_min_face",
            help="Smaller values find faces further from the camera but cost time.")
        max_faces = widgets.bounded_int("Faces per frame at most", 1, MAX_FACES, 4,
                                        key=f"{prefix}_faces", container=d2)
        detector = widgets.detector_choice(
            f"{prefix}_detector", LIVE_DETECTOR,
            help="The Haar cascade keeps up with live video (about 65 frames a second on two "
            "CPU cores). MTCNN finds more faces (turned, tilted, dark) but takes over ten times "
            "longer per frame (about 7 frames a second), so far fewer frames are analysed.")
        gradcam_every = 0
        if live:
            gradcam_every = widgets.bounded_int(
                "Grad-CAM overlay every N frames (0 = off)", 0, 60, 0, key=f"{prefix}_gradcam",
                container=d3, help="Shows where the network looked, recomputed every N "
                "frames (it costs about as much as classifying a frame).")
    if max_faces is None or gradcam_every is None:  # the box says the allowed range
        st.error("Nothing is analysed until every setting is in its allowed range (see "
                 "'More settings').", icon=":material/block:")
        st.stop()
    return LiveConfig(smoothing_s=smoothing, threshold=threshold, hold_s=hold,
                      alert_emotions=tuple(watched), min_face=min_face, max_faces=int(max_faces),
                      gradcam_every=int(gradcam_every), detector=detector)


def timeline_figure(df: pd.DataFrame, labels, config: LiveConfig,
                    events: pd.DataFrame | None = None, interval_s: float | None = None) -> go.Figure:
    """Smoothed probability of each emotion over time; threshold line; alert periods shaded.
    ``interval_s``: seconds between analysed frames; lines break where rows are further apart
    than twice that (or 1 s), and analysed frames more than 1 s apart are drawn as dots."""
    fig = go.Figure()
    end = float(df["t_s"].max()) if len(df) else 0.0
    step = interval_s if interval_s and interval_s == interval_s else 0.0
    dots = step > 1.0
    df = break_at_gaps(df, max(1.0, 2.5 * step))
    for lab in labels:
        col = emotions.prob_column(lab)
        watched = lab in config.alert_emotions
        fig.add_trace(go.Scatter(
            x=df["t_s"], y=df[col], mode="lines+markers" if dots else "lines",
            name=emotions.display_name(lab),
            line={"width": 3 if watched else 1.3}, connectgaps=False))
    fig.add_hline(y=config.threshold, line_dash="dash", line_color="#B22222",
                  annotation_text="alert threshold", annotation_position="top left")
    if events is not None:
        for ev in events.itertuples():
            x1 = ev.end_s if ev.end_s == ev.end_s and ev.end_s is not None else end
            fig.add_vrect(x0=ev.alert_s, x1=max(x1, ev.alert_s + 0.05), fillcolor="#B22222",
                          opacity=0.15, line_width=0)
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      xaxis_title="seconds", yaxis_title="smoothed probability",
                      yaxis_range=[0, 1], legend={"orientation": "h", "y": -0.25})
    return fig


def alert_table(timeline: Timeline) -> None:
    events = timeline.alerts_frame()
    if events.empty:
        st.success("No alert in this session.")
        return
    st.warning(f"{len(events)} alert episode{'s' if len(events) > 1 else ''} in this session.",
               icon=":material/notifications_active:")
    shown = events.rename(columns={
        "emotion": "emotion", "above_since_s": "above threshold from (s)",
        "alert_s": "alert at (s)", "end_s": "ended at (s)", "peak": "peak probability"})
    st.dataframe(shown, hide_index=True)


def session_summary(timeline: Timeline, config: LiveConfig, *, key: str,
                    file_name: str = "session_timeline.csv",
                    interval_s: float | None = None) -> None:
    """Metrics, the timeline chart, the alert table and the CSV download."""
    stats = timeline.stats()
    df = timeline.to_frame(max_rows=MAX_POINTS)  # the chart's points; the CSV has every row
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Frames analysed", stats["frames"])
    c2.metric("Seconds covered", f"{stats['seconds']:.1f}")
    share = stats["face_share"]
    c3.metric("Frames with a face", "-" if share != share else f"{share:.0%}")
    c4.metric("Alerts", len(timeline.events))
    if len(df):
        st.plotly_chart(timeline_figure(df, timeline.labels, config, timeline.alerts_frame(),
                                        interval_s=interval_s), key=f"{key}_chart")
        st.caption("Smoothed probabilities of the largest face per frame; the dashed line is the "
                   "alert threshold, shaded periods are alerts. Gaps are frames without a face or time "
                   "between analysed frames. "
                   "These are a model's guesses from facial appearance, not a measurement of "
                   "what a person feels.")
    alert_table(timeline)
    # a callable: the CSV (seconds for an hour-long session) is written only when clicked;
    # no rerun on click (a rerun would register the callable anew and revoke the clicked one)
    st.download_button("Download the timeline (CSV)", timeline.to_csv, file_name=file_name,
                       mime="text/csv", key=f"{key}_csv", icon=":material/download:",
                       on_click="ignore")
