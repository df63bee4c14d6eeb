"""Attribution methods and the one entry point :func:`explain`.

Methods (``method=``):

- ``saliency``: |d logit_target / d input|, max over channels (Simonyan et al. 2014).
- ``smoothgrad``: the same averaged over noisy copies (Smilkov et al. 2017).
- ``gradcam``, ``gradcam++``: class activation maps on a convolution layer
  (default: the last Conv2D of the graph), upsampled bilinearly to the input.
- ``scorecam``: gradient-free CAM weighted by the class score of masked inputs.
- ``ig``: Integrated Gradients (Sundararajan et al. 2017) of the target
  *probability* (or logit), trapezoid rule over ``steps`` intervals, batched.
- ``occlusion``: drop of the target probability when a patch is hidden, all
  patches in one batched forward pass, overlaps averaged.

The first five go through tf-keras-vis 0.8.7 (``ReplaceToLinear`` on a cached clone,
``CategoricalScore``); ``saliency`` and ``gradcam`` also have a compiled
``implementation="fast"`` (a ``tf.function``) for live video, which gives the same
map up to interpolation (see tests). Gradients are taken of the target *logit*
(softmax removed) for saliency/SmoothGrad/Grad-CAM(++)/ScoreCAM, as tf-keras-vis
recommends; IG and occlusion use the probability so their numbers read as
probability changes.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from itertools import product

import cv2
import numpy as np

from fer_engine.errors import ModelError
from fer_engine.explain.core import (
    CACHE,
    Explanation,
    Resolved,
    auto_batch_size,
    cam_footprint,
    check_input,
    check_layer,
    last_conv_layer,
    linear_clone,
    place_cam,
    predict_fn,
    predict_proba,
    resolve,
    resolve_target,
    scale_map,
    sync_clone,
)
from fer_engine.preprocess import denormalise, normalise

#: Method names accepted by :func:`explain`.
METHODS = ("saliency", "smoothgrad", "gradcam", "gradcam++", "scorecam", "ig", "occlusion")
#: Methods with a compiled ``implementation="fast"``.
FAST_METHODS = ("saliency", "gradcam")
#: Methods :func:`explain_face` runs by default.
DEFAULT_METHODS: tuple[str, ...] = ("gradcam", "ig", "smoothgrad", "occlusion")
#: Display name of each method.
METHOD_NAMES: dict[str, str] = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "scorecam": "Score-CAM",
    "ig": "Integrated Gradients",
    "saliency": "Saliency",
    "smoothgrad": "SmoothGrad",
    "occlusion": "Occlusion",
}
#: Short display name of each method, for figures listed in one line.
SHORT_NAMES: dict[str, str] = {**METHOD_NAMES, "ig": "IG"}
_CAM_METHODS = ("gradcam", "gradcam++", "scorecam")

_OPTIONS = {
    "saliency": set(),
    "smoothgrad": {"samples", "noise", "seed"},
    "gradcam": set(),
    "gradcam++": set(),
    "scorecam": {"max_n", "batch_size"},
    "ig": {"steps", "baseline", "mean_face", "blur_sigma", "output", "batch_size"},
    "occlusion": {"patch", "stride", "fill", "batch_size", "blur_sigma"},
}


def explain(
    model_or_keras,
    x,
    method: str,
    *,
    target=None,
    layer: str | None = None,
    implementation: str = "tf-keras-vis",
    labels=None,
    input_spec=None,
    **options,
) -> Explanation:
    """Explain one input's prediction.

    ``model_or_keras``: a project model (``.keras_model``, ``.labels``,
    ``.input_spec``) or a functional ``keras.Model``. ``x``: one normalised input
    (H, W, C) float32 exactly as the model takes it. ``method``: one of
    :data:`METHODS`. ``target``: label name (any emotion spelling) or index;
    default the predicted class. ``layer``: convolution layer for the CAM methods
    (default the last Conv2D). ``implementation``: ``"tf-keras-vis"`` or ``"fast"``
    (saliency and gradcam only). ``options`` per method:

    - smoothgrad: ``samples=20``, ``noise=0.2`` (fraction of the input's range), ``seed=0``
    - scorecam: ``max_n=None`` (Faster-ScoreCAM when set), ``batch_size=32``
    - ig: ``steps=32``, ``baseline="black"|"blur"|"mean"|array``, ``mean_face=`` (array
      for ``"mean"``, see :func:`mean_face`), ``blur_sigma=`` (pixels, default size/8),
      ``output="probability"|"logit"``, ``batch_size=``
    - occlusion: ``patch=`` (default size//6, at least 4), ``stride=`` (default patch//2,
      must be smaller than patch), ``fill="mean"|"blur"|"zero"``, ``batch_size=``

    Returns an :class:`Explanation` (map in input coordinates, see its docstring).
    """
    t0 = time.perf_counter()
    res = resolve(model_or_keras, labels=labels, input_spec=input_spec)
    if method not in METHODS:
        raise ModelError(
            f"Unknown explanation method '{method}'. Choose one of: {', '.join(METHODS)}."
        )
    unknown = set(options) - _OPTIONS[method]
    if unknown:
        raise TypeError(
            f"{method} takes no option(s) {sorted(unknown)}; it takes {sorted(_OPTIONS[method])}"
        )
    if implementation not in ("tf-keras-vis", "fast"):
        raise ValueError("implementation must be 'tf-keras-vis' or 'fast'")
    if implementation == "fast" and method not in FAST_METHODS:
        raise ValueError(f"implementation='fast' exists for {FAST_METHODS}, not {method}")
    x = check_input(x, res)
    sync_clone(res.keras_model)
    probs = predict_fn(res.keras_model)(x[None]).numpy()[0]
    t_pred = time.perf_counter()
    tgt = resolve_target(target, res.labels, probs)
    if method in _CAM_METHODS:
        layer = layer or last_conv_layer(res.keras_model)
        check_layer(res.keras_model, layer)
    elif layer is not None:
        raise ValueError(f"layer= applies to {_CAM_METHODS}, not {method}")

    info: dict = {
        "implementation": implementation
        if method in FAST_METHODS
        else ("own" if method in ("ig", "occlusion") else "tf-keras-vis")
    }
    attributions = None
    signed = False
    if method == "saliency" and implementation == "fast":
        raw = fast_saliency(res, x[None], np.array([tgt]))[0]
    elif method == "gradcam" and implementation == "fast":
        raw = fast_gradcam(res, x[None], np.array([tgt]), layer)[0]
    elif method in ("saliency", "smoothgrad"):
        raw = _tfkv_saliency(res, x, tgt, method, **options)
        if method == "smoothgrad":
            info.update(samples=options.get("samples", 20), noise=options.get("noise", 0.2))
    elif method in _CAM_METHODS:
        raw = _tfkv_cam(res, x, tgt, method, layer, **options)
    elif method == "ig":
        attributions, info_ig = integrated_gradients(res, x, tgt, **options)
        info.update(info_ig)
        raw = attributions.sum(axis=-1)
        signed = True
    else:  # occlusion
        raw, info_occ = occlusion(res, x, tgt, p_target=float(probs[tgt]), **options)
        info.update(info_occ)
        signed = True
    raw = np.asarray(raw, dtype=np.float32)
    if method == "ig":
        nonneg = np.abs(raw)
    else:
        nonneg = np.maximum(raw, 0.0)
    t_end = time.perf_counter()
    return Explanation(
        method=method,
        map=scale_map(nonneg),
        raw=raw,
        target=tgt,
        labels=res.labels,
        probabilities=probs.astype(np.float32),
        layer=layer if method in _CAM_METHODS else None,
        signed=signed,
        info=info,
        attributions=attributions,
        timings={"predict": t_pred - t0, "method": t_end - t_pred, "total": t_end - t0},
    )


# ---------------------------------------------------------------- tf-keras-vis


def _tfkv(res: Resolved, kind: str):
    """Cached tf-keras-vis object of ``kind`` sharing the model's softmax-free clone."""

    def build():
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
        from tf_keras_vis.saliency import Saliency
        from tf_keras_vis.scorecam import Scorecam

        cls = {
            "saliency": Saliency,
            "gradcam": Gradcam,
            "gradcam++": GradcamPlusPlus,
            "scorecam": Scorecam,
        }[kind]
        lin = linear_clone(res.keras_model)
        if kind == "scorecam":
            # Scorecam scores its masked inputs with ``model.predict`` (progress bar, ~100 ms
            # of set-up per call); give our private clone a quiet compiled forward pass.
            lin.predict = _quiet_predict(lin)
        return cls(lin, clone=False)

    return CACHE.get(res.keras_model, ("tfkv", kind), build)


def _quiet_predict(lin):
    import tensorflow as tf

    shape = (None,) + tuple(int(d) for d in lin.inputs[0].shape[1:])
    fn = tf.function(
        lambda x: lin(x, training=False), input_signature=[tf.TensorSpec(shape, tf.float32)]
    )

    def predict(x, batch_size=32, **_):
        x = np.asarray(x[0] if isinstance(x, (list, tuple)) else x, dtype=np.float32)
        return np.concatenate(
            [fn(x[i : i + batch_size]).numpy() for i in range(0, len(x), batch_size)]
        )

    return predict


def _score(target: int):
    from tf_keras_vis.utils.scores import CategoricalScore

    return CategoricalScore([target])


def _tfkv_saliency(res, x, tgt, method, *, samples=20, noise=0.2, seed=0):
    vis = _tfkv(res, "saliency")
    kwargs = {"normalize_map": False}
    state = None
    if method == "smoothgrad":
        if samples < 1:
            raise ValueError("samples must be 1 or more")
        kwargs.update(smooth_samples=int(samples), smooth_noise=float(noise))
        state = np.random.get_state()  # tf-keras-vis draws from numpy's global RNG
        np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = vis(_score(tgt), x, **kwargs)
    finally:
        if state is not None:
            np.random.set_state(state)
    return np.asarray(out)[0]


def _tfkv_cam(res, x, tgt, method, layer, *, max_n=None, batch_size=32):
    vis = _tfkv(res, method)
    kwargs = {
        "penultimate_layer": layer,
        "seek_penultimate_conv_layer": False,
        "normalize_cam": False,
    }
    if method == "scorecam":
        kwargs.update(max_N=max_n, batch_size=batch_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = vis(_score(tgt), x, **kwargs)
    cam = np.asarray(out)[0]
    footprint = cam_footprint(res.keras_model)
    if footprint[2:] != cam.shape:  # tf-keras-vis stretched it over the whole input
        cam = place_cam(cam, footprint, cam.shape)
    return cam


# ---------------------------------------------------------------- fast (tf.function)


def _fast_fn(res: Resolved, kind: str, layer: str | None = None):
    def build():
        import keras
        import tensorflow as tf

        lin = linear_clone(res.keras_model)
        h, w, c = res.input_shape
        sig = [tf.TensorSpec((None, h, w, c), tf.float32), tf.TensorSpec((None,), tf.int32)]
        if kind == "saliency":

            @tf.function(input_signature=sig)
            def fn(xs, targets):
                with tf.GradientTape() as tape:
                    tape.watch(xs)
                    logits = lin(xs, training=False)
                    score = tf.gather(logits, targets, axis=1, batch_dims=1)
                g = tape.gradient(score, xs)
                return tf.reduce_max(tf.abs(g), axis=-1)

            return fn
        sub = keras.Model(lin.inputs[0], [lin.get_layer(layer).output, lin.outputs[0]])
        top, left, ch, cw = cam_footprint(res.keras_model)

        @tf.function(input_signature=sig)
        def fn(xs, targets):
            with tf.GradientTape() as tape:
                conv, logits = sub(xs, training=False)
                score = tf.gather(logits, targets, axis=1, batch_dims=1)
            g = tape.gradient(score, conv)
            weights = tf.reduce_mean(g, axis=(1, 2), keepdims=True)
            cam = tf.nn.relu(tf.reduce_sum(conv * weights, axis=-1, keepdims=True))
            cam = tf.image.resize(cam, (ch, cw), method="bilinear")
            # a centre-cropping graph: the map covers the crop only (see cam_footprint)
            cam = tf.pad(cam, [[0, 0], [top, h - ch - top], [left, w - cw - left], [0, 0]])
            return cam[..., 0]

        return fn

    return CACHE.get(res.keras_model, ("fast", kind, layer), build)


def fast_saliency(model_or_keras, xs: np.ndarray, targets) -> np.ndarray:
    """Vanilla saliency for a batch: (N, H, W) float32, max |gradient| over channels.

    ``xs``: (N, H, W, C) normalised inputs; ``targets``: (N,) class indices.
    """
    res = resolve(model_or_keras)
    sync_clone(res.keras_model)
    fn = _fast_fn(res, "saliency")
    return fn(np.asarray(xs, np.float32), np.asarray(targets, np.int32)).numpy()


def fast_gradcam(model_or_keras, xs: np.ndarray, targets, layer: str | None = None) -> np.ndarray:
    """Grad-CAM for a batch: (N, H, W) float32 (ReLU'd, unscaled), bilinear upsampling.

    ``xs``: (N, H, W, C) normalised inputs; ``targets``: (N,) class indices;
    ``layer``: convolution layer name (default the last Conv2D).
    """
    res = resolve(model_or_keras)
    layer = layer or last_conv_layer(res.keras_model)
    check_layer(res.keras_model, layer)
    sync_clone(res.keras_model)
    fn = _fast_fn(res, "gradcam", layer)
    return fn(np.asarray(xs, np.float32), np.asarray(targets, np.int32)).numpy()


# ---------------------------------------------------------------- baselines and fills


def _pixels(x: np.ndarray, spec) -> np.ndarray:
    return denormalise(x, spec).astype(np.float32)


def blur_pixels(pixels: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of (H, W, C) float32 pixels, channels kept."""
    out = cv2.GaussianBlur(
        np.ascontiguousarray(pixels, dtype=np.float32),
        (0, 0),
        float(sigma),
        borderType=cv2.BORDER_REFLECT,
    )
    return out.reshape(pixels.shape)


def reference_input(
    x: np.ndarray, spec, kind, *, sigma: float | None = None, mean_face: np.ndarray | None = None
) -> np.ndarray:
    """A normalised (H, W, C) reference image that fits the model's input range.

    ``kind``: ``"black"``/``"zero"`` (pixels 0 normalised per spec), ``"blur"`` (the
    input blurred in pixel space, ``sigma`` pixels, default size/8), ``"mean"`` (the
    ``mean_face`` if given, else the input's mean colour), or an array already
    normalised.
    """
    if not isinstance(kind, str):
        ref = np.asarray(kind, dtype=np.float32).reshape(x.shape)
        return ref
    if kind in ("black", "zero"):
        return normalise(np.zeros_like(x), spec).astype(np.float32)
    if kind == "blur":
        sigma = sigma if sigma is not None else max(1.0, x.shape[0] / 8)
        return normalise(blur_pixels(_pixels(x, spec), sigma), spec).astype(np.float32)
    if kind == "mean":
        if mean_face is not None:
            return np.asarray(mean_face, dtype=np.float32).reshape(x.shape)
        px = _pixels(x, spec)
        return normalise(
            np.broadcast_to(px.mean(axis=(0, 1), keepdims=True), px.shape), spec
        ).astype(np.float32)
    raise ValueError(f"unknown reference '{kind}': use black, zero, blur, mean or an array")


def mean_face(inputs: np.ndarray) -> np.ndarray:
    """Mean of normalised inputs (N, H, W, C) -> (H, W, C) float32: an IG baseline."""
    arr = np.asarray(inputs, dtype=np.float32)
    if arr.ndim != 4 or arr.shape[0] == 0:
        raise ValueError("mean_face needs a non-empty (N, H, W, C) batch")
    return arr.mean(axis=0)


# ---------------------------------------------------------------- Integrated Gradients


def _ig_grad_fn(res: Resolved, output: str):
    def build():
        import tensorflow as tf

        model = linear_clone(res.keras_model) if output == "logit" else None
        prob = predict_fn(res.keras_model)
        h, w, c = res.input_shape

        @tf.function(
            input_signature=[
                tf.TensorSpec((None, h, w, c), tf.float32),
                tf.TensorSpec((), tf.int32),
            ]
        )
        def fn(xs, target):
            with tf.GradientTape() as tape:
                tape.watch(xs)
                out = model(xs, training=False) if model is not None else prob(xs)
                score = out[:, target]
            return tape.gradient(score, xs), score

        return fn

    if output not in ("probability", "logit"):
        raise ValueError("output must be 'probability' or 'logit'")
    return CACHE.get(res.keras_model, ("ig", output), build)


def integrated_gradients(
    model_or_keras,
    x: np.ndarray,
    target: int,
    *,
    steps: int = 32,
    baseline="black",
    mean_face: np.ndarray | None = None,
    blur_sigma: float | None = None,
    output: str = "probability",
    batch_size: int | None = None,
) -> tuple[np.ndarray, dict]:
    """Integrated Gradients of the target's probability (or logit) from ``baseline`` to ``x``.

    Path x' + a (x - x') for a = 0, 1/steps, ..., 1 (steps + 1 points, evaluated in
    batches of ``batch_size``), gradients averaged with the trapezoid rule and
    multiplied by (x - x'). Returns (attributions (H, W, C) float32, info) where
    ``info`` holds the completeness check: ``sum_attributions`` vs
    ``delta = f(x) - f(x')``, ``abs_error`` and ``rel_error = abs_error / |delta|``
    (NaN when |delta| < 1e-6, i.e. the baseline scores like the input).
    """
    res = resolve(model_or_keras)
    x = check_input(x, res)
    if steps < 1:
        raise ValueError("steps must be 1 or more")
    ref = reference_input(x, res.spec, baseline, sigma=blur_sigma, mean_face=mean_face)
    sync_clone(res.keras_model)
    fn = _ig_grad_fn(res, output)
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    diff = (x - ref).astype(np.float32)
    batch_size = batch_size or auto_batch_size(x.shape)
    weights = np.ones(steps + 1, dtype=np.float32)
    weights[0] = weights[-1] = 0.5
    total = np.zeros_like(x)
    scores = np.zeros(steps + 1, dtype=np.float32)
    for i in range(0, steps + 1, batch_size):
        a = alphas[i : i + batch_size]
        path = ref[None] + a[:, None, None, None] * diff[None]
        g, s = fn(path, np.int32(target))
        total += np.tensordot(weights[i : i + batch_size], g.numpy(), axes=1)
        scores[i : i + batch_size] = s.numpy()
    attributions = (diff * total / steps).astype(np.float32)
    delta = float(scores[-1] - scores[0])
    summed = float(attributions.sum())
    abs_error = abs(summed - delta)
    info = {
        "steps": int(steps),
        "baseline": baseline if isinstance(baseline, str) else "array",
        "output": output,
        "f_input": float(scores[-1]),
        "f_baseline": float(scores[0]),
        "delta": delta,
        "sum_attributions": summed,
        "abs_error": abs_error,
        "rel_error": abs_error / abs(delta) if abs(delta) >= 1e-6 else float("nan"),
    }
    return attributions, info


# ---------------------------------------------------------------- occlusion


def patch_positions(length: int, patch: int, stride: int) -> list[int]:
    """Top/left corners along one axis: every ``stride``, last patch flush with the border."""
    if patch > length:
        raise ValueError(f"patch {patch} is larger than the input ({length})")
    pos = list(range(0, length - patch + 1, stride))
    if pos[-1] != length - patch:
        pos.append(length - patch)
    return pos


def occlusion(
    model_or_keras,
    x: np.ndarray,
    target: int,
    *,
    patch: int | None = None,
    stride: int | None = None,
    fill: str = "mean",
    blur_sigma: float | None = None,
    batch_size: int | None = None,
    p_target: float | None = None,
) -> tuple[np.ndarray, dict]:
    """Occlusion sensitivity: (H, W) float32 mean drop of the target probability, and info.

    Every patch (``patch`` x ``patch`` pixels, corners every ``stride`` pixels, the last
    one flush with the border so edges are covered) is replaced by the same region of
    a fill image made in pixel space and normalised per the model's spec (``mean``:
    the image's mean colour; ``blur``: the image blurred; ``zero``: black). All
    occluded copies go through the model in one batched pass (chunked by
    ``batch_size`` for memory). A pixel's value is the mean drop p(x) - p(occluded)
    over the patches covering it (signed: negative where hiding raises p).
    """
    res = resolve(model_or_keras)
    x = check_input(x, res)
    h, w, _ = x.shape
    patch = int(patch or max(4, min(h, w) // 6))
    stride = int(stride or max(1, patch // 2))
    if not 1 <= stride < patch:
        raise ValueError(
            f"stride ({stride}) must be at least 1 and smaller than the patch ({patch})"
        )
    if fill not in ("mean", "blur", "zero"):
        raise ValueError("fill must be 'mean', 'blur' or 'zero'")
    ref = reference_input(x, res.spec, fill, sigma=blur_sigma or max(1.0, patch / 2))
    corners = list(product(patch_positions(h, patch, stride), patch_positions(w, patch, stride)))
    if p_target is None:
        p_target = float(predict_proba(res.keras_model, x[None])[0, target])
    batch_size = batch_size or auto_batch_size(x.shape)
    fn = predict_fn(res.keras_model)
    probs = np.empty(len(corners), dtype=np.float32)
    for start in range(0, len(corners), batch_size):
        chunk = corners[start : start + batch_size]
        batch = np.repeat(x[None], len(chunk), axis=0)
        for k, (y0, x0) in enumerate(chunk):
            batch[k, y0 : y0 + patch, x0 : x0 + patch] = ref[y0 : y0 + patch, x0 : x0 + patch]
        probs[start : start + len(chunk)] = fn(batch).numpy()[:, target]
    drop = p_target - probs
    acc = np.zeros((h, w), dtype=np.float64)
    cnt = np.zeros((h, w), dtype=np.float64)
    for (y0, x0), d in zip(corners, drop):
        acc[y0 : y0 + patch, x0 : x0 + patch] += d
        cnt[y0 : y0 + patch, x0 : x0 + patch] += 1
    info = {
        "patch": patch,
        "stride": stride,
        "fill": fill,
        "n_patches": len(corners),
        "max_drop": float(drop.max()),
        "min_drop": float(drop.min()),
    }
    return (acc / cnt).astype(np.float32), info


# ---------------------------------------------------------------- many inputs


def explain_batch(
    model_or_keras,
    xs: np.ndarray,
    method: str,
    *,
    targets=None,
    implementation: str = "fast",
    layer: str | None = None,
    **options,
) -> np.ndarray:
    """Maps (N, H, W) float32 (each scaled to max 1) for a batch of inputs.

    ``targets``: None (each input's predicted class), or N indices/labels.
    ``saliency``/``gradcam`` with ``implementation="fast"`` run as one batched call;
    other methods loop over :func:`explain`.
    """
    res = resolve(model_or_keras)
    xs = np.asarray(xs, dtype=np.float32)
    if xs.ndim != 4:
        raise ValueError("xs must be (N, H, W, C)")
    if targets is None:
        idx = np.argmax(predict_proba(res.keras_model, xs), axis=1).astype(np.int32)
    else:
        if len(targets) != len(xs):
            raise ValueError("targets must have one entry per input")
        dummy = np.zeros(len(res.labels))
        idx = np.array([resolve_target(t, res.labels, dummy) for t in targets], dtype=np.int32)
    if implementation == "fast" and method in FAST_METHODS and not options:
        bs = auto_batch_size(xs.shape[1:])
        parts = []
        for i in range(0, len(xs), bs):
            if method == "gradcam":
                parts.append(fast_gradcam(res, xs[i : i + bs], idx[i : i + bs], layer))
            else:
                parts.append(fast_saliency(res, xs[i : i + bs], idx[i : i + bs]))
        raw = np.concatenate(parts) if parts else np.zeros((0,) + xs.shape[1:3], np.float32)
        return np.stack([scale_map(m) for m in raw]) if len(raw) else raw
    impl = implementation if method in FAST_METHODS else "tf-keras-vis"
    maps = [
        explain(res, x, method, target=int(t), layer=layer, implementation=impl, **options).map
        for x, t in zip(xs, idx)
    ]
    return np.stack(maps) if maps else np.zeros((0,) + xs.shape[1:3], np.float32)


# ---------------------------------------------------------------- one classified face


def face_input(face, spec) -> np.ndarray:
    """The normalised model input of a classified face (``face.pixels``: the model input
    before normalisation, (size, size, channels) uint8): (size, size, channels) float32."""
    return normalise(face.pixels, spec).astype(np.float32)


def explain_face(model, face, methods: Sequence[str] = DEFAULT_METHODS, *,
                 target=None) -> dict[str, Explanation]:
    """``{method: Explanation}`` for one classified face (``.pixels``, ``.probabilities``,
    as :class:`fer_engine.inference.classify.Face`), all explaining the same class
    (default the predicted one). Raises :class:`fer_engine.errors.ModelError` for models
    without gradients (HOG+SVM) or ensembles."""
    x = face_input(face, model.input_spec)
    if target is None:
        target = int(np.argmax(face.probabilities))
    return {m: explain(model, x, m, target=target) for m in methods}


def warm_up(
    model_or_keras, methods=("gradcam",), *, implementation: str = "fast", **kwargs
) -> dict[str, float]:
    """Build the cached clone and trace the compiled functions ahead of time.

    Runs each method once on a blank input so the first real call (a live video frame,
    a page's first click) does not pay for cloning and tracing (seconds for ResNet50).
    Returns the seconds each method took. ``kwargs`` go to :func:`resolve`.
    """
    res = resolve(model_or_keras, **kwargs)
    blank = reference_input(np.zeros(res.input_shape, np.float32), res.spec, "mean")
    out = {}
    for method in methods:
        t = time.perf_counter()
        impl = implementation if method in FAST_METHODS else "tf-keras-vis"
        explain(res, blank, method, target=0, implementation=impl)
        out[method] = time.perf_counter() - t
    return out
