"""Results page as a clinician reads it, second part (AppTest on run folders written by
fer_engine.analytics.synthetic): the PPV slider's value is the one used after switching runs,
a model fitted in one step shows no curves, scoring the shipped model is named as such, and
the headline numbers read in plain words."""

from __future__ import annotations

import re

import pandas as pd
from pages_support import local_app, texts

from fer_engine.analytics.synthetic import (
    loso_folds,
    synthetic_config,
    synthetic_predictions,
    write_run_folder,
)


def history(n_folds: int = 2, epochs: int = 3) -> pd.DataFrame:
    rows = [(f, e, 2.0 / e, 0.3, 2.2 / e, 0.2, 1e-3)
            for f in range(n_folds) for e in range(1, epochs + 1)]
    return pd.DataFrame(rows, columns=["fold", "epoch", "loss", "accuracy", "val_loss",
                                       "val_accuracy", "learning_rate"])


def write_run(runs, run_id, *, model="cnn", protocol="loso", seed=1, created="2026-01-01T00:00:00",
              drop_anger=0, hist=None, labels=None):
    """A run folder of predictions drawn at random; ``drop_anger`` anger images left out
    (another prevalence of anger)."""
    pred = synthetic_predictions(accuracy=0.5, seed=seed)
    if drop_anger:
        pred = pred.drop(pred.index[pred["true"] == "anger"][:drop_anger]).reset_index(drop=True)
    config = synthetic_config(model=model, protocol=protocol, run_id=run_id,
                              **({"labels": labels} if labels else {}))
    config["created"] = created
    return str(write_run_folder(runs / run_id, pred, config, loso_folds(pred),
                                history() if hist is None else hist))


def open_results(monkeypatch, runs, shown=None):
    at = local_app(monkeypatch, runs)
    at.session_state["results_n_boot"] = 200
    if shown:
        at.session_state["results_runs"] = list(shown)
    at.switch_page("pages/3_Results.py").run()
    assert not at.exception, at.exception
    return at


def ppv_caption(at) -> str:
    return next(c.value for c in at.caption if "Red diamond" in str(c.value))


def test_the_prevalence_slider_shows_the_value_used_after_switching_runs(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    a = write_run(runs, "20260101-000000-cnn-loso-aaaa")  # anger: 19 of 152 images, 12.5 %
    b = write_run(runs, "20260101-000100-cnn-loso-bbbb", seed=2, drop_anger=10,
                  created="2026-01-01T00:01:00")  # anger: 9 of 142 images, 6.3 %
    at = open_results(monkeypatch, runs, [a])
    [slider] = [s for s in at.slider if "prevalence" in s.label]
    assert round(slider.value, 3) == 0.125 and "made up 12.5% of the faces" in ppv_caption(at)
    at.multiselect(key="results_pick").set_value([b]).run()
    assert not at.exception, at.exception
    [slider] = [s for s in at.slider if "prevalence" in s.label]
    assert round(slider.value, 3) == 0.063  # this run's own prevalence
    assert "made up 6.3% of the faces" in ppv_caption(at)
    slider.set_value(0.2).run()
    assert "made up 20.0% of the faces" in ppv_caption(at)
    at.multiselect(key="results_pick").set_value([a]).run()  # back: run a's own value
    [slider] = [s for s in at.slider if "prevalence" in s.label]
    assert f"made up {slider.value:.1%} of the faces" in ppv_caption(at)


def one_step_history(n_folds: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"fold": range(n_folds), "epoch": 1, "loss": 0.9, "accuracy": 0.7,
                         "val_loss": float("nan"), "val_accuracy": float("nan"),
                         "learning_rate": float("nan")})


def test_a_head_fitted_in_one_step_shows_no_curves(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    write_run(runs, "20260101-000000-transfer-loso-aaaa", model="transfer",
              hist=one_step_history())
    at = open_results(monkeypatch, runs)
    assert "Training curves per fold" not in texts(at.markdown)
    assert "The head is fitted in one step per fold" in texts(at.caption)
    # confusion, per emotion, PPV, groups, people, calibration: no empty curves chart
    assert len(at.get("plotly_chart")) == 6
    assert not any("Training curves" in str(c.proto.spec) for c in at.get("plotly_chart"))


def test_scoring_run_is_named_and_not_set_beside_a_trained_run_without_a_note(
        tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    trained = write_run(runs, "20260101-000000-cnn-loso-aaaa")
    pred = synthetic_predictions(accuracy=0.5, seed=3)
    scored = pred[pred["true"] != "contempt"].assign(fold=0).reset_index(drop=True)
    config = synthetic_config(model="pretrained", protocol="none",
                              run_id="20260101-000100-pretrained-none-bbbb")
    one_fold = [{"fold": 0, "train": [], "val": [], "test": sorted(scored["participant"].unique()),
                 "overlap": []}]
    scoring = str(write_run_folder(runs / "20260101-000100-pretrained-none-bbbb", scored, config,
                                   one_fold))
    at = open_results(monkeypatch, runs, [scoring, trained])
    assert [t.label for t in at.tabs][:2] == ["Shipped model scored on this data (no training)",
                                              "cnn / loso"]
    note = texts(at.info)
    assert "Not like for like: the shipped model's accuracy counts 7 emotions on 133 images" in note
    people = at.dataframe[2].value  # the scoring run's per-person table: one fold, none shown
    assert "Tested in fold" not in people.columns
    label = next(o for o in at.multiselect(key="results_pick").options
                 if "pretrained" in o or "Shipped" in o)
    assert label.startswith("Shipped model scored on this data (no training) · ")


def test_headline_numbers_read_in_plain_words(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    write_run(runs, "20260101-000000-cnn-loso-aaaa", drop_anger=10)  # 142 images, 19 each but anger
    at = open_results(monkeypatch, runs)
    cards = {m.label: m for m in at.metric}
    accuracy = cards["Accuracy (95% range from resampling people)"].value
    assert re.fullmatch(r"\d+\.\d% \(\d+\.\d%–\d+\.\d%\)", accuracy)
    assert cards["Chance level"].value == "13.4%"  # always the most frequent emotion: 19 of 142
    assert all(m.proto.help for m in at.metric)  # a help icon on every card
    assert "always answering the most frequent emotion" in cards["Chance level"].proto.help
    assert "F1, average over emotions" in cards and "Dice" in cards["F1, average over emotions"].proto.help
    people = at.dataframe[2].value
    folds = {int(f) for f in people["Tested in fold"]}
    assert min(folds) == 1 and max(folds) == 19  # folds numbered from 1
    assert "(7 to 8 images each)" in texts(at.caption)
