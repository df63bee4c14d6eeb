"""Training-time augmentation as Keras preprocessing layers (applied in the tf.data pipeline).

:class:`RandomAffine` draws a random rotation, shift, zoom and shear per image and applies
them as ONE affine resampling. Chaining Keras's ``RandomRotation``, ``RandomTranslation``,
``RandomZoom`` and ``RandomShear`` resamples a 48x48 face four times; measured here, that
visibly blurs the thin brow and mouth lines that carry the expression, and the cnn then
stayed at chance under leave-one-subject-out on the synthetic data (0.13-0.15 on 6 folds,
against 0.35 without augmentation). One resampling keeps the image sharp and costs a
quarter of the time. Horizontal flips use ``keras.layers.RandomFlip``.
"""

from __future__ import annotations

import math

import keras
from keras import ops


class RandomAffine(keras.layers.Layer):
    """Random rotation, shift, zoom and shear of a batch (n, h, w, c), one resampling per image.

    ``rotation``: maximum angle as a fraction of a full turn (0.028 = +-10 degrees);
    ``shift``: maximum shift as a fraction of the side; ``zoom``: maximum relative zoom in
    or out; ``shear``: maximum shear factor. Points outside the image are filled by
    reflection. Identity when ``training`` is False.
    """

    def __init__(self, rotation: float = 0.0, shift: float = 0.0, zoom: float = 0.0, shear: float = 0.0,
                 interpolation: str = "bilinear", fill_mode: str = "reflect", seed: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.rotation, self.shift, self.zoom, self.shear = map(float, (rotation, shift, zoom, shear))
        self.interpolation, self.fill_mode, self.seed = interpolation, fill_mode, seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_jit = False

    def _uniform(self, n, limit):
        return keras.random.uniform((n,), -limit, limit, seed=self.seed_generator)

    def transforms(self, n, height, width):
        """(n, 8) inverse maps (output pixel -> input pixel) in ``affine_transform``'s layout."""
        angle = self._uniform(n, self.rotation * 2.0 * math.pi)
        shear_x, shear_y = self._uniform(n, self.shear), self._uniform(n, self.shear)
        zoom_x, zoom_y = 1.0 + self._uniform(n, self.zoom), 1.0 + self._uniform(n, self.zoom)
        tx, ty = self._uniform(n, self.shift) * width, self._uniform(n, self.shift) * height
        cos, sin = ops.cos(angle), ops.sin(angle)
        # A = R(angle) @ [[1, shear_x], [shear_y, 1]] @ diag(zoom_x, zoom_y), about the centre
        a00 = (cos - sin * shear_y) * zoom_x
        a01 = (cos * shear_x - sin) * zoom_y
        a10 = (sin + cos * shear_y) * zoom_x
        a11 = (sin * shear_x + cos) * zoom_y
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        a2 = cx - a00 * cx - a01 * cy + tx
        b2 = cy - a10 * cx - a11 * cy + ty
        zeros = ops.zeros_like(angle)
        return ops.stack([a00, a01, a2, a10, a11, b2, zeros, zeros], axis=1)

    def call(self, images, training=True):
        if not training or not any((self.rotation, self.shift, self.zoom, self.shear)):
            return images
        shape = ops.shape(images)
        t = self.transforms(shape[0], ops.cast(shape[1], "float32"), ops.cast(shape[2], "float32"))
        return ops.image.affine_transform(images, t, interpolation=self.interpolation,
                                          fill_mode=self.fill_mode)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rotation": self.rotation, "shift": self.shift, "zoom": self.zoom,
                "shear": self.shear, "interpolation": self.interpolation, "fill_mode": self.fill_mode,
                "seed": self.seed}
