"""Explanation methods, faithfulness checks, regions and overlays on tiny functional models."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from fer_engine.errors import ModelError
from fer_engine.explain import (
    METHODS,
    REGIONS,
    aggregate_regions,
    crop_margin,
    deletion_insertion,
    explain,
    explain_batch,
    first_conv_activations,
    first_conv_filters,
    last_conv_layer,
    mean_face,
    method_agreement,
    occlusion,
    overlay,
    randomisation_check,
    rank_correlation,
    region_areas,
    region_boxes,
    region_masks,
    region_shares,
    region_table,
    warm_up,
)
from fer_engine.explain.methods import patch_positions, reference_input
from fer_engine.preprocess import FaceBox, InputSpec

SIZE = 24
#: The patch the toy model looks at: rows 4..9, cols 14..19 (6x6 pixels).
KEY = (slice(4, 10), slice(14, 20))


def tiny_cnn(size=SIZE, channels=1, classes=3, seed=1):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    out = keras.layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, out)


def patch_model(size=SIZE, gain=12.0):
    """Two classes whose logits depend ONLY on the mean of the KEY patch.

    A fixed-weight Dense on the flattened input: weight gain/area on the patch pixels,
    0 elsewhere; class 0's logit is +(mean - 0.5) * gain, class 1's the negative.
    """
    inp = keras.Input((size, size, 1))
    flat = keras.layers.Flatten()(inp)
    dense = keras.layers.Dense(2, activation="softmax")
    out = dense(flat)
    model = keras.Model(inp, out)
    mask = np.zeros((size, size), np.float32)
    mask[KEY] = 1.0
    w = mask.ravel() * gain / mask.sum()
    dense.set_weights([np.stack([w, -w], axis=1), np.array([-gain / 2, gain / 2], np.float32)])
    return model


def flat_resnet_like(size=32, classes=4):
    """Residual block built flat (no nested Model), BatchNorm and Add, RGB input."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    y = keras.layers.Conv2D(8, 3, padding="same", name="block_a")(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.Activation("relu")(y)
    y = keras.layers.Conv2D(8, 3, padding="same", name="block_b")(y)
    x = keras.layers.Activation("relu")(keras.layers.Add()([x, y]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def cnn():
    return tiny_cnn()


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return rng.random((SIZE, SIZE, 1), dtype=np.float32)


@pytest.fixture(scope="module")
def patch_input():
    rng = np.random.default_rng(1)
    x = rng.uniform(0.0, 0.3, (SIZE, SIZE, 1)).astype(np.float32)
    x[KEY] = 1.0
    return x


# ---------------------------------------------------------------- every method


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_a_scaled_map_in_input_coordinates(cnn, image, method):
    opts = {"ig": {"steps": 8}, "smoothgrad": {"samples": 4}}.get(method, {})
    ex = explain(cnn, image, method, **opts)
    assert ex.method == method
    assert ex.map.shape == (SIZE, SIZE) and ex.map.dtype == np.float32
    assert ex.raw.shape == (SIZE, SIZE)
    assert np.all(np.isfinite(ex.map)) and ex.map.min() >= 0.0
    assert ex.map.max() == pytest.approx(1.0)  # scaled by its maximum
    assert ex.probabilities.shape == (3,) and ex.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert ex.target == int(np.argmax(ex.probabilities)) == ex.predicted
    assert ex.timings["total"] >= ex.timings["method"] > 0
    assert ex.signed == (method in ("ig", "occlusion"))
    if method in ("gradcam", "gradcam++", "scorecam"):
        assert ex.layer == "conv2"  # the last Conv2D of the graph
    if not ex.signed:
        assert ex.raw.min() >= 0.0


def test_target_by_label_and_layer_choice(cnn, image):
    labels = ("anger", "happy", "sad")
    ex = explain(cnn, image, "gradcam", target="Happiness", layer="conv1", labels=labels)
    assert ex.target == 1 and ex.target_label == "happy" and ex.layer == "conv1"
    with pytest.raises(ModelError, match="not one of this model's classes"):
        explain(cnn, image, "gradcam", target="fear", labels=labels)
    with pytest.raises(ModelError, match="no layer named"):
        explain(cnn, image, "gradcam", layer="nope")
    with pytest.raises(ModelError, match="takes"):
        explain(cnn, np.zeros((10, 10, 1), np.float32), "saliency")
    with pytest.raises(TypeError):
        explain(cnn, image, "gradcam", steps=3)

    class HogSvm:  # a project model without a network
        name, keras_model, labels = "hog_svm", None, ("anger", "happy")

    with pytest.raises(ModelError, match="not a neural network"):
        explain(HogSvm(), image, "saliency")
    # uint8 pixels are normalised per the spec (unit: / 255) like the models do
    pixels = np.round(image * 255).astype(np.uint8)
    a = explain(cnn, pixels, "saliency", implementation="fast")
    b = explain(cnn, pixels.astype(np.float32) / 255, "saliency", implementation="fast")
    np.testing.assert_allclose(a.raw, b.raw, rtol=1e-5)


def test_fast_implementations_match_tf_keras_vis(cnn, image):
    assert set(warm_up(cnn, ("gradcam", "saliency"))) == {"gradcam", "saliency"}
    for method in ("gradcam", "saliency"):
        ref = explain(cnn, image, method)
        fast = explain(cnn, image, method, implementation="fast")
        if method == "saliency":  # same gradients, no interpolation involved
            np.testing.assert_allclose(fast.raw, ref.raw, rtol=1e-4, atol=1e-6)
        else:  # bilinear resize (TF) vs scipy zoom: same map up to interpolation
            assert rank_correlation(fast.map, ref.map) > 0.9
    xs = np.stack([image, image[::-1]])
    maps = explain_batch(cnn, xs, "gradcam", targets=[0, 2])
    assert maps.shape == (2, SIZE, SIZE)
    one = explain(cnn, xs[1], "gradcam", target=2, implementation="fast").map
    np.testing.assert_allclose(maps[1], one, atol=1e-5)


def test_gradcam_through_tf_keras_vis_on_flat_resnet_like_model():
    model = flat_resnet_like()
    x = np.random.default_rng(2).random((32, 32, 3), dtype=np.float32)
    assert last_conv_layer(model) == "block_b"
    ex = explain(model, x, "gradcam", target=1)
    assert ex.map.shape == (32, 32) and ex.map.max() == pytest.approx(1.0)
    fast = explain(model, x, "gradcam", target=1, implementation="fast")
    assert rank_correlation(ex.map, fast.map) > 0.9
    pp = explain(model, x, "gradcam++", target=1)
    assert pp.map.shape == (32, 32)


def test_nested_transfer_model_is_refused_with_a_hint():
    inner = tiny_cnn(classes=2)
    inp = keras.Input((SIZE, SIZE, 1))
    out = keras.layers.Dense(3, activation="softmax")(inner(inp))
    nested = keras.Model(inp, out)
    with pytest.raises(ModelError, match="flat"):
        explain(nested, np.zeros((SIZE, SIZE, 1), np.float32), "gradcam")


# ---------------------------------------------------------------- Integrated Gradients


def test_integrated_gradients_completeness(cnn, image, patch_input):
    ex = explain(cnn, image, "ig", steps=64, baseline="black")
    info = ex.info
    assert ex.attributions.shape == (SIZE, SIZE, 1)
    assert info["sum_attributions"] == pytest.approx(ex.raw.sum(), rel=1e-4, abs=1e-6)
    assert abs(info["delta"]) > 1e-3  # the check is meaningful
    assert info["rel_error"] < 0.05
    # A smooth (logistic) model: the trapezoid rule is near exact, for any baseline.
    pm = patch_model()
    for baseline in ("black", "blur", "mean"):
        info = explain(pm, patch_input, "ig", steps=32, baseline=baseline).info
        assert info["rel_error"] < 0.01, baseline
    face = mean_face(np.stack([patch_input * 0.5, np.zeros_like(patch_input)]))
    info = explain(pm, patch_input, "ig", steps=32, baseline="mean", mean_face=face).info
    assert info["f_baseline"] == pytest.approx(float(pm(face[None])[0, 0]), abs=1e-5)
    assert info["rel_error"] < 0.01
    # IG on the patch model puts everything on the patch: nothing outside it.
    ex = explain(pm, patch_input, "ig", steps=16)
    outside = np.ones((SIZE, SIZE), bool)
    outside[KEY] = False
    assert np.abs(ex.raw[outside]).max() == 0.0 and ex.map[KEY].min() > 0


def test_reference_inputs_fit_the_input_range():
    x = np.random.default_rng(0).random((SIZE, SIZE, 3), dtype=np.float32)  # unit [0, 1]
    sym = (x - 0.5) * 2
    spec_sym = InputSpec(SIZE, 3, "symmetric")
    np.testing.assert_allclose(reference_input(sym, spec_sym, "black"), -1.0)
    assert np.allclose(reference_input(x, InputSpec(SIZE, 3, "unit"), "black"), 0.0)
    blur = reference_input(sym, spec_sym, "blur")
    assert blur.min() >= -1 and blur.max() <= 1 and blur.std() < sym.std()
    mean = reference_input(sym, spec_sym, "mean")
    np.testing.assert_allclose(mean[0, 0], sym.reshape(-1, 3).mean(0), atol=1e-5)
    # resnet50 spec: black pixels are minus the ImageNet mean in BGR order
    spec_r = InputSpec(SIZE, 3, "resnet50")
    np.testing.assert_allclose(
        reference_input(np.zeros((SIZE, SIZE, 3), np.float32), spec_r, "zero")[0, 0],
        [-103.939, -116.779, -123.68],
        rtol=1e-5,
    )


# ---------------------------------------------------------------- occlusion


def test_patch_positions_cover_the_edges():
    assert patch_positions(24, 8, 4) == [0, 4, 8, 12, 16]
    assert patch_positions(25, 8, 4) == [0, 4, 8, 12, 16, 17]  # last one flush with the border
    with pytest.raises(ValueError):
        occlusion(patch_model(), np.zeros((SIZE, SIZE, 1), np.float32), 0, patch=4, stride=4)


def test_occlusion_lights_up_exactly_the_driving_patch(patch_input):
    model = patch_model()
    raw, info = occlusion(model, patch_input, 0, patch=4, stride=2, fill="zero")
    assert info["n_patches"] == len(patch_positions(SIZE, 4, 2)) ** 2
    # Patches that do not touch KEY change nothing: their pixels are exactly 0.
    reach = np.zeros((SIZE, SIZE), bool)
    reach[KEY[0].start - 3 : KEY[0].stop + 3, KEY[1].start - 3 : KEY[1].stop + 3] = True
    assert np.all(raw[~reach] == 0.0)
    # The strongest drop lies inside KEY, and the top-36 pixels are KEY's 36 pixels.
    key = np.zeros((SIZE, SIZE), bool)
    key[KEY] = True
    top = np.argsort(-raw.ravel(), kind="stable")[: key.sum()]
    assert key.ravel()[top].mean() >= 0.9
    assert raw[key].min() > 0


# ---------------------------------------------------------------- faithfulness


def test_deletion_of_a_perfect_map_drops_faster_than_a_random_map(patch_input):
    model = patch_model()
    perfect = np.zeros((SIZE, SIZE), np.float32)
    perfect[KEY] = 1.0
    random_map = np.random.default_rng(5).random((SIZE, SIZE)).astype(np.float32)
    kw = {"target": 0, "steps": 24, "insertion_baseline": "black"}
    good = deletion_insertion(model, patch_input, perfect, **kw)
    bad = deletion_insertion(model, patch_input, random_map, **kw)
    assert good.deletion.shape == (25,) and good.fractions[0] == 0 and good.fractions[-1] == 1
    assert good.deletion[0] == pytest.approx(good.insertion[-1], abs=1e-6)  # both = p(x)
    assert good.deletion_auc < bad.deletion_auc - 0.2
    assert good.insertion_auc > bad.insertion_auc + 0.2
    assert 0 <= good.deletion_auc <= 1 and 0 <= good.insertion_auc <= 1
    assert set(good.to_frame()["curve"]) == {"deletion", "insertion"}


def test_model_randomisation_changes_gradcam(cnn, image):
    before = [w.copy() for w in cnn.get_weights()]
    table = randomisation_check(cnn, image, "gradcam", seed=0)
    assert list(table["layer"]) == ["none (rerun)", "dense_1", "dense", "conv2", "conv1"]
    rerun = table.loc[0, "spearman"]
    assert rerun == pytest.approx(1.0)
    randomised = table.loc[len(table) - 1, "spearman"]
    assert randomised < rerun - 0.3
    assert table["n_randomised"].tolist() == [0, 1, 2, 3, 4]
    # the original model is untouched
    for a, b in zip(before, cnn.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert explain(cnn, image, "gradcam").map.shape == (SIZE, SIZE)


def test_method_agreement_matrix(cnn, image):
    mat, exps = method_agreement(cnn, image, ("saliency", "gradcam", "occlusion"), target=1)
    assert mat.shape == (3, 3) and list(mat.index) == ["saliency", "gradcam", "occlusion"]
    np.testing.assert_allclose(np.diag(mat), 1.0)
    np.testing.assert_allclose(mat.to_numpy(), mat.to_numpy().T)
    assert all(e.target == 1 for e in exps.values())
    a = np.arange(16.0).reshape(4, 4)
    assert rank_correlation(a, a**2) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0)


# ---------------------------------------------------------------- regions


def test_region_shares_sum_to_one_and_follow_the_map():
    masks = region_masks(48, 48)
    stacked = np.stack(list(masks.values())).sum(axis=0)
    assert np.all(stacked == 1)  # disjoint and covering
    m = np.random.default_rng(0).random((48, 48))
    assert region_shares(m).sum() == pytest.approx(1.0)
    uniform = region_shares(np.ones((48, 48)))
    np.testing.assert_allclose(uniform.to_numpy(), region_areas(48, 48).to_numpy())
    mouth_only = masks["mouth"].astype(float)
    assert region_shares(mouth_only)["mouth"] == pytest.approx(1.0)
    assert np.isnan(region_shares(np.zeros((48, 48)))).all()
    x0, y0, x1, y1 = REGIONS["eyes"]
    centre = (int((y0 + y1) / 2 * 48), int((x0 + x1) / 2 * 48))
    assert masks["eyes"][centre] and not masks["eyes"][int(0.8 * 48), 24]  # not on the mouth


def test_region_boxes_follow_the_crop_margin():
    # margin 0.2: the face box is the central 1/1.4 of the crop
    eyes0, eyes2 = REGIONS["eyes"], region_boxes(0.2)["eyes"]
    assert eyes2 == pytest.approx(tuple((0.2 + v) / 1.4 for v in eyes0))
    assert region_boxes(0.0) == REGIONS
    # the face shrinks towards the centre: more of the crop is "rest"
    assert region_areas(48, 48, margin=0.2)["rest"] > region_areas(48, 48)["rest"]
    m = region_masks(70, 70, margin=0.2)["brows"].astype(float)
    assert region_shares(m, margin=0.2)["brows"] == pytest.approx(1.0)
    assert region_shares(m)["brows"] < 0.5  # the wrong margin calls most of them eyes
    assert crop_margin({"preprocess": {"detect": True, "margin": 0.3}}) == 0.3
    assert crop_margin({"preprocess": {"detect": False, "margin": 0.3}}) == 0.0


def test_region_aggregation_per_emotion_and_subgroup():
    import pandas as pd

    masks = region_masks(24, 24)
    maps = np.stack(
        [masks["mouth"], masks["mouth"], masks["eyes"], masks["eyes"] | masks["mouth"]]
    ).astype(np.float32)
    table = pd.DataFrame(
        {
            "sample_id": list("abcd"),
            "true": ["happy", "happy", "sad", "sad"],
            "gender": ["f", "m", "f", "m"],
        }
    )
    tidy = region_table(maps, table)
    assert len(tidy) == 4 * 5
    np.testing.assert_allclose(tidy.groupby("sample_id")["share"].sum(), 1.0)
    agg = aggregate_regions(tidy, "true")
    happy_mouth = agg[(agg["true"] == "happy") & (agg["region"] == "mouth")].iloc[0]
    assert happy_mouth["mean"] == pytest.approx(1.0) and happy_mouth["n"] == 2
    sad_eyes = agg[(agg["true"] == "sad") & (agg["region"] == "eyes")].iloc[0]
    share_d = masks["eyes"].sum() / (masks["eyes"].sum() + masks["mouth"].sum())
    assert sad_eyes["mean"] == pytest.approx((1.0 + share_d) / 2)
    assert sad_eyes["ci_low"] < sad_eyes["mean"] < sad_eyes["ci_high"]
    by2 = aggregate_regions(tidy, ["gender", "true"])
    assert set(by2.columns) >= {"gender", "true", "region", "mean", "n", "ci_low"}
    assert by2["n"].max() == 1 and by2["ci_low"].isna().all()  # n = 1: no interval, said so


# ---------------------------------------------------------------- overlay and filters


def test_overlay_lands_in_the_face_box_quadrant():
    photo = np.full((200, 300, 3), 60, np.uint8)
    box = FaceBox(x=100, y=40, w=80, h=80)
    m = np.zeros((SIZE, SIZE), np.float32)
    m[: SIZE // 2, : SIZE // 2] = 1.0  # hot only in the top-left quadrant
    out = overlay(photo, m, box, cmap="jet", alpha=1.0)
    assert out.shape == photo.shape and out.dtype == np.uint8
    outside = np.ones((200, 300), bool)
    outside[40:120, 100:180] = False
    assert np.all(out[outside] == 60)  # nothing drawn outside the crop box
    hot = out[45:75, 105:135].astype(int)  # top-left quadrant of the box
    cold = out[85:115, 145:175].astype(int)  # bottom-right quadrant
    assert np.all(hot[..., 0] > hot[..., 2])  # jet: red for 1
    assert np.all(cold[..., 2] > cold[..., 0])  # jet: blue for 0
    # A tuple box works too; a box past the border is clipped, not an error.
    edge = overlay(photo, m, (-20, -20, 80, 80), alpha=0.5)
    assert edge.shape == photo.shape and np.any(edge[:10, :10] != 60)


def test_first_conv_filters_and_activations(cnn, image):
    f = first_conv_filters(cnn)
    assert f["layer"] == "conv1" and f["kernel"].shape == (3, 3, 1, 8)
    assert f["grid"].shape == (3 * 3 + 2, 3 * 3 + 2)  # 8 filters -> 3x3 grid, 1-pixel gaps
    assert 0.0 <= f["grid"].min() and f["grid"].max() <= 1.0
    a = first_conv_activations(cnn, image)
    assert a["activations"].shape == (SIZE, SIZE, 8) and a["activations"].min() >= 0  # ReLU
    assert a["grid"].shape == (3 * SIZE + 2, 3 * SIZE + 2)
    rgb = first_conv_filters(flat_resnet_like())
    assert rgb["grid"].shape[-1] == 3


def test_cached_clone_follows_later_training_of_the_same_model(image):
    model = tiny_cnn(seed=4)
    before = explain(model, image, "gradcam", target=0).raw  # builds the cached clone
    weights = [w * 1.5 + 0.01 for w in model.get_weights()]
    model.set_weights(weights)  # "trained" in place
    after = explain(model, image, "gradcam", target=0).raw
    fresh = keras.models.clone_model(model)
    fresh.set_weights(weights)
    np.testing.assert_allclose(
        after, explain(fresh, image, "gradcam", target=0).raw, rtol=1e-4, atol=1e-6
    )
    assert not np.allclose(before, after)
