"""Plotly figures of the analytics tables: used by the HTML report and by the Results page.

Each function takes the tables :func:`fer_engine.analytics.report.build_report` returns
(tidy DataFrames) and returns a :class:`plotly.graph_objects.Figure`. No statistics are
computed here: intervals are drawn exactly as the tables give them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fer_engine import emotions
from fer_engine.analytics.inputs import known_or_unknown
from fer_engine.analytics.subgroups import n_people

_BLUE, _ORANGE, _GREEN, _GREY, _RED = "#1f77b4", "#ff7f0e", "#2ca02c", "#9e9e9e", "#d62728"


def _pct_axis(fig: go.Figure, axis: str = "y") -> None:
    getattr(fig, f"update_{axis}axes")(range=[0, 1.05], tickformat=".0%")


def _errors(frame: pd.DataFrame, value: str, low: str, high: str) -> dict:
    """Plotly error bars from interval columns (none where undefined; a percentile interval
    that does not contain the estimate is drawn up to the estimate, never negative)."""
    v = frame[value].to_numpy(dtype=float)
    up = np.nan_to_num(frame[high].to_numpy(dtype=float) - v)
    down = np.nan_to_num(v - frame[low].to_numpy(dtype=float))
    return {
        "type": "data",
        "symmetric": False,
        "array": np.clip(up, 0, None),
        "arrayminus": np.clip(down, 0, None),
    }


def confusion_heatmap(
    counts: pd.DataFrame, normalised: pd.DataFrame, title: str = "Confusion matrix"
) -> go.Figure:
    """Heat map coloured by row share (true class -> predicted), annotated with counts."""
    x = [emotions.display_name(c) for c in counts.columns]
    y = [emotions.display_name(i) for i in counts.index]
    z = normalised.to_numpy(dtype=float)
    text = [[f"{int(c)}" for c in row] for row in counts.to_numpy()]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=x,
            y=y,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"title": "share of row", "tickformat": ".0%"},
            hovertemplate=(
                "true %{y}, predicted %{x}: %{text} images (%{z:.0%} of row)<extra></extra>"
            ),
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title="predicted",
        yaxis_title="true",
        yaxis_autorange="reversed",
        height=480,
    )
    return fig


def per_class_bars(
    per_class: pd.DataFrame, title: str = "Per-class precision, recall and F1"
) -> go.Figure:
    """Grouped bars per emotion; precision and recall with Wilson 95 % error bars."""
    x = [emotions.display_name(lbl) for lbl in per_class["label"]]
    fig = go.Figure()
    fig.add_bar(
        name="precision (PPV)",
        x=x,
        y=per_class["precision"],
        marker_color=_BLUE,
        error_y=_errors(per_class, "precision", "precision_low", "precision_high"),
    )
    fig.add_bar(
        name="recall (sensitivity)",
        x=x,
        y=per_class["recall"],
        marker_color=_ORANGE,
        error_y=_errors(per_class, "recall", "recall_low", "recall_high"),
    )
    fig.add_bar(name="F1 (= Dice)", x=x, y=per_class["f1"], marker_color=_GREEN)
    fig.update_layout(title=title, barmode="group", height=420)
    _pct_axis(fig)
    return fig


def ppv_chart(
    ppv: pd.DataFrame,
    at_prevalence: pd.DataFrame | None = None,
    title: str = "PPV per emotion (95% intervals)",
) -> go.Figure:
    """PPV at the data's prevalence (Wilson bars) and, when given, at a chosen prevalence
    (bootstrap intervals) as diamonds."""
    x = [emotions.display_name(lbl) for lbl in ppv["label"]]
    fig = go.Figure()
    fig.add_bar(
        name="PPV in this data",
        x=x,
        y=ppv["ppv"],
        marker_color=_BLUE,
        error_y=_errors(ppv, "ppv", "ppv_low", "ppv_high"),
        customdata=np.stack([ppv["tp"], ppv["predicted"], ppv["prevalence"]], axis=1),
        hovertemplate="%{x}: %{y:.0%} (%{customdata[0]} of %{customdata[1]} predictions; "
        "prevalence %{customdata[2]:.1%})<extra></extra>",
    )
    if at_prevalence is not None and len(at_prevalence):
        fig.add_scatter(
            name="PPV at chosen prevalence",
            mode="markers",
            x=[emotions.display_name(lbl) for lbl in at_prevalence["label"]],
            y=at_prevalence["ppv"],
            marker={"symbol": "diamond", "size": 12, "color": _RED},
            error_y=_errors(at_prevalence, "ppv", "ppv_low", "ppv_high"),
            customdata=at_prevalence["prevalence"],
            hovertemplate="%{x} at prevalence %{customdata:.1%}: PPV %{y:.0%}<extra></extra>",
        )
    fig.update_layout(title=title, height=420)
    _pct_axis(fig)
    return fig


def subgroup_bars(
    groups: pd.DataFrame, title: str = "Accuracy by subgroup (participant bootstrap 95%)"
) -> go.Figure:
    """Horizontal bars, one per group of every grouping, with participant-bootstrap error
    bars and the number of people and images; groups under the small-sample limit are
    drawn pale and marked with a warning sign."""
    g = groups.iloc[::-1].reset_index(drop=True)
    y = [f"{row.grouping}: {row.group}" for row in g.itertuples()]
    text = [
        ("⚠ " if row.small_sample else "")
        + f"{n_people(row.n_participants)} / {row.n_images} images"
        for row in g.itertuples()
    ]
    colours = [_GREY if s else _BLUE for s in g["small_sample"]]
    fig = go.Figure(
        go.Bar(
            x=g["accuracy"],
            y=y,
            orientation="h",
            marker_color=colours,
            text=text,
            textposition="auto",
            error_x=_errors(g, "accuracy", "accuracy_boot_low", "accuracy_boot_high"),
            customdata=np.stack([g["warning"].fillna(""), g["p_value"].astype(float)], axis=1),
            hovertemplate=(
                "%{y}: %{x:.0%}<br>permutation p = %{customdata[1]}<br>%{customdata[0]}"
                "<extra></extra>"
            ),
        )
    )
    fig.update_layout(title=title, height=max(300, 28 * len(g) + 120), xaxis_title="accuracy")
    _pct_axis(fig, "x")
    return fig


def participant_dots(
    per_participant: pd.DataFrame,
    colour_by: str = "country_group",
    title: str = "Accuracy per participant (Wilson 95%)",
) -> go.Figure:
    """One dot per person with its interval; coloured by ``colour_by`` when present."""
    p = per_participant.reset_index(drop=True)
    fig = go.Figure()
    keys = (
        known_or_unknown(p[colour_by])
        if colour_by in p.columns
        else pd.Series(["all"] * len(p))
    )
    for key in sorted(keys.unique()):
        sub = p[keys.to_numpy() == key]
        fig.add_scatter(
            name=str(key),
            mode="markers",
            x=sub["accuracy"],
            y=sub["participant"].astype(str),
            error_x=_errors(sub, "accuracy", "accuracy_low", "accuracy_high"),
            marker={"size": 10},
            customdata=sub["n_images"],
            hovertemplate="participant %{y}: %{x:.0%} of %{customdata} images<extra></extra>",
        )
    fig.update_layout(
        title=title,
        height=max(300, 22 * len(p) + 120),
        xaxis_title="accuracy",
        yaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": p["participant"].astype(str).tolist(),
        },
    )
    _pct_axis(fig, "x")
    return fig


def reliability_diagram(
    bins: pd.DataFrame,
    by_group: pd.DataFrame | None = None,
    grouping: str | None = None,
    title: str = "Reliability diagram",
) -> go.Figure:
    """Accuracy against mean confidence per bin (marker size ~ number of images); the
    diagonal is perfect calibration. ``by_group`` adds one line per group of ``grouping``."""
    fig = go.Figure()
    fig.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        name="perfect calibration",
        line={"dash": "dash", "color": _GREY},
    )

    def add(frame: pd.DataFrame, name: str) -> None:
        f = frame[frame["count"] > 0]
        size = 6 + 24 * np.sqrt(f["count"] / max(f["count"].max(), 1))
        fig.add_scatter(
            x=f["mean_confidence"],
            y=f["accuracy"],
            mode="lines+markers",
            name=name,
            marker={"size": size},
            customdata=f["count"],
            hovertemplate=(
                "confidence %{x:.0%}: accuracy %{y:.0%} (%{customdata} images)<extra></extra>"
            ),
        )

    add(bins, "all images")
    if by_group is not None and len(by_group) and grouping:
        for group, frame in by_group[by_group["grouping"] == grouping].groupby("group"):
            add(frame, f"{grouping}: {group}")
    fig.update_layout(
        title=title,
        xaxis_title="confidence (probability of the predicted label)",
        yaxis_title="accuracy",
        height=440,
    )
    _pct_axis(fig)
    _pct_axis(fig, "x")
    return fig


def accuracy_comparison(table: pd.DataFrame, title: str = "Leakage contrast") -> go.Figure:
    """Bars of accuracy per run (e.g. the leakage contrast table) with Wilson error bars;
    leaky runs in red."""
    labels = [f"{row.protocol}{' (LEAKY)' if row.leaky else ''}" for row in table.itertuples()]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=table["accuracy"],
            marker_color=[_RED if lk else _BLUE for lk in table["leaky"]],
            error_y=_errors(table, "accuracy", "accuracy_boot_low", "accuracy_boot_high"),
            text=[f"{a:.0%}" for a in table["accuracy"]],
            textposition="outside",
        )
    )
    fig.update_layout(title=title, yaxis_title="accuracy", height=380)
    _pct_axis(fig)
    return fig


def training_curves(history: pd.DataFrame, title: str = "Training curves per fold") -> go.Figure:
    """Loss (solid) and validation loss (dotted) per epoch, one colour per fold, from a run's
    ``history.csv`` (``fold, epoch, loss, accuracy, val_loss, val_accuracy, learning_rate``)."""
    fig = go.Figure()
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    for i, (fold, h) in enumerate(history.groupby("fold", sort=True)):
        colour = palette[i % len(palette)]
        fig.add_scatter(
            x=h["epoch"],
            y=h["loss"],
            mode="lines",
            name=f"fold {fold} loss",
            line={"color": colour},
            legendgroup=str(fold),
        )
        if "val_loss" in h and h["val_loss"].notna().any():
            fig.add_scatter(
                x=h["epoch"],
                y=h["val_loss"],
                mode="lines",
                name=f"fold {fold} validation loss",
                legendgroup=str(fold),
                line={"color": colour, "dash": "dot"},
            )
    fig.update_layout(title=title, xaxis_title="epoch", yaxis_title="loss", height=400)
    return fig
