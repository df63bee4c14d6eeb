"""One training fold as a unit of work: fit, save and score one fold's model.

:func:`fit_fold` is the one place a fold is fitted. The training driver
(:func:`fer_engine.experiments.training.fit_folds`) calls it in its own process, fold after
fold, reusing one model object (re-initialised per fold), or sends :func:`fold_unit` to the
execution layer (:mod:`fer_engine.execution`), one Ray task per fold.

A fold unit is a dict of paths and settings, never models or image arrays: the driver writes
the plan's images once (``data.npz``: uint8 ``X``, labels ``y``, ``participants``; for the
``transfer`` family also ``features.npy``, the frozen network's features, computed once per
run) into a work folder inside the run's partial folder; each unit reads them, fits fold
``k`` seeded with ``seed + k``, saves the model into the run's ``models/`` and returns the
fold's test probabilities, its history rows, what the fit chose and the Ray node it ran on.
A unit that is retried (its worker died) starts the fold again from its seed, so the result
is the same.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np

from fer_engine.models import create
from fer_engine.models.base import ProgressEvent, TrainConfig

DATA_FILE = "data.npz"
FEATURES_FILE = "features.npy"


def seed_everything(seed: int, tensorflow: bool = True) -> None:
    """Seed Python's ``random``, NumPy and (if ``tensorflow``) TensorFlow/Keras."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if tensorflow:
        import keras

        keras.utils.set_random_seed(seed)


def family_options(spec) -> dict:
    """The keyword options of ``create`` for ``spec``'s model family."""
    return {**spec.model_options, **({"finetune": True} if spec.finetune else {})}


def fit_fold(spec, labels, train_config: TrainConfig, uses_tf: bool, X, y, participants,
             fold, n_folds: int, models_dir: Path, model=None, progress=None, cancel=None):
    """Fit fold ``fold`` (``index``, ``train``, ``val``, ``test`` index arrays into ``X``)
    seeded with ``spec.seed + fold.index`` and save it as ``fold_<index>``.

    ``model``: a model of this run to re-initialise (it keeps its traced functions) instead
    of building a new one. Returns ``(model, history rows, fit info)``."""
    seed_everything(spec.seed + fold.index, tensorflow=uses_tf)
    if model is not None and hasattr(model, "reinitialise"):
        model.reinitialise()
    else:
        model = create(spec.model, labels, weights=spec.weights, **family_options(spec))

    def fold_progress(ev, _k=fold.index):
        if progress is not None:
            progress(dataclasses.replace(ev, fold=_k, n_folds=n_folds))

    # families that choose settings by participant (transfer) get each row's participant
    by_person = ({"groups": participants[fold.train], "groups_val": participants[fold.val]}
                 if getattr(model, "fits_by_participant", False) else {})
    rows = model.fit(X[fold.train], y[fold.train],
                     X_val=X[fold.val] if len(fold.val) else None,
                     y_val=y[fold.val] if len(fold.val) else None,
                     config=dataclasses.replace(train_config, seed=spec.seed + fold.index),
                     progress=fold_progress, cancel=cancel, **by_person)
    info = dict(getattr(model, "fit_info", None) or {})
    if spec.detect:  # faces were cut at this margin; whole images keep the default
        model.face_margin = spec.margin
    model.save(models_dir, stem=f"fold_{fold.index}")
    return model, rows, info


@dataclasses.dataclass
class _Fold:
    index: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def write_work(work: Path, X, y, participants, features=None) -> None:
    """The plan's arrays, once per run, where every fold unit reads them."""
    work.mkdir(parents=True, exist_ok=True)
    np.savez(work / DATA_FILE, X=X, y=np.asarray(y, dtype=str),
             participants=np.asarray(participants, dtype=str))
    if features is not None:
        np.save(work / FEATURES_FILE, np.asarray(features, np.float32))


def make_unit(work: Path, models_dir: Path, spec, labels, train_config: TrainConfig,
              uses_tf: bool, fold, n_folds: int) -> dict:
    """The dict a fold unit receives: paths and settings only."""
    return {
        "paths": [str(work), str(models_dir)],
        "work": str(work),
        "models_dir": str(models_dir),
        "spec": spec.to_json(),
        "labels": list(labels),
        "train_config": dataclasses.asdict(train_config),
        "uses_tf": bool(uses_tf),
        "fold": {"index": int(fold.index), "train": [int(i) for i in fold.train],
                 "val": [int(i) for i in fold.val], "test": [int(i) for i in fold.test]},
        "n_folds": int(n_folds),
    }


#: one model per worker process and run settings, re-initialised for each fold it fits
_MODELS: dict = {}


def fold_unit(unit: dict, report) -> dict:
    """Fit one fold where the execution layer runs it; see the module docstring."""
    import json

    from fer_engine.execution import current_node
    from fer_engine.experiments.spec import ExperimentSpec

    spec = ExperimentSpec.from_json(unit["spec"])
    labels = tuple(unit["labels"])
    work = Path(unit["work"])
    with np.load(work / DATA_FILE, allow_pickle=False) as data:
        X, y, participants = data["X"], data["y"].astype(object), data["participants"]
    f = unit["fold"]
    fold = _Fold(f["index"], *(np.asarray(f[k], dtype=np.int64) for k in ("train", "val", "test")))
    key = json.dumps([unit["spec"], unit["labels"]], sort_keys=True)
    model = _MODELS.pop(key, None)
    _MODELS.clear()  # a worker keeps at most one run's model
    if model is None and (work / FEATURES_FILE).is_file():
        model = create(spec.model, labels, weights=spec.weights, **family_options(spec))
        model.remember_features(X, np.load(work / FEATURES_FILE))

    def progress(ev: ProgressEvent) -> None:
        report({**dataclasses.asdict(ev), "throttle": ev.kind == "batch_end"})

    report(dataclasses.asdict(ProgressEvent(
        "fold_start", fold=fold.index, n_folds=unit["n_folds"],
        n_epochs=unit["train_config"]["epochs"],
        metrics={"n_train": len(fold.train), "n_val": len(fold.val), "n_test": len(fold.test)})))
    model, rows, info = fit_fold(spec, labels, TrainConfig(**unit["train_config"]),
                                 unit["uses_tf"], X, y, participants, fold, unit["n_folds"],
                                 Path(unit["models_dir"]), model=model, progress=progress)
    proba = model.predict_proba(X[fold.test], batch_size=max(64, spec.batch_size))
    _MODELS[key] = model
    pred = np.asarray(labels, dtype=object)[np.argmax(proba, axis=1)]
    accuracy = float(np.mean(pred == y[fold.test])) if len(fold.test) else float("nan")
    report(dataclasses.asdict(ProgressEvent(
        "fold_end", fold=fold.index, n_folds=unit["n_folds"],
        metrics={"accuracy": accuracy, "n_test": len(fold.test), "epochs_run": len(rows)})))
    return {"fold": fold.index, "proba": np.asarray(proba, np.float32), "history": rows,
            "fit_info": info, "node": current_node()}
