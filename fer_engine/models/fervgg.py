"""The architecture of the shipped FER2013 model: a compact VGG-style CNN at 48x48 gray.

Training graph: blocks of 3x3 convolutions (no bias) + batch normalisation + ReLU,
2x2 max-pooling after each block, then Flatten -> Dropout -> Dense (+BN, ReLU) ->
Dropout -> softmax. For inference the batch normalisations are folded into the
preceding convolution / dense layer (:func:`fold_batchnorm`), which gives the same
function with a third fewer operations, and which is what ships.

Input: (48, 48, 1) float32 in [0, 1] (``InputSpec(48, 1, "unit")``). The graph takes
the central 44x44 (a third fewer operations than 48x48, which keeps a batch-1 call
under 5 ms on two cores; training shifts faces randomly first, so it sees random
44x44 crops) and rescales to [-1, 1] itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fer_engine.errors import WeightsUnavailableError
from fer_engine.models.keras_base import KerasFERModel
from fer_engine.preprocess import InputSpec

#: Default widths and number of convolutions per block.
WIDTHS: tuple[int, ...] = (32, 64, 128, 256)
REPEATS: tuple[int, ...] = (2, 2, 3, 3)
DENSE: int = 256
BN_EPSILON = 1e-3


def build(
    n_classes: int,
    *,
    widths: Sequence[int] = WIDTHS,
    repeats: Sequence[int] = REPEATS,
    dense: int = DENSE,
    dropout: float = 0.4,
    size: int = 48,
    crop: int | None = 44,
    fused: bool = False,
    name: str = "fervgg",
):
    """Functional Keras model.

    ``fused=False``: the training graph with BatchNormalization layers.
    ``fused=True``: the same topology with biases instead of BN (inference graph; fill
    it with :func:`fold_batchnorm`). Layer names are shared so weights can be mapped.
    """
    import keras
    from keras import layers

    inp = keras.Input((size, size, 1), name="face")
    x = inp
    if crop and crop < size:
        # Training batches are randomly shifted before this, so the centre crop of a
        # shifted face is a random crop; at inference it is a plain centre crop.
        x = layers.CenterCrop(crop, crop, name="centre_crop")(x)
    x = layers.Rescaling(2.0, offset=-1.0, name="to_symmetric")(x)
    for b, (width, reps) in enumerate(zip(widths, repeats), start=1):
        for r in range(1, reps + 1):
            conv = f"block{b}_conv{r}"
            if fused:
                x = layers.Conv2D(width, 3, padding="same", activation="relu", name=conv)(x)
            else:
                x = layers.Conv2D(
                    width, 3, padding="same", use_bias=False,
                    kernel_initializer="he_normal", name=conv,
                )(x)
                x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{conv}_bn")(x)
                x = layers.Activation("relu", name=f"{conv}_relu")(x)
        x = layers.MaxPooling2D(name=f"block{b}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="drop1")(x)
    if fused:
        x = layers.Dense(dense, activation="relu", name="fc")(x)
    else:
        x = layers.Dense(dense, use_bias=False, kernel_initializer="he_normal", name="fc")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name="fc_bn")(x)
        x = layers.Activation("relu", name="fc_relu")(x)
    x = layers.Dropout(dropout, name="drop2")(x)
    out = layers.Dense(n_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inp, out, name=name)


def fold_batchnorm(trained, n_classes: int, **arch):
    """Return the fused float32 inference model computing the same function as ``trained``.

    Every ``<name>`` layer followed by ``<name>_bn`` gets kernel * g and bias
    beta - mean * g, with g = gamma / sqrt(var + eps).
    """
    fused = build(n_classes, fused=True, **arch)
    by_name = {layer.name: layer for layer in trained.layers}
    for layer in fused.layers:
        if not layer.weights:
            continue
        src = by_name[layer.name]
        kernel = np.asarray(src.get_weights()[0], dtype=np.float32)
        bn = by_name.get(f"{layer.name}_bn")
        if bn is None:
            layer.set_weights([np.asarray(w, dtype=np.float32) for w in src.get_weights()])
            continue
        gamma, beta, mean, var = (np.asarray(w, dtype=np.float64) for w in bn.get_weights())
        g = gamma / np.sqrt(var + bn.epsilon)
        layer.set_weights([
            (kernel * g).astype(np.float32),  # broadcasts over the output-channel axis
            (beta - mean * g).astype(np.float32),
        ])
    return fused



class FERVGGModel(KerasFERModel):
    """The shipped model's family behind the common interface (``fervgg``).

    Options: ``widths``, ``repeats``, ``dense``, ``dropout``, ``crop`` (see :func:`build`),
    ``fused`` (True for an exported inference model, whose batch norms are folded).
    """

    name = "fervgg"

    def __init__(self, labels, input_spec: InputSpec | None = None, options: dict | None = None,
                 *, model=None, weights: str | None = None, **arch):
        options = {**dict(options or {}), **arch}
        options.setdefault("weights", "none" if weights in (None, "none") else str(weights))
        if options["weights"] != "none":
            raise WeightsUnavailableError("The fervgg model is trained from scratch; use --weights none.")
        super().__init__(labels, input_spec or InputSpec(48, 1, "unit"), options, model=model)

    def build(self):
        arch = {k: self.options[k] for k in ("widths", "repeats", "dense", "dropout", "crop")
                if k in self.options}
        return build(len(self.labels), fused=bool(self.options.get("fused", False)), **arch)
