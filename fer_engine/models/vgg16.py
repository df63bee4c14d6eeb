"""``vgg16``: the second study's model. ImageNet VGG16, frozen convolutional base, new head.

224x224 RGB (grayscale photos are converted to RGB by pre-processing), ``vgg16``
normalisation (Caffe style, done by ``fer_engine.preprocess.normalise``). One flat
functional graph (``input_tensor=``). Head: Flatten, Dense 256 ReLU (``features``),
Dropout 0.5, softmax ``predictions`` over the dataset's classes.

Options: ``weights`` (``imagenet`` | ``none`` | path to a no-top weights file),
``input_size`` (default 224; smaller only for tests).
"""

from __future__ import annotations

import keras

from fer_engine.models.keras_base import ImageNetFERModel, imagenet_base
from fer_engine.models.resnet50 import freeze_base


class VGG16Model(ImageNetFERModel):
    name = "vgg16"

    def build(self):
        inp = keras.Input(shape=self.input_spec.shape, name="image")
        base = imagenet_base(keras.applications.VGG16, "VGG16",
                             weights=self.options["weights"], input_tensor=inp)
        freeze_base(base, None)
        x = keras.layers.Flatten(name="head_flatten")(base.output)
        x = keras.layers.Dense(256, activation="relu", name="features")(x)
        x = keras.layers.Dropout(0.5, name="head_dropout")(x)
        out = keras.layers.Dense(len(self.labels), activation="softmax", name="predictions")(x)
        return keras.Model(inp, out, name="vgg16_fer")
