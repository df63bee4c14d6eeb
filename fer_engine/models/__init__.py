"""Model families behind one interface (:class:`fer_engine.models.base.FERModel`).

- :func:`create` builds a new, untrained model of a family: ``transfer`` (the shipped
  FER2013 network's features under a new head), ``cnn``, ``resnet50``, ``vgg16`` or
  ``hog_svm``.
- :func:`load_model` loads a trained one from a run folder, a model folder, a model file,
  or ``"pretrained"`` (the shipped FER2013 model); a bare run id is resolved one floor up,
  by :func:`fer_engine.experiments.runs.load_trained_model`. A run can also score data with
  ``pretrained`` as it is, no training (protocol ``none``).

Which fold of a run folder: a run trained under ``loso``/``group-kfold`` holds one model
per fold. ``fold=None`` (default) loads the **last** fold (one real Keras model, usable
for explanations); ``fold=k`` loads fold ``k`` (e.g. the model that never saw a given
test participant; see the ``fold`` column of the run's ``predictions.csv``);
``fold="all"`` returns an :class:`EnsembleModel` averaging every fold's probabilities,
the better choice for classifying new images. Runs under ``holdout``, ``paper`` and
``official`` have one fold, so the choice does not matter there.

Importing this package does not import TensorFlow; the Keras families do when created.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import numpy as np

from fer_engine.errors import ModelError
from fer_engine.models.base import (  # noqa: F401
    AUGMENTATIONS,
    DEFAULT_AUGMENTATION,
    FULL_AUGMENTATION,
    META_FILE,
    FERModel,
    ProgressEvent,
    TrainConfig,
)

#: family name -> "module:Class" (imported on first use)
_FAMILIES: dict[str, str] = {
    "cnn": "fer_engine.models.cnn:CNNModel",
    "resnet50": "fer_engine.models.resnet50:ResNet50Model",
    "vgg16": "fer_engine.models.vgg16:VGG16Model",
    "hog_svm": "fer_engine.models.hog_svm:HOGSVMModel",
    # The shipped FER2013 model's architecture (see fer_engine.models.pretrained).
    "fervgg": "fer_engine.models.fervgg:FERVGGModel",
    # The shipped FER2013 network as a feature extractor under a new head.
    "transfer": "fer_engine.models.transfer:TransferModel",
}

#: Trained models a run scores a dataset with as they are (protocol ``none``, no training).
SCORING_MODELS: tuple[str, ...] = ("pretrained",)

MODEL_NAMES: tuple[str, ...] = (*_FAMILIES, *SCORING_MODELS)

#: What people read for the families a study trains under a protocol, in the order the Train
#: page offers them. ``fervgg`` (the shipped model's architecture) is trained by
#: ``train-pretrained``'s recipe; ``train --model fervgg`` still accepts it. ``pretrained``
#: is offered by the Train page through the ``none`` protocol (score it, no training).
MODEL_LABELS: dict[str, str] = {
    "transfer": "Transfer from the shipped FER2013 network: its face features + a new head "
                "(fast; best for small datasets)",
    "cnn": "Small CNN: 48×48 grey faces, trained from scratch (fast)",
    "hog_svm": "HOG features + SVM: no neural network (fast, a classic baseline)",
    "resnet50": "ResNet50: 224×224 colour, ImageNet transfer learning (slow on a CPU)",
    "vgg16": "VGG16: 224×224 colour, ImageNet transfer learning (slow on a CPU)",
}

#: Default ``weights`` per family when the caller does not choose.
DEFAULT_WEIGHTS: dict[str, str] = {"cnn": "none", "resnet50": "imagenet", "vgg16": "imagenet",
                                   "hog_svm": "none", "fervgg": "none", "transfer": "pretrained"}

#: Below this many images the Train page recommends ``transfer`` (measured: on a posed-face
#: dataset of ~100 people, frozen FER2013 features + logistic regression beat the study CNN
#: trained from scratch, 87 % vs 83 %, in about 2 s instead of 91 s).
TRANSFER_RECOMMENDED_BELOW = 1000


def recommended_model(n_images: int) -> str:
    """The family the Train page selects first for a dataset of ``n_images`` images."""
    return "transfer" if int(n_images) < TRANSFER_RECOMMENDED_BELOW else "cnn"


class _Classes(dict):
    """Lazy name -> class mapping (so ``hog_svm`` never imports TensorFlow)."""

    def get(self, name, default=None):
        if name not in _FAMILIES:
            return default
        module, cls = _FAMILIES[name].split(":")
        return getattr(importlib.import_module(module), cls)

    def __getitem__(self, name):
        klass = self.get(name)
        if klass is None:
            raise KeyError(name)
        return klass


MODEL_CLASSES = _Classes()


def create(name: str, labels, **options) -> FERModel:
    """A new untrained model of family ``name`` predicting ``labels`` (canonical subset).

    Options by family: ``weights`` (``"imagenet"``, ``"none"`` or a file; default per
    :data:`DEFAULT_WEIGHTS`), ``input_size`` (cnn/resnet50/vgg16; tests only),
    ``unfreeze="conv5"`` (resnet50), ``C``/``gamma`` (hog_svm), ``finetune`` (transfer).
    Raises :class:`fer_engine.errors.WeightsUnavailableError` when ImageNet weights
    cannot be downloaded.
    """
    if name in SCORING_MODELS:
        raise ModelError(f"'{name}' is a trained model, not a family to train: load it with "
                         "load_model, or score a dataset with it under the 'none' protocol.")
    if name not in _FAMILIES:
        raise ModelError(f"Unknown model '{name}'. Choose one of: {', '.join(MODEL_NAMES)}.")
    options = {k: v for k, v in options.items() if v is not None}
    options.setdefault("weights", DEFAULT_WEIGHTS[name])
    return MODEL_CLASSES[name](labels, **options)


class EnsembleModel(FERModel):
    """Average of the probabilities of several models with the same labels and input."""

    name = "ensemble"

    def __init__(self, members: list[FERModel]):
        if not members:
            raise ModelError("An ensemble needs at least one model.")
        first = members[0]
        for m in members[1:]:
            if m.labels != first.labels or m.input_spec != first.input_spec:
                raise ModelError("The fold models of this run disagree on emotions or input size.")
        super().__init__(first.labels, first.input_spec, {"members": [m.name for m in members]})
        self.members = list(members)
        self.face_margin = first.face_margin

    def predict_proba(self, X, batch_size: int = 256) -> np.ndarray:
        p = sum(m.predict_proba(X, batch_size=batch_size) for m in self.members) / len(self.members)
        return p.astype(np.float32)

    def features(self, X, batch_size: int = 256) -> np.ndarray:
        raise ModelError("Features belong to one fold's model: load the run with fold=<k>.")

    def fit(self, *args, **kwargs):
        raise ModelError("An ensemble of fold models is not trained directly.")

    def save(self, directory, stem: str = "model"):
        raise ModelError("An ensemble of fold models cannot be saved as one model file.")


def _load_pretrained() -> FERModel:
    try:
        module = importlib.import_module("fer_engine.models.pretrained")
    except ModuleNotFoundError as exc:
        if exc.name != "fer_engine.models.pretrained":
            raise
        raise ModelError(
            "The shipped pretrained model is not available yet in this version; "
            "use a run folder or a model file instead."
        ) from exc
    return module.load_pretrained()


_FOLD_FILE = re.compile(r"^fold_(\d+)\.(keras|joblib)$")


def _fold_files(models_dir: Path) -> dict[int, Path]:
    out = {}
    for p in models_dir.iterdir() if models_dir.is_dir() else ():
        m = _FOLD_FILE.match(p.name)
        if m:
            out[int(m.group(1))] = p
    return dict(sorted(out.items()))


def _from_models_dir(models_dir: Path, fold, where: Path) -> FERModel:
    folds = _fold_files(models_dir)
    if not folds:
        singles = [p for p in sorted(models_dir.glob("*")) if p.suffix in (".keras", ".joblib")]
        if len(singles) == 1:
            return FERModel.load(singles[0])
        raise ModelError(f"{where} holds no model file.")
    if fold is None:
        return FERModel.load(folds[max(folds)])
    if fold == "all":
        return EnsembleModel([FERModel.load(p) for p in folds.values()])
    try:
        return FERModel.load(folds[int(fold)])
    except (KeyError, ValueError):
        raise ModelError(
            f"{where} has no fold {fold}; it has folds {min(folds)}..{max(folds)}."
        ) from None


def load_model(path_or_name, fold: int | str | None = None) -> FERModel:
    """Load a trained model.

    ``path_or_name``: a run folder (``config.json`` + ``models/``), a model folder
    (``meta.json`` + model file(s)), a ``.keras``/``.joblib`` file saved by this tool,
    ``"pretrained"``, or an already loaded :class:`FERModel` (returned as is).
    ``fold``: see the module docstring (default: last fold; ``"all"``: ensemble).
    Raises :class:`fer_engine.errors.ModelError` with a readable message.
    """
    if isinstance(path_or_name, FERModel):
        return path_or_name
    if str(path_or_name) == "pretrained":
        return _load_pretrained()
    path = Path(str(path_or_name)).expanduser()
    if not path.exists():
        raise ModelError(
            f"No model found at {path}: give a run folder, a model file or 'pretrained'."
        )
    if path.is_file():
        return FERModel.load(path)
    if (path / "models").is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"{path} is not a complete run folder (no config.json).")
        return _from_models_dir(path / "models", fold, path)
    if (path / META_FILE).is_file():
        return _from_models_dir(path, fold, path)
    raise ModelError(f"{path} is neither a run folder nor a model folder (no models/ or {META_FILE}).")


def read_meta(path) -> dict:
    """The ``meta.json`` of a model folder or run folder, without loading the model."""
    path = Path(path)
    for candidate in (path / "models" / META_FILE, path / META_FILE, path.parent / META_FILE):
        if candidate.is_file():
            return json.loads(candidate.read_text())
    raise ModelError(f"No {META_FILE} found for {path}.")
