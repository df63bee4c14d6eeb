"""One photo in, model inputs out: :func:`prepare_image`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fer_engine.errors import NoFaceError
from fer_engine.preprocess.align import (
    DEFAULT_ALIGN,
    alignment_angle,
    extract_aligned,
    eye_midpoint,
)
from fer_engine.preprocess.crop import DEFAULT_MARGIN, centre_box, crop_box, extract_face
from fer_engine.preprocess.decode import decode_image, describe_source
from fer_engine.preprocess.detectors import DEFAULT_DETECTOR, check_detector, detect_faces
from fer_engine.preprocess.faces import FaceBox
from fer_engine.preprocess.spec import InputSpec, normalise

FALLBACKS = ("centre", "none", "error")

#: ``PreparedImage.status`` values.
STATUS_FACE = "face"  # one or more faces found; one input per face
STATUS_CENTRE = "centre"  # no face found; the centre square was used
STATUS_NONE = "none"  # no face found; no input (fallback "none")
STATUS_WHOLE = "whole"  # detection off: the image is taken as a face crop (centre square)


@dataclass
class PreparedImage:
    """A decoded photo and what the model sees of it.

    ``rgb``: the original (H, W, 3) uint8 photo, upright. ``faces``: every face
    found, largest first, in ``rgb``'s pixels. ``crops``: one square crop box per
    model input (``crops[i]`` surrounds ``faces[i]`` when faces were found; the
    centre square otherwise). ``pixels``: (n, size, size, channels) uint8, what the
    model sees before normalisation; ``inputs``: the same normalised, float32.
    ``status`` is one of ``face``, ``centre``, ``none``, ``whole`` and ``message``
    says it in a sentence. ``angles``: per input, the rotation in degrees its crop was
    cut with (0.0 unless aligned; pass it to :func:`fer_engine.preprocess.paste_map`).
    ``detector`` and ``align``: the settings used.
    """

    rgb: np.ndarray
    spec: InputSpec
    faces: list[FaceBox]
    crops: list[FaceBox]
    pixels: np.ndarray
    status: str
    message: str
    angles: list[float] = field(default_factory=list)
    detector: str = ""
    align: bool = False
    inputs: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.angles:
            self.angles = [0.0] * len(self.crops)
        self.inputs = normalise(self.pixels, self.spec)

    @property
    def face_found(self) -> bool:
        return self.status == STATUS_FACE

    @property
    def n_inputs(self) -> int:
        return int(self.pixels.shape[0])


def prepare_image(
    source,
    spec: InputSpec,
    *,
    detect: bool = True,
    margin: float = DEFAULT_MARGIN,
    fallback: str = "centre",
    max_faces: int | None = None,
    min_size: float = 0.1,
    scale_factor: float = 1.1,
    min_neighbors: int = 5,
    detector: str = DEFAULT_DETECTOR,
    align: bool = DEFAULT_ALIGN,
) -> PreparedImage:
    """Decode ``source``, find faces and build the model inputs for ``spec``.

    ``source``: a path, bytes, a binary file, or an already decoded (H, W, 3) uint8
    RGB array (a video frame). ``detect=False`` skips detection and uses the centre
    square of the image, for photos that already are face crops. ``fallback`` says
    what happens when no face is found: ``"centre"`` uses the centre square,
    ``"none"`` returns no input, ``"error"`` raises
    :class:`fer_engine.errors.NoFaceError`. ``max_faces`` caps the number of inputs
    (largest faces first). ``detector`` and the detection settings: see
    :func:`detect_faces`. ``align``: faces with landmarks are rotated so their eyes are
    level before the crop (:mod:`fer_engine.preprocess.align`); faces without landmarks
    (Haar) and the centre square are cut straight.
    Decoding problems raise :class:`fer_engine.errors.ImageError`.
    """
    check_detector(detector)
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback must be one of {FALLBACKS}, not {fallback!r}")
    if max_faces is not None and max_faces < 1:
        raise ValueError(f"max_faces must be 1 or more, not {max_faces}")
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8 or source.ndim != 3 or source.shape[2] != 3:
            raise ValueError(
                f"an array source must be (H, W, 3) uint8 RGB, got {source.dtype} {source.shape}"
            )
        rgb, label = source, "the image"
    else:
        rgb, label = decode_image(source), describe_source(source)

    faces: list[FaceBox] = []
    angles: list[float] = []
    if not detect:
        crops, status = [centre_box(rgb.shape)], STATUS_WHOLE
        message = "Face detection off: the centre square of the image was used as the face."
    else:
        faces = detect_faces(
            rgb, detector=detector, min_size=min_size, scale_factor=scale_factor,
            min_neighbors=min_neighbors,
        )
        if faces:
            crops = [crop_box(f, rgb.shape, margin) for f in faces[:max_faces]]
            if align:
                angles = [alignment_angle(f) for f in faces[: len(crops)]]
            status = STATUS_FACE
            message = "1 face found." if len(faces) == 1 else f"{len(faces)} faces found."
            if len(crops) < len(faces):
                message = message[:-1] + f"; the largest {len(crops)} used."
        elif fallback == "centre":
            crops, status = [centre_box(rgb.shape)], STATUS_CENTRE
            message = "No face found: centre crop used."
        elif fallback == "none":
            crops, status = [], STATUS_NONE
            message = "No face found."
        else:
            raise NoFaceError(
                f"No face was found in {label}. Use a photo of a face looking at the camera, "
                f"well lit and not too small in the picture, or allow a centre crop."
            )
    if len(angles) != len(crops):
        angles = [0.0] * len(crops)
    pixels = np.zeros((len(crops),) + spec.shape, dtype=np.uint8)
    for i, (crop, angle) in enumerate(zip(crops, angles)):
        if angle:
            pixels[i] = extract_aligned(rgb, crop, angle, spec, about=eye_midpoint(faces[i]))
        else:
            pixels[i] = extract_face(rgb, crop, spec)
    return PreparedImage(
        rgb=rgb, spec=spec, faces=faces, crops=crops, pixels=pixels, status=status,
        message=message, angles=angles, detector=detector if detect else "", align=align,
    )
