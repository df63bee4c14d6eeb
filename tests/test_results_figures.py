"""The Results page's charts as figure objects: training curves of many folds summarised with
whole-epoch ticks and a legend clear of the titles; subgroup bars named in words, with counts
outside the bars' whiskers, sized for their rows."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from fer_engine.analytics import figures
from fer_engine.analytics.inputs import EvalRun
from fer_engine.analytics.report import build_report
from fer_engine.analytics.synthetic import synthetic_config, synthetic_predictions


def history(n_folds: int = 19, epochs: int = 15) -> pd.DataFrame:
    """Fold f stops early after ``epochs - f % 4`` epochs; its losses are shifted by f."""
    rows = [(f, e, 2 / e + f / 100, 0.3, 2.2 / e + f / 50, 0.2, 1e-3)
            for f in range(n_folds) for e in range(1, epochs + 1 - f % 4)]
    return pd.DataFrame(rows, columns=["fold", "epoch", "loss", "accuracy", "val_loss",
                                       "val_accuracy", "learning_rate"])


def legend_names(fig) -> list[str]:
    return [t.name for t in fig.data if t.showlegend is not False]


def test_training_curves_of_19_folds_are_a_median_and_a_band():
    h = history()
    fig = figures.training_curves(h)
    assert legend_names(fig) == [
        "training (lowest to highest fold)", "training (median)",
        "validation (lowest to highest fold)", "validation (median)",
    ]
    assert "median of 19 folds" in fig.layout.title.text
    median = next(t for t in fig.data if t.name == "training (median)")
    # epoch 1: folds 0..18 with losses 2 + f/100 -> median 2.09
    assert median.y[0] == pytest.approx(2.09)
    band = next(t for t in fig.data if t.name == "training (lowest to highest fold)")
    assert band.fill == "tonexty" and band.y[0] == pytest.approx(2.0)  # the lowest fold
    # epoch 15 only reached by folds 0, 4, 8, 12, 16
    spread = figures.fold_spread(h, "loss").set_index("epoch")
    assert spread.loc[15, "n_folds"] == 5
    assert spread.loc[15, "median"] == pytest.approx(2 / 15 + 0.08)
    assert spread.loc[15, "high"] == pytest.approx(2 / 15 + 0.16)


def test_training_curves_have_whole_epoch_ticks_and_a_legend_clear_of_titles():
    fig = figures.training_curves(history(epochs=15))
    x = fig.layout.xaxis
    assert x.tickmode == "linear" and x.dtick == 2 and float(x.dtick).is_integer()
    assert figures.training_curves(history(epochs=5)).layout.xaxis.dtick == 1
    assert figures.training_curves(history(epochs=200)).layout.xaxis.dtick == 20
    legend = fig.layout.legend
    # above the plot area (clear of the axis titles), in a top margin with room for one entry
    # per line under the figure title
    assert legend.orientation == "h" and legend.yanchor == "bottom" and legend.y >= 1
    assert fig.layout.margin.t >= 50 + 26 * len(legend_names(fig))


def test_each_fold_on_demand_adds_one_legend_entry_per_curve():
    fig = figures.training_curves(history(), show_folds=True)
    names = legend_names(fig)
    assert len(names) == 6 and names.count("training (each fold)") == 1
    assert sum(t.name == "training (each fold)" for t in fig.data) == 19


@pytest.fixture(scope="module")
def groups():
    run = EvalRun.from_table(synthetic_predictions(accuracy=0.45, seed=1), synthetic_config())
    return build_report([run], n_boot=50)["runs"][0].subgroups["groups"]


def plain(label: str) -> str:
    return re.sub(r"<[^>]+>", " ", label).replace("  ", " ")


def test_subgroup_bars_name_groups_in_words_with_counts_off_the_bars(groups):
    fig = figures.subgroup_bars(groups)
    bar = fig.data[0]
    assert bar.orientation == "h" and len(bar.y) == len(groups) == 23
    labels = [plain(y) for y in bar.y]
    joined = " ".join(labels)
    assert "_" not in joined and " x " not in joined and "country_group" not in joined
    assert any(lbl.startswith("Country: RU · Age: 31 or older · Gender: male ")
               for lbl in (" ".join(s.split()) for s in labels))
    assert any("Age: under 31" in lbl for lbl in labels)
    # counts are part of each bar's label, none is printed on the bar where whiskers run
    assert bar.text is None
    row = groups.iloc[::-1].reset_index(drop=True).iloc[0]
    assert f"{row.n_participants} people, {row.n_images} images" in labels[0]
    assert sum("⚠" in lbl for lbl in labels) == int(groups["small_sample"].sum())


def test_subgroup_bars_grow_with_their_rows(groups):
    tall = figures.subgroup_bars(groups)
    short = figures.subgroup_bars(groups.iloc[:3])
    assert tall.layout.height > 23 * 2 * figures.LINE_HEIGHT > short.layout.height
    assert tall.layout.yaxis.automargin is True
    # hovering says the same in words, the p-value as text
    assert np.all([not str(v).startswith("country") for v in tall.data[0].customdata[:, 0]])


def test_leakage_contrast_bars_write_their_percentages_clear_of_the_whiskers():
    table = pd.DataFrame({"protocol": ["loso", "paper"], "leaky": [False, True],
                          "accuracy": [0.43, 0.93], "accuracy_boot_low": [0.33, 0.89],
                          "accuracy_boot_high": [0.52, 0.96]})
    [bar] = figures.accuracy_comparison(table).data
    assert list(bar.text) == ["43%", "93%"] and list(bar.x) == ["loso", "paper (LEAKY)"]
    # inside the bar, at its foot: a whisker runs from the bar's top, so text there overlaps it
    assert bar.textposition == "inside" and bar.insidetextanchor == "start"
