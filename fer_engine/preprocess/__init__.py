"""Decode, detect faces, crop, resize, normalise: the one place that knows input sizes.

- :class:`InputSpec` says what a model takes (side, channels, normalisation);
  :func:`normalise` / :func:`denormalise` convert 0..255 pixels to and from it.
- :func:`decode_image` (path, bytes or file) -> (H, W, 3) uint8 RGB, upright, with
  size limits checked from the header (:class:`fer_engine.errors.ImageError`).
- :func:`detect_faces` -> list of :class:`FaceBox` (score, optional five landmarks) in
  the photo's pixels, largest first, by any detector of :data:`DETECTORS`
  (:func:`get_detector`; :data:`DEFAULT_DETECTOR` for photos, :data:`LIVE_DETECTOR`
  for live video); :func:`extract_aligned` cuts a crop with the eyes levelled.
- :func:`crop_box` / :func:`centre_box` -> square crop boxes; :func:`extract_face` ->
  (size, size, channels) uint8; :func:`to_model_input` -> normalised float32;
  :func:`paste_map` maps an input-sized map back onto the photo for overlays.
- :func:`prepare_image` does all of it for one photo -> :class:`PreparedImage`.
- :func:`prepare_dataset` does it for a whole dataset, cached on disk ->
  :class:`PreparedDataset`.
"""

from fer_engine.preprocess.align import DEFAULT_ALIGN, alignment_angle, extract_aligned
from fer_engine.preprocess.crop import centre_box, crop_box, extract_face, paste_map, to_model_input
from fer_engine.preprocess.dataset_cache import CACHE_VERSION, PreparedDataset, prepare_dataset
from fer_engine.preprocess.decode import (
    BACKGROUND,
    MAX_FILE_BYTES,
    MAX_PIXELS,
    MIN_SIDE,
    decode_image,
)
from fer_engine.preprocess.detectors import (
    DEFAULT_DETECTOR,
    DETECTORS,
    LIVE_DETECTOR,
    check_detector,
    detect_faces,
    get_detector,
)
from fer_engine.preprocess.faces import FaceBox
from fer_engine.preprocess.image import PreparedImage, prepare_image
from fer_engine.preprocess.spec import (
    GRAY_48,
    NORMALISATIONS,
    RGB_224,
    InputSpec,
    denormalise,
    normalise,
)

__all__ = [
    "BACKGROUND",
    "CACHE_VERSION",
    "DEFAULT_ALIGN",
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "LIVE_DETECTOR",
    "GRAY_48",
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "MIN_SIDE",
    "NORMALISATIONS",
    "RGB_224",
    "FaceBox",
    "InputSpec",
    "PreparedDataset",
    "PreparedImage",
    "alignment_angle",
    "centre_box",
    "check_detector",
    "crop_box",
    "decode_image",
    "denormalise",
    "detect_faces",
    "extract_aligned",
    "extract_face",
    "get_detector",
    "normalise",
    "paste_map",
    "prepare_dataset",
    "prepare_image",
    "to_model_input",
]
