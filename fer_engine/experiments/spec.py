"""What to train: one frozen :class:`ExperimentSpec` holds every setting of a training.

:func:`fer_engine.experiments.training.run_experiment` trains one; the background job
(:class:`fer_engine.experiments.jobs.JobSpec`) stores one; the CLI's ``train`` flags and the
Train page build one, taking their defaults from it. Which data and where the run folder
goes are not part of it: they are arguments of ``run_experiment``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from fer_engine.errors import DatasetError, ModelError
from fer_engine.experiments.protocols import PROTOCOLS
from fer_engine.models import MODEL_NAMES, SCORING_MODELS
from fer_engine.models.base import resolve_augmentation
from fer_engine.preprocess.align import DEFAULT_ALIGN
from fer_engine.preprocess.detectors import DEFAULT_DETECTOR, DETECTORS


@dataclass(frozen=True)
class ExperimentSpec:
    """The settings of one training (see ``run_experiment``).

    ``model``: a family of :data:`fer_engine.models.MODEL_NAMES`. ``protocol``: one of
    :data:`fer_engine.experiments.protocols.PROTOCOLS`: ``loso``, ``group-kfold`` (``k``
    folds), ``holdout`` (``test_size`` of the participants), ``paper`` (LEAKY image-level
    split; ``augment_before_split`` with ``copies`` augmented copies per image reproduces the
    first study's notebook), ``official``.
    ``epochs`` (maximum per fold), ``batch_size``, ``learning_rate`` (Adam), ``seed`` (the
    plan's; fold ``k`` trains with ``seed + k``).
    ``weights``: ``imagenet``/``none``/file (None: imagenet for resnet50/vgg16, none otherwise).
    ``augment``: ``"flip"`` (horizontal flips only), ``"full"`` (also rotation, shifts, zoom,
    shear; see ``fer_engine.models.base.AUGMENTATIONS``), ``"none"``, True (= ``"flip"``) /
    False, or a dict of factors like ``FULL_AUGMENTATION``. ``class_weight``: balanced class
    weights. ``val_fraction``: share of each fold's training participants held out for early
    stopping (``early_stopping_patience`` epochs) and learning-rate reduction (0 disables
    both). ``detect``/``margin``: face detection of pre-processing (no face: centre crop) and
    the margin around each face (None: the model's own, ``FERModel.face_margin``: the
    engine's default 0.2 for a model trained here, the shipped model's for ``pretrained``);
    ``detector`` (a name of ``fer_engine.preprocess.DETECTORS``) finds the faces and ``align``
    levels the eyes before the crop.
    ``finetune``: ``transfer`` only: also train the base network's last convolution block and
    a Keras head (early stopping on the validation people), instead of a logistic-regression
    head on frozen features.
    ``model``/``protocol`` ``pretrained``/``none``: no training, the shipped FER2013 model
    scores every image (each needs the other).
    ``model_options``: extra options of the family (``input_size``, ``unfreeze``, ``C``...).

    Unknown models and protocols raise :class:`~fer_engine.errors.UserFacingError`
    subclasses; numbers are coerced to their types, so a spec read back from JSON or from
    widgets equals the one written.
    """

    model: str = "cnn"
    protocol: str = "loso"
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    seed: int = 0
    weights: str | None = None
    augment: str | bool | dict = "flip"
    class_weight: bool = False
    k: int = 5
    test_size: float = 0.2
    val_fraction: float = 0.15
    augment_before_split: bool = False
    copies: int = 4
    early_stopping_patience: int = 6
    detect: bool = True
    margin: float | None = None
    detector: str = DEFAULT_DETECTOR
    align: bool = DEFAULT_ALIGN
    finetune: bool = False
    model_options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.model not in MODEL_NAMES:
            raise ModelError(
                f"Unknown model '{self.model}'. Choose one of: {', '.join(MODEL_NAMES)}."
            )
        if self.protocol not in PROTOCOLS:
            raise DatasetError(
                f"Unknown protocol '{self.protocol}'. Choose one of: {', '.join(PROTOCOLS)}."
            )
        if (self.model in SCORING_MODELS) != (self.protocol == "none"):
            raise ModelError(
                "Scoring without training pairs the shipped model with the 'none' protocol: "
                "use model 'pretrained' with protocol 'none' (and a trainable model with any "
                "other protocol)."
            )
        if self.detector not in DETECTORS:
            raise DatasetError(
                f"Unknown face detector '{self.detector}'. Choose one of: {', '.join(DETECTORS)}."
            )
        if self.finetune and self.model != "transfer":
            raise ModelError("finetune applies to the transfer model only.")
        resolve_augmentation(self.augment)  # ValueError for an unknown preset or factor
        for name, kind in _COERCE.items():
            object.__setattr__(self, name, kind(getattr(self, name)))
        if self.margin is not None:
            object.__setattr__(self, "margin", float(self.margin))
        augment = self.augment
        object.__setattr__(self, "augment", dict(augment) if isinstance(augment, dict) else augment)
        object.__setattr__(self, "model_options", dict(self.model_options or {}))

    @property
    def scoring(self) -> bool:
        """True when nothing is trained: the shipped model scores every image (``none``)."""
        return self.protocol == "none"

    @property
    def fitted_in_one_step(self) -> bool:
        """True when each fold's model is fitted in one step, with no epochs: ``hog_svm`` and
        the ``transfer`` model's logistic-regression head on frozen features (without
        ``finetune``); False for the families trained epoch by epoch and for scoring."""
        return self.model == "hog_svm" or (self.model == "transfer" and not self.finetune)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> ExperimentSpec:
        return cls(**d)


#: Fields whose values are coerced to a type (widgets and JSON give numpy or float values).
_COERCE = {f.name: {"int": int, "float": float, "bool": bool}[f.type]
           for f in fields(ExperimentSpec) if f.type in ("int", "float", "bool")}
