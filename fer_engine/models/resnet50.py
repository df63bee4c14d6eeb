"""``resnet50``: ImageNet ResNet50 without top, frozen, 224x224 RGB, ``resnet50`` normalisation.

One flat functional graph (``input_tensor=``), so Grad-CAM reaches its conv layers.
Head: GlobalAveragePooling, Dense 512 ReLU, Dense 256 ReLU (``features``), Dropout 0.3,
softmax ``predictions``. ``unfreeze="conv5"`` makes the last block (layers ``conv5_*``)
trainable, except its BatchNormalization layers, which stay in inference mode (the usual
fine-tuning practice). The pixel normalisation (``keras.applications.resnet50.
preprocess_input``: RGB->BGR, ImageNet mean subtracted) is done by
``fer_engine.preprocess.normalise``, not inside the graph.

Options: ``weights`` (``imagenet`` | ``none`` | path to a no-top weights file),
``unfreeze`` (``None`` | ``"conv5"``), ``input_size`` (default 224; smaller only for tests).
"""

from __future__ import annotations

import keras

from fer_engine.models.keras_base import ImageNetFERModel, imagenet_base
from fer_engine.preprocess import InputSpec


def freeze_base(base, unfreeze_prefix: str | None) -> None:
    for layer in base.layers:
        trainable = bool(unfreeze_prefix) and layer.name.startswith(unfreeze_prefix)
        if isinstance(layer, keras.layers.BatchNormalization):
            trainable = False
        layer.trainable = trainable


class ResNet50Model(ImageNetFERModel):
    name = "resnet50"

    def __init__(self, labels, input_spec: InputSpec | None = None, options: dict | None = None,
                 *, model=None, weights: str | None = "imagenet", unfreeze: str | None = None,
                 input_size: int | None = None):
        options = dict(options or {})
        options.setdefault("unfreeze", unfreeze)
        if options["unfreeze"] not in (None, "conv5"):
            raise ValueError("unfreeze must be None or 'conv5'")
        super().__init__(labels, input_spec, options, model=model, weights=weights,
                         input_size=input_size)

    def build(self):
        inp = keras.Input(shape=self.input_spec.shape, name="image")
        base = imagenet_base(keras.applications.ResNet50, "ResNet50",
                             weights=self.options["weights"], input_tensor=inp)
        freeze_base(base, "conv5_" if self.options.get("unfreeze") == "conv5" else None)
        x = keras.layers.GlobalAveragePooling2D(name="head_pool")(base.output)
        x = keras.layers.Dense(512, activation="relu", name="head_dense1")(x)
        x = keras.layers.Dense(256, activation="relu", name="features")(x)
        x = keras.layers.Dropout(0.3, name="head_dropout")(x)
        out = keras.layers.Dense(len(self.labels), activation="softmax", name="predictions")(x)
        return keras.Model(inp, out, name="resnet50_fer")
