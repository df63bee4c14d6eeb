"""The four model families behind one interface: train one tiny epoch on synthetic faces,
predict, featurise, save/load; ImageNet weights offline; load_model's sources."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

pytest.importorskip("keras")

from fer_engine.errors import ModelError, WeightsUnavailableError  # noqa: E402
from fer_engine.models import (  # noqa: E402
    FULL_AUGMENTATION,
    EnsembleModel,
    TrainConfig,
    create,
    load_model,
)
from fer_engine.models.base import class_weights, encode_labels  # noqa: E402
from fer_engine.preprocess import InputSpec, normalise  # noqa: E402

LABELS = ("anger", "happy", "sad", "surprise")
#: family -> (create options, penultimate feature size)
FAMILIES = {
    "cnn": ({}, 128),
    "resnet50": ({"weights": "none", "input_size": 32, "unfreeze": "conv5"}, 256),
    "vgg16": ({"weights": "none", "input_size": 32}, 256),
    "hog_svm": ({}, 1764),
}


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """A tiny synthetic dataset (4 participants x 4 emotions) as (dataset, prepare(spec))."""
    from fer_engine.data import load_dataset
    from fer_engine.data.synthetic import generate
    from fer_engine.preprocess import prepare_dataset

    root = generate(tmp_path_factory.mktemp("synth") / "data", participants=4, emotions=LABELS)
    ds = load_dataset(root)

    def prepare(spec):
        prepared = prepare_dataset(ds, spec, cache=False)
        assert prepared.ok.all()
        return prepared.X, ds.table["emotion"].to_numpy()

    return ds, prepare


@pytest.fixture(scope="module")
def trained(faces):
    """Each family trained for one epoch on 12 synthetic faces (random initialisation)."""
    _, prepare = faces
    out = {}
    for name, (options, _) in FAMILIES.items():
        model = create(name, LABELS, **options)
        X, y = prepare(model.input_spec)
        events = []
        # ResNet50 is the slowest graph to trace: it skips the validation pass (same code as the others)
        val = {} if name == "resnet50" else {"X_val": X[12:], "y_val": y[12:]}
        history = model.fit(X[:12], y[:12], **val, config=TrainConfig(epochs=1, batch_size=8, seed=0),
                            progress=events.append)
        out[name] = (model, X, y, history, events)
    return out


@pytest.mark.parametrize("name", list(FAMILIES))
def test_each_family_trains_predicts_and_featurises(trained, name):
    model, X, y, history, events = trained[name]
    assert model.labels == LABELS
    assert len(history) == 1
    row = history[0]
    assert set(row) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert np.isfinite(row["loss"]) and 0 <= row["accuracy"] <= 1
    if name != "resnet50":
        assert 0 <= row["val_accuracy"] <= 1
        assert events[-1].metrics["val_loss"] == pytest.approx(row["val_loss"])
    assert [e.kind for e in events].count("epoch_end") == 1
    p = model.predict_proba(X)
    assert p.shape == (16, 4) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    # uint8 pixels and pre-normalised floats give the same answer, in batches of any size
    np.testing.assert_allclose(model.predict_proba(normalise(X, model.input_spec), batch_size=5), p,
                               atol=1e-5)
    assert list(model.predict(X[:3])) == [LABELS[i] for i in p[:3].argmax(1)]
    assert model.features(X[:3]).shape == (3, FAMILIES[name][1])


@pytest.mark.parametrize("name", ["cnn", "vgg16", "hog_svm"])  # resnet50: same code as vgg16, 4x slower
def test_save_and_load_give_the_same_probabilities(trained, name, tmp_path):
    model, X, *_ = trained[name]
    path = model.save(tmp_path, stem="fold_0")
    assert path.name == f"fold_0.{'joblib' if name == 'hog_svm' else 'keras'}"
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["name"] == name and meta["labels"] == list(LABELS)
    assert InputSpec.from_dict(meta["input_spec"]) == model.input_spec
    for source in (path, tmp_path):
        again = load_model(source)
        assert type(again) is type(model) and again.input_spec == model.input_spec
        np.testing.assert_allclose(again.predict_proba(X), model.predict_proba(X), atol=1e-6)


def test_the_face_margin_travels_in_meta_json(trained, tmp_path):
    from fer_engine.preprocess.crop import DEFAULT_MARGIN

    model = trained["hog_svm"][0]
    model.face_margin = 0.07
    try:
        path = model.save(tmp_path)
    finally:
        model.face_margin = DEFAULT_MARGIN
    assert load_model(path).face_margin == 0.07
    meta = json.loads((tmp_path / "meta.json").read_text())
    del meta["face_margin"]  # written before models knew their margin
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    assert load_model(path).face_margin == DEFAULT_MARGIN


def test_keras_models_are_flat_functional_graphs(trained):
    import keras

    for name in ("cnn", "resnet50", "vgg16"):
        km = trained[name][0].keras_model
        assert isinstance(km, keras.Model) and type(km).__name__ == "Functional"
        assert not any(isinstance(layer, keras.Model) for layer in km.layers), f"{name} is nested"
        assert km.layers[-1].name == "predictions"
        assert km.input_shape[1:] == trained[name][0].input_spec.shape
    assert trained["hog_svm"][0].keras_model is None
    # resnet50: frozen base except conv5 (BatchNorm stays frozen); head trainable
    resnet = trained["resnet50"][0].keras_model
    trainable = {layer.name for layer in resnet.layers if layer.trainable and layer.weights}
    assert "conv5_block3_3_conv" in trainable and "conv4_block6_3_conv" not in trainable
    assert "conv5_block3_3_bn" not in trainable and {"head_dense1", "features", "predictions"} <= trainable
    vgg = trained["vgg16"][0].keras_model
    assert not any(layer.trainable for layer in vgg.layers if layer.name.startswith("block"))


def test_the_cnn_is_the_first_studys_architecture(trained):
    km = trained["cnn"][0].keras_model
    convs = [layer for layer in km.layers if layer.__class__.__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [32, 64, 128] and all(c.kernel_size == (3, 3) for c in convs)
    assert sum(layer.__class__.__name__ == "MaxPooling2D" for layer in km.layers) == 3
    assert km.get_layer("features").units == 128 and km.get_layer("dropout").rate == 0.5
    assert km.input_shape == (None, 48, 48, 1) and km.output_shape == (None, 4)
    assert trained["resnet50"][0].input_spec == InputSpec(32, 3, "resnet50")
    assert trained["vgg16"][0].input_spec == InputSpec(32, 3, "vgg16")
    assert trained["hog_svm"][0].input_spec == InputSpec(64, 1, "raw")


def test_the_cnn_learns_an_easy_task():
    """Bright vs dark squares: a few epochs must separate them (a model that cannot learn fails)."""
    rng = np.random.default_rng(0)
    n = 64
    y = np.array(["happy", "sad"] * (n // 2))
    X = rng.integers(0, 90, (n, 24, 24, 1)).astype(np.uint8)
    X[y == "happy", 6:18, 6:18] += 150
    model = create("cnn", ("happy", "sad"), input_size=24)
    model.fit(X, y, config=TrainConfig(epochs=8, batch_size=16, augmentation=None, learning_rate=3e-3))
    assert (model.predict(X) == y).mean() >= 0.95


def test_hog_svm_learns_orientation():
    """Horizontal vs vertical stripes are what HOG sees best: the SVM must get them all."""
    rng = np.random.default_rng(1)
    X, y = [], []
    for i in range(40):
        stripes = np.zeros((64, 64), np.uint8)
        period = rng.integers(6, 12)
        stripes[(np.arange(64) // period) % 2 == 0, :] = 200
        img = stripes if i % 2 else stripes.T
        X.append(np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)[..., None])
        y.append("happy" if i % 2 else "sad")
    X, y = np.stack(X), np.array(y)
    model = create("hog_svm", ("happy", "sad"))
    model.fit(X[:30], y[:30])
    assert (model.predict(X[30:]) == y[30:]).all()


def _offline(monkeypatch):
    """Make Keras's downloader fail exactly as it does here without internet (measured)."""
    from keras.src.utils import file_utils

    def fail(fname, origin=None, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "get_file", fail)


@pytest.mark.parametrize("name, options", [("resnet50", {}), ("vgg16", {"weights": "imagenet"})])
def test_imagenet_offline_is_one_clear_sentence(monkeypatch, name, options):
    """ImageNet is the transfer models' default (resnet50 here: no weights argument) and an
    offline failure is never silently replaced by random weights."""
    _offline(monkeypatch)
    with pytest.raises(WeightsUnavailableError) as info:
        create(name, LABELS, input_size=32, **options)
    msg = str(info.value)
    assert "could not be downloaded" in msg and "--weights FILE" in msg and "--weights none" in msg
    assert "\n" not in msg and msg.count(". ") == 0 and msg.endswith(".")


def test_weights_file_missing_or_loaded(tmp_path):
    import keras

    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        create("vgg16", LABELS, weights=str(tmp_path / "nope.h5"), input_size=32)
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    file = tmp_path / "vgg16_notop.weights.h5"
    base.save_weights(file)
    model = create("vgg16", LABELS, weights=str(file), input_size=32)
    np.testing.assert_array_equal(model.keras_model.get_layer("block1_conv1").get_weights()[0],
                                  base.get_layer("block1_conv1").get_weights()[0])
    with pytest.raises(WeightsUnavailableError, match="no ImageNet weights"):
        create("cnn", LABELS, weights="imagenet")


def test_tf_normalisation_matches_preprocess():
    from fer_engine.models.keras_base import tf_normalise
    from fer_engine.preprocess import NORMALISATIONS

    x = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    for norm in NORMALISATIONS:
        spec = InputSpec(8, 3, norm)
        np.testing.assert_allclose(np.asarray(tf_normalise(x, spec)), normalise(x, spec), atol=1e-4)


def test_augmentation_settings():
    from fer_engine.models.base import resolve_augmentation

    assert resolve_augmentation("flip") == {"horizontal_flip": True} == TrainConfig().augmentation
    assert resolve_augmentation(True) == {"horizontal_flip": True}  # True: the recommended default
    assert resolve_augmentation("full") == FULL_AUGMENTATION
    assert resolve_augmentation("none") is None and resolve_augmentation(False) is None
    assert resolve_augmentation({"zoom": 0.2}) == {"zoom": 0.2}
    with pytest.raises(ValueError, match="unknown augmentation"):
        resolve_augmentation({"blur": 1})
    with pytest.raises(ValueError, match="one of"):
        resolve_augmentation("heavy")


def test_label_encoding_and_class_weights():
    assert list(encode_labels(["Happy", "sad", "ANGRY"], LABELS)) == [1, 2, 0]
    w = class_weights(np.array([0, 0, 0, 1]), 3)
    np.testing.assert_allclose(w, [4 / 6, 4 / 2, 0.0])  # n / (classes present * count)
    with pytest.raises(Exception, match="not one of this model"):
        encode_labels(["contempt"], LABELS)


def test_wrong_input_shape_is_a_clear_error(trained):
    model = trained["cnn"][0]
    with pytest.raises(ModelError, match=r"\(48, 48, 1\)"):
        model.predict_proba(np.zeros((2, 32, 32, 1), np.uint8))


def test_load_model_sources(trained, tmp_path, monkeypatch):
    model, X, *_ = trained["cnn"]
    models_dir = tmp_path / "run" / "models"
    for k in range(3):
        model.save(models_dir, stem=f"fold_{k}")
    (tmp_path / "run" / "config.json").write_text("{}")
    run = tmp_path / "run"
    assert load_model(run).labels == LABELS  # default: last fold
    assert isinstance(load_model(run, fold="all"), EnsembleModel)
    np.testing.assert_allclose(load_model(run, fold="all").predict_proba(X), model.predict_proba(X), atol=1e-6)
    with pytest.raises(ModelError, match="no fold 7"):
        load_model(run, fold=7)
    with pytest.raises(ModelError, match="No model found"):
        load_model(tmp_path / "missing")
    bare = tmp_path / "bare"
    bare.mkdir()
    model.keras_model.save(bare / "x.keras")
    with pytest.raises(ModelError, match="meta.json"):
        load_model(bare / "x.keras")
    assert load_model(model) is model


def test_pretrained_is_delegated_to_the_shipped_model(monkeypatch):
    monkeypatch.setitem(sys.modules, "fer_engine.models.pretrained", None)
    with pytest.raises(ModelError, match="not available yet"):
        load_model("pretrained")
    sentinel = object()
    fake = types.ModuleType("fer_engine.models.pretrained")
    fake.load_pretrained = lambda: sentinel
    monkeypatch.setitem(sys.modules, "fer_engine.models.pretrained", fake)
    assert load_model("pretrained") is sentinel


def test_a_seeded_fit_is_repeatable_and_reuse_across_folds_equals_a_fresh_model():
    """run_experiment reuses one Keras model per run (reinitialise) to skip re-tracing per fold:
    that must give exactly what a new model would, augmentation included."""
    import keras

    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (24, 24, 24, 1)).astype(np.uint8)
    y = np.array(["happy", "sad"] * 12)
    cfg = TrainConfig(epochs=2, batch_size=8, seed=1, augmentation=FULL_AUGMENTATION)

    def weights(m):
        return [np.asarray(v) for v in m.keras_model.variables]

    keras.utils.set_random_seed(7)
    fresh = create("cnn", ("happy", "sad"), input_size=24)
    fresh.fit(X, y, X_val=X[:6], y_val=y[:6], config=cfg)
    keras.utils.set_random_seed(3)
    reused = create("cnn", ("happy", "sad"), input_size=24)
    reused.fit(X[::-1], y[::-1], config=TrainConfig(epochs=1, learning_rate=0.01))  # "the previous fold"
    keras.utils.set_random_seed(7)
    reused.reinitialise()
    reused.fit(X, y, X_val=X[:6], y_val=y[:6], config=cfg)
    for a, b in zip(weights(fresh), weights(reused), strict=True):
        np.testing.assert_array_equal(a, b)
    assert float(np.asarray(reused.keras_model.optimizer.learning_rate)) == pytest.approx(1e-3)


def test_random_affine_is_one_resampling_about_the_centre():
    from fer_engine.models.augment import RandomAffine

    x = np.random.default_rng(0).random((4, 33, 33, 1)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(RandomAffine()(x)), x)  # all factors 0: identity
    np.testing.assert_array_equal(np.asarray(RandomAffine(rotation=0.1)(x, training=False)), x)
    t = np.asarray(RandomAffine(rotation=0.1, zoom=0.2, shear=0.1, seed=1).transforms(500, 33.0, 33.0))
    a, c = t[:, [0, 1, 3, 4]].reshape(-1, 2, 2), 16.0
    # without shift the centre pixel stays the centre
    np.testing.assert_allclose(a[:, 0, 0] * c + a[:, 0, 1] * c + t[:, 2], c, atol=1e-3)
    rot = np.asarray(RandomAffine(rotation=0.1, seed=2).transforms(500, 33.0, 33.0))[:, [0, 1, 3, 4]]
    np.testing.assert_allclose(np.linalg.det(rot.reshape(-1, 2, 2)), 1.0, atol=1e-5)  # pure rotation
    assert np.abs(np.arccos(np.clip(rot[:, 0], -1, 1))).max() <= 0.1 * 2 * np.pi + 1e-6
    shift = np.asarray(RandomAffine(shift=0.1, seed=3).transforms(500, 33.0, 33.0))
    assert np.abs(shift[:, [2, 5]]).max() <= 3.3 + 1e-4 and np.abs(shift[:, [2, 5]]).max() > 2.5
    # a bright centre dot stays at the centre under rotation, zoom and shear
    dot = np.zeros((8, 33, 33, 1), np.float32)
    dot[:, 16, 16] = 1.0
    out = np.asarray(RandomAffine(rotation=0.1, zoom=0.2, shear=0.1, interpolation="nearest", seed=4)(dot))
    assert (out[:, 16, 16, 0] == 1.0).all()


def test_lr_reduction_waits_for_start_epoch():
    """ReduceLROnPlateauAfter leaves the rate alone during the first epochs (the cnn's
    uniform-prediction plateau), then cuts it on a plateau like Keras' callback."""
    import keras
    import numpy as np

    from fer_engine.models.keras_base import ReduceLROnPlateauAfter

    inp = keras.Input((2,))
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(inp))
    model.compile(keras.optimizers.Adam(0.01), "categorical_crossentropy")
    cb = ReduceLROnPlateauAfter(start_from_epoch=4, monitor="loss", factor=0.5, patience=1,
                                min_delta=1e9)  # every epoch counts as a plateau
    cb.set_model(model)
    cb.on_train_begin()
    rates = []
    for epoch in range(7):
        logs = {"loss": 1.0}
        cb.on_epoch_end(epoch, logs)
        rates.append(round(float(np.asarray(model.optimizer.learning_rate)), 6))
    assert rates[:4] == [0.01] * 4
    assert rates[-1] < 0.01


def test_validation_figures_equal_keras_evaluate_and_drive_early_stopping():
    """fit computes val_loss/val_accuracy itself (one traced call, no per-epoch Keras
    evaluation): the figures must be Keras's own, and early stopping must act on them."""
    rng = np.random.default_rng(1)
    X = rng.integers(0, 255, (40, 24, 24, 1)).astype(np.uint8)
    y = np.array(["happy", "sad"] * 20)
    m = create("cnn", ("happy", "sad"), input_size=24)
    rows = m.fit(X[:30], y[:30], X_val=X[30:], y_val=y[30:],
                 config=TrainConfig(epochs=2, batch_size=8, seed=0, early_stopping=None, reduce_lr=None))
    ev = m.keras_model.evaluate(normalise(X[30:], m.input_spec), np.eye(2)[encode_labels(y[30:], m.labels)],
                                verbose=0, return_dict=True)
    assert rows[-1]["val_loss"] == pytest.approx(ev["loss"], rel=1e-5)
    assert rows[-1]["val_accuracy"] == pytest.approx(ev["accuracy"])
    # a validation loss that cannot improve by 1e9 stops training after patience + 1 epochs
    stopped = m.fit(X[:30], y[:30], X_val=X[30:], y_val=y[30:], config=TrainConfig(
        epochs=6, batch_size=8, seed=0, reduce_lr=None,
        early_stopping={"monitor": "val_loss", "patience": 1, "min_delta": 1e9}))
    assert len(stopped) == 2 and all(np.isfinite(r["val_loss"]) for r in stopped)


def test_litert_twin_serves_every_call_only_when_valid(tmp_path, monkeypatch):
    """A saved Keras model with a LiteRT twin answers predict_proba through it, at every batch
    size (same probabilities for a float32 twin); a stale twin, a missing runtime or changed
    weights fall back to TensorFlow."""
    from fer_engine.models import lite

    rng = np.random.default_rng(2)
    X = rng.integers(0, 255, (20, 24, 24, 1)).astype(np.uint8)
    m = create("cnn", ("happy", "sad", "fear"), input_size=24)
    path = m.save(tmp_path, stem="model")
    assert load_model(path).lite is None and "no LiteRT twin" in load_model(path).lite_reason

    lite.write_twin(path)
    loaded = load_model(path)
    assert loaded.lite is not None, loaded.lite_reason
    assert loaded.lite.info["quantisation"] == "none (float32)" and not loaded.lite.info["flip_tta"]
    assert lite.served_by(loaded) == "LiteRT twin: the model; none (float32)"
    tf_p = np.asarray(loaded.keras_model(normalise(X, loaded.input_spec), training=False))
    calls = []
    orig = type(loaded.lite).__call__
    monkeypatch.setattr(type(loaded.lite), "__call__", lambda self, x: calls.append(len(x)) or orig(self, x))
    np.testing.assert_allclose(loaded.predict_proba(X[:1]), tf_p[:1], atol=1e-5)
    np.testing.assert_allclose(loaded.predict_proba(X, batch_size=8), tf_p, atol=1e-5)
    assert calls == [1, 20] and loaded.predict_proba(X[:0]).shape == (0, 3)
    monkeypatch.undo()

    # changed weights: fit drops the twin
    loaded.fit(X, np.array(["happy", "sad"] * 10), config=TrainConfig(epochs=1, batch_size=8))
    assert loaded.lite is None and "fit" in loaded.lite_reason
    # a re-saved Keras file makes the old twin stale
    loaded.save(tmp_path, stem="model")
    stale = load_model(path)
    assert stale.lite is None and "stale" in stale.lite_reason
    # no runtime installed: TensorFlow, with the reason
    lite.write_twin(path)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    without = load_model(path)
    assert without.lite is None and "ai-edge-litert" in without.lite_reason
    assert lite.served_by(without) == f"TensorFlow ({without.lite_reason})"
    tf_without = np.asarray(without.keras_model(normalise(X[:2], without.input_spec), training=False))
    np.testing.assert_allclose(without.predict_proba(X[:2]), tf_without, atol=1e-6)


def test_litert_twin_with_flip_tta_and_int8(tmp_path):
    """--flip serves the mean over the face and its mirror, --shift adds the face moved towards
    each corner, --with averages other snapshots in; int8 stays close to float32."""
    from fer_engine.models import lite

    rng = np.random.default_rng(4)
    X = rng.integers(0, 255, (12, 24, 24, 1)).astype(np.uint8)
    m = create("cnn", ("happy", "sad", "fear"), input_size=24)
    path = m.save(tmp_path, stem="model")
    x = normalise(X, m.input_spec)
    k = m.keras_model
    want = (np.asarray(k(x, training=False)) + np.asarray(k(x[:, :, ::-1], training=False))) / 2

    lite.write_twin(path, flip=True)
    flip = load_model(path)
    assert flip.lite.info["flip_tta"] and "mirror" in flip.lite.info["function"]
    np.testing.assert_allclose(flip.predict_proba(X), want, atol=1e-5)
    # mirror-symmetric by construction
    np.testing.assert_allclose(flip.predict_proba(X[:, :, ::-1]), flip.predict_proba(X), atol=1e-5)

    # a second snapshot averaged in (with the mirror)
    other = create("cnn", ("happy", "sad", "fear"), input_size=24)
    other_path = other.save(tmp_path / "other", stem="model")
    o = other.keras_model
    want2 = (want + (np.asarray(o(x, training=False)) + np.asarray(o(x[:, :, ::-1], training=False))) / 2) / 2
    lite.write_twin(path, flip=True, members=[other_path])
    both = load_model(path)
    assert both.lite.info["members"][0]["sha256"] == lite.sha256(other_path)
    assert "1 other snapshot" in both.lite.info["function"]
    np.testing.assert_allclose(both.predict_proba(X), want2, atol=1e-5)
    with pytest.raises(ModelError, match="cannot be averaged"):
        lite.write_twin(path, members=[create("cnn", ("happy", "sad"), input_size=24).save(tmp_path / "x")])

    # --shift 2 --flip: ten views (the face, moved 2 px towards each corner, and all mirrored)
    pad = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    views = [x] + [pad[:, 2 + dy:26 + dy, 2 + dx:26 + dx] for dx in (-2, 2) for dy in (-2, 2)]
    views += [v[:, :, ::-1] for v in views]
    want10 = np.mean([np.asarray(k(v, training=False)) for v in views], axis=0)
    lite.write_twin(path, flip=True, shift=2)
    ten = load_model(path)
    assert ten.lite.info["shift_tta"] == 2 and "10 views" in ten.lite.info["function"]
    np.testing.assert_allclose(ten.predict_proba(X), want10, atol=1e-5)
    assert np.abs(want10 - want).max() > 1e-3  # the shifted views change the answer
    with pytest.raises(ModelError, match="between 0 and 5 pixels"):
        lite.write_twin(path, shift=6)
    moved = lite.shifted(x, 1, 0)  # one pixel to the right, the left edge reflected in
    np.testing.assert_array_equal(moved[:, :, 1:], x[:, :, :-1])
    np.testing.assert_array_equal(moved[:, :, 0], x[:, :, 1])

    calibration = normalise(rng.integers(0, 255, (32, 24, 24, 1)).astype(np.uint8), m.input_spec)
    lite.write_twin(path, flip=True, calibration=calibration, calibration_note="test faces")
    q = load_model(path)
    assert q.lite.info["int8"] and "32 faces (test faces)" in q.lite.info["quantisation"]
    p = q.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)  # renormalised
    assert np.abs(p - want).max() < 0.1
    assert lite.twin_paths(path)[0].stat().st_size < 0.5 * len(lite.convert(k))  # int8 weights


def test_litert_twin_command_line(tmp_path, capsys):
    """`python -m fer_engine.models.lite`: writes the twin it is asked for; a bad shift or a
    missing file is one line and exit code 2, not a traceback."""
    from fer_engine.models import lite

    path = create("cnn", ("happy", "sad", "fear"), input_size=24).save(tmp_path, stem="model")
    assert lite.main([str(path), "--flip", "--shift", "1"]) == 0
    info = json.loads(lite.twin_paths(path)[1].read_text())
    assert info["flip_tta"] and info["shift_tta"] == 1 and not info["int8"]
    assert "wrote" in capsys.readouterr().out
    assert lite.main([str(path), "--shift", "7"]) == 2
    assert capsys.readouterr().out.startswith("error: --shift must be between 0 and 5")
    assert lite.main([str(tmp_path / "nope.keras")]) == 2
    assert "does not exist" in capsys.readouterr().out
