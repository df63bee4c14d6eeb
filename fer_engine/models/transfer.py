"""``transfer``: the shipped FER2013 network as a feature extractor under a new head.

Base: the shipped model (``artifacts/pretrained/model.keras``, a fused :mod:`fervgg` graph,
48x48 gray, ``unit`` normalisation), read from the repository: nothing is downloaded. Its
penultimate layer (``fc``: 256 ReLU units, seen through ``drop2``) gives the features; a
face's features are the mean of those of the face and of its mirror image (the shipped model
serves the mean over the same two views).

**Frozen (default).** The trunk never changes, so a run computes each image's features once
(:meth:`TransferModel.cache_features`, called by the training loop before the first fold;
later calls look them up by the image's bytes). Head: multinomial logistic regression
(scikit-learn, lbfgs, L2) on standardised features; its regularisation ``C`` is chosen among
:data:`CS` by cross-validation grouped by participant **within the fold's training people
only** (``GroupKFold``, up to :data:`INNER_FOLDS` folds, log-loss), then refitted on all of
them. The fold's validation people are training people too: the frozen head is fitted on
train + validation (nothing stops early here), never on a test participant.

**Fine-tuned** (``finetune=True``). The logistic regression above, fitted on the training
people, starts a Keras head; then the last convolution block (``block4_conv1..3``) and the
head are trained with Adam, augmentation, early stopping and learning-rate reduction on the
validation people, like the other Keras families. The base's weights are restored before
each fold.

The model's ``keras_model`` is one flat functional graph from the 48x48 gray face to the new
classes: the shipped trunk, then a Dense softmax ``predictions`` layer that holds the head
(the standardisation folded into its weights), so Grad-CAM and the other explanations work
through the whole graph. ``predict_proba`` adds the mirror view: softmax of the head applied
to the mean of the two views' features (= the mean of the two views' logits).

Options: ``finetune`` (bool); ``base`` (recorded: the base network's file and SHA-256).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from fer_engine.errors import ModelError, WeightsUnavailableError
from fer_engine.models.base import (
    CancelToken,
    ProgressCallback,
    TrainConfig,
    check_cancel,
    encode_labels,
    report_single_step_fit,
)
from fer_engine.models.keras_base import KerasFERModel
from fer_engine.preprocess import InputSpec

#: Regularisation strengths tried for the logistic-regression head (inverse of the L2 weight).
CS: tuple[float, ...] = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0)
#: Grouped inner folds used to choose C (fewer when the fold has fewer training people).
INNER_FOLDS = 5
#: C when the training side has fewer than two people (no grouped cross-validation possible).
DEFAULT_C = 0.1
#: Layers a fine-tuning trains besides the head: the base's last convolution block.
FINETUNE_PREFIX = "block4_conv"
#: Layer of the base whose output (input of its classifier) is the feature vector.
FEATURE_LAYER = "drop2"
BASE_NAME = "pretrained"


def base_path() -> Path:
    from fer_engine.models import pretrained

    return pretrained.model_path()


def base_record() -> dict:
    """Which network the features come from (``config.json``'s ``model.base``)."""
    from fer_engine.models import pretrained

    return {**pretrained.record(), "feature_layer": "fc (penultimate, 256 units)",
            "views": "face and mirror image, features averaged"}


def _load_base():
    path = base_path()
    if not path.is_file():
        raise WeightsUnavailableError(
            f"The transfer model starts from the shipped FER2013 network, which is missing "
            f"({path}); restore artifacts/pretrained/ from the repository.")
    return keras.saving.load_model(path, compile=False)


# --------------------------------------------------------------------------- the head


def grouped_splits(groups: np.ndarray, n_splits: int = INNER_FOLDS) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inner (train, validation) index pairs of whole participants (``GroupKFold``); empty
    when there are fewer than two participants."""
    from sklearn.model_selection import GroupKFold

    groups = np.asarray(groups).astype(str)
    k = min(int(n_splits), len(np.unique(groups)))
    if k < 2:
        return []
    return list(GroupKFold(n_splits=k).split(np.zeros(len(groups)), groups=groups))


def fit_head(F: np.ndarray, y_idx: np.ndarray, groups: np.ndarray, n_classes: int,
             seed: int = 0, Cs=CS) -> tuple[np.ndarray, np.ndarray, dict]:
    """Multinomial logistic regression on standardised features ``F`` (n, d).

    ``C`` is chosen by the mean log-loss over :func:`grouped_splits` of ``groups`` (the
    training people only; each C warm-starts from the previous, smaller one), then the model
    is refitted on all rows. Returns ``(W, b, info)``: the equivalent Dense layer on the raw
    features (``softmax(F @ W + b)``, W (d, n_classes); classes absent from ``y_idx`` get a
    logit far below the others) and ``info`` (``C``, ``inner_folds``, ``inner_log_loss``
    per C, ``n_rows``, ``n_participants``, ``classes``).

    scikit-learn runs on one thread here: with more, its solver spent 30 times longer
    waiting for busy cores than computing (measured on the 2-core box under load).
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    F = np.asarray(F, np.float64)
    y_idx = np.asarray(y_idx)
    present = np.unique(y_idx)
    if len(present) < 2:
        raise ModelError("The transfer head needs training images of at least two emotions.")
    mean = F.mean(axis=0)
    scale = F.std(axis=0)
    scale[scale < 1e-8] = 1.0
    Z = (F - mean) / scale
    splits = [(tr, va) for tr, va in grouped_splits(groups) if len(np.unique(y_idx[tr])) >= 2]
    losses = np.zeros(len(Cs))
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for tr, va in splits:
            lr = LogisticRegression(max_iter=300, warm_start=True, random_state=seed)
            for j, C in enumerate(Cs):
                lr.set_params(C=C).fit(Z[tr], y_idx[tr])
                p = np.full((len(va), n_classes), 1e-12)
                p[:, lr.classes_] = lr.predict_proba(Z[va])
                losses[j] += _log_loss(p, y_idx[va]) / len(splits)
        C = float(Cs[int(np.argmin(losses))]) if splits else DEFAULT_C
        lr = LogisticRegression(C=C, max_iter=500, random_state=seed).fit(Z, y_idx)
    coef, intercept = np.asarray(lr.coef_), np.asarray(lr.intercept_)
    classes = np.asarray(lr.classes_)
    if coef.shape[0] == 1:  # two classes: sigmoid(z) = softmax([-z/2, z/2])
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    W = np.zeros((F.shape[1], n_classes))
    b = np.zeros(n_classes)
    W[:, classes] = (coef / scale).T
    b[classes] = intercept - (coef * (mean / scale)).sum(axis=1)
    absent = np.setdiff1d(np.arange(n_classes), classes)
    if len(absent):
        b[absent] = b[classes].min() - 30.0
    info = {"C": C, "inner_folds": len(splits),
            "inner_log_loss": {f"{c:g}": round(float(v), 4) for c, v in zip(Cs, losses)} if splits
            else {},
            "n_rows": int(len(F)),
            "n_participants": int(len(np.unique(np.asarray(groups).astype(str)))),
            "classes": [int(c) for c in classes]}
    return W.astype(np.float32), b.astype(np.float32), info


def _log_loss(p: np.ndarray, y_idx: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y_idx)), y_idx], 1e-12, None))))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


# --------------------------------------------------------------------------- the family


class TransferModel(KerasFERModel):
    """The shipped network's features under a head for the dataset's own classes."""

    name = "transfer"
    #: the training loop passes each fold's participants (``groups``) to :meth:`fit`
    fits_by_participant = True

    def __init__(self, labels, input_spec: InputSpec | None = None, options: dict | None = None,
                 *, model=None, weights: str | None = None, finetune: bool | None = None):
        options = dict(options or {})
        if weights not in (None, "none", BASE_NAME):
            raise WeightsUnavailableError(
                "The transfer model always starts from the shipped FER2013 network; "
                "leave --weights unset.")
        options["weights"] = BASE_NAME
        if finetune is not None:
            options["finetune"] = bool(finetune)
        options.setdefault("finetune", False)
        if model is None:
            options["base"] = base_record()
        super().__init__(labels, input_spec or InputSpec(48, 1, "unit"), options, model=model)
        #: features of the unchanged base by image bytes (see cache_features)
        self._memo: dict[bytes, np.ndarray] = {}
        #: images that went through the base network's trunk (both views count once)
        self.trunk_images = 0
        #: True while the network's weights are those the cached features were computed with
        self._pristine = True
        self._base_weights = ([v.numpy() for v in self._trunk_variables()]
                              if model is None and self.options["finetune"] else None)
        self._view_fn = None
        #: what the last fit did (C, inner folds, the participants the head was fitted on)
        self.fit_info: dict = {}

    # -- graph ------------------------------------------------------------------
    def build(self):
        base = _load_base()
        finetune = bool(self.options.get("finetune"))
        for layer in base.layers:
            layer.trainable = finetune and layer.name.startswith(FINETUNE_PREFIX)
        head = keras.layers.Dense(len(self.labels), activation="softmax", kernel_initializer="zeros",
                                  name="predictions")
        out = head(base.get_layer(FEATURE_LAYER).output)
        return keras.Model(base.inputs[0], out, name="transfer")

    def _trunk_variables(self):
        return [v for layer in self._model.layers if layer.name != "predictions"
                for v in layer.variables]

    def reinitialise(self, seed: int | None = None) -> None:
        """Before the next fold: the base's weights back (fine-tuning changed them), a blank head.
        The cached features of the unchanged base stay valid."""
        if seed is not None:
            keras.utils.set_random_seed(seed)
        if not self._pristine:
            if self._base_weights is None:  # a loaded fine-tuned model: its own weights stay
                self._memo.clear()
            else:
                for v, w in zip(self._trunk_variables(), self._base_weights, strict=True):
                    v.assign(w)
        head = self._model.get_layer("predictions")
        head.set_weights([np.zeros(w.shape, np.float32) for w in head.get_weights()])
        self._pristine = True
        self.fit_info = {}

    def meta(self) -> dict:
        return {**super().meta(), "base": self.options.get("base")}

    # -- features ---------------------------------------------------------------
    def _views(self, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Mean penultimate features of each face and its mirror image, (n, 256) float32."""
        if self._view_fn is None:
            fm = self.features_model

            def fn(x):
                return (fm(x, training=False) + fm(tf.reverse(x, axis=[2]), training=False)) / 2.0

            self._view_fn = tf.function(fn, input_signature=self._signature())
        self.trunk_images += len(X)
        out = self._batched(self._view_fn, X, batch_size)
        return out.reshape(len(X), -1) if out.size == 0 else out

    @staticmethod
    def _keys(X: np.ndarray) -> list[bytes]:
        tag = X.dtype.str.encode()
        return [hashlib.blake2b(tag + np.ascontiguousarray(x).tobytes(), digest_size=16).digest()
                for x in X]

    def cache_features(self, X, batch_size: int = 256) -> None:
        """Compute the features of every image of a run in one batched pass (the training loop
        calls this once before the first fold); later :meth:`features` calls look them up."""
        self.features(X, batch_size=batch_size)

    def remember_features(self, X, features) -> None:
        """Take the features of images ``X`` computed elsewhere (a run's driver computes them
        once and its fold units read them) instead of running the network on them again."""
        X = self._check_input(X)
        for key, f in zip(self._keys(X), np.asarray(features, np.float32), strict=True):
            self._memo[key] = f

    def features(self, X, batch_size: int = 256) -> np.ndarray:
        """What the head sees: mirror-averaged penultimate features (n, 256) float32.

        While the base is unchanged (always, unless fine-tuning has run) each distinct image
        goes through the network once per model object; later calls reuse its features.
        """
        X = self._check_input(X)
        if not self._pristine:
            return self._views(X, batch_size)
        keys = self._keys(X)
        todo = [i for i, k in enumerate(keys) if k not in self._memo]
        if todo:
            seen: dict[bytes, int] = {}
            for i in todo:
                seen.setdefault(keys[i], i)
            rows = list(seen.values())
            for k, f in zip(seen, self._views(X[rows], batch_size), strict=True):
                self._memo[k] = f
        if not keys:
            return np.zeros((0, int(self.features_model.output.shape[-1])), np.float32)
        return np.stack([self._memo[k] for k in keys])

    def predict_proba(self, X, batch_size: int = 256) -> np.ndarray:
        """Softmax of the head on the mirror-averaged features, (n, n_labels) float32."""
        F = self.features(X, batch_size=batch_size)
        W, b = self._model.get_layer("predictions").get_weights()
        if not len(F):
            return np.zeros((0, len(self.labels)), np.float32)
        return _softmax(F.astype(np.float64) @ W + b)

    # -- training ---------------------------------------------------------------
    def fit(self, X, y, *, X_val=None, y_val=None, groups=None, groups_val=None,
            config: TrainConfig | None = None, progress: ProgressCallback | None = None,
            cancel: CancelToken | None = None) -> list[dict]:
        """Fit the head (and, with ``finetune``, the last block); one history row per epoch.

        ``groups``/``groups_val``: participant of each training/validation row (the grouped
        choice of C; default: each image its own participant). Frozen: the head is fitted on
        train + validation rows (one history row). Fine-tuned: the logistic regression on the
        training rows starts the Keras head, then Keras training as in the other families.
        """
        config = config or TrainConfig()
        check_cancel(cancel)
        X = self._check_input(X)
        y_idx = encode_labels(y, self.labels)
        if len(X) != len(y_idx) or len(X) == 0:
            raise ModelError("X and y must have the same, non-zero number of rows.")
        groups = (np.arange(len(X)).astype(str) if groups is None else np.asarray(groups).astype(str))
        has_val = X_val is not None and len(X_val)
        if has_val:
            X_val = self._check_input(X_val)
            yv_idx = encode_labels(y_val, self.labels)
            groups_val = (np.array([f"val:{i}" for i in range(len(X_val))]) if groups_val is None
                          else np.asarray(groups_val).astype(str))
        if not self._pristine:
            self.reinitialise()
        finetune = bool(self.options.get("finetune"))
        if finetune or not has_val:
            Xh, yh, gh = X, y_idx, groups
        else:
            Xh = np.concatenate([X, X_val])
            yh = np.concatenate([y_idx, yv_idx])
            gh = np.concatenate([groups, groups_val])
        F = self.features(Xh)
        check_cancel(cancel)
        W, b, info = fit_head(F, yh, gh, len(self.labels), seed=config.seed)
        self._model.get_layer("predictions").set_weights([W, b])
        info["participants"] = sorted(set(gh.tolist()))
        info["head"] = ("logistic regression (warm start), then Keras fine-tuning of "
                        f"{FINETUNE_PREFIX}* and the head" if finetune else "logistic regression")
        self.fit_info = info
        if finetune:
            rows = super().fit(X, y_idx, X_val=X_val if has_val else None,
                               y_val=yv_idx if has_val else None, config=config,
                               progress=progress, cancel=cancel)
            self._pristine = False
            return rows
        p = _softmax(F.astype(np.float64) @ W + b)
        row = {"epoch": 1, "loss": _log_loss(p, yh), "accuracy": float((p.argmax(1) == yh).mean()),
               "val_loss": math.nan, "val_accuracy": math.nan, "learning_rate": math.nan}
        report_single_step_fit(progress, row)
        return [row]

    def load_weights_file(self, weights) -> None:
        raise WeightsUnavailableError("The transfer model always starts from the shipped network.")
