"""Grad-CAM on the real model families (random weights, tiny inputs): VGG16, ResNet50 and the
shipped fervgg architecture, through the fast implementation and tf-keras-vis.

Costly on a busy 2-core machine (building ResNet50 and tracing its gradient dominate):
one model per case, one map per implementation.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from fer_engine.explain import explain, explain_batch, last_conv_layer  # noqa: E402
from fer_engine.models import create  # noqa: E402
from fer_engine.preprocess import normalise  # noqa: E402

LABELS = ["anger", "happy", "sad"]

CASES = {
    # name: (create options, the last convolution's well-known name, its spatial side)
    "vgg16": ({"weights": "none", "input_size": 32}, "block5_conv3", 2),
    "resnet50": ({"weights": "none", "input_size": 32}, "conv5_block3_3_conv", 1),
    # the shipped graph (batch norms folded), small widths: 48 -> centre crop 44 -> 22 after block 1
    "fervgg": ({"widths": (8, 16), "repeats": (1, 1), "dense": 16, "fused": True},
               "block2_conv1", 22),
}


def last_conv2d(keras_model) -> str:
    """The last Conv2D in the graph's layer order, found independently of fer_engine."""
    return [lyr.name for lyr in keras_model.layers if isinstance(lyr, keras.layers.Conv2D)][-1]


def quadrants(m: np.ndarray, h: int) -> np.ndarray:
    return m.reshape(2, h, 2, h).mean(axis=(1, 3))


@pytest.mark.parametrize("name", list(CASES))
def test_gradcam_picks_the_last_conv_layer_of_each_family(name):
    options, expected_layer, side = CASES[name]
    keras.utils.set_random_seed(0)
    model = create(name, LABELS, **options)
    spec = model.input_spec
    km = model.keras_model
    assert last_conv_layer(km) == last_conv2d(km) == expected_layer
    assert km.get_layer(expected_layer).output.shape[1:3] == (side, side)

    pixels = np.random.default_rng(0).integers(0, 256, spec.shape, dtype=np.uint8)
    x = normalise(pixels, spec)  # the family's own normalisation (vgg16 / resnet50 / unit)
    maps = {}
    for impl in ("fast", "tf-keras-vis"):
        ex = explain(model, x, "gradcam", implementation=impl)
        assert ex.layer == expected_layer, impl
        assert ex.map.shape == (spec.size, spec.size), impl
        assert np.isfinite(ex.map).all(), impl
        assert ex.map.min() >= 0.0 and ex.map.max() <= 1.0, impl
        assert ex.predicted_label in LABELS and ex.target_label == ex.predicted_label
        maps[impl] = ex.map
    if side > 1:
        # a real spatial map, the same up to the interpolation (TF bilinear vs scipy zoom,
        # which differ most at the edges of a 2x2 map): linear correlation and hottest quadrant
        fast, ref = maps["fast"], maps["tf-keras-vis"]
        assert fast.std() > 0.05
        assert np.corrcoef(fast.ravel(), ref.ravel())[0, 1] > 0.9
        h = spec.size // 2
        assert np.argmax(quadrants(fast, h)) == np.argmax(quadrants(ref, h))
    else:
        # ResNet50 at 32x32 ends in a 1x1 map: Grad-CAM can only be uniform there
        np.testing.assert_allclose(maps["fast"], maps["tf-keras-vis"], atol=1e-5)
        assert np.ptp(maps["fast"]) < 1e-5
    batch = explain_batch(model, x[None], "gradcam")
    np.testing.assert_allclose(batch[0], maps["fast"], atol=1e-5)
    if name == "fervgg":
        # the graph sees only the central 44x44 (CenterCrop): the maps lie there, zero outside
        for m in maps.values():
            assert m[:2].max() == m[-2:].max() == m[:, :2].max() == m[:, -2:].max() == 0.0
            assert m[2:-2, 2:-2].max() > 0.5
