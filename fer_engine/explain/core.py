"""Shared plumbing of the explanation methods: model resolution, caches, targets, results.

Every method works on a *functional* ``keras.Model`` (tf-keras-vis 0.8.7 fails on
``Sequential`` and nested transfer models, see ``shared/GUIDE.md``). A project model
(``fer_engine.models``) is accepted as it is: its ``.keras_model``, ``.labels`` and
``.input_spec`` are used. A plain ``keras.Model`` works too; its labels default to
``"0", "1", ...`` and its input spec to the model's input size with ``unit``
normalisation (pass ``labels=`` / ``input_spec=`` to say otherwise).

Models are cached by identity (the 4 most recently explained ones): the softmax-free
clone tf-keras-vis needs, the tf-keras-vis objects and the compiled ``tf.function`` s
are built once per model. The clone follows later training of the same model object
(its first and last weighted layers are checked on every call and all weights are
copied again when they changed); after changing only middle layers in place, call
:func:`clear_cache`.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fer_engine import emotions
from fer_engine import format as fmt
from fer_engine.errors import ModelError
from fer_engine.preprocess import InputSpec, normalise


@dataclass(frozen=True)
class Resolved:
    """A model reduced to what explanations need."""

    keras_model: Any
    labels: tuple[str, ...]
    spec: InputSpec

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.keras_model.inputs[0].shape[1:])


def resolve(model_or_keras, *, labels=None, input_spec: InputSpec | None = None) -> Resolved:
    """Accept a project model (``.keras_model``/``.labels``/``.input_spec``) or a keras.Model."""
    if isinstance(model_or_keras, Resolved):
        return model_or_keras
    wrapped = hasattr(model_or_keras, "keras_model")  # a project model, not a keras.Model
    keras_model = model_or_keras.keras_model if wrapped else model_or_keras
    if (
        keras_model is None
        or not hasattr(keras_model, "inputs")
        or not hasattr(keras_model, "layers")
    ):
        name = getattr(model_or_keras, "name", type(model_or_keras).__name__)
        if hasattr(model_or_keras, "members"):  # fer_engine.models.EnsembleModel
            raise ModelError(
                "An ensemble of fold models has no single network to explain: "
                "choose one fold (fold=<k>, or the default last fold)."
            )
        raise ModelError(
            f"The model '{name}' is not a neural network, so it has no gradients or layers to "
            "explain. Choose a CNN, ResNet50 or VGG16 model."
        )
    if type(keras_model).__name__ == "Sequential":
        raise ModelError(
            "Explanations need a functional Keras model; this one is Sequential. "
            "Rebuild it with keras.Input and the functional API."
        )
    if len(keras_model.inputs) != 1 or len(keras_model.outputs) != 1:
        raise ModelError("Explanations need a model with one image input and one class output.")
    shape = tuple(keras_model.inputs[0].shape[1:])
    if len(shape) != 3 or None in shape:
        raise ModelError(f"Explanations need a fixed (height, width, channels) input, not {shape}.")
    if labels is None and wrapped:
        labels = getattr(model_or_keras, "labels", None)
    n_classes = int(keras_model.outputs[0].shape[-1])
    labels = (
        tuple(str(v) for v in labels)
        if labels is not None
        else tuple(str(i) for i in range(n_classes))
    )
    if len(labels) != n_classes:
        raise ModelError(f"The model has {n_classes} outputs but {len(labels)} labels were given.")
    # (keras.Model has an unrelated ``input_spec`` attribute: only a project model's counts)
    spec = (
        input_spec
        if input_spec is not None or not wrapped
        else getattr(model_or_keras, "input_spec", None)
    )
    if spec is None:
        if shape[0] != shape[1]:
            raise ModelError(f"Pass input_spec= for a non-square input {shape}.")
        spec = InputSpec(int(shape[0]), int(shape[2]), "unit")
    elif isinstance(spec, dict):
        spec = InputSpec.from_dict(spec)
    if tuple(spec.shape) != tuple(int(d) for d in shape):
        raise ModelError(f"The input spec says {spec.shape} but the model takes {shape}.")
    return Resolved(keras_model, labels, spec)


def check_input(x, resolved: Resolved) -> np.ndarray:
    """One normalised input as (H, W, C) float32; accepts (H, W) for gray and a batch of 1.

    uint8 input is taken as 0..255 pixels and normalised per the model's spec (the
    models' own convention); float input is taken as already normalised.
    """
    arr = np.asarray(x)
    arr = normalise(arr, resolved.spec) if arr.dtype == np.uint8 else arr.astype(np.float32)
    want = resolved.input_shape
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 2 and want[2] == 1:
        arr = arr[:, :, None]
    if arr.shape != want:
        raise ModelError(f"This input has shape {arr.shape} but the model takes {want}.")
    if not np.all(np.isfinite(arr)):
        raise ModelError("The input holds NaN or infinite values.")
    return arr


def resolve_target(target, labels: tuple[str, ...], probabilities: np.ndarray) -> int:
    """Class index from None (the predicted class), an index or a label (any emotion spelling)."""
    if target is None:
        return int(np.argmax(probabilities))
    if isinstance(target, (int, np.integer)):
        if not 0 <= int(target) < len(labels):
            raise ModelError(
                f"Target {target} is out of range: the model has {len(labels)} classes."
            )
        return int(target)
    name = str(target)
    if name in labels:
        return labels.index(name)
    canonical = emotions.try_normalise(name)
    if canonical is not None and canonical in labels:
        return labels.index(canonical)
    raise ModelError(f"'{target}' is not one of this model's classes ({', '.join(labels)}).")


# ---------------------------------------------------------------- model structure


def _is_conv2d(layer) -> bool:
    import keras

    return isinstance(layer, keras.layers.Conv2D) or type(layer).__name__ in (
        "Conv2D",
        "SeparableConv2D",
        "DepthwiseConv2D",
    )


def last_conv_layer(keras_model) -> str:
    """Name of the last Conv2D layer of the functional graph (topological order).

    Nested models are not searched on purpose: tf-keras-vis cannot reach their
    layers. Raises :class:`ModelError` if there is none.
    """
    for layer in reversed(keras_model.layers):
        if _is_conv2d(layer):
            return layer.name
    nested = [lyr.name for lyr in keras_model.layers if hasattr(lyr, "layers")]
    hint = (
        (
            f" It wraps nested models ({', '.join(nested)}); build transfer models flat "
            "(input_tensor=, head on base.output)."
        )
        if nested
        else ""
    )
    raise ModelError("This model has no convolution layer, so Grad-CAM cannot be computed." + hint)


def first_conv_layer(keras_model) -> str:
    for layer in keras_model.layers:
        if _is_conv2d(layer):
            return layer.name
    raise ModelError("This model has no convolution layer.")


def cam_footprint(keras_model) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of the input region the convolution layers see.

    The whole input, unless the graph centre-crops first (``keras.layers.CenterCrop``, as the
    shipped fervgg model does: 44x44 of 48x48). Class-activation maps cover only that region,
    so they are placed there rather than stretched over the whole input.
    """
    import keras

    h, w = (int(d) for d in keras_model.inputs[0].shape[1:3])
    for layer in keras_model.layers:
        if isinstance(layer, keras.layers.CenterCrop):
            ch, cw = min(int(layer.height), h), min(int(layer.width), w)
            return (h - ch) // 2, (w - cw) // 2, ch, cw
    return 0, 0, h, w


def place_cam(cam: np.ndarray, footprint: tuple[int, int, int, int], shape) -> np.ndarray:
    """A map of any size (H', W') resized (bilinear) onto ``footprint`` of an all-zero map of
    ``shape`` (H, W): attribution outside the region the model sees is zero."""
    import cv2

    top, left, ch, cw = footprint
    h, w = int(shape[0]), int(shape[1])
    out = np.zeros((h, w), np.float32)
    cam = np.asarray(cam, np.float32)
    if cam.shape != (ch, cw):
        cam = cv2.resize(cam, (cw, ch), interpolation=cv2.INTER_LINEAR)
    out[top : top + ch, left : left + cw] = cam
    return out


def check_layer(keras_model, name: str):
    try:
        layer = keras_model.get_layer(name)
    except ValueError:
        raise ModelError(f"The model has no layer named '{name}'.") from None
    if len(layer.output.shape) != 4:
        raise ModelError(f"Layer '{name}' has no spatial output (shape {layer.output.shape}).")
    return layer


def ends_in_softmax(keras_model) -> bool:
    """True when the model's output is already a probability vector (softmax)."""
    import keras

    layer = keras_model.layers[-1]
    act = getattr(layer, "activation", None)
    if isinstance(layer, keras.layers.Softmax):
        return True
    return act is keras.activations.softmax or getattr(act, "__name__", "") == "softmax"


# ---------------------------------------------------------------- per-model cache


class _ModelCache:
    """LRU cache keyed by model identity (id + weak reference check).

    The cached clone and compiled functions refer to the model, so the cache keeps
    its ``size`` most recently explained models alive (bounded memory: at most
    ``size`` models and their clones); :func:`clear_cache` releases them.
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._items: OrderedDict[int, tuple[weakref.ref, dict]] = OrderedDict()
        self._lock = threading.RLock()

    def entry(self, keras_model) -> dict:
        with self._lock:
            key = id(keras_model)
            item = self._items.get(key)
            if item is not None and item[0]() is keras_model:
                self._items.move_to_end(key)
                return item[1]
            store: dict = {}
            self._items[key] = (weakref.ref(keras_model), store)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return store

    def get(self, keras_model, key, build: Callable[[], Any]):
        store = self.entry(keras_model)
        if key not in store:
            store[key] = build()
        return store[key]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


CACHE = _ModelCache()


def clear_cache() -> None:
    """Forget every cached clone and compiled function (after changing weights in place)."""
    CACHE.clear()


def linear_clone(keras_model):
    """Cached clone of the model with its softmax replaced by linear (logits out).

    Built with tf-keras-vis's ``ReplaceToLinear`` on a ``clone_model`` copy (the
    original model is not touched); every tf-keras-vis object and the fast
    gradient functions share it.
    """

    def build():
        from tf_keras_vis.saliency import Saliency
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Saliency(keras_model, model_modifier=ReplaceToLinear(), clone=True).model

    store = CACHE.entry(keras_model)
    if "linear" not in store:
        store["linear_signature"] = _weights_signature(keras_model)
    return CACHE.get(keras_model, "linear", build)


def sync_clone(keras_model) -> None:
    """Copy the model's weights into its cached clone again if it was trained since.

    Called by every explanation entry point; costs two small ``get_weights`` calls.
    Weights are assigned in place, so compiled functions and tf-keras-vis objects
    built on the clone stay valid.
    """
    store = CACHE.entry(keras_model)
    lin = store.get("linear")
    if lin is None:
        return
    sig = _weights_signature(keras_model)
    if store.get("linear_signature") != sig:
        lin.set_weights(keras_model.get_weights())
        store["linear_signature"] = sig


def _weights_signature(keras_model) -> tuple:
    """Cheap fingerprint of the first and last weighted layers (detects training)."""
    weighted = [layer for layer in keras_model.layers if layer.weights]
    if not weighted:
        return ()
    out = []
    for layer in {id(x): x for x in (weighted[0], weighted[-1])}.values():
        for w in layer.get_weights():
            w = np.asarray(w, dtype=np.float64)
            out.append((float(w.sum()), float(np.abs(w).sum())))
    return tuple(out)


def predict_fn(keras_model) -> Callable:
    """Cached ``tf.function`` returning class probabilities (N, K) for a batch (N, H, W, C)."""

    def build():
        import tensorflow as tf

        softmax = not ends_in_softmax(keras_model)
        shape = (None,) + tuple(int(d) for d in keras_model.inputs[0].shape[1:])

        @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
        def fn(x):
            out = keras_model(x, training=False)
            return tf.nn.softmax(out) if softmax else out

        return fn

    return CACHE.get(keras_model, "predict", build)


def predict_proba(keras_model, batch: np.ndarray, batch_size: int | None = None) -> np.ndarray:
    """Probabilities (N, K) float32 for normalised inputs (N, H, W, C), in chunks."""
    batch = np.asarray(batch, dtype=np.float32)
    fn = predict_fn(keras_model)
    n = batch.shape[0]
    if batch_size is None:
        batch_size = auto_batch_size(batch.shape[1:])
    outs = [fn(batch[i : i + batch_size]).numpy() for i in range(0, n, batch_size)]
    return (
        np.concatenate(outs, axis=0)
        if outs
        else np.zeros((0, keras_model.outputs[0].shape[-1]), np.float32)
    )


def auto_batch_size(input_shape) -> int:
    """Images per forward call: many for 48x48, a few dozen for 224x224x3 (memory bound)."""
    pixels = int(np.prod(input_shape))
    return int(max(8, min(256, 4_000_000 // max(pixels, 1))))


# ---------------------------------------------------------------- result


#: Methods whose ``raw`` map is signed (positive = evidence for the target class).
SIGNED_METHODS = ("ig", "occlusion")


@dataclass
class Explanation:
    """One attribution map for one input and one target class.

    ``map``: (H, W) float32 in input coordinates, non-negative, scaled so its
    maximum is 1 (an all-zero map stays zero); proportional to importance, so
    shares of its sum are meaningful. ``raw``: (H, W) float32 before scaling, in
    the method's units: gradient magnitude of the target logit (saliency,
    smoothgrad), class-activation units (Grad-CAM family, ScoreCAM, after ReLU),
    probability (IG, signed: attributions summed over channels; ``map`` is its
    absolute value), probability drop (occlusion, signed: negative where hiding a
    patch *raises* the target's probability; ``map`` keeps the positive part).
    ``probabilities``: (K,) the model's output for the input; ``target`` the
    explained class index; ``timings`` seconds; ``info`` method details (for IG
    the completeness check).
    """

    method: str
    map: np.ndarray
    raw: np.ndarray
    target: int
    labels: tuple[str, ...]
    probabilities: np.ndarray
    layer: str | None = None
    signed: bool = False
    timings: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    attributions: np.ndarray | None = None

    @property
    def target_label(self) -> str:
        return self.labels[self.target]

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def predicted_label(self) -> str:
        return self.labels[self.predicted]

    @property
    def target_probability(self) -> float:
        return float(self.probabilities[self.target])


def scale_map(nonneg: np.ndarray) -> np.ndarray:
    """Divide a non-negative map by its maximum (all-zero stays zero); float32."""
    m = np.nan_to_num(np.asarray(nonneg, dtype=np.float32), nan=0.0)
    m = np.maximum(m, 0.0)
    top = float(m.max()) if m.size else 0.0
    return (m / top).astype(np.float32) if top > 0 else m.astype(np.float32)


def explanation_note(model, agreement: float | None = None) -> str | None:
    """For a model served by a LiteRT twin: one paragraph saying that the maps come from its
    float32 Keras graph, not from the function that gave the probabilities (``None`` for a
    model without a twin: there the maps explain the served function itself).
    ``agreement``: the model card's share of test images on which the two name the same
    emotion, quoted when known."""
    runner = getattr(model, "lite", None)
    if runner is None:
        return None
    served = runner.info.get("function", "the model")
    compact = "int8" in str(runner.info.get("quantisation", ""))
    text = (f"The probabilities above come from a fast copy of the model ({served}"
            + ("; stored in 8-bit numbers" if compact else "") + "). The maps below need the "
            "full model, so they and the figures under them are computed on the full model, "
            "on the face alone (no mirror image), always for the emotion named above.")
    if agreement is not None:
        text += (f" On the model card's test images the full model names the same emotion as "
                 f"the fast copy {fmt.pct(agreement)} of the time.")
    return text

