"""The engine's words and charts behind the Results page and the study report: differences in
percentage points, plain p-values, folds numbered from 1, the per-person chart for many people,
the report's per-participant line and the order of its accuracy ranges."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fer_engine import format as fmt
from fer_engine.analytics import figures
from fer_engine.analytics.inputs import EvalRun
from fer_engine.analytics.report import (
    build_report,
    fold_numbers,
    predictions_for_people,
    render_html,
    render_text,
)
from fer_engine.analytics.synthetic import synthetic_config, synthetic_predictions


def test_differences_are_percentage_points_and_p_values_plain():
    assert fmt.points(0.087) == "+8.7 percentage points"
    assert fmt.points(-0.1, unit="") == "-10.0"
    assert fmt.points(None) == fmt.MISSING
    assert fmt.plain_p(3.94e-08) == "p < 0.001" and fmt.plain_p(0.0123) == "p = 0.012"
    assert fmt.run_name("pretrained", "none") == fmt.SCORED_RUN
    assert fmt.run_name("cnn", "paper", leaky=True) == "cnn / paper (LEAKY)"


def test_folds_are_numbered_from_one_for_people():
    assert fold_numbers("0") == "1" and fold_numbers("0,2") == "1, 3"
    pred = synthetic_predictions(seed=0)
    out = predictions_for_people(pred)
    assert out["fold"].min() == 1 and (out["fold"] == pred["fold"] + 1).all()
    assert pred["fold"].min() == 0  # the run's own table is left as it is


def test_per_person_chart_stays_readable_with_118_people():
    rng = np.random.default_rng(0)
    acc = rng.uniform(0.2, 1.0, 118)
    pp = pd.DataFrame({"participant": [str(i) for i in range(118)], "n_images": 8,
                       "accuracy": acc, "accuracy_low": acc - 0.2, "accuracy_high": acc + 0.1})
    fig = figures.participant_dots(pp)
    assert fig.layout.height <= 600
    ys = np.concatenate([np.asarray(t.y, dtype=float) for t in fig.data])
    xs = np.concatenate([np.asarray(t.x, dtype=float) for t in fig.data])
    assert np.all(np.diff(xs[np.argsort(ys)]) >= 0)  # ranked by accuracy
    few = figures.participant_dots(pp.head(19))
    assert few.layout.yaxis.type == "category" and len(few.data[0].y) == 19  # named rows


def test_report_gives_the_real_images_per_person_and_the_people_range_first():
    pred = synthetic_predictions(accuracy=0.5, seed=1)
    pred = pred.drop(pred.index[pred["true"] == "anger"][:5]).reset_index(drop=True)
    report = build_report([EvalRun.from_table(pred, synthetic_config())], n_boot=100)
    html, text = render_html(report), render_text(report)
    assert "with 7 to 8 images each" in html and "with 8 images each" not in html
    assert "Per participant (7 to 8 images each; lowest accuracy first)" in text
    for out in (html, text):
        assert out.index("from resampling people") < out.index("Wilson")
        assert "always answering the most frequent emotion" in out
