"""Plotly charts of the Dataset and Train pages that fer_engine.analytics.figures does not have.

Each takes a table fer_engine already produced (``Dataset.participants()``,
``summary.emotion_counts``/``group_counts``, a job's live history) and only draws it.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from fer_engine import emotions
from fer_engine.data import AGE_CUT

_BLUE, _GREY, _RED = "#1f77b4", "#9e9e9e", "#d62728"


def participants_by(participants: pd.DataFrame, column: str, title: str) -> go.Figure:
    """Bar chart: number of participants per value of ``column`` (``unknown`` where missing)."""
    values = participants[column].astype(object).where(participants[column].notna(), "unknown")
    counts = values.astype(str).value_counts().sort_index()
    fig = go.Figure(go.Bar(x=counts.index.tolist(), y=counts.to_numpy(), marker_color=_BLUE,
                           text=counts.to_numpy(), textposition="outside"))
    fig.update_layout(title=title, yaxis_title="participants", height=320,
                      margin={"t": 50, "b": 40})
    return fig


def age_histogram(participants: pd.DataFrame) -> go.Figure:
    """Histogram of participants' ages (5-year bins with an edge at the study's 31-year cut)
    and the cut line."""
    ages = pd.to_numeric(participants["age"], errors="coerce").dropna()
    fig = go.Figure()
    if len(ages):
        start = AGE_CUT - 5 * math.ceil(max(AGE_CUT - ages.min(), 0) / 5)
        fig.add_histogram(x=ages, xbins={"start": start, "end": ages.max() + 5, "size": 5},
                          marker_color=_BLUE, hovertemplate="%{x}: %{y} people<extra></extra>")
    fig.add_vline(x=AGE_CUT, line_dash="dash", line_color=_RED,
                  annotation_text=f"{AGE_CUT}", annotation_position="top")
    fig.update_layout(title=f"Participants by age (cut at {AGE_CUT})", xaxis_title="age (years)",
                      yaxis_title="participants", height=320, margin={"t": 60, "b": 40},
                      bargap=0.05)
    return fig


def images_per_emotion(counts: pd.DataFrame) -> go.Figure:
    """Bars of images per emotion (``summary.emotion_counts``; one colour per split)."""
    splits = [c for c in counts.columns if c != "total"] or ["total"]
    fig = go.Figure()
    for split in splits:
        fig.add_bar(name=split, x=[emotions.display_name(e) for e in counts.index],
                    y=counts[split].to_numpy())
    fig.update_layout(title="Images per emotion", barmode="stack", yaxis_title="images",
                      height=320, margin={"t": 50, "b": 40}, showlegend=len(splits) > 1)
    return fig


def group_sizes(groups: pd.DataFrame, small_n: int) -> go.Figure:
    """Horizontal bars of participants per subgroup (``summary.group_counts``), named in words
    (``Country: RU``); groups under ``small_n`` people are grey and marked with a warning sign.
    The dotted line at ``small_n`` runs behind the bars and is labelled above them, where no
    bar's label can be."""
    from fer_engine import format as fmt
    from fer_engine.format import n_people as people

    g = groups.iloc[::-1]
    labels = [fmt.subgroup([r.group], [r.value]) for r in g.itertuples()]
    text = [("⚠ " if r.small_n else "") + f"{people(r.participants)} / {r.images} images"
            for r in g.itertuples()]
    fig = go.Figure(go.Bar(x=g["participants"], y=labels, orientation="h", text=text,
                           textposition="auto",
                           marker_color=[_GREY if s else _BLUE for s in g["small_n"]]))
    fig.add_vline(x=small_n, line_dash="dot", line_color=_RED, layer="below",
                  annotation_text=people(small_n), annotation_position="top",
                  annotation_font_color=_RED)
    fig.update_layout(title="Subgroups used in the analyses", xaxis_title="participants",
                      height=max(280, 30 * len(g) + 120), margin={"t": 80, "b": 40})
    return fig


def live_curves(history: pd.DataFrame) -> go.Figure:
    """Loss and accuracy per epoch of a running job (one line per fold and quantity)."""
    fig = go.Figure()
    for fold, h in history.groupby("fold", sort=True):
        x = h["epoch"]
        fig.add_scatter(x=x, y=h["loss"], mode="lines+markers", name=f"fold {fold + 1} loss")
        if h["val_loss"].notna().any():
            fig.add_scatter(x=x, y=h["val_loss"], mode="lines+markers",
                            name=f"fold {fold + 1} validation loss", line={"dash": "dot"})
        fig.add_scatter(x=x, y=h["accuracy"], mode="lines+markers", yaxis="y2",
                        name=f"fold {fold + 1} accuracy", line={"dash": "dash"})
    fig.update_layout(title="Training curves (live)", xaxis_title="epoch", yaxis_title="loss",
                      yaxis2={"title": "accuracy", "overlaying": "y", "side": "right",
                              "range": [0, 1], "tickformat": ".0%"},
                      height=360, margin={"t": 50, "b": 40}, legend={"orientation": "h", "y": -0.25})
    return fig
