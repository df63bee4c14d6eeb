"""What the three Keras families share: the tf.data training pipeline, batched inference, I/O.

Augmentation (Keras preprocessing layers) runs in the tf.data pipeline of the training
batches only; it is never part of the saved model, so a saved model takes normalised
images and returns softmax probabilities, nothing else.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from fer_engine.errors import ModelError, WeightsUnavailableError
from fer_engine.models import lite as _lite
from fer_engine.models.base import (
    CancelToken,
    FERModel,
    ProgressCallback,
    ProgressEvent,
    TrainConfig,
    check_cancel,
    class_weights,
    encode_labels,
    n_batches,
)
from fer_engine.preprocess import InputSpec

_CAFFE_MEAN = (103.939, 116.779, 123.68)


def tf_normalise(x, spec: InputSpec):
    """TensorFlow twin of :func:`fer_engine.preprocess.normalise` (tested to agree)."""
    x = tf.cast(x, tf.float32)
    if spec.normalisation == "unit":
        return x / 255.0
    if spec.normalisation == "symmetric":
        return (x / 255.0 - 0.5) * 2.0
    if spec.normalisation == "raw":
        return x
    if spec.normalisation in ("resnet50", "vgg16"):
        return x[..., ::-1] - tf.constant(_CAFFE_MEAN, tf.float32)
    raise ValueError(spec.normalisation)


def augmentation_layers(aug: dict | None, seed: int) -> list:
    """Keras preprocessing layers for ``TrainConfig.augmentation`` (empty list: none).

    Rotation, shifts, zoom and shear: one :class:`fer_engine.models.augment.RandomAffine`
    (a single resampling; see that module for why); flips: ``keras.layers.RandomFlip``.
    """
    from fer_engine.models.augment import RandomAffine

    if not aug:
        return []
    layers = []
    geometric = {k: float(aug.get(k) or 0.0) for k in ("rotation", "shift", "zoom", "shear")}
    if any(geometric.values()):
        layers.append(RandomAffine(**geometric, seed=seed))
    if aug.get("horizontal_flip"):
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed + 1))
    return layers


def apply_layers(layers: list, x):
    for layer in layers:
        x = layer(x, training=True)
    return x


def is_download_failure(exc: BaseException) -> bool:
    """True for what ``keras.utils.get_file`` raises when it cannot fetch a file.

    Measured here (Keras 3.15, offline): a bare ``Exception("URL fetch failure on <url>:
    None -- [Errno -2] Name or service not known")``; a truncated download raises a
    ``ValueError`` about a corrupted file; socket errors are ``OSError``.
    """
    text = str(exc)
    return (
        isinstance(exc, OSError)
        or "URL fetch failure" in text
        or "corrupted file" in text
    )


def imagenet_base(builder, display: str, *, weights: str | None, input_tensor):
    """Call a ``keras.applications`` builder without top on ``input_tensor`` (flat graph).

    ``weights``: ``"imagenet"`` (Keras's normal download, cached in ``~/.keras/models``),
    ``"none"``/``None`` (random initialisation) or a path to a no-top weights file.
    Raises :class:`WeightsUnavailableError` offline or for a missing/unfit file.
    """
    if weights in (None, "none"):
        arg = None
    elif weights == "imagenet":
        arg = "imagenet"
    else:
        path = Path(str(weights)).expanduser()
        if not path.is_file():
            raise WeightsUnavailableError(f"The weights file {path} does not exist.")
        arg = str(path)
    try:
        return builder(include_top=False, weights=arg, input_tensor=input_tensor)
    except Exception as exc:  # noqa: BLE001 - translated into one sentence below
        if arg == "imagenet" and is_download_failure(exc):
            raise WeightsUnavailableError(
                f"The ImageNet weights for {display} could not be downloaded (no internet connection?): "
                "either give a local weights file with --weights FILE, or choose random "
                "initialisation explicitly with --weights none."
            ) from exc
        if arg not in (None, "imagenet"):
            raise WeightsUnavailableError(
                f"The weights file {arg} does not fit {display} without its top layers ({exc})."
            ) from exc
        raise


class ReduceLROnPlateauAfter(keras.callbacks.ReduceLROnPlateau):
    """``ReduceLROnPlateau`` that, like ``EarlyStopping(start_from_epoch=...)``, ignores the
    first ``start_from_epoch`` epochs.

    Measured on the synthetic data: the cnn sits on the uniform-prediction plateau
    (loss ln 8) for its first 15-20 epochs; a learning-rate cut during that plateau
    (patience 3) halved the rate four times before learning began and left leave-one-
    subject-out accuracy at 0.35 instead of 0.58 without callbacks (6 folds).
    """

    def __init__(self, start_from_epoch: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.start_from_epoch = int(start_from_epoch)

    def on_epoch_end(self, epoch, logs=None):
        if epoch >= self.start_from_epoch:
            super().on_epoch_end(epoch, logs)
        else:
            (logs if logs is not None else {})["learning_rate"] = float(
                np.asarray(self.model.optimizer.learning_rate))


class _Validation(keras.callbacks.Callback):
    """Adds ``val_loss`` and ``val_accuracy`` to the epoch's logs, before the callbacks after it.

    Replaces ``fit(validation_data=...)``: Keras's evaluation builds a new dataset iterator
    and callback list every epoch, measured at 150-200 ms per epoch for a 20-image
    validation set, as long as the epoch's training itself for the cnn on the synthetic data.
    Here the (already normalised) validation set goes through one traced function in chunks.
    Same figures as Keras's: mean categorical cross-entropy (the families have no
    regularisation losses) and the share of argmax hits.
    """

    def __init__(self, fn, X: np.ndarray, Y: np.ndarray, chunk: int = 512):
        super().__init__()
        self.fn, self.chunk = fn, chunk
        self.X, self.Y = X, Y

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        ce = hits = 0.0
        for start in range(0, len(self.X), self.chunk):
            c, h = self.fn(self.X[start:start + self.chunk], self.Y[start:start + self.chunk])
            ce, hits = ce + float(c), hits + float(h)
        logs["val_loss"] = ce / len(self.X)
        logs["val_accuracy"] = hits / len(self.X)


class _KerasProgress(keras.callbacks.Callback):
    """Keras callback: progress events per batch/epoch, a cancel check per batch, history rows."""

    def __init__(self, progress, cancel, n_epochs: int, nb: int):
        super().__init__()
        self.progress, self.cancel = progress, cancel
        self.n_epochs, self.nb = n_epochs, nb
        self.epoch = 0
        self.rows: list[dict] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        check_cancel(self.cancel)
        if self.progress is not None:
            self.progress(ProgressEvent(
                "batch_end", epoch=self.epoch, n_epochs=self.n_epochs, batch=batch + 1,
                n_batches=self.nb, metrics={k: float(v) for k, v in (logs or {}).items()},
            ))

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        row = {
            "epoch": epoch + 1,
            "loss": float(logs.get("loss", np.nan)),
            "accuracy": float(logs.get("accuracy", np.nan)),
            "val_loss": float(logs.get("val_loss", np.nan)),
            "val_accuracy": float(logs.get("val_accuracy", np.nan)),
            "learning_rate": float(np.asarray(self.model.optimizer.learning_rate)),
        }
        self.rows.append(row)
        if self.progress is not None:
            self.progress(ProgressEvent(
                "epoch_end", epoch=epoch + 1, n_epochs=self.n_epochs, n_batches=self.nb,
                metrics={k: v for k, v in row.items() if k != "epoch"},
            ))


class KerasFERModel(FERModel):
    """A model family backed by a functional ``keras.Model`` ending in a layer 'predictions'."""

    file_format = "keras"
    #: XLA compilation of the train step. Off: on CPU, compiling costs more than it saves for
    #: the few epochs of a fold (measured: see benchmarks/train_speed.py).
    jit_compile: bool = False

    def __init__(self, labels, input_spec: InputSpec, options: dict | None = None, *, model=None):
        super().__init__(labels, input_spec, options)
        self._model = model if model is not None else self.build()
        out = self._model.output_shape[-1]
        if out != len(self.labels):
            raise ModelError(f"The model has {out} outputs but {len(self.labels)} emotions were given.")
        self._infer_fn = None
        self._val_fn = None
        #: the served LiteRT twin's runner (set when loaded next to a valid twin; see models/lite.py)
        self.lite = None
        self.lite_reason = "not loaded from a file"
        self._features_model = None
        self._features_fn = None

    def build(self):
        """Return the uncompiled functional keras.Model (subclasses)."""
        raise NotImplementedError

    @property
    def keras_model(self):
        return self._model

    # -- training -------------------------------------------------------------
    def _dataset(self, X, y_idx, w, *, batch_size, shuffle, augment, seed):
        n_classes = len(self.labels)
        spec = self.input_spec
        ds = tf.data.Dataset.from_tensor_slices((X, y_idx, w))
        if shuffle:
            ds = ds.shuffle(len(y_idx), seed=seed, reshuffle_each_iteration=True)
        # Batched, then repeated: every pass is one epoch of the same batch sizes, and Keras
        # (given steps_per_epoch) keeps one iterator for the whole fit instead of building
        # a new one per epoch (measured ~40 ms each, a tenth of a small fold's epoch).
        ds = ds.batch(batch_size).repeat()

        def prep(x, y, sw):
            x = tf_normalise(x, spec) if x.dtype == tf.uint8 else tf.cast(x, tf.float32)
            if augment:
                x = apply_layers(augment, x)
            return x, tf.one_hot(y, n_classes), sw

        # Sequential map: the augmentation layers' random state advances batch by batch in a
        # fixed order, so a seeded fit is repeatable (parallel calls would reorder it).
        return ds.map(prep).prefetch(tf.data.AUTOTUNE)

    def fit(self, X, y, *, X_val=None, y_val=None, config: TrainConfig | None = None,
            progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> list[dict]:
        """Train with Adam + categorical cross-entropy; returns one dict per epoch.

        Keys: epoch, loss, accuracy, val_loss, val_accuracy, learning_rate (NaN where
        there is no validation set). Early stopping (best weights restored) and
        learning-rate reduction monitor ``val_loss`` when ``X_val`` is given.
        Raises :class:`TrainingCancelled` when ``cancel.is_set()`` (checked per batch).
        """
        config = config or TrainConfig()
        check_cancel(cancel)
        self._drop_lite("the weights were changed by fit")
        X = self._check_input(X)
        y_idx = encode_labels(y, self.labels)
        if len(X) != len(y_idx) or len(X) == 0:
            raise ModelError("X and y must have the same, non-zero number of rows.")
        if config.class_weight:
            w = class_weights(y_idx, len(self.labels))[y_idx].astype(np.float32)
        else:
            w = np.ones(len(y_idx), np.float32)
        aug = augmentation_layers(config.augmentation, config.seed)
        train_ds = self._dataset(X, y_idx, w, batch_size=config.batch_size, shuffle=True,
                                 augment=aug, seed=config.seed)
        tracker = _KerasProgress(progress, cancel, config.epochs, n_batches(len(X), config.batch_size))
        callbacks = [tracker]
        if X_val is not None and len(X_val):
            Xv = self._check_input(X_val)
            yv = encode_labels(y_val, self.labels)
            # first: it writes val_* into the epoch's logs that the others read
            callbacks.insert(0, _Validation(self._validation_fn(), self._normalised(Xv),
                                            np.eye(len(self.labels), dtype=np.float32)[yv]))
            if config.early_stopping:
                callbacks.append(keras.callbacks.EarlyStopping(**config.early_stopping))
            if config.reduce_lr:
                callbacks.append(ReduceLROnPlateauAfter(**config.reduce_lr, verbose=0))
        self._prepare_optimizer(config.learning_rate)
        self._model.fit(train_ds, epochs=config.epochs,
                        steps_per_epoch=n_batches(len(X), config.batch_size),
                        callbacks=callbacks, verbose=0, shuffle=False)
        return tracker.rows

    def _validation_fn(self):
        """Traced ``(x, y_onehot) -> (sum of cross-entropy, number correct)``, kept across folds."""
        if self._val_fn is None:
            model = self._model

            def fn(x, y):
                p = model(x, training=False)
                ce = keras.losses.categorical_crossentropy(y, p)
                hit = tf.cast(tf.equal(tf.argmax(p, -1), tf.argmax(y, -1)), tf.float32)
                return tf.reduce_sum(ce), tf.reduce_sum(hit)

            self._val_fn = tf.function(fn, input_signature=[
                tf.TensorSpec((None, *self.input_spec.shape), tf.float32),
                tf.TensorSpec((None, len(self.labels)), tf.float32)])
        return self._val_fn

    def _prepare_optimizer(self, learning_rate: float) -> None:
        """Compile once; on later fits only reset Adam's state and the learning rate.

        Re-compiling would throw away the traced train/test functions, which cost a few
        seconds per fold on CPU (see :meth:`reinitialise`).
        """
        if getattr(self._model, "optimizer", None) is None or not self._model.compiled:
            self._model.compile(
                optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                loss="categorical_crossentropy",
                metrics=["accuracy"],
                jit_compile=self.jit_compile,
            )
            return
        opt = self._model.optimizer
        for v in opt.variables:
            v.assign(np.zeros(v.shape, dtype=v.dtype))
        opt.learning_rate = learning_rate

    def reinitialise(self, seed: int | None = None) -> None:
        """Fresh initial weights (random, or ImageNet for the base) for the next fold.

        Builds a new graph of the same architecture under ``seed`` and copies its weights
        in, so the traced training and inference functions of this object are reused:
        a run trains one fresh model per fold without paying the tracing cost per fold.
        """
        if seed is not None:
            keras.utils.set_random_seed(seed)
        self._drop_lite("the weights were re-initialised")
        fresh = self.build()
        # layer by layer, weights and random-seed states (dropout), so the result equals a new model
        for mine, new in zip(self._model.layers, fresh.layers, strict=True):
            for v_mine, v_new in zip(mine.variables, new.variables, strict=True):
                v_mine.assign(v_new)
        del fresh

    def _drop_lite(self, reason: str) -> None:
        if self.lite is not None:
            self.lite, self.lite_reason = None, reason

    # -- inference --------------------------------------------------------------
    def _batched(self, fn, X, batch_size: int) -> np.ndarray:
        X = self._check_input(X)
        outs = []
        for start in range(0, len(X), batch_size):
            outs.append(np.asarray(fn(self._normalised(X[start:start + batch_size]))))
        if not outs:
            return np.zeros((0, 0), np.float32)
        return np.concatenate(outs).astype(np.float32, copy=False)

    def _signature(self):
        return [tf.TensorSpec((None, *self.input_spec.shape), tf.float32)]

    def predict_proba(self, X, batch_size: int = 256) -> np.ndarray:
        """Softmax probabilities (n, n_labels) from batched ``tf.function`` calls, or, when the
        model has a LiteRT twin, from the twin (every batch size: the twin is the function the
        model serves; see :mod:`fer_engine.models.lite`).
        """
        if self.lite is not None:
            X = self._check_input(X)
            if len(X):
                return self.lite(self._normalised(X))
        if self._infer_fn is None:
            model = self._model
            self._infer_fn = tf.function(lambda x: model(x, training=False),
                                         input_signature=self._signature())
        p = self._batched(self._infer_fn, X, batch_size)
        return p.reshape(len(p), len(self.labels)) if p.size == 0 else p

    @property
    def features_model(self):
        """keras.Model from the input to the input of the final layer (penultimate features)."""
        if self._features_model is None:
            last = self._model.layers[-1]
            self._features_model = keras.Model(self._model.inputs, last.input, name="features")
        return self._features_model

    def features(self, X, batch_size: int = 256) -> np.ndarray:
        """Penultimate-layer activations (n, d) float32 (d = 128 for cnn, 256 for resnet50/vgg16)."""
        if self._features_fn is None:
            fm = self.features_model
            self._features_fn = tf.function(lambda x: fm(x, training=False),
                                            input_signature=self._signature())
        return self._batched(self._features_fn, X, batch_size)

    # -- persistence ------------------------------------------------------------
    def _save_model_file(self, path: Path) -> None:
        self._model.save(path)

    @classmethod
    def _load_model_file(cls, path: Path, labels, input_spec: InputSpec, options: dict):
        model = keras.saving.load_model(path, compile=False)
        obj = cls(labels, input_spec, options, model=model)
        obj.lite, obj.lite_reason = _lite.open_twin(path, input_spec.shape, len(labels))
        return obj

    def load_weights_file(self, weights) -> None:
        """Initialise from a Keras weights file (``.weights.h5``) of the same architecture."""
        path = Path(str(weights)).expanduser()
        if not path.is_file():
            raise WeightsUnavailableError(f"The weights file {path} does not exist.")
        try:
            self._model.load_weights(path)
            self._drop_lite("the weights were replaced from a file")
        except Exception as exc:  # noqa: BLE001
            raise WeightsUnavailableError(
                f"The weights file {path} does not fit the {self.name} model ({exc})."
            ) from exc


class ImageNetFERModel(KerasFERModel):
    """A frozen ImageNet backbone (built by :func:`imagenet_base`) under a new head.

    Options shared by the backbones: ``weights`` (``imagenet`` | ``none`` | path to a
    no-top weights file) and ``input_size`` (default 224; smaller only for tests). The
    pixel normalisation is named after the model (``InputSpec(size, 3, name)``).
    """

    min_size = 32

    def __init__(self, labels, input_spec: InputSpec | None = None, options: dict | None = None,
                 *, model=None, weights: str | None = "imagenet", input_size: int | None = None):
        options = dict(options or {})
        options.setdefault("weights", "none" if weights is None else str(weights))
        options.setdefault("input_size", int(input_size or 224))
        size = int(options["input_size"])
        if size < self.min_size:
            raise ValueError(f"input_size must be at least {self.min_size}")
        spec = input_spec or InputSpec(size, 3, self.name)
        super().__init__(labels, spec, options, model=model)
