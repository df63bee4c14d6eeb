"""What a model takes as input (:class:`InputSpec`) and how 0..255 pixels become it.

Every input size and normalisation in the project is declared here; the rest of
:mod:`fer_engine.preprocess` turns photos into arrays of ``InputSpec.shape``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Normalisations a model can ask for. All start from RGB or gray pixels in 0..255.
NORMALISATIONS = ("unit", "symmetric", "resnet50", "vgg16", "raw")


@dataclass(frozen=True)
class InputSpec:
    """What a model takes as input.

    ``size``: side in pixels (square). ``channels``: 1 (gray) or 3 (RGB).
    ``normalisation``:
      - ``unit``: x / 255, range [0, 1] (the study CNN, the shipped model)
      - ``symmetric``: (x / 255 - 0.5) * 2, range [-1, 1] (the ``fer`` package's model)
      - ``resnet50``: ``keras.applications.resnet50.preprocess_input`` (BGR, mean-subtracted)
      - ``vgg16``: ``keras.applications.vgg16.preprocess_input``
      - ``raw``: 0..255 float32 unchanged (HOG+SVM)
    """

    size: int
    channels: int
    normalisation: str = "unit"

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, not {self.channels}")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}")
        if not 8 <= self.size <= 1024:
            raise ValueError(f"size {self.size} is out of range 8..1024")

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.size, self.size, self.channels)

    def to_dict(self) -> dict:
        return {"size": self.size, "channels": self.channels, "normalisation": self.normalisation}

    @classmethod
    def from_dict(cls, d: dict) -> "InputSpec":
        return cls(int(d["size"]), int(d["channels"]), str(d.get("normalisation", "unit")))


def normalise(pixels: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Normalise 0..255 pixels of shape (..., size, size, channels) as ``spec`` asks.

    Returns float32. For ``resnet50``/``vgg16`` the input must be RGB (channels 3).
    """
    x = np.asarray(pixels, dtype=np.float32)
    if spec.normalisation == "unit":
        return x / 255.0
    if spec.normalisation == "symmetric":
        return (x / 255.0 - 0.5) * 2.0
    if spec.normalisation == "raw":
        return x
    if spec.normalisation in ("resnet50", "vgg16"):
        # Both use Caffe-style preprocessing: RGB->BGR, subtract the ImageNet mean.
        mean = np.array([103.939, 116.779, 123.68], dtype=np.float32)
        return x[..., ::-1] - mean
    raise ValueError(spec.normalisation)


def denormalise(x: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Inverse of :func:`normalise`: back to 0..255 float32 pixels (for display)."""
    x = np.asarray(x, dtype=np.float32)
    if spec.normalisation == "unit":
        return x * 255.0
    if spec.normalisation == "symmetric":
        return (x / 2.0 + 0.5) * 255.0
    if spec.normalisation == "raw":
        return x
    mean = np.array([103.939, 116.779, 123.68], dtype=np.float32)
    return (x + mean)[..., ::-1]


#: The study CNN and the shipped model: 48x48 gray, scaled to [0, 1].
GRAY_48 = InputSpec(48, 1, "unit")
#: ImageNet transfer models (ResNet50): 224x224 RGB, Caffe-style mean subtraction.
RGB_224 = InputSpec(224, 3, "resnet50")
