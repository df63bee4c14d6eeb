"""run_experiment end to end on a tiny synthetic dataset: run folder contract, every protocol,
atomic write, cancellation, progress, run listing, and the train CLI."""

from __future__ import annotations

import dataclasses
import json
import threading
import zipfile

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("keras")

from fer_engine.errors import TrainingCancelled  # noqa: E402
from fer_engine.experiments.runs import delete_run, list_runs, load_run, zip_run  # noqa: E402
from fer_engine.experiments.spec import ExperimentSpec  # noqa: E402
from fer_engine.experiments.training import run_experiment  # noqa: E402

LABELS = ("anger", "happy", "sad", "surprise")
DEMOGRAPHICS = ["gender", "age", "country", "country_group", "age_group"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """4 synthetic participants x 4 emotions = 16 portraits; pre-processing cached per module."""
    from fer_engine.data import load_dataset
    from fer_engine.data.synthetic import generate

    base = tmp_path_factory.mktemp("training")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FER_CACHE_DIR", str(base / "cache"))
        root = generate(base / "data", participants=4, emotions=LABELS)
        yield load_dataset(root)


@pytest.fixture
def runs(tmp_path, monkeypatch):
    path = tmp_path / "runs"
    monkeypatch.setenv("FER_RUNS_DIR", str(path))
    return path


@pytest.fixture(scope="module")
def cnn_loso(dataset, tmp_path_factory):
    """One real cnn loso run (4 folds, 1 epoch each) and the progress events it sent."""
    events = []
    path = run_experiment(dataset, ExperimentSpec("cnn", "loso", epochs=1, batch_size=8, seed=3),
                          out_dir=tmp_path_factory.mktemp("cnnruns"), progress=events.append)
    return path, events


def test_loso_run_folder_matches_the_contract(cnn_loso, dataset):
    path, _ = cnn_loso
    files = {p.name for p in path.iterdir()}
    assert files == {"config.json", "folds.json", "predictions.csv", "history.csv", "metrics.json", "models"}
    assert {p.name for p in (path / "models").iterdir()} == {f"fold_{k}.keras" for k in range(4)} | {"meta.json"}
    assert path.name.startswith(path.name[:15]) and "-cnn-loso-" in path.name

    config = json.loads((path / "config.json").read_text())
    assert config["run_id"] == path.name and config["status"] == "complete"
    assert config["labels"] == list(LABELS)
    assert config["model"]["name"] == "cnn" and config["model"]["weights"] == "none"
    assert config["model"]["input_spec"] == {"size": 48, "channels": 1, "normalisation": "unit"}
    proto = config["protocol"]
    assert proto["name"] == "loso" and proto["leaky"] is False and proto["participant_independent"] is True
    ds = config["dataset"]
    assert ds["synthetic"] is True and ds["n_images"] == 16 and ds["n_participants"] == 4
    assert ds["fingerprint"] == dataset.fingerprint and ds["participants_known"] is True
    tr = config["training"]
    assert tr["optimizer"] == "adam" and tr["loss"] == "categorical_crossentropy" and tr["epochs"] == 1
    assert tr["augmentation"]["horizontal_flip"] is True and tr["early_stopping"]["restore_best_weights"]
    assert "training participants" in tr["validation"]
    assert config["preprocess"]["detect"] is True and config["seed"] == 3
    assert config["preprocess"]["detector"] == "mtcnn" and config["preprocess"]["align"] is True
    assert {"python", "tensorflow", "keras", "numpy", "sklearn", "fer_engine"} <= set(config["versions"])

    pred = pd.read_csv(path / "predictions.csv", dtype={"participant": str})
    assert list(pred.columns) == (["sample_id", "path", "participant", *DEMOGRAPHICS, "fold", "true", "pred"]
                                  + [f"p_{lab}" for lab in LABELS])
    # pooled out-of-fold: every image scored exactly once, by the fold that held its participant out
    assert sorted(pred["sample_id"]) == sorted(dataset.table["path"]) and pred["sample_id"].is_unique
    np.testing.assert_allclose(pred[[f"p_{lab}" for lab in LABELS]].sum(axis=1), 1.0, atol=1e-5)
    probs = pred[[f"p_{lab}" for lab in LABELS]].to_numpy()
    assert (pred["pred"] == np.array(LABELS)[probs.argmax(1)]).all()

    folds = json.loads((path / "folds.json").read_text())
    assert [f["fold"] for f in folds] == [0, 1, 2, 3]
    for f in folds:
        scored = set(pred.loc[pred["fold"] == f["fold"], "participant"])
        assert scored == set(f["test"]) and len(f["test"]) == 1
        assert f["overlap"] == [] and not set(f["test"]) & set(f["train"] + f["val"])

    history = pd.read_csv(path / "history.csv")
    assert list(history.columns) == ["fold", "epoch", "loss", "accuracy", "val_loss", "val_accuracy",
                                     "learning_rate"]
    assert list(history["fold"]) == [0, 1, 2, 3] and (history["epoch"] == 1).all()

    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx((pred["true"] == pred["pred"]).mean())
    assert metrics["n_samples"] == 16 and metrics["n_participants"] == 4 and metrics["leaky"] is False
    assert 0 <= metrics["macro_f1"] <= 1


def test_progress_events_cover_every_fold(cnn_loso):
    _, events = cnn_loso
    kinds = [e.kind for e in events]
    assert kinds[-1] == "done" and "prepare" in kinds
    assert [e.fold for e in events if e.kind == "fold_start"] == [0, 1, 2, 3]
    assert [e.fold for e in events if e.kind == "fold_end"] == [0, 1, 2, 3]
    assert all(e.n_folds == 4 for e in events if e.kind != "prepare")
    batches = [e for e in events if e.kind == "batch_end"]
    assert batches and all(1 <= e.batch <= e.n_batches and "loss" in e.metrics for e in batches)
    epoch = next(e for e in events if e.kind == "epoch_end")
    assert {"loss", "accuracy", "val_loss", "learning_rate"} <= set(epoch.metrics)
    assert 0 <= events[-1].metrics["accuracy"] <= 1


def test_loading_a_run_and_its_fold_models(cnn_loso):
    path, _ = cnn_loso
    run = load_run(path)
    assert run.labels == LABELS and not run.leaky and len(run.folds) == 4
    sample = run.predictions["sample_id"].iloc[5]
    k = run.fold_of(sample)
    model = run.model(fold=k)
    assert model.labels == LABELS and model.keras_model is not None
    assert run.model().input_spec.size == 48  # default: last fold


def _official(dataset):
    """The same images with a split column: participants 0-2 train, 3 test."""
    table = dataset.table.copy()
    table["split"] = np.where(table["participant"].astype(str) == "3", "test", "train")
    return dataclasses.replace(dataset, table=table)


@pytest.mark.parametrize("protocol, options, n_scored, leaky", [
    ("loso", {}, 16, False),
    ("group-kfold", {"k": 2}, 16, False),
    ("holdout", {"test_size": 0.25}, 4, False),
    ("paper", {"augment_before_split": True, "copies": 2}, 10, True),  # 20 % of 16 x 3 samples
    ("official", {}, 4, False),
])
def test_every_protocol_writes_an_honest_run(dataset, runs, protocol, options, n_scored, leaky):
    data = _official(dataset) if protocol == "official" else dataset
    path = run_experiment(data, ExperimentSpec("hog_svm", protocol, seed=0, **options))
    run = load_run(path)
    pred = run.predictions
    assert len(pred) == n_scored and pred["sample_id"].is_unique
    assert run.config["protocol"]["leaky"] is leaky and run.metrics["leaky"] is leaky
    if leaky:
        assert "LEAKY" in run.metrics["warning"]
        assert pred["sample_id"].str.contains("#aug").any()
        assert sum(len(f["overlap"]) for f in run.folds) > 0
    else:
        assert all(f["overlap"] == [] for f in run.folds)
        for f in run.folds:
            assert not set(f["test"]) & set(f["train"] + f["val"])
    if protocol in ("loso", "group-kfold"):
        assert sorted(pred["sample_id"]) == sorted(dataset.table["path"])
    assert (path / "models" / "fold_0.joblib").is_file()
    assert list_runs()["run_id"].tolist() == [path.name]


def test_same_seed_same_predictions(dataset, runs):
    spec = ExperimentSpec("hog_svm", "group-kfold", k=2, seed=5)
    a = load_run(run_experiment(dataset, spec)).predictions
    b = load_run(run_experiment(dataset, spec)).predictions
    pd.testing.assert_frame_equal(a, b)


def test_an_interrupted_run_is_never_listed(dataset, runs):
    def explode(event):
        if event.kind == "fold_end" and event.fold == 1:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        run_experiment(dataset, ExperimentSpec("hog_svm", "loso"), progress=explode)
    assert list(runs.iterdir()) == []  # neither a run nor a partial folder is left
    assert list_runs().empty
    # what a killed process leaves behind: a partial folder (even a full one) and a half-written run
    (runs / ".20260101-000000-cnn-loso-abcd.partial").mkdir()
    for name in ("config.json", "metrics.json"):
        (runs / ".20260101-000000-cnn-loso-abcd.partial" / name).write_text("{}")
    (runs / "20260101-000000-cnn-loso-beef").mkdir()
    (runs / "20260101-000000-cnn-loso-beef" / "config.json").write_text("{}")
    assert list_runs().empty
    from fer_engine.errors import ModelError

    with pytest.raises(ModelError, match="No complete run"):
        load_run("20260101-000000-cnn-loso-beef")


def test_cancellation_stops_within_a_batch_and_leaves_nothing(dataset, runs):
    cancel = threading.Event()
    seen = []

    def on_event(event):
        seen.append(event.kind)
        if event.kind == "batch_end":
            cancel.set()

    with pytest.raises(TrainingCancelled):
        run_experiment(dataset, ExperimentSpec("cnn", "holdout", epochs=50, batch_size=4),
                       progress=on_event, cancel=cancel)
    assert seen.count("batch_end") == 1 and "fold_end" not in seen
    assert not runs.exists() or list(runs.iterdir()) == []
    with pytest.raises(TrainingCancelled):  # already set: stops before any work
        run_experiment(dataset, ExperimentSpec("hog_svm", "loso"), cancel=cancel)


def test_list_zip_delete(dataset, runs, tmp_path):
    path = run_experiment(dataset, ExperimentSpec("hog_svm", "holdout", test_size=0.25))
    listing = list_runs()
    assert list(listing.columns) == ["run_id", "created", "dataset", "fingerprint", "synthetic",
                                     "model", "protocol", "leaky", "accuracy", "macro_f1", "path"]
    assert listing.iloc[0]["fingerprint"] == dataset.fingerprint != ""
    row = listing.iloc[0]
    assert row["run_id"] == path.name and row["model"] == "hog_svm" and row["synthetic"]
    assert row["accuracy"] == pytest.approx(load_run(path).metrics["accuracy"])
    archive = zip_run(path.name, dest=tmp_path / "export")
    names = zipfile.ZipFile(archive).namelist()
    assert f"{path.name}/predictions.csv" in names and f"{path.name}/models/fold_0.joblib" in names
    delete_run(path.name)
    assert not path.exists() and list_runs().empty


def test_train_cli_prints_the_run_folder(dataset, runs, capsys):
    from fer_engine.cli import main

    code = main(["train", "--data", str(dataset.root), "--model", "hog_svm", "--protocol", "paper",
                 "--out", str(runs)])
    out, err = capsys.readouterr()
    assert code == 0
    path = out.strip().splitlines()[-1]
    assert load_run(path).config["protocol"]["name"] == "paper"
    assert "LEAKY" in err and "accuracy" in err and "SYNTHETIC" in err


def test_train_cli_offline_imagenet_is_one_line(dataset, runs, capsys, monkeypatch):
    from keras.src.utils import file_utils

    from fer_engine.cli import main

    def fail(fname, origin=None, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "get_file", fail)
    code = main(["train", "--data", str(dataset.root), "--model", "vgg16", "--input-size", "32"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("error: The ImageNet weights for VGG16 could not be downloaded")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not runs.exists() or list(runs.iterdir()) == []


def test_fold_models_remember_the_margin_their_faces_were_cut_at(dataset, runs):
    """A model trained on faces cut at a margin classifies photos at that margin; without
    detection (whole images) it keeps the engine's default."""
    from fer_engine.preprocess.crop import DEFAULT_MARGIN

    wide = load_run(run_experiment(dataset, ExperimentSpec("hog_svm", "group-kfold", k=2,
                                                           margin=0.35)))
    assert wide.config["preprocess"]["margin"] == 0.35 and wide.model().face_margin == 0.35
    assert json.loads((wide.path / "models" / "meta.json").read_text())["face_margin"] == 0.35
    plain = load_run(run_experiment(dataset, ExperimentSpec("hog_svm", "group-kfold", k=2)))
    assert plain.config["preprocess"]["margin"] == DEFAULT_MARGIN  # None: the model's own
    assert plain.model().face_margin == DEFAULT_MARGIN
    whole = load_run(run_experiment(dataset, ExperimentSpec("hog_svm", "group-kfold", k=2,
                                                            detect=False, margin=0.35)))
    assert whole.model().face_margin == DEFAULT_MARGIN
