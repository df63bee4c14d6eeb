"""Plotly figures of the analytics tables: used by the HTML report and by the Results page.

Each function takes the tables :func:`fer_engine.analytics.report.build_report` returns
(tidy DataFrames) and returns a :class:`plotly.graph_objects.Figure`. No statistics are
computed here: intervals are drawn exactly as the tables give them; the one summary drawn is
the spread of a run's training curves over its folds (:func:`fold_spread`). Groups of people
are named in words (:func:`fer_engine.analytics.subgroups.readable_group`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fer_engine import emotions
from fer_engine import format as fmt
from fer_engine.analytics.inputs import known_or_unknown
from fer_engine.analytics.subgroups import n_people, readable_group

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
    title: str = "PPV per emotion (95% ranges)",
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


#: Height of one line of a bar's label, and the space between bars (pixels).
LINE_HEIGHT, ROW_GAP = 18, 16


def subgroup_bars(
    groups: pd.DataFrame,
    title: str = "Accuracy by group of people",
    subtitle: str = "whiskers: 95% range from resampling people",
) -> go.Figure:
    """Horizontal bars, one per group of every grouping, with participant-bootstrap error
    bars. Each bar's label names the group in words (``Country: RU · Age: 31 or older``) and,
    on a second line, its people and images, so no whisker covers the counts; groups under
    the small-sample limit are drawn pale and marked with a warning sign. The height grows
    with the number of rows and the labels get the margin they need (readable on a phone)."""
    g = groups.iloc[::-1].reset_index(drop=True)
    names = [readable_group(row.grouping, row.group) for row in g.itertuples()]
    counts = [
        ("⚠ " if row.small_sample else "")
        + f"{n_people(row.n_participants)}, {row.n_images} images"
        for row in g.itertuples()
    ]
    y = [f"{_wrap(name)}<br><span style='font-size:0.85em'>{n}</span>"
         for name, n in zip(names, counts)]
    colours = [_GREY if s else _BLUE for s in g["small_sample"]]
    p_text = [fmt.p_value(v) for v in g["p_value"]]
    fig = go.Figure(
        go.Bar(
            x=g["accuracy"],
            y=y,
            orientation="h",
            marker_color=colours,
            error_x=_errors(g, "accuracy", "accuracy_boot_low", "accuracy_boot_high"),
            customdata=np.stack([names, counts, p_text, g["warning"].fillna("")], axis=1),
            hovertemplate=(
                "%{customdata[0]}: %{x:.0%} (%{customdata[1]})<br>chance of a gap this large "
                "if groups did not matter: p = %{customdata[2]}<br>%{customdata[3]}"
                "<extra></extra>"
            ),
        )
    )
    lines = sum(label.count("<br>") + 1 for label in y)
    fig.update_layout(
        title={"text": title, "subtitle": {"text": subtitle}},
        height=max(300, LINE_HEIGHT * lines + ROW_GAP * len(g) + 150),
        xaxis_title="accuracy",
        margin={"l": 10, "r": 20, "t": 80, "b": 50},
        yaxis={"automargin": True, "tickfont": {"size": 12}},
        bargap=0.35,
    )
    _pct_axis(fig, "x")
    return fig


def _wrap(label: str, width: int = 28) -> str:
    """A group label broken into lines of about ``width`` characters at its `` · ``
    separators (plotly breaks lines only at ``<br>``)."""
    parts = label.split(" · ")
    lines, line = [], ""
    for part in parts:
        candidate = f"{line} · {part}" if line else part
        if line and len(candidate) > width:
            lines.append(line + " ·")
            line = part
        else:
            line = candidate
    return "<br>".join(lines + [line])


#: Above this many people the per-participant chart ranks them instead of naming each row.
NAMED_PARTICIPANTS_MAX = 40


def participant_dots(
    per_participant: pd.DataFrame,
    colour_by: str = "country_group",
    title: str = "Accuracy per participant (95% range)",
) -> go.Figure:
    """One dot per person with its interval; coloured by ``colour_by`` when present.

    Up to :data:`NAMED_PARTICIPANTS_MAX` people one named row each; more people are ranked
    by accuracy on an unlabelled axis of at most 600 px (each person named on hover), so the
    chart stays readable for 118 people."""
    p = per_participant.reset_index(drop=True)
    many = len(p) > NAMED_PARTICIPANTS_MAX
    if many:
        p = p.sort_values(["accuracy", "participant"], kind="stable").reset_index(drop=True)
    fig = go.Figure()
    keys = (
        known_or_unknown(p[colour_by])
        if colour_by in p.columns
        else pd.Series(["all"] * len(p))
    )
    for key in sorted(keys.unique()):
        sub = p[keys.to_numpy() == key]
        fig.add_scatter(
            name=fmt.subgroup([colour_by], [key]) if colour_by in p.columns else str(key),
            mode="markers",
            x=sub["accuracy"],
            y=sub.index + 1 if many else sub["participant"].astype(str),
            error_x=_errors(sub, "accuracy", "accuracy_low", "accuracy_high"),
            marker={"size": 6 if many else 10},
            customdata=np.stack([sub["participant"].astype(str), sub["n_images"]], axis=1),
            hovertemplate="participant %{customdata[0]}: %{x:.0%} of %{customdata[1]} "
                          "images<extra></extra>",
        )
    if many:
        yaxis = {"title": f"{len(p)} people, ranked by accuracy", "showticklabels": False,
                 "range": [0, len(p) + 1]}
        height = 600
    else:
        yaxis = {"type": "category", "categoryorder": "array",
                 "categoryarray": p["participant"].astype(str).tolist()}
        height = max(300, 22 * len(p) + 120)
    fig.update_layout(title=title, height=height, xaxis_title="accuracy", yaxis=yaxis)
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
            add(frame, readable_group(grouping, group))
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
    """Bars of accuracy per run (e.g. the leakage contrast table) with 95% ranges from
    resampling people as whiskers; leaky runs in red. The percentage is written at the foot
    of each bar, where no whisker crosses it."""
    labels = [f"{row.protocol}{' (LEAKY)' if row.leaky else ''}" for row in table.itertuples()]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=table["accuracy"],
            marker_color=[_RED if lk else _BLUE for lk in table["leaky"]],
            error_y=_errors(table, "accuracy", "accuracy_boot_low", "accuracy_boot_high"),
            text=[f"{a:.0%}" for a in table["accuracy"]],
            textposition="inside", insidetextanchor="start",
            textfont={"color": "white"},
        )
    )
    fig.update_layout(title=title, yaxis_title="accuracy", height=380)
    _pct_axis(fig)
    return fig


def has_curves(history: pd.DataFrame) -> bool:
    """True when some fold of a run's ``history.csv`` has more than one epoch: a model fitted
    in one step (the transfer head, HOG + SVM) has one row per fold and no curves to draw."""
    return bool(len(history)) and int(history.groupby("fold")["epoch"].nunique().max()) > 1


def fold_spread(history: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per epoch, the ``median``, ``low`` (lowest fold) and ``high`` (highest fold) of
    ``column`` over the folds that reached that epoch, and ``n_folds``: what
    :func:`training_curves` draws (the one summary computed in this module)."""
    h = history.dropna(subset=[column])
    by = h.groupby("epoch", sort=True)[column]
    return pd.DataFrame({"median": by.median(), "low": by.min(), "high": by.max(),
                         "n_folds": by.size()}).reset_index()


_CURVES = (("loss", "training", _BLUE, "solid"), ("val_loss", "validation", _ORANGE, "dot"))


def training_curves(
    history: pd.DataFrame, title: str = "Training curves", show_folds: bool = False
) -> go.Figure:
    """Loss per epoch from a run's ``history.csv`` (``fold, epoch, loss, ..., val_loss``):
    for training (solid) and validation people (dotted), the median over folds as a line
    and a shaded band from the lowest to the highest fold; with ``show_folds`` also each
    fold as a thin line (one legend entry for all of them). Whole-number epoch ticks; the
    legend sits above the plot, clear of every title."""
    fig = go.Figure()
    n_folds = int(history["fold"].nunique()) if len(history) else 0
    for column, name, colour, dash in _CURVES:
        if column not in history or not history[column].notna().any():
            continue
        spread = fold_spread(history, column)
        if show_folds:
            for i, (_, h) in enumerate(history.dropna(subset=[column]).groupby("fold", sort=True)):
                fig.add_scatter(
                    x=h["epoch"], y=h[column], mode="lines", name=f"{name} (each fold)",
                    legendgroup=f"{column}-folds", showlegend=i == 0, opacity=0.35,
                    line={"color": colour, "dash": dash, "width": 1},
                    hovertemplate=f"fold {int(h['fold'].iloc[0]) + 1}, epoch %{{x}}: %{{y:.3f}}"
                    "<extra></extra>",
                )
        if n_folds > 1:
            fig.add_scatter(
                x=spread["epoch"], y=spread["high"], mode="lines", line={"width": 0},
                legendgroup=f"{column}-band", showlegend=False, hoverinfo="skip",
            )
            fig.add_scatter(
                x=spread["epoch"], y=spread["low"], mode="lines", line={"width": 0},
                fill="tonexty", fillcolor=_rgba(colour, 0.18), legendgroup=f"{column}-band",
                name=f"{name} (lowest to highest fold)", hoverinfo="skip",
            )
        fig.add_scatter(
            x=spread["epoch"], y=spread["median"], mode="lines",
            name=f"{name} (median)" if n_folds > 1 else name,
            line={"color": colour, "dash": dash, "width": 2.5},
            customdata=spread["n_folds"],
            hovertemplate="epoch %{x}: %{y:.3f} (median of %{customdata} folds)<extra></extra>",
        )
    last = int(history["epoch"].max()) if len(history) else 1
    entries = sum(t.showlegend is not False for t in fig.data)
    if n_folds > 1:
        title = f"{title}: median of {n_folds} folds"
    fig.update_layout(
        title={"text": title, "y": 0.98, "yanchor": "top"},
        xaxis_title="epoch",
        yaxis_title="loss",
        height=440 + 24 * entries,
        # the legend sits between the title and the plot; room for one entry per line on a
        # narrow screen, so it never covers the title
        margin={"t": 50 + 26 * entries, "b": 50, "l": 50, "r": 20},
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"},
    )
    step = max(1, int(np.ceil(last / 10)))  # whole epochs, about ten ticks
    fig.update_xaxes(tickmode="linear", tick0=1 if step == 1 else 0, dtick=step,
                     range=[0.8, last + 0.2] if last > 1 else [0.5, 1.5])
    return fig


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"
