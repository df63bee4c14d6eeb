"""A LiteRT (TensorFlow Lite) twin of a saved Keras model, for fast single-face calls.

At batch 1 most of a TensorFlow call to a small CNN is runtime overhead, not arithmetic:
measured on 2 cores for the shipped model, ``tf.function`` ~5.4 ms per face, the same
weights in LiteRT's interpreter (XNNPACK) about half that (``benchmarks/predict_latency.py``
prints both). So next to ``model.keras`` a model may carry ``model.tflite``, a float32
conversion of the same graph (no quantisation), and ``model.tflite.json`` recording the
SHA-256 of the Keras file it was converted from. :func:`open_twin` gives a runner only when
that hash matches, so a re-trained Keras file never runs with stale LiteRT weights.

Conversion (:func:`write_twin`) needs TensorFlow's converter; running needs the
``ai-edge-litert`` package. Without it, or without a valid twin, models simply use
TensorFlow (``lite_reason`` on the model says why, for the benchmarks).

Write or refresh a twin: ``python -m fer_engine.models.lite artifacts/pretrained/model.keras``
(``train-pretrained --export`` does it too).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import numpy as np

#: Batches up to this size go through the LiteRT runner face by face; larger ones through
#: TensorFlow, whose batched kernels win there (batch 64: ~1.7 ms/face).
MAX_BATCH = 8
SUFFIX = ".tflite"


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


def convert(keras_model) -> bytes:
    """Float32 LiteRT flatbuffer of a Keras model (inference graph, no optimisation)."""
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(keras_model).convert()


def write_twin(model_path, keras_model=None) -> Path:
    """Convert the Keras model saved at ``model_path`` and write its twin atomically."""
    model_path = Path(model_path)
    if keras_model is None:
        import keras

        keras_model = keras.saving.load_model(model_path, compile=False)
    import tensorflow as tf

    lite, record = twin_paths(model_path)
    tmp = lite.with_name(lite.name + ".tmp")
    tmp.write_bytes(convert(keras_model))
    os.replace(tmp, lite)
    record.write_text(json.dumps({
        "source": model_path.name,
        "source_sha256": sha256(model_path),
        "tflite_sha256": sha256(lite),
        "converter": f"tensorflow {tf.__version__}",
        "quantisation": "none (float32)",
    }, indent=1) + "\n")
    return lite


class Runner:
    """A thread-safe batch-1 LiteRT interpreter: ``runner(x)`` -> probabilities (n, k).

    One interpreter, one lock: Streamlit sessions and WebRTC frames call models from
    several threads, and an interpreter must not be invoked concurrently.
    """

    def __init__(self, content: bytes, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

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
        runner = Runner(lite.read_bytes())
    except ImportError:
        return None, "the ai-edge-litert package is not installed"
    except (RuntimeError, ValueError) as exc:
        return None, f"{lite.name} cannot be opened ({exc})"
    if runner.input_shape != tuple(input_shape) or runner.n_outputs != n_outputs:
        return None, f"{lite.name} does not match the Keras model's input or outputs"
    return runner, ""


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fer_engine.models.lite",
                                     description="Write the LiteRT twin of a saved Keras model.")
    parser.add_argument("model", help="a .keras file saved by fer_engine")
    args = parser.parse_args(argv)
    if not Path(args.model).is_file():
        print(f"error: {args.model} does not exist")
        return 2
    lite = write_twin(args.model)
    print(f"wrote {lite} ({lite.stat().st_size / 2**20:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
