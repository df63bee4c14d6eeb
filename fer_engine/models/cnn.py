"""``cnn``: the first study's small CNN, 48x48 grayscale, pixels / 255.

Conv 32, 64, 128 (3x3, ReLU), each followed by 2x2 max-pooling; Flatten; Dense 128 ReLU
(the penultimate ``features``); Dropout 0.5; softmax ``predictions``.
"""

from __future__ import annotations

import keras

from fer_engine.errors import WeightsUnavailableError
from fer_engine.models.keras_base import KerasFERModel
from fer_engine.preprocess import InputSpec


class CNNModel(KerasFERModel):
    """Options: ``weights`` (``none``, or a ``.weights.h5`` file of this architecture),
    ``input_size`` (default 48)."""

    name = "cnn"

    def __init__(self, labels, input_spec: InputSpec | None = None, options: dict | None = None,
                 *, model=None, weights: str | None = None, input_size: int | None = None):
        options = dict(options or {})
        options.setdefault("weights", "none" if weights in (None, "none") else str(weights))
        options.setdefault("input_size", int(input_size or 48))
        spec = input_spec or InputSpec(int(options["input_size"]), 1, "unit")
        if options["weights"] == "imagenet":
            raise WeightsUnavailableError(
                "The cnn model has no ImageNet weights; use --weights none (or a weights file)."
            )
        super().__init__(labels, spec, options, model=model)
        if model is None and options["weights"] != "none":
            self.load_weights_file(options["weights"])

    def build(self):
        inp = keras.Input(shape=self.input_spec.shape, name="image")
        x = inp
        for i, filters in enumerate((32, 64, 128), start=1):
            x = keras.layers.Conv2D(filters, 3, activation="relu", name=f"conv{i}")(x)
            x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(128, activation="relu", name="features")(x)
        x = keras.layers.Dropout(0.5, name="dropout")(x)
        out = keras.layers.Dense(len(self.labels), activation="softmax", name="predictions")(x)
        return keras.Model(inp, out, name="cnn")
