"""Results page (AppTest) on run folders written by fer_engine.analytics.synthetic (predictions
drawn at random, no training): several runs, the paired comparison, the leakage contrast."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from pages_support import local_app, texts

from fer_engine.analytics.synthetic import (
    default_participants,
    loso_folds,
    synthetic_config,
    synthetic_predictions,
    write_run_folder,
)


def write_run(runs, run_id, model, protocol, accuracy, seed, created):
    pred = synthetic_predictions(accuracy=accuracy, seed=seed)
    config = synthetic_config(model=model, protocol=protocol, run_id=run_id)
    config["created"] = created
    history = pd.DataFrame({"fold": [0, 0], "epoch": [1, 2], "loss": [2.0, 1.5],
                            "accuracy": [0.2, 0.4], "val_loss": [2.1, 1.9],
                            "val_accuracy": [0.2, 0.3], "learning_rate": [1e-3, 1e-3]})
    return write_run_folder(runs / run_id, pred, config, loso_folds(pred), history)


def results_page(monkeypatch, runs, shown: str):
    """The Results page over the run folders in ``runs``, showing the run at ``shown``."""
    at = local_app(monkeypatch, runs)
    at.session_state["results_n_boot"] = 200
    at.session_state["results_runs"] = [shown]
    at.switch_page("pages/3_Results.py").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def app(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    cnn = write_run(runs, "20260101-000000-cnn-loso-aaaa", "cnn", "loso", 0.45, 1,
                    "2026-01-01T00:00:00")
    svm = write_run(runs, "20260101-000100-hog_svm-loso-bbbb", "hog_svm", "loso", 0.30, 2,
                    "2026-01-01T00:01:00")
    paper = write_run(runs, "20260101-000200-cnn-paper-cccc", "cnn", "paper", 0.90, 3,
                      "2026-01-01T00:02:00")
    at = results_page(monkeypatch, runs, str(cnn))
    return at, {"cnn": str(cnn), "svm": str(svm), "paper": str(paper)}


def test_one_run_with_the_leakage_contrast_of_its_paper_run(app):
    at, runs = app
    assert at.multiselect(key="results_pick").value == [runs["cnn"]]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Chance level"] == "12.5%"
    body = texts(at.markdown)
    assert "152 test images of 19 people" in body
    assert "Leakage contrast: cnn" in body and "under the leaky paper protocol" in body
    assert "Rows: the true emotion" in texts(at.caption)
    # subgroup table: people and images per group, small groups warned about
    groups = at.dataframe[1].value
    other = groups[(groups["Grouped by"] == "Country") & (groups["Group"] == "Country: Other")]
    assert other.iloc[0]["People"] == 2 and other.iloc[0]["Images"] == 16
    assert "Groups of fewer than 5 people: Country: Other (2 people);" in texts(at.warning)
    assert len(at.get("plotly_chart")) >= 8  # 7 per run + the leakage contrast
    assert "test images come from" not in texts(at.warning)  # 19 people: no such warning


def test_a_run_tested_on_few_people_says_so_next_to_its_accuracy(tmp_path, monkeypatch):
    pred = synthetic_predictions(accuracy=0.5, seed=4, participants=default_participants()[:3])
    run_id = "20260101-000300-cnn-loso-dddd"
    path = write_run_folder(tmp_path / "runs" / run_id, pred, synthetic_config(run_id=run_id),
                            loso_folds(pred))
    at = results_page(monkeypatch, tmp_path / "runs", str(path))
    assert "24 test images of 3 people" in texts(at.markdown)
    assert ("The test images come from only 3 people: the accuracy can swing widely"
            in texts(at.warning))


def test_two_runs_on_the_same_images_are_compared(app):
    at, runs = app
    at.multiselect(key="results_pick").set_value([runs["cnn"], runs["svm"]]).run()
    assert not at.exception, at.exception
    assert len(at.tabs) >= 2
    body = texts(at.markdown)
    assert "McNemar's test" in body and "On the 152 images of 19 people both runs scored" in body
    assert re.search(r"a difference of [+-]\d+\.\d percentage points \(95% range", body)
    assert "McNemar p =" not in body
    assert "the range is rough" not in body  # 19 people
    # adding the paper run: a LEAKY banner on top of the page, and its tab says so
    at.multiselect(key="results_pick").set_value([runs["cnn"], runs["paper"]]).run()
    assert not at.exception, at.exception
    assert "LEAKY EVALUATION" in texts(at.error)
    assert any("(LEAKY)" in t.label for t in at.tabs)
    assert "Leakage contrast: cnn" in texts(at.markdown)
