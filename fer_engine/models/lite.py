"""A LiteRT (TensorFlow Lite) twin of a saved Keras model: the function a model serves.

At batch 1 most of a TensorFlow call to a small CNN is runtime overhead, not arithmetic:
measured on 2 cores for the shipped model, ``tf.function`` ~5.4 ms per face, the same
float32 weights in LiteRT's interpreter (XNNPACK) about half that, and an int8 version a
fifth (``benchmarks/predict_latency.py`` prints them). So next to ``model.keras`` a model
may carry ``model.tflite`` and ``model.tflite.json``; the record says what the twin
computes and holds the SHA-256 of the Keras file it was converted from:

- ``flip_tta``: the twin returns the mean of the model's probabilities for the face and
  for its mirror image (horizontal-flip test-time augmentation), in one call;
- ``shift_tta``: pixels; the face moved that far towards each of its four corners (edges
  reflected) is averaged in too (with ``flip_tta``, 10 views; for a model that centre-crops
  44 of 48 pixels, as fervgg does, shift 2 gives the classic ten crops);
- ``members``: other Keras files averaged in (e.g. snapshots of earlier training cycles),
  by file name and SHA-256;
- ``quantisation``: ``none (float32)`` (the same function as the Keras file, to 1e-6), or
  int8 weights and activations calibrated on training faces (post-training quantisation).

**A model that has a twin answers every** ``predict_proba`` **through it** (all batch
sizes, face by face), so the CLI, the pages and the model card's evaluation all measure the
one function that is served. The Keras graph stays what explanations (Grad-CAM...) and
``features`` use. :func:`open_twin` gives a runner only when the recorded hash matches,
so a re-trained Keras file never runs with a stale twin.

Conversion (:func:`write_twin`) needs TensorFlow's converter; running needs the
``ai-edge-litert`` package. Without it, or without a valid twin, models use TensorFlow
(``lite_reason`` on the model says why, for the benchmarks).

Write or refresh a twin: ``python -m fer_engine.models.lite artifacts/pretrained/model.keras
[--flip] [--shift PIXELS] [--with OTHER.keras ...] [--int8 FER2013_ROOT]`` (``train-pretrained --export`` writes a float32 one).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import numpy as np

SUFFIX = ".tflite"
#: Training faces used to calibrate int8 activations (random, seed 0).
CALIBRATION_IMAGES = 300


def twin_paths(model_path) -> tuple[Path, Path]:
    """``(model.tflite, model.tflite.json)`` next to ``model.keras``."""
    model_path = Path(model_path)
    lite = model_path.with_suffix(SUFFIX)
    return lite, lite.with_name(lite.name + ".json")


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: Offsets of the shifted views of shift-TTA: towards each corner (``shift`` pixels each way).
SHIFT_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1))


def shifted(x, dx: int, dy: int, xp=np):
    """``x`` (n, h, w, c) moved ``dx`` pixels right and ``dy`` down, its edges reflected in."""
    s = max(abs(dx), abs(dy))
    if not s:
        return x
    h, w = x.shape[1], x.shape[2]
    padded = xp.pad(x, ((0, 0), (s, s), (s, s), (0, 0)), mode="reflect")
    return padded[:, s - dy:s - dy + h, s - dx:s - dx + w, :]


def served_graph(keras_model, flip: bool = False, members=(), shift: int = 0):
    """The Keras graph of what the twin computes: the mean of the probabilities of the model
    and of ``members`` (other Keras models of the same classes and input, e.g. snapshots of
    earlier training cycles) over the face's views: the face itself; with ``shift``, also the
    face moved ``shift`` pixels towards each corner (edges reflected); with ``flip``, the
    left-right mirror image of each of those. One graph, batch 1 in, the views as its batch."""
    if not flip and not members and not shift:
        return keras_model
    import keras

    nets = [keras.Model(m.inputs[0], m.outputs[0], name=f"member_{i}")
            for i, m in enumerate([keras_model, *members])]
    inp = keras.Input(keras_model.input_shape[1:], name="face")
    views = [inp]
    for dx, dy in SHIFT_DIRECTIONS if shift else ():
        views.append(keras.layers.Lambda(
            lambda t, dx=dx * shift, dy=dy * shift: shifted(t, dx, dy, keras.ops),
            name=f"shift_{dx * shift}_{dy * shift}")(inp))
    if flip:
        views += [keras.layers.Lambda(lambda t: keras.ops.flip(t, axis=2), name=f"mirror_{i}")(v)
                  for i, v in enumerate(views)]
    x = keras.layers.Concatenate(axis=0, name="views")(views) if len(views) > 1 else inp
    outs = [net(x) for net in nets]
    p = keras.layers.Average(name="member_mean")(outs) if len(outs) > 1 else outs[0]
    if len(views) > 1:
        p = keras.layers.Lambda(lambda t: keras.ops.mean(t, axis=0, keepdims=True), name="view_mean")(p)
    return keras.Model(inp, p, name="served")


def convert(keras_model, calibration: np.ndarray | None = None) -> bytes:
    """LiteRT flatbuffer of a Keras model: float32, or with ``calibration`` (normalised model
    inputs, a few hundred training faces) int8 weights and activations with float32 input and
    output (post-training quantisation)."""
    import contextlib
    import io

    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    if calibration is not None:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        calibration = np.asarray(calibration, np.float32)
        conv.representative_dataset = lambda: ([c[None]] for c in calibration)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.float32
        conv.inference_output_type = tf.float32
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its SavedModel
        return conv.convert()


def calibration_faces(data_root, input_spec, n: int = CALIBRATION_IMAGES, seed: int = 0,
                      split: str = "train") -> np.ndarray:
    """``n`` random normalised faces of a class-folder dataset's ``split`` (no detection)."""
    from fer_engine.data import load_dataset
    from fer_engine.errors import DatasetError
    from fer_engine.preprocess import normalise, prepare_dataset

    ds = load_dataset(data_root)
    rows = np.flatnonzero((ds.table["split"] == split).to_numpy())
    if not len(rows):
        raise DatasetError(f"{data_root} has no '{split}' images to calibrate with.")
    rows = np.sort(np.random.default_rng(seed).choice(rows, min(n, len(rows)), replace=False))
    prepared = prepare_dataset(ds, input_spec, detect=False)  # cached on disk after the first time
    return normalise(prepared.X[rows], input_spec)


def write_twin(model_path, keras_model=None, *, flip: bool = False, members=(), shift: int = 0,
               calibration: np.ndarray | None = None, calibration_note: str = "",
               calibration_data: str = "") -> Path:
    """Convert the Keras model saved at ``model_path`` (optionally averaged with the Keras
    files ``members``, with shift- and flip-TTA, and int8) and write its twin and record atomically;
    returns the ``.tflite`` path. ``calibration_data`` (the dataset path the int8 faces came
    from) is recorded so the command can be repeated."""
    import keras
    import tensorflow as tf

    from fer_engine.errors import ModelError

    model_path = Path(model_path)
    if keras_model is None:
        keras_model = keras.saving.load_model(model_path, compile=False)
    members = [Path(m) for m in members]
    member_models = [keras.saving.load_model(m, compile=False) for m in members]
    for m in member_models:
        if m.input_shape != keras_model.input_shape or m.output_shape != keras_model.output_shape:
            raise ModelError(f"{m.name} does not take the same input or give the same outputs "
                             f"as {model_path.name}; it cannot be averaged with it.")

    side = min(keras_model.input_shape[1:3])
    if not 0 <= shift < side // 4:
        raise ModelError(f"--shift must be between 0 and {side // 4 - 1} pixels for "
                         f"{side}-pixel faces (got {shift}).")
    lite, record = twin_paths(model_path)
    tmp = lite.with_name(lite.name + ".tmp")
    tmp.write_bytes(convert(served_graph(keras_model, flip, member_models, shift), calibration))
    os.replace(tmp, lite)
    quant = "none (float32)" if calibration is None else (
        f"int8 weights and activations, calibrated on {len(calibration)} faces"
        + (f" ({calibration_note})" if calibration_note else ""))
    record.write_text(json.dumps({
        "source": model_path.name,
        "source_sha256": sha256(model_path),
        "tflite_sha256": sha256(lite),
        "converter": f"tensorflow {tf.__version__}",
        "function": _function_text(flip, len(members), shift),
        "flip_tta": bool(flip),
        "shift_tta": int(shift),
        "members": [{"file": m.name, "sha256": sha256(m)} for m in members],
        "quantisation": quant,
        "int8": calibration is not None,
        "calibration_data": calibration_data if calibration is not None else "",
    }, indent=1) + "\n")
    return lite


def _function_text(flip: bool, n_members: int, shift: int = 0) -> str:
    who = "the model" if not n_members else \
        f"the model and {n_members} other snapshot model(s) (members)"
    if not flip and not shift:
        return who if not n_members else f"mean of the probabilities of {who}"
    if not shift:
        return f"mean of the probabilities of {who} for the face and its mirror image"
    return (f"mean of the probabilities of {who} over {5 * (1 + bool(flip))} views: the face "
            f"and the face moved {shift} px towards each corner"
            + (", and the mirror image of each" if flip else ""))


class Runner:
    """A thread-safe batch-1 LiteRT interpreter: ``runner(x)`` -> probabilities (n, k).

    One interpreter, one lock: Streamlit sessions and WebRTC frames call models from
    several threads, and an interpreter must not be invoked concurrently.
    """

    def __init__(self, content: bytes, num_threads: int = 1, info: dict | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.info = dict(info or {})
        self._it = Interpreter(model_content=content, num_threads=num_threads)
        self._it.allocate_tensors()
        inp, out = self._it.get_input_details()[0], self._it.get_output_details()[0]
        self._in, self._out = inp["index"], out["index"]
        self.input_shape = tuple(int(d) for d in inp["shape"][1:])
        self.n_outputs = int(out["shape"][-1])
        self._lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = np.empty((len(x), self.n_outputs), np.float32)
        with self._lock:
            for i in range(len(x)):
                self._it.set_tensor(self._in, x[i:i + 1])
                self._it.invoke()
                out[i] = self._it.get_tensor(self._out)[0]
        # an int8 softmax is quantised in steps of 1/256: rows sum to 1 only within ~1 %;
        # renormalise so every consumer gets a distribution (a float32 twin is unchanged)
        np.clip(out, 0.0, None, out=out)
        total = out.sum(axis=1, keepdims=True)
        np.divide(out, total, out=out, where=total > 0)
        return out


def open_twin(model_path, input_shape: tuple, n_outputs: int) -> tuple[Runner | None, str]:
    """``(runner, "")`` when a valid twin sits next to ``model_path``, else ``(None, reason)``."""
    lite, record = twin_paths(model_path)
    if not lite.is_file() or not record.is_file():
        return None, "no LiteRT twin next to the model file"
    try:
        info = json.loads(record.read_text())
    except ValueError:
        return None, f"{record.name} is not valid JSON"
    if info.get("source_sha256") != sha256(model_path):
        return None, f"{lite.name} was converted from a different {Path(model_path).name} (stale)"
    try:
        runner = Runner(lite.read_bytes(), info=info)
    except ImportError:
        return None, "the ai-edge-litert package is not installed"
    except (RuntimeError, ValueError) as exc:
        return None, f"{lite.name} cannot be opened ({exc})"
    if runner.input_shape != tuple(input_shape) or runner.n_outputs != n_outputs:
        return None, f"{lite.name} does not match the Keras model's input or outputs"
    return runner, ""


def served_by(model) -> str:
    """One line on what a loaded model's ``predict_proba`` runs (for benchmark headers)."""
    runner = getattr(model, "lite", None)
    if runner is None:
        return f"TensorFlow ({getattr(model, 'lite_reason', 'no LiteRT twin')})"
    return f"LiteRT twin: {runner.info.get('function')}; {runner.info.get('quantisation')}"


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fer_engine.models.lite",
                                     description="Write the LiteRT twin of a saved Keras model.")
    parser.add_argument("model", help="a .keras file saved by fer_engine (meta.json next to it)")
    parser.add_argument("--flip", action="store_true",
                        help="serve the mean of the face's and its mirror image's probabilities")
    parser.add_argument("--shift", type=int, default=0, metavar="PIXELS",
                        help="also average over the face moved this many pixels towards each "
                             "corner (4 more views; with --flip, 10 views in all)")
    parser.add_argument("--with", dest="members", action="append", default=[], metavar="KERAS_FILE",
                        help="average with this Keras model too (same classes and input; repeatable)")
    parser.add_argument("--int8", metavar="DATA_ROOT", default=None,
                        help="quantise to int8, calibrated on random 'train' faces of this "
                             "class-folder dataset (e.g. ../shared/datasets/fer2013)")
    args = parser.parse_args(argv)
    if not Path(args.model).is_file():
        print(f"error: {args.model} does not exist")
        return 2
    from fer_engine.errors import UserFacingError

    calibration, note = None, ""
    try:
        if args.int8:
            from fer_engine.models.base import FERModel

            spec = FERModel.load(args.model).input_spec
            calibration = calibration_faces(args.int8, spec)
            note = f"random 'train' images of {Path(args.int8).name}, seed 0"
        lite = write_twin(args.model, flip=args.flip, members=args.members, shift=args.shift,
                          calibration=calibration, calibration_note=note,
                          calibration_data=args.int8 or "")
    except UserFacingError as exc:
        print(f"error: {exc}")
        return 2
    print(f"wrote {lite} ({lite.stat().st_size / 2**20:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
