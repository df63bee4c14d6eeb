"""Run-folder helpers without training: metrics, predictions table, atomic writer, JSON safety."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from fer_engine.experiments.runs import (
    RUN_ID_PATTERN,
    RunWriter,
    list_runs,
    new_run_id,
    predictions_frame,
    summary_metrics,
    write_json,
)


def test_summary_metrics_by_hand():
    pred = pd.DataFrame({"true": ["anger", "anger", "sad", "sad"], "pred": ["anger", "sad", "sad", "sad"],
                         "participant": ["1", "1", "2", "3"]})
    m = summary_metrics(pred, ("anger", "happy", "sad"))
    assert m["accuracy"] == pytest.approx(0.75)
    # anger: P 1, R 1/2, F1 2/3; sad: P 2/3, R 1, F1 4/5; happy never occurs: not averaged
    assert m["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert m["n_samples"] == 4 and m["n_participants"] == 3


def test_predictions_frame_column_order_and_values():
    table = pd.DataFrame({"path": ["/a.jpg", "/b.jpg"], "participant": [7, 8], "emotion": ["Happy", "sad"],
                          "split": [None, None], "gender": ["female", "male"], "age": [30.0, 41.0],
                          "duplicate_group": [None, None], "handedness": ["left", "right"]})
    samples = pd.DataFrame({"sample_id": ["/b.jpg", "/a.jpg#aug1"], "row": [1, 0]})
    frame = predictions_frame(samples, table, np.array([0, 0]), np.array([[0.2, 0.8], [0.9, 0.1]]),
                              ("happy", "sad"))
    assert list(frame.columns) == ["sample_id", "path", "participant", "gender", "age", "handedness", "fold",
                                   "true", "pred", "p_happy", "p_sad"]
    assert frame["path"].tolist() == ["/b.jpg", "/a.jpg"] and frame["participant"].tolist() == ["8", "7"]
    assert frame["true"].tolist() == ["sad", "happy"] and frame["pred"].tolist() == ["sad", "happy"]


def test_run_ids_follow_the_contract():
    rid = new_run_id("hog_svm", "group-kfold")
    assert RUN_ID_PATTERN.match(rid) and re.match(r"^\d{8}-\d{6}-hog_svm-group-kfold-[0-9a-f]{4}$", rid)


def test_writer_commits_atomically_and_aborts_cleanly(tmp_path):
    with RunWriter("20260101-000000-cnn-loso-0001", tmp_path) as w:
        w.write_json("config.json", {"run_id": "x", "created": "2026-01-01T00:00:00", "status": "complete"})
        assert list_runs(tmp_path).empty  # still partial
        with pytest.raises(RuntimeError, match="metrics.json missing"):
            w.commit()
        w.write_json("metrics.json", {"accuracy": 0.5, "macro_f1": float("nan")})
        final = w.commit()
    assert final.name == "20260101-000000-cnn-loso-0001" and not (tmp_path / ".20260101-000000-cnn-loso-0001.partial").exists()
    assert json.loads((final / "metrics.json").read_text())["macro_f1"] is None  # NaN is not valid JSON
    assert len(list_runs(tmp_path)) == 1
    with pytest.raises(KeyboardInterrupt):
        with RunWriter("20260101-000000-cnn-loso-0002", tmp_path) as w:
            w.write_json("config.json", {})
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20260101-000000-cnn-loso-0001"]


def test_json_is_made_safe(tmp_path):
    write_json(tmp_path / "x.json", {"a": np.int64(3), "b": np.array([1.5, np.inf]), "c": (tmp_path,)})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 3, "b": [1.5, None], "c": [str(tmp_path)]}


def _existing_run(root):
    """A run folder as training writes it (files trimmed to a few rows and keys)."""
    path = root / "20260101-000000-hog_svm-holdout-b172"
    (path / "models").mkdir(parents=True)
    write_json(path / "config.json", {
        "run_id": path.name, "created": "2026-01-01T00:00:00", "finished": "2026-01-01T00:00:01",
        "labels": ["anger", "happy"],
        "model": {"name": "hog_svm", "input_spec": {"size": 64, "channels": 1, "normalisation": "raw"},
                  "options": {"C": 10.0}, "format": "joblib", "weights": "none"},
        "protocol": {"name": "holdout", "leaky": False, "participant_independent": True, "n_folds": 1,
                     "test_size": 0.25, "validation": "", "notes": []},
        "dataset": {"root": "/data", "name": "demo", "layout": "tapakah68", "synthetic": True,
                    "participants_known": True, "fingerprint": "f", "n_images": 4, "n_participants": 2},
        "seed": 0, "status": "complete"})
    write_json(path / "folds.json", [{"fold": 0, "train": ["7"], "val": [], "test": ["8"], "overlap": [],
                                      "overlap_images": 0, "overlap_duplicates": 0, "n_train": 2,
                                      "n_val": 0, "n_test": 2}])
    write_json(path / "metrics.json", {"accuracy": 0.5, "macro_f1": 1 / 3, "n_samples": 2, "n_participants": 1,
                                       "protocol": "holdout", "leaky": False, "participant_independent": True})
    (path / "predictions.csv").write_text(
        "sample_id,path,participant,gender,fold,true,pred,p_anger,p_happy\n"
        "/data/8/Anger.jpg,/data/8/Anger.jpg,08,male,0,anger,anger,0.75,0.25\n"
        "/data/8/Happy.jpg,/data/8/Happy.jpg,08,male,0,happy,anger,0.625,0.375\n")
    (path / "history.csv").write_text(
        "fold,epoch,loss,accuracy,val_loss,val_accuracy,learning_rate\n0,1,1.5,0.5,,,\n")
    return path


def test_an_existing_run_folder_loads(tmp_path):
    from fer_engine.analytics.inputs import as_eval_run
    from fer_engine.experiments.runs import load_run

    path = _existing_run(tmp_path)
    run = load_run(path.name, root=tmp_path)
    assert run.path == path and run.run_id == path.name and run.labels == ("anger", "happy")
    assert run.label == "hog_svm / holdout" and not run.leaky and run.synthetic
    assert run.predictions_path == path / "predictions.csv"
    assert run.predictions["participant"].tolist() == ["08", "08"]  # ids stay text
    assert run.predictions["p_anger"].tolist() == [0.75, 0.625]
    assert run.history["loss"].tolist() == [1.5] and run.folds[0]["test"] == ["8"]
    assert run.metrics["macro_f1"] == pytest.approx(1 / 3) and run.fold_of("/data/8/Happy.jpg") == 0
    evaluated = as_eval_run(run)
    assert evaluated.run_id == path.name and evaluated.path == path and evaluated.labels == ("anger", "happy")
    assert evaluated.predictions["correct"].tolist() == [True, False] and evaluated.metrics["accuracy"] == 0.5
    assert evaluated.title == f"hog_svm / holdout ({path.name})" and not evaluated.leaky
    listed = list_runs(tmp_path)
    assert listed[["run_id", "model", "protocol", "leaky", "accuracy"]].to_dict("records") == [
        {"run_id": path.name, "model": "hog_svm", "protocol": "holdout", "leaky": False, "accuracy": 0.5}]


def test_a_run_is_leaky_by_its_protocol_or_its_folds(tmp_path):
    from fer_engine.experiments.runs import load_run

    path = _existing_run(tmp_path)
    folds = json.loads((path / "folds.json").read_text())
    folds[0]["overlap"] = ["8"]
    write_json(path / "folds.json", folds)
    run = load_run(path)
    assert run.leaky and run.label == "hog_svm / holdout (LEAKY)"
    config = json.loads((path / "config.json").read_text())
    config["protocol"]["name"] = "paper"
    write_json(path / "config.json", config)
    assert bool(list_runs(tmp_path)["leaky"][0])


def test_missing_and_damaged_runs_are_clear_errors(tmp_path):
    from fer_engine.analytics.inputs import as_eval_run
    from fer_engine.errors import ModelError
    from fer_engine.experiments.runs import load_run

    with pytest.raises(ModelError, match="No run folder 'nope'"):
        load_run("nope", root=tmp_path)
    path = _existing_run(tmp_path)
    (path / "predictions.csv").unlink()
    assert load_run(path).predictions.empty
    with pytest.raises(ModelError, match="has no predictions.csv"):
        as_eval_run(path)
    (path / "metrics.json").write_text("{not json")
    with pytest.raises(ModelError, match="metrics.json cannot be read"):
        load_run(path)
    assert list_runs(tmp_path).empty


def test_deleting_a_run_removes_its_export_zip_and_nothing_else(tmp_path, monkeypatch):
    from fer_engine.errors import ModelError
    from fer_engine.experiments.runs import delete_run, exports_dir, zip_run

    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    runs = tmp_path / "runs"
    runs.mkdir()
    path = _existing_run(runs)
    archive = zip_run(path, root=runs)  # the Train page's download: the default export folder
    assert archive == exports_dir() / f"{path.name}.zip" and archive.is_file()
    other = exports_dir() / "20260101-000000-cnn-loso-aaaa.zip"  # another run's zip stays
    other.write_bytes(b"zip")
    elsewhere = zip_run(path, dest=tmp_path / "mine.zip", root=runs)  # a place the user chose
    delete_run(path.name, root=runs)
    assert not path.exists() and not archive.exists()
    assert other.is_file() and elsewhere.is_file()
    with pytest.raises(ModelError, match="No run folder"):  # gone: a clear error, not a crash
        delete_run(path.name, root=runs)


def test_a_bare_run_id_names_that_runs_model(tmp_path):
    from fer_engine.errors import ModelError
    from fer_engine.experiments.runs import load_trained_model

    path = _existing_run(tmp_path)  # its models/ folder is empty
    with pytest.raises(ModelError, match=re.escape(f"{path} holds no model file")):
        load_trained_model(path.name, root=tmp_path)  # the id was found under root
    with pytest.raises(ModelError, match="No model found at nope: give a run folder"):
        load_trained_model("nope", root=tmp_path)


def test_synthetic_runs_are_written_through_the_run_writer(tmp_path):
    from fer_engine.analytics.synthetic import (
        loso_folds,
        synthetic_config,
        synthetic_predictions,
        write_run_folder,
    )
    from fer_engine.experiments.runs import load_run

    runs = tmp_path / "runs"
    pred = synthetic_predictions(accuracy=0.5, seed=1)
    run_id = "20260101-000000-cnn-loso-5e7d"
    path = write_run_folder(runs / run_id, pred, synthetic_config(run_id=run_id), loso_folds(pred))
    assert path == runs / run_id and sorted(p.name for p in runs.iterdir()) == [run_id]
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "folds.json", "metrics.json",
                                                      "predictions.csv"]  # nothing trained: no models/
    run = load_run(run_id, root=runs)
    assert run.synthetic and len(run.folds) == 19 and len(run.predictions) == len(pred) == 152
    assert run.metrics == {"accuracy": pytest.approx((pred["true"] == pred["pred"]).mean()),
                           "n_samples": 152, "n_participants": 19}
    assert list_runs(runs)["run_id"].tolist() == [run_id]
    with pytest.raises(FileExistsError):  # a run folder is never overwritten
        write_run_folder(runs / run_id, pred.head(8), synthetic_config(run_id=run_id))
    assert len(load_run(path).predictions) == 152
    with pytest.raises(TypeError):  # a failed write leaves no folder, hidden or not
        write_run_folder(runs / "broken", pred, {"run_id": "broken", "bad": object()})
    assert sorted(p.name for p in runs.iterdir()) == [run_id]
