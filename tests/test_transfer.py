"""The ``transfer`` family (the shipped FER2013 network's features under a new head) and scoring
the shipped model on a dataset with no training (``pretrained`` / ``none``), end to end on a
tiny synthetic dataset that includes contempt, with the network offline."""

from __future__ import annotations

import io
import json
import socket

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from fer_engine.errors import ModelError  # noqa: E402
from fer_engine.experiments.runs import load_run  # noqa: E402
from fer_engine.experiments.spec import ExperimentSpec  # noqa: E402
from fer_engine.experiments.training import fit_folds, plan_experiment, run_experiment  # noqa: E402
from fer_engine.models import MODEL_LABELS, MODEL_NAMES, create, load_model, recommended_model  # noqa: E402
from fer_engine.models import transfer  # noqa: E402
from fer_engine.models.base import TrainConfig  # noqa: E402

LABELS = ("anger", "contempt", "happy", "sad", "surprise")
N_PEOPLE = 5
FER7 = ("anger", "disgust", "fear", "happy", "neutral", "sad", "surprise")


@pytest.fixture(scope="module")
def offline():
    """No socket may connect and Keras may not fetch a file while the runs are made."""
    fetched = []

    def no_connect(self, *args, **kwargs):
        raise OSError("network disabled in this test")

    def no_fetch(*args, **kwargs):
        fetched.append(args)
        raise OSError("download attempted")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", no_connect)
        mp.setattr(keras.utils, "get_file", no_fetch)
        yield fetched


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """5 synthetic participants x 5 emotions (contempt included) = 25 portraits."""
    from fer_engine.data import load_dataset
    from fer_engine.data.synthetic import generate

    base = tmp_path_factory.mktemp("transfer")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FER_CACHE_DIR", str(base / "cache"))
        root = generate(base / "data", participants=N_PEOPLE, emotions=LABELS)
        yield load_dataset(root)


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("transfer_runs")


SPEC = ExperimentSpec("transfer", "loso", seed=1, detect=False)


@pytest.fixture(scope="module")
def transfer_run(dataset, runs_dir, offline):
    """A transfer loso run; the participants every head was fitted on (a spy on fit_head)."""
    heads = []
    original = transfer.fit_head

    def spy(F, y_idx, groups, *args, **kwargs):
        heads.append(sorted(set(np.asarray(groups).astype(str))))
        return original(F, y_idx, groups, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(transfer, "fit_head", spy)
        path = run_experiment(dataset, SPEC, out_dir=runs_dir)
    return path, heads


@pytest.fixture(scope="module")
def scoring_run(dataset, runs_dir, offline):
    return run_experiment(dataset, ExperimentSpec("pretrained", "none", detect=False),
                          out_dir=runs_dir)


# --------------------------------------------------------------------------- catalogue


def test_catalogue_spec_and_recommendation():
    assert "transfer" in MODEL_NAMES and "pretrained" in MODEL_NAMES
    assert list(MODEL_LABELS)[0] == "transfer" and "pretrained" not in MODEL_LABELS
    assert recommended_model(152) == "transfer" and recommended_model(999) == "transfer"
    assert recommended_model(1000) == "cnn"
    with pytest.raises(ModelError, match="'none' protocol"):
        ExperimentSpec("pretrained", "loso")
    with pytest.raises(ModelError, match="'none' protocol"):
        ExperimentSpec("cnn", "none")
    with pytest.raises(ModelError, match="transfer model only"):
        ExperimentSpec("cnn", "loso", finetune=True)
    with pytest.raises(ModelError, match="trained model"):
        create("pretrained", LABELS)
    spec = ExperimentSpec("transfer", "loso", finetune=True)
    assert ExperimentSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec


def test_train_cli_accepts_transfer_finetune_and_scoring():
    import argparse

    from fer_engine.commands import train

    p = argparse.ArgumentParser()
    train.add_arguments(p)
    spec = train.spec_from_args(p.parse_args(["--model", "transfer", "--finetune"]))
    assert spec.model == "transfer" and spec.finetune is True
    spec = train.spec_from_args(p.parse_args(["--model", "pretrained", "--protocol", "none"]))
    assert (spec.model, spec.protocol, spec.finetune) == ("pretrained", "none", False)


# --------------------------------------------------------------------------- features


def test_features_are_computed_once_per_image_per_run(dataset, tmp_path, offline):
    planned = plan_experiment(dataset, SPEC)
    m = planned.model
    n = len(planned.X)
    assert n == N_PEOPLE * len(LABELS) and len(planned.plan.folds) == N_PEOPLE
    passes = []
    original = m._views

    def counting(X, batch_size=256):
        passes.append(len(X))
        return original(X, batch_size)

    m._views = counting
    frames, history = fit_folds(planned, tmp_path)
    distinct = len({x.tobytes() for x in planned.X})
    assert passes == [distinct] and m.trunk_images == distinct == n  # one batched pass, 5 folds
    assert sum(len(f) for f in frames) == n and len(history) == N_PEOPLE

    # what the head sees: the mean of the face's and its mirror image's penultimate features
    fm = keras.Model(m.keras_model.inputs[0], m.keras_model.get_layer("drop2").output)
    x = planned.X[:4].astype(np.float32) / 255.0
    expected = (np.asarray(fm(x)) + np.asarray(fm(x[:, :, ::-1, :]))) / 2
    np.testing.assert_allclose(m.features(planned.X[:4]), expected, rtol=1e-4, atol=1e-5)
    assert passes == [distinct]  # looked up, not recomputed


# --------------------------------------------------------------------------- no leakage


def test_the_head_never_sees_a_test_participant(transfer_run):
    path, heads = transfer_run
    run = load_run(path)
    folds = run.folds
    assert len(heads) == len(folds) == N_PEOPLE
    recorded = run.config["model"]["folds"]
    for fold, seen, rec in zip(folds, heads, recorded, strict=True):
        assert set(seen) == set(fold["train"]) | set(fold["val"])
        assert not set(seen) & set(fold["test"])
        assert rec["participants"] == seen and rec["n_participants"] == N_PEOPLE - 1
        assert rec["C"] in transfer.CS and rec["inner_folds"] == N_PEOPLE - 1
    assert run.config["training"]["augmentation"] is None
    assert run.config["model"]["base"]["sha256"] == run.config["model"]["options"]["base"]["sha256"]
    assert len(run.config["model"]["base"]["sha256"]) == 64


def test_inner_cross_validation_keeps_people_whole():
    groups = np.repeat([f"p{i}" for i in range(7)], 3)
    splits = transfer.grouped_splits(groups)
    assert len(splits) == transfer.INNER_FOLDS
    tested = []
    for tr, va in splits:
        assert not set(groups[tr]) & set(groups[va])
        tested += list(groups[va])
    assert sorted(tested) == sorted(groups)
    assert transfer.grouped_splits(np.array(["a", "a"])) == []


def test_head_weights_reproduce_logistic_regression():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 2, 3], 20)
    F = np.abs(rng.normal(size=(60, 16))) + np.eye(16)[y] * 2
    groups = np.repeat(np.arange(12), 5).astype(str)
    W, b, info = transfer.fit_head(F, y, groups, n_classes=5)
    p = transfer._softmax(F @ W + b)
    assert info["classes"] == [0, 2, 3] and info["inner_folds"] == 5
    assert p[:, [1, 4]].max() < 1e-10  # classes with no training image
    assert (p.argmax(1) == y).mean() > 0.9
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)


# --------------------------------------------------------------------------- round trip


def test_a_transfer_run_round_trips_through_models_report_and_gradcam(transfer_run, dataset):
    from fer_engine.analytics.report import build_report, render
    from fer_engine.explain import explain

    path, _ = transfer_run
    run = load_run(path)
    assert run.model_name == "transfer" and run.labels == LABELS
    assert sorted(p.name for p in run.models_dir.iterdir()) == sorted(
        [f"fold_{k}.keras" for k in range(N_PEOPLE)] + ["meta.json"])

    # the saved fold model reproduces the run's out-of-fold probabilities
    planned = plan_experiment(dataset, SPEC)
    last = N_PEOPLE - 1
    test = planned.plan.folds[last].test
    model = run.model()  # the last fold, as the Classify page and explanations load it
    assert model.name == "transfer"
    pred = run.predictions.set_index("sample_id").loc[planned.plan.samples["sample_id"].iloc[test]]
    expected = pred[[f"p_{lab}" for lab in LABELS]].to_numpy()
    np.testing.assert_allclose(model.predict_proba(planned.X[test]), expected, atol=1e-5)

    # one flat functional graph from the 48x48 gray face to the new classes
    km = model.keras_model
    assert type(km).__name__ == "Functional"
    assert not any(hasattr(layer, "layers") for layer in km.layers)
    assert tuple(km.input_shape) == (None, 48, 48, 1) and tuple(km.output_shape) == (None, 5)
    peaks = []
    for x in planned.X[test].astype(np.float32) / 255.0:
        ex = explain(model, x, "gradcam", implementation="tf-keras-vis")
        fast = explain(model, x, "gradcam", implementation="fast")
        assert ex.layer == fast.layer == "block4_conv3" and ex.map.shape == (48, 48)
        assert np.isfinite(ex.map).all() and ex.predicted_label in LABELS
        assert (ex.map.max() > 0) == (fast.map.max() > 0)  # same evidence, own upsampling
        if ex.map.max() > 0:
            assert np.corrcoef(ex.map.ravel(), fast.map.ravel())[0, 1] > 0.8
        peaks.append(float(ex.map.max()))
    # a face whose class evidence is negative everywhere has an empty map (so does the shipped
    # model's own Grad-CAM on some faces); most are not
    assert sum(p == 1.0 for p in peaks) >= len(peaks) // 2

    report = build_report([path], n_boot=50)
    html = render(report, "html")
    assert "transfer / loso" in html
    assert report["runs"][0].overall.n_samples == N_PEOPLE * len(LABELS)


def test_the_classify_page_loads_a_transfer_run(transfer_run, dataset):
    from PIL import Image

    from fer_engine.inference.classify import classify_image

    path, _ = transfer_run
    model = load_model(str(path))  # what dashboard.model_choice loads for a run
    buf = io.BytesIO()
    Image.open(dataset.table["path"].iloc[0]).convert("RGB").save(buf, "PNG")
    result = classify_image(model, buf.getvalue(), name="face.png", detect=False)
    assert result.labels == LABELS and len(result.faces) == 1
    p = result.faces[0].probabilities
    assert abs(float(np.sum(p)) - 1) < 1e-5 and result.faces[0].label in LABELS
    ensemble = load_model(str(path), fold="all")
    assert ensemble.predict_proba(result.faces[0].pixels[None]).shape == (1, 5)


def test_finetune_trains_the_last_block_and_restores_the_base_per_fold(offline):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (16, 48, 48, 1), dtype=np.uint8)
    y = np.array(["anger", "happy"] * 8)
    groups = np.repeat(["a", "b", "c", "d"], 4)
    m = create("transfer", ("anger", "happy"), finetune=True)
    km = m.keras_model
    before = {n: km.get_layer(n).get_weights()[0].copy() for n in ("block1_conv1", "block4_conv3")}
    config = TrainConfig(epochs=2, batch_size=8, learning_rate=1e-3, augmentation=None,
                         early_stopping=None, reduce_lr=None)
    rows = m.fit(X[:12], y[:12], X_val=X[12:], y_val=y[12:], groups=groups[:12],
                 groups_val=groups[12:], config=config)
    assert [r["epoch"] for r in rows] == [1, 2] and np.isfinite(rows[-1]["val_loss"])
    assert np.array_equal(km.get_layer("block1_conv1").get_weights()[0], before["block1_conv1"])
    assert not np.allclose(km.get_layer("block4_conv3").get_weights()[0], before["block4_conv3"])
    assert m.fit_info["participants"] == ["a", "b", "c"]
    m.reinitialise(seed=1)
    assert np.array_equal(km.get_layer("block4_conv3").get_weights()[0], before["block4_conv3"])
    assert not np.any(km.get_layer("predictions").get_weights()[0])


# --------------------------------------------------------------------------- scoring


def test_scoring_the_shipped_model_leaves_out_contempt_with_a_note(scoring_run, dataset):
    from fer_engine.analytics.inputs import as_eval_run
    from fer_engine.analytics.report import build_report, render

    run = load_run(scoring_run)
    assert run.model_name == "pretrained" and run.protocol_name == "none"
    assert run.labels == FER7 and not run.leaky
    from fer_engine.models.pretrained import FACE_MARGIN

    # the dataset's faces are cut at the shipped model's own margin, and its copy keeps it
    assert run.config["preprocess"]["margin"] == FACE_MARGIN == run.model().face_margin
    pred = run.predictions
    n_scored = N_PEOPLE * (len(LABELS) - 1)
    assert len(pred) == n_scored and "contempt" not in set(pred["true"])
    assert [c for c in pred.columns if c.startswith("p_")] == [f"p_{lab}" for lab in FER7]
    m = run.metrics
    assert m["n_samples"] == n_scored and m["not_scored"]["contempt"]["n_images"] == N_PEOPLE
    assert sum(m["not_scored"]["contempt"]["answers"].values()) == N_PEOPLE
    note = m["notes"][0]
    assert note.startswith("Contempt: 5 image(s) not scored") and "excluded from accuracy" in note
    assert note in run.config["protocol"]["notes"]
    assert np.isclose(m["accuracy"], (pred["true"] == pred["pred"]).mean())
    excluded = [e for e in run.config["dataset"]["excluded"] if "cannot output" in e["reason"]]
    assert len(excluded) == N_PEOPLE and all(e["reason"].startswith("contempt:") for e in excluded)
    assert run.config["training"]["trained"] is False
    assert run.config["model"]["base"]["sha256"] == run.config["model"]["base"]["sha256"].lower()

    # the served function: the shipped model's own probabilities on the same images
    served = load_model("pretrained")
    planned = plan_experiment(dataset, ExperimentSpec("pretrained", "none", detect=False))
    np.testing.assert_allclose(served.predict_proba(planned.X),
                               pred[[f"p_{lab}" for lab in FER7]].to_numpy(), atol=1e-5)
    assert run.model().labels == FER7  # the run's copy of the shipped model loads

    assert note in as_eval_run(scoring_run).notes
    text = render(build_report([scoring_run], n_boot=50), "text")
    assert "Contempt: 5 image(s) not scored" in text


def test_transfer_and_cnn_runs_compare_image_by_image(transfer_run, scoring_run, dataset,
                                                     runs_dir):
    from fer_engine.analytics.compare import compare_runs
    from fer_engine.analytics.inputs import as_eval_run

    cnn = run_experiment(dataset, ExperimentSpec("cnn", "loso", epochs=1, batch_size=8,
                                                 seed=1, detect=False), out_dir=runs_dir)
    runs = [as_eval_run(transfer_run[0]), as_eval_run(cnn), as_eval_run(scoring_run)]
    out = compare_runs(runs, n_boot=50)
    assert not out["leakage"] and not out["notes"]
    pairs = {(p.name_a.split(" ")[0], p.name_b.split(" ")[0]): p for p in out["paired"]}
    tc = pairs[("transfer", "cnn")]
    assert tc.n_shared == N_PEOPLE * len(LABELS) and tc.n_only_a == tc.n_only_b == 0
    assert np.isclose(tc.accuracy_a, runs[0].metrics["accuracy"])
    assert np.isclose(tc.accuracy_b, runs[1].metrics["accuracy"])
    ts = pairs[("transfer", "Shipped")]  # "Shipped model scored on this data (no training)"
    assert ts.n_shared == N_PEOPLE * (len(LABELS) - 1) and ts.n_only_a == N_PEOPLE


def test_offline_nothing_was_downloaded(transfer_run, scoring_run, offline):
    assert offline == []
    assert pd.notna(load_run(transfer_run[0]).metrics["accuracy"])


# --------------------------------------------------------------------------- pages


def test_train_page_recommends_transfer_and_offers_scoring(tmp_path, monkeypatch):
    from pages_support import local_app, texts

    from fer_engine.experiments.protocols import protocol_label

    at = local_app(monkeypatch, tmp_path / "runs")
    at.switch_page("pages/2_Train.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="train_model").value == "transfer"  # the 152-image demo data
    assert ("Recommended for 152 images of 19 people: **Transfer from the shipped FER2013 "
            "network** under **Leave-one-subject-out**") in texts(at.caption)
    assert at.checkbox(key="train_finetune").value is False
    assert protocol_label("none") not in at.selectbox(key="train_protocol").options
    assert at.button(key="train_score").label == "Score the shipped model on this data"
    assert "No training: the shipped FER2013 model answers every image" in texts(at.caption)


def test_results_page_shows_what_the_shipped_model_cannot_answer(scoring_run, monkeypatch):
    from pages_support import local_app, texts

    at = local_app(monkeypatch, scoring_run.parent)
    at.session_state["results_n_boot"] = 200
    at.session_state["results_runs"] = [str(scoring_run)]
    at.switch_page("pages/3_Results.py").run()
    assert not at.exception, at.exception
    assert "Contempt: 5 image(s) not scored" in texts(at.warning)
    assert "excluded from accuracy" in texts(at.warning)
    assert "Note: Contempt" not in texts(at.caption)  # said once, as a warning
