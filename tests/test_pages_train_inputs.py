"""Train page (AppTest): numbers out of range are refused in a sentence naming the range and
Start is off; the recommended protocol fits the number of people and the settings survive a
visit to another page; a model fitted in one step shows no epochs; scoring the shipped model
is its own action, named as such in the run list."""

from __future__ import annotations

import pandas as pd
import pytest
from data_builders import tapakah
from pages_support import local_app, texts

from fer_engine.analytics.synthetic import (
    loso_folds,
    synthetic_config,
    synthetic_predictions,
    write_run_folder,
)
from fer_engine.experiments import jobs
from fer_engine.experiments.jobs import JobSpec, JobStatus
from fer_engine.experiments.protocols import protocol_label
from fer_engine.experiments.spec import ExperimentSpec


@pytest.fixture
def runs(tmp_path):
    yield tmp_path / "runs"
    jobs.get_manager().shutdown()


def train_page(monkeypatch, runs, data=None):
    at = local_app(monkeypatch, runs)
    if data is not None:
        at.session_state["dataset_path"] = str(data)
        at.session_state["dataset_source"] = "folder"
    at.switch_page("pages/2_Train.py").run()
    assert not at.exception, at.exception
    return at


def test_numbers_out_of_range_are_refused_and_start_is_off(monkeypatch, runs):
    at = train_page(monkeypatch, runs)
    at.selectbox(key="train_model").set_value("cnn")
    at.selectbox(key="train_protocol").set_value("group-kfold").run()
    assert not at.button(key="train_start").disabled
    at.number_input(key="train_k").set_value(99999999999)
    at.number_input(key="train_epochs").set_value(99999999999)
    at.number_input(key="train_seed").set_value(1e20).run()
    assert not at.exception, at.exception
    errors = texts(at.error)
    assert "Folds (k) must be a whole number from 2 to 19; 99,999,999,999 is not." in errors
    assert "Epochs (maximum) must be a whole number from 1 to 500; 99,999,999,999 is not." in errors
    assert "Seed must be a whole number from 0 to 1,000,000;" in errors
    assert at.button(key="train_start").disabled
    assert "Start is off until the folds and epochs and seed are in range." in texts(at.caption)
    assert at.session_state["my_jobs"] == []
    for key, value in (("train_k", 3), ("train_epochs", 2), ("train_seed", 7)):
        at.number_input(key=key).set_value(value)
    at.run()
    assert not at.button(key="train_start").disabled and "must be a whole number" not in texts(at.error)


def test_hosted_demo_refuses_epochs_above_its_cap(monkeypatch, runs):
    monkeypatch.setenv("FER_DEMO_MAX_EPOCHS", "3")
    at = local_app(monkeypatch, runs)
    monkeypatch.setenv("FER_HOSTED_DEMO", "1")
    at.switch_page("pages/2_Train.py").run()
    at.selectbox(key="train_model").set_value("cnn").run()
    at.number_input(key="train_epochs").set_value(4).run()
    assert "Epochs (maximum) must be a whole number from 1 to 3; 4 is not." in texts(at.error)
    assert at.button(key="train_start").disabled


def test_many_people_get_grouped_folds_and_the_choice_survives_a_page_change(
        tmp_path, monkeypatch, runs):
    data = tapakah(tmp_path / "study", sets=[str(i) for i in range(40)],
                   emotions=("Anger", "Happy"), write_meta=False)
    at = train_page(monkeypatch, runs, data)
    assert at.selectbox(key="train_protocol").value == "group-kfold"  # not 40 LOSO trainings
    caption = texts(at.caption)
    assert "Recommended for 80 images of 40 people:" in caption
    assert "under **Grouped k-fold (5 folds)**" in caption
    assert "leave-one-subject-out would train 40 models" in caption

    at.selectbox(key="train_protocol").set_value("holdout")
    at.selectbox(key="train_model").set_value("cnn").run()
    at.number_input(key="train_epochs").set_value(12).run()
    at.switch_page("pages/3_Results.py").run()
    at.switch_page("pages/2_Train.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="train_protocol").value == "holdout"
    assert at.selectbox(key="train_model").value == "cnn"
    assert at.number_input(key="train_epochs").value == 12


def test_few_people_keep_leave_one_subject_out(monkeypatch, runs):
    at = train_page(monkeypatch, runs)  # the demo data: 19 people
    assert at.selectbox(key="train_protocol").value == "loso"
    assert "under **Leave-one-subject-out**" in texts(at.caption)


def test_the_transfer_head_has_no_epochs_and_scoring_is_its_own_action(monkeypatch, runs):
    at = train_page(monkeypatch, runs)
    assert at.selectbox(key="train_model").value == "transfer"  # 152 images
    keys = {w.key for w in at.number_input}
    assert "train_epochs" not in keys and "train_seed" in keys
    assert not [c for c in at.checkbox if str(c.key).startswith("train_aug_")]
    assert "The head is fitted in one step per fold" in texts(at.caption)
    at.checkbox(key="train_finetune").check().run()  # fine-tuning trains epoch by epoch
    assert "train_epochs" in {w.key for w in at.number_input}
    # scoring is not an evaluation protocol but a button of its own
    assert protocol_label("none") not in at.selectbox(key="train_protocol").options
    assert at.button(key="train_score").label == "Score the shipped model on this data"
    assert at.button(key="train_start").label == "Start training"


def status(experiment: ExperimentSpec, **fields) -> JobStatus:
    return JobStatus("job1", JobSpec(experiment, data="d", dataset_label="study"), "running",
                     "2026-01-01T00:00:00", **fields)


def test_progress_of_a_job_without_epochs_says_so():
    from dashboard import train_ui

    running = dict(phase="fit", fold=2, n_folds=5, epoch=1, n_epochs=1, batch=1, n_batches=1,
                   fold_accuracy={0: 0.8, 1: 0.75})
    head = status(ExperimentSpec("transfer", "group-kfold"), **running)
    line = train_ui.job_line(head)
    assert line == "Fitting fold 3 of 5 (in one step, no epochs): transfer / group-kfold on study"
    assert "epoch" not in line.replace("no epochs", "")
    assert train_ui.fold_results(head) == "Test accuracy of the folds done: fold 1: 80.0%, fold 2: 75.0%."
    cnn = status(ExperimentSpec("cnn", "loso"), **{**running, "epoch": 4, "n_epochs": 30})
    assert train_ui.job_line(cnn) == "Training fold 3 of 5, epoch 4 of 30: cnn / loso on study"
    scoring = status(ExperimentSpec("pretrained", "none"), phase="fit", n_folds=1)
    line = train_ui.job_line(scoring)
    assert line == "Scoring the images: Shipped model scored on this data (no training) on study"
    assert "fold" not in line


def test_the_run_list_names_the_scoring_run_and_says_it_is_not_like_for_like(monkeypatch, runs):
    trained = synthetic_predictions(seed=1)
    write_run_folder(runs / "20260101-000000-cnn-loso-aaaa", trained,
                     synthetic_config(run_id="20260101-000000-cnn-loso-aaaa"), loso_folds(trained))
    scored = trained[trained["true"] != "contempt"].reset_index(drop=True)
    config = synthetic_config(model="pretrained", protocol="none",
                              run_id="20260101-000100-pretrained-none-bbbb")
    config["created"] = "2026-01-01T00:01:00"
    write_run_folder(runs / "20260101-000100-pretrained-none-bbbb", scored, config,
                     loso_folds(scored))
    at = train_page(monkeypatch, runs)
    table = at.dataframe[0].value
    assert list(table["name"]) == [
        "Shipped model scored on this data (no training)", "cnn / loso"]
    note = texts(at.info)
    assert "Not like for like: the shipped model's accuracy counts 7 emotions on 133 images" in note
    assert "counts 8 emotions on 152 images" in note and "contempt" in note
    picker = at.selectbox(key="train_run_pick")
    assert picker.options[0].startswith("Shipped model scored on this data (no training) · ")
    assert not any("fold 0" in t for t in (texts(at.markdown), texts(at.caption)))


def test_the_page_says_where_the_folds_run(monkeypatch, runs):
    monkeypatch.setenv("FER_WORKERS", "2")
    at = train_page(monkeypatch, runs)
    assert ("Folds run on this machine, up to 2 at a time, on a local Ray with 2 workers "
            "(FER_WORKERS sets how many; a run of one fold runs on its own).") in texts(at.caption)
    monkeypatch.setenv("FER_RAY_ADDRESS", "10.0.0.5:6379")
    at.run()
    assert ("Folds run on the Ray cluster at 10.0.0.5:6379 (FER_RAY_ADDRESS); the run records "
            "the nodes that fitted them.") in texts(at.caption)
    monkeypatch.setenv("FER_WORKERS", "many")
    monkeypatch.delenv("FER_RAY_ADDRESS")
    at.run()
    assert not at.exception
    assert "FER_WORKERS='many' is not a whole number of at least 1." in texts(at.caption)
