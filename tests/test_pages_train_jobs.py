"""Train page (AppTest): the protocols offered fit the dataset; a finished training selects its
run for the buttons; a second browser session follows the server's training to its result;
images that could not be read are said; deleting a run removes its zip."""

from __future__ import annotations

import shutil

import pytest
from pages_support import local_app, run_until, shared_cache, small_dataset, texts

from fer_engine.analytics.synthetic import (
    loso_folds,
    synthetic_config,
    synthetic_predictions,
    write_run_folder,
)
from fer_engine.experiments import jobs
from fer_engine.experiments.protocols import protocol_label
from fer_engine.experiments.runs import exports_dir, list_runs

OLD_RUN = "20260101-000000-cnn-loso-0ld0"


@pytest.fixture
def runs(tmp_path):
    """A runs folder holding one earlier run."""
    pred = synthetic_predictions(seed=0)
    write_run_folder(tmp_path / "runs" / OLD_RUN, pred, synthetic_config(run_id=OLD_RUN),
                     loso_folds(pred))
    yield tmp_path / "runs"
    jobs.get_manager().shutdown()  # the server-wide manager of the shared cache folder


def train_page(monkeypatch, runs, data=None):
    """A new browser session on the Train page (``data``: a dataset folder to make active)."""
    at = local_app(monkeypatch, runs)
    if data is not None:
        at.session_state["dataset_path"] = str(data)
        at.session_state["dataset_source"] = "folder"
    at.switch_page("pages/2_Train.py").run()
    assert not at.exception, at.exception
    return at


def test_only_protocols_the_data_support_are_offered(tmp_path, monkeypatch, runs):
    from data_builders import write_image

    data = tmp_path / "no-ids"  # class folders with a train/test split, no manifest: nobody known
    for split in ("train", "test"):
        for e in ("angry", "happy", "sad"):
            for i in range(3):
                write_image(data / split / e / f"{i}.png", size=(48, 48))
    at = train_page(monkeypatch, runs, data)
    picker = at.selectbox(key="train_protocol")
    assert picker.options == [protocol_label(p) for p in ("official", "paper")]  # scoring: a button
    assert picker.value == "official"  # the first the data allow, never the leaky one
    caption = texts(at.caption)
    assert "Leave-one-subject-out needs participant ids; this dataset has none." in caption
    assert "Grouped k-fold needs participant ids; this dataset has none." in caption

    at.session_state["dataset_path"] = None  # the synthetic demo: people known, no split
    at.run()
    picker = at.selectbox(key="train_protocol")
    assert picker.value == "loso" and protocol_label("official") not in picker.options
    assert "The dataset's own split needs train and test folders" in texts(at.caption)


def test_a_finished_training_is_selected_shown_everywhere_and_says_what_it_left_out(
        tmp_path, monkeypatch, runs):
    data = tmp_path / "data"
    shutil.copytree(small_dataset(shared_cache()), data)
    bad = data / "images" / "0" / "Anger.jpg"
    bad.write_bytes(bad.read_bytes()[:20] + b"\x00" * 200 + b"\xff\xd9")  # decoding fails

    first = train_page(monkeypatch, runs, data)
    assert first.selectbox(key="train_run_pick").value == OLD_RUN  # the only run so far
    first.selectbox(key="train_model").set_value("hog_svm")
    first.selectbox(key="train_protocol").set_value("holdout")
    first.slider(key="train_val_fraction").set_value(0.0)  # HOG+SVM: two images per emotion
    first.run()
    first.button(key="train_start").click().run()
    assert not first.error, texts(first.error)

    # another browser: no job of its own, yet it follows the server's training
    second = train_page(monkeypatch, runs)
    assert "No training started yet" not in texts(second.caption)
    assert "hog_svm / holdout" in texts(second.markdown)
    assert "started in another browser" in texts(second.caption)

    run_until(first, lambda a: "Finished: run" in texts(a.success) or a.error, timeout=240)
    assert not first.error, texts(first.error)
    (new,) = set(list_runs(runs)["run_id"]) - {OLD_RUN}
    # the run picker moved to the new run, and the page names the run the buttons act on
    assert first.selectbox(key="train_run_pick").value == new
    assert f"Selected: **hog_svm / holdout · {new}**" in texts(first.markdown)
    left_out = "1 of 32 images could not be read and were left out (first: images/0/Anger.jpg"
    assert left_out in texts(first.warning)

    second.run()  # the other browser sees the result too
    assert f"Finished: run `{new}`" in texts(second.success)
    assert left_out in texts(second.warning)
    assert second.selectbox(key="train_run_pick").value == new
    assert "No training started yet" not in texts(second.caption)

    # the zip prepared for download goes with the run
    first.button(key="train_zip").click().run()
    archive = exports_dir() / f"{new}.zip"
    assert archive.is_file()
    first.checkbox(key=f"confirm_delete_{new}").check().run()
    first.button(key="train_delete").click().run()
    assert not first.exception, first.exception
    assert list(list_runs(runs)["run_id"]) == [OLD_RUN] and not archive.exists()
    assert first.selectbox(key="train_run_pick").value == OLD_RUN


def test_finished_runs_table_shows_percentages_and_a_dash_for_what_a_run_lacks(monkeypatch, runs):
    at = train_page(monkeypatch, runs)
    table = at.dataframe[0].value
    [row] = table.to_dict("records")
    assert row["accuracy"].endswith("%") and float(row["accuracy"][:-1]) > 0
    assert row["macro_f1"] == "—"  # this run's metrics.json has no macro-F1: never "None"
    assert row["data"].count("synthetic") == 1  # not "synthetic demo ... (synthetic)"
