"""Identity-shortcut probe on synthetic penultimate features."""

from __future__ import annotations

import numpy as np
import pytest

from fer_engine.analytics.probe import identity_probe

P, E, D = 10, 4, 12


def features(identity_scale: float, emotion_scale: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    who = np.repeat(np.arange(P), E)
    what = np.tile(np.arange(E), P)
    x = (
        rng.normal(size=(P, D))[who] * identity_scale
        + rng.normal(size=(E, D))[what] * emotion_scale
        + rng.normal(size=(P * E, D)) * 0.5
    )
    return x, who.astype(str), np.array(["anger", "fear", "happy", "sad"])[what]


def test_identity_shortcut_is_flagged():
    x, who, what = features(identity_scale=3.0, emotion_scale=0.0)
    r = identity_probe(x, who, what)
    assert r.identity_accuracy >= 0.9
    assert r.identity_chance == pytest.approx(1 / P) and r.emotion_chance == pytest.approx(1 / E)
    assert r.emotion_accuracy < 2 * r.emotion_chance
    assert r.identity_easy and r.emotion_near_chance and r.flag
    assert r.sentence.startswith("Warning") and "recognising people" in r.sentence
    assert list(r.per_emotion["held_out"]) == ["anger", "fear", "happy", "sad"]
    assert (r.per_emotion["n_images"] == P).all()
    assert r.identity_low <= r.identity_accuracy <= r.identity_high


def test_expression_features_are_not_flagged():
    x, who, what = features(identity_scale=0.0, emotion_scale=3.0)
    r = identity_probe(x, who, what)
    assert r.emotion_probe_accuracy >= 0.9 and r.identity_accuracy < 0.5
    assert not r.identity_easy and not r.flag
    assert "not easy to decode" in r.sentence


def test_model_accuracy_overrides_probe_for_the_flag():
    x, who, what = features(identity_scale=3.0, emotion_scale=3.0)
    r = identity_probe(x, who, what)
    assert r.identity_easy and not r.flag  # emotion decodable too
    r = identity_probe(x, who, what, model_accuracy=0.2)  # but the model itself is near chance
    assert r.emotion_source == "model" and r.emotion_accuracy == 0.2 and r.flag


def test_probe_input_checks():
    x, who, what = features(1.0, 1.0)
    with pytest.raises(ValueError):
        identity_probe(x[:, 0], who, what)
    with pytest.raises(ValueError):
        identity_probe(x, who[:-1], what)
    with pytest.raises(ValueError):
        identity_probe(x, np.zeros(len(who)), what)


@pytest.mark.slow
def test_run_features_from_a_real_hog_svm_run(tmp_path, monkeypatch):
    """The glue: fold models of a real (tiny) run featurise the run's own images."""
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    from fer_engine.analytics.inputs import as_eval_run
    from fer_engine.analytics.probe import run_features
    from fer_engine.data.synthetic import generate
    from fer_engine.errors import ModelError
    from fer_engine.experiments.spec import ExperimentSpec
    from fer_engine.experiments.training import run_experiment

    data = generate(tmp_path / "data", participants=3, seed=0)
    path = run_experiment(
        data,
        ExperimentSpec(model="hog_svm", protocol="loso", detect=False, augment=False,
                       val_fraction=0),
        out_dir=tmp_path / "runs",
    )
    run = as_eval_run(path)
    feats, notes = run_features(path)
    assert feats.shape == (len(run.predictions), 1764) and notes == []
    # row i's features come from the model of row i's fold: recompute one row by hand
    from fer_engine.data import load_dataset
    from fer_engine.models import load_model
    from fer_engine.preprocess import prepare_dataset

    row = 5
    model = load_model(path, fold=int(run.predictions["fold"].iloc[row]))
    ds = load_dataset(data)
    prepared = prepare_dataset(ds, model.input_spec, detect=False)
    i = list(ds.table["path"].astype(str)).index(str(run.predictions["path"].iloc[row]))
    assert np.allclose(model.features(prepared.X[i : i + 1])[0], feats[row])
    r = identity_probe(feats, run.predictions["participant"], run.predictions["true"])
    assert r.n_participants == 3 and r.per_emotion.shape[0] == 8
    with pytest.raises(ModelError, match="not at"):
        run_features(path, dataset=tmp_path / "nowhere")
