"""Which function should the shipped model serve? Accuracy and batch-1 latency of its variants.

    .venv/bin/python benchmarks/served_variants.py [--model artifacts/pretrained/model.keras]
        [--data ../shared/datasets/fer2013] [--split public_test]
        [--variants int8,int8+flip,int8+flip+shift1] [--with OTHER.keras] [--repeats 300]
        [--json FILE]

For one saved Keras model, writes each LiteRT twin variant into a temporary folder (the
model itself is not touched) and measures, on the same images (48x48 face crops, no
detection): accuracy with its 95 % Wilson interval, macro-F1, and the median and 90th
percentile milliseconds of one ``predict_proba`` call on one face (what the Classify and Live
pages make). The first row is the Keras graph through TensorFlow, with no twin.

Variant names join: ``fp32`` or ``int8`` (quantisation, calibrated on 300 random ``train``
faces, seed 0, as ``python -m fer_engine.models.lite --int8`` does), ``flip`` (mirror image
averaged in), ``shiftN`` (the face moved N pixels towards each corner averaged in), ``with``
(the ``--with`` models averaged in). All variants are measured in one run, so their latencies
compare with each other even when the machine's speed drifts between runs.

Choosing a variant on these figures tunes on ``--split``: the chosen row is optimistic.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks.timing import call_times, median_p90_ms  # noqa: E402
from fer_engine import paths  # noqa: E402

DEFAULT_VARIANTS = "fp32,int8,int8+flip,int8+flip+shift1,int8+flip+shift2"


def parse_variant(name: str) -> dict:
    """``"int8+flip+shift1"`` -> ``{"int8": True, "flip": True, "shift": 1, "with": False}``."""
    parts = [p for p in name.strip().split("+") if p]
    out = {"int8": False, "flip": False, "shift": 0, "with": False}
    for p in parts:
        if p in ("fp32", "int8"):
            out["int8"] = p == "int8"
        elif p in ("flip", "with"):
            out[p] = True
        elif p.startswith("shift") and p[5:].isdigit() and int(p[5:]) > 0:
            out["shift"] = int(p[5:])
        else:
            raise ValueError(f"unknown part '{p}' in variant '{name}' "
                             "(use fp32 or int8, flip, shiftN, with; joined by +)")
    return out


def scores(p: np.ndarray, truth: np.ndarray, labels) -> dict:
    from sklearn.metrics import f1_score

    from fer_engine.analytics.stats import wilson_interval

    pred = np.asarray(labels)[p.argmax(1)]
    k = int((pred == truth).sum())
    low, high = wilson_interval(k, len(truth))
    return {"accuracy": k / len(truth), "accuracy_low": float(low), "accuracy_high": float(high),
            "macro_f1": float(f1_score(truth, pred, labels=list(labels), average="macro"))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(paths.REPO_ROOT / "artifacts" / "pretrained" / "model.keras"))
    ap.add_argument("--data", default=str(paths.REPO_ROOT.parent / "shared" / "datasets" / "fer2013"))
    ap.add_argument("--split", default="public_test")
    ap.add_argument("--variants", default=DEFAULT_VARIANTS)
    ap.add_argument("--with", dest="members", action="append", default=[], metavar="KERAS_FILE")
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--json", default=None, metavar="FILE")
    args = ap.parse_args(argv)

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    try:
        specs = {v: parse_variant(v) for v in variants}
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    if any(s["with"] for s in specs.values()) and not args.members:
        print("error: a 'with' variant needs --with OTHER.keras")
        return 2
    model_path = Path(args.model)
    if not model_path.is_file() or not model_path.with_name("meta.json").is_file():
        print(f"error: {model_path} (with meta.json beside it) does not exist")
        return 2

    from fer_engine.data import load_dataset
    from fer_engine.models import lite
    from fer_engine.models.base import FERModel
    from fer_engine.preprocess import prepare_dataset

    base = FERModel.load(model_path)
    dataset = load_dataset(Path(args.data) / args.split)
    prepared = prepare_dataset(dataset, base.input_spec, detect=False)
    ok = prepared.status != "error"
    pixels, truth, labels = prepared.X[ok], dataset.table["emotion"].to_numpy()[ok], base.labels
    calibration = None

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ("model.keras", "meta.json"):
            shutil.copy(model_path.with_name(name), work / name)
        keras_only = FERModel.load(work / "model.keras")  # no twin in the copy yet: TensorFlow
        for name, spec in [("keras (TensorFlow, fp32)", None), *specs.items()]:
            model = keras_only
            if spec is not None:
                if spec["int8"] and calibration is None:
                    calibration = lite.calibration_faces(args.data, base.input_spec)
                lite.write_twin(work / "model.keras", flip=spec["flip"], shift=spec["shift"],
                                members=args.members if spec["with"] else (),
                                calibration=calibration if spec["int8"] else None)
                model = FERModel.load(work / "model.keras")
                if model.lite is None:
                    print(f"error: the {name} twin cannot run: {model.lite_reason}")
                    return 1
            t0 = time.perf_counter()
            p = model.predict_proba(pixels)
            row = scores(p, truth, labels)
            row["seconds_all"] = time.perf_counter() - t0
            row["ms_batch1_median"], row["ms_batch1_p90"] = median_p90_ms(
                call_times(lambda: model.predict_proba(pixels[:1]), args.repeats))
            row["tflite_mb"] = (lite.twin_paths(work / "model.keras")[0].stat().st_size / 1e6
                                if spec is not None else None)
            rows[name] = row
            print(f"measured {name}", file=sys.stderr, flush=True)

    print(f"{model_path}: FER2013 {args.split}, {len(truth)} images; one predict_proba call per "
          f"face at batch 1 ({args.repeats} calls); load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} CPUs")
    print(f"{'variant':28s}{'accuracy':>10s}{'95% interval':>17s}{'macro-F1':>10s}"
          f"{'ms median':>11s}{'ms p90':>9s}{'MB':>7s}")
    for name, r in rows.items():
        mb = f"{r['tflite_mb']:.2f}" if r["tflite_mb"] is not None else "-"
        print(f"{name:28s}{r['accuracy']:>10.4f}   {r['accuracy_low']:.4f}-{r['accuracy_high']:.4f}"
              f"{r['macro_f1']:>10.3f}{r['ms_batch1_median']:>11.2f}{r['ms_batch1_p90']:>9.2f}{mb:>7s}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"benchmark": "served_variants", "model": str(model_path.name), "split": args.split,
             "n_images": int(len(truth)), "load_average_end": round(os.getloadavg()[0], 2),
             "variants": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
