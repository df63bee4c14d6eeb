"""The one interface every model family implements, plus training settings and progress events.

A model is a small sklearn-like object:

- ``labels``: the canonical emotions it predicts, in canonical order (its output columns).
- ``input_spec``: :class:`fer_engine.preprocess.InputSpec` (side, channels, normalisation).
- ``fit(X, y, *, X_val=None, y_val=None, config, progress=None, cancel=None) -> list[dict]``
- ``predict_proba(X) -> (n, n_labels)`` float32, rows sum to 1, batched model calls.
- ``features(X) -> (n, d)`` penultimate-layer features (identity probe, analytics).
- ``save(directory, stem="model") -> Path`` and ``FERModel.load(path)``.
- ``keras_model``: the flat functional ``keras.Model`` (None for HOG+SVM).

``X`` is (n, size, size, channels): either float32 already normalised with
:func:`fer_engine.preprocess.normalise`, or uint8 0..255 pixels, which the model
normalises batch by batch (saves memory for large datasets). ``y`` is a 1-D array of
canonical emotion names (or integer indices into ``labels``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fer_engine import emotions
from fer_engine.errors import ModelError, TrainingCancelled
from fer_engine.preprocess import InputSpec, normalise
from fer_engine.preprocess.crop import DEFAULT_MARGIN

META_FILE = "meta.json"


# --------------------------------------------------------------------------- progress


@dataclass(frozen=True)
class ProgressEvent:
    """One step of training, passed to a user callable.

    ``kind``: ``fold_start``, ``epoch_end``, ``batch_end``, ``fold_end`` or ``done``.
    ``fold`` is 0-based of ``n_folds``; ``epoch`` 1-based of ``n_epochs`` (the planned
    maximum; early stopping may end sooner); ``batch`` 1-based of ``n_batches`` per epoch.
    ``metrics``: e.g. ``{"loss": 1.9, "accuracy": 0.3, "val_loss": ..., "learning_rate": ...}``
    (``fold_end``: test ``accuracy`` of the fold; ``done``: overall ``accuracy``, ``macro_f1``).
    """

    kind: str
    fold: int = 0
    n_folds: int = 1
    epoch: int = 0
    n_epochs: int = 0
    batch: int = 0
    n_batches: int = 0
    metrics: dict = field(default_factory=dict)


ProgressCallback = Callable[[ProgressEvent], None]


class CancelToken(Protocol):
    """Anything with ``is_set()``, e.g. :class:`threading.Event`."""

    def is_set(self) -> bool: ...


def check_cancel(cancel: CancelToken | None) -> None:
    """Raise :class:`TrainingCancelled` if ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise TrainingCancelled("Training was cancelled; no run was saved.")


def report_single_step_fit(progress: ProgressCallback | None, row: dict) -> None:
    """Tell ``progress`` that a model fitted in one step (no epochs) is done: one batch and one
    epoch, with ``row`` (a history row: loss, accuracy, val_loss, ...) as the metrics."""
    if progress is None:
        return
    progress(ProgressEvent("batch_end", epoch=1, n_epochs=1, batch=1, n_batches=1,
                           metrics={"loss": row["loss"], "accuracy": row["accuracy"]}))
    progress(ProgressEvent("epoch_end", epoch=1, n_epochs=1, n_batches=1,
                           metrics={k: v for k, v in row.items() if k != "epoch"}))


# --------------------------------------------------------------------------- settings

#: Epochs before early stopping and learning-rate reduction may act (Keras'
#: ``start_from_epoch``); see :class:`fer_engine.models.keras_base.ReduceLROnPlateauAfter`.
START_FROM_EPOCH = 10


@dataclass
class TrainConfig:
    """Settings of one fit. Stored verbatim in a run's ``config.json`` under ``training``.

    ``augmentation``: factors of the Keras preprocessing layers applied to training
    batches only (rotation as a fraction of a full turn, shifts/zoom/shear as fractions
    of the side, horizontal_flip); ``None`` disables augmentation. Default: flips only
    (see :data:`AUGMENTATIONS`). Early stopping and learning-rate
    reduction monitor ``val_loss`` and run only when a validation set is given.
    """

    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    seed: int = 0
    augmentation: dict | None = field(default_factory=lambda: dict(DEFAULT_AUGMENTATION))
    class_weight: bool = False
    # Both wait START_FROM_EPOCH epochs: the cnn sits on its uniform-prediction plateau for
    # its first epochs, and cuts or stops there kept it at chance (see ReduceLROnPlateauAfter).
    early_stopping: dict = field(
        default_factory=lambda: {"monitor": "val_loss", "patience": 6, "restore_best_weights": True,
                                 "start_from_epoch": START_FROM_EPOCH}
    )
    reduce_lr: dict = field(
        default_factory=lambda: {"monitor": "val_loss", "factor": 0.5, "patience": 3, "min_lr": 1e-5,
                                 "start_from_epoch": START_FROM_EPOCH}
    )

    def __post_init__(self) -> None:
        if int(self.epochs) < 1:
            raise ValueError("epochs must be at least 1")
        if int(self.batch_size) < 1:
            raise ValueError("batch_size must be at least 1")
        if not float(self.learning_rate) > 0:
            raise ValueError("learning_rate must be positive")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["optimizer"] = "adam"
        d["loss"] = "categorical_crossentropy"
        return d


#: The full set: rotation +-10 degrees, shifts/zoom/shear 10 %, horizontal flip (the first study's kind).
FULL_AUGMENTATION: dict = {
    "rotation": 10 / 360,
    "shift": 0.1,
    "zoom": 0.1,
    "shear": 0.1,
    "horizontal_flip": True,
}

#: Named settings for ``augment=`` / ``--augment``. The default is ``flip``: measured on the
#: 152-image synthetic data (cnn, leave-one-subject-out, 6 folds, 30 epochs), geometric
#: augmentation kept accuracy at chance (0.13-0.15, even at half the factors) while flips
#: alone or none reached 0.31-0.35; with ~120 training faces per fold the cnn cannot learn
#: the invariance in a few hundred steps. Choose ``full`` for larger datasets.
AUGMENTATIONS: dict[str, dict | None] = {
    "none": None,
    "flip": {"horizontal_flip": True},
    "full": FULL_AUGMENTATION,
}
DEFAULT_AUGMENTATION: dict = AUGMENTATIONS["flip"]


def resolve_augmentation(augment) -> dict | None:
    """``"none"``/``"flip"``/``"full"``, True (= the default, ``flip``), False/None (= none) or a
    dict of factors."""
    if augment is True:
        return dict(DEFAULT_AUGMENTATION)
    if augment is False or augment is None:
        return None
    if isinstance(augment, str):
        if augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {', '.join(AUGMENTATIONS)}, not {augment!r}")
        preset = AUGMENTATIONS[augment]
        return dict(preset) if preset else None
    unknown = set(augment) - set(FULL_AUGMENTATION)
    if unknown:
        raise ValueError(f"unknown augmentation factor(s): {', '.join(sorted(unknown))}")
    return dict(augment) or None


# --------------------------------------------------------------------------- helpers


def encode_labels(y: Any, labels: tuple[str, ...]) -> np.ndarray:
    """Map emotion names (any spelling) or indices to int indices into ``labels``; shape (n,)."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    if y.dtype.kind in "iu":
        if len(y) and (y.min() < 0 or y.max() >= len(labels)):
            raise ValueError("label index out of range")
        return y.astype(np.int64)
    return np.array([emotions.index_of(str(v), labels) for v in y], dtype=np.int64)


def class_weights(y_idx: np.ndarray, n_classes: int) -> np.ndarray:
    """'Balanced' weight per class: n / (n_present_classes * count); 0 for absent classes."""
    counts = np.bincount(y_idx, minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(n_classes)
    w[present] = len(y_idx) / (present.sum() * counts[present])
    return w


def n_batches(n: int, batch_size: int) -> int:
    return max(1, math.ceil(n / batch_size))


# --------------------------------------------------------------------------- base class


def face_margin(model, margin: float | None = None) -> float:
    """The crop margin to classify ``model``'s faces at: ``margin`` when given, else the
    model's own (:attr:`FERModel.face_margin`; the engine's default for objects without one)."""
    if margin is not None:
        return float(margin)
    return float(getattr(model, "face_margin", DEFAULT_MARGIN))


class FERModel:
    """Base class of every model family. Subclasses set ``name`` and implement the methods."""

    name: str = "base"
    #: file extension of the saved model ("keras" or "joblib")
    file_format: str = "keras"
    #: The margin around a detected face (:func:`fer_engine.preprocess.crop.crop_box`) at
    #: which this model's training faces were cut: photos are classified at the same one.
    #: Stored in ``meta.json``; a model trained on a dataset's whole images gets the default.
    face_margin: float = DEFAULT_MARGIN

    def __init__(self, labels, input_spec: InputSpec, options: dict | None = None) -> None:
        labels = emotions.subset(labels)
        if len(labels) < 2:
            raise ModelError("A model needs at least two emotions to tell apart.")
        self.labels: tuple[str, ...] = labels
        self.input_spec = input_spec
        self.options: dict = dict(options or {})

    # -- interface ------------------------------------------------------------
    @property
    def keras_model(self):
        """The functional ``keras.Model`` (input: normalised images; output: softmax)."""
        return None

    def fit(self, X, y, *, X_val=None, y_val=None, config: TrainConfig | None = None,
            progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> list[dict]:
        raise NotImplementedError

    def predict_proba(self, X, batch_size: int = 256) -> np.ndarray:
        raise NotImplementedError

    def features(self, X, batch_size: int = 256) -> np.ndarray:
        raise NotImplementedError

    def cache_features(self, X, batch_size: int = 256) -> None:
        """Called by the training loop once per run with every sample, before the first fold.

        A family whose features do not change between folds (``transfer``) computes them here
        in one pass and reuses them in every fold; the others ignore it.
        """

    def predict(self, X, batch_size: int = 256) -> np.ndarray:
        """Canonical emotion names, shape (n,)."""
        p = self.predict_proba(X, batch_size=batch_size)
        return np.asarray(self.labels, dtype=object)[p.argmax(axis=1)]

    def _save_model_file(self, path: Path) -> None:
        raise NotImplementedError

    @classmethod
    def _load_model_file(cls, path: Path, labels, input_spec: InputSpec, options: dict) -> "FERModel":
        raise NotImplementedError

    # -- persistence ----------------------------------------------------------
    def meta(self) -> dict:
        from fer_engine import __version__

        return {
            "name": self.name,
            "labels": list(self.labels),
            "input_spec": self.input_spec.to_dict(),
            "options": self.options,
            "format": self.file_format,
            "face_margin": self.face_margin,
            "fer_engine": __version__,
        }

    def save(self, directory, stem: str = "model") -> Path:
        """Write ``<directory>/<stem>.<keras|joblib>`` and ``<directory>/meta.json``; return the file."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{stem}.{self.file_format}"
        self._save_model_file(path)
        (directory / META_FILE).write_text(json.dumps(self.meta(), indent=2))
        return path

    @classmethod
    def load(cls, path) -> "FERModel":
        """Load a model file written by :meth:`save` (its ``meta.json`` sits next to it)."""
        from fer_engine.models import MODEL_CLASSES

        path = Path(path)
        meta_path = path.parent / META_FILE
        if not path.is_file():
            raise ModelError(f"Model file {path} does not exist.")
        if not meta_path.is_file():
            raise ModelError(
                f"{path} has no {META_FILE} next to it, so its emotions and input size are unknown; "
                "use a model saved by this tool (a run folder or its models/ folder)."
            )
        try:
            meta = json.loads(meta_path.read_text())
            name = meta["name"]
            labels = tuple(meta["labels"])
            spec = InputSpec.from_dict(meta["input_spec"])
            margin = float(meta.get("face_margin", DEFAULT_MARGIN))
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{meta_path} is not a valid model description ({exc}).") from exc
        klass = MODEL_CLASSES.get(name)
        if klass is None:
            raise ModelError(f"{path} holds a '{name}' model, which this version does not know.")
        try:
            model = klass._load_model_file(path, labels, spec, meta.get("options", {}))
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - any decoding failure becomes one clear sentence
            raise ModelError(f"The model file {path} cannot be loaded ({type(exc).__name__}: {exc}).") from exc
        model.face_margin = margin
        return model

    def __repr__(self) -> str:
        return f"{type(self).__name__}(labels={self.labels}, input_spec={self.input_spec})"

    # -- shared input handling ------------------------------------------------
    def _check_input(self, X) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim == 3 and self.input_spec.channels == 1:
            X = X[..., None]
        if X.ndim != 4 or tuple(X.shape[1:]) != self.input_spec.shape:
            raise ModelError(
                f"This {self.name} model takes images of shape {self.input_spec.shape}, "
                f"got {tuple(X.shape[1:])}."
            )
        return X

    def _normalised(self, X: np.ndarray) -> np.ndarray:
        """float32 model input: uint8 pixels are normalised, float input is taken as is."""
        if X.dtype == np.uint8:
            return normalise(X, self.input_spec)
        return X.astype(np.float32, copy=False)
