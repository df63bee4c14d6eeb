"""Train a model family under an evaluation protocol and write a run folder.

:func:`run_experiment` is the one entry point the CLI (``python -m fer_engine train``)
and the dashboard's Train page both call::

    dataset -> prepare_dataset (faces, crops, uint8 arrays, cached)
            -> protocols.make_plan (folds; leakage asserted)
            -> per fold: create model, fit (validation carved from training participants),
               save, predict the fold's test samples
            -> pooled predictions.csv, history.csv, folds.json, config.json, metrics.json
            -> atomic rename of the run folder

Training: Adam + categorical cross-entropy; early stopping (best weights restored) and
learning-rate reduction on the validation loss; augmentation on training batches only
(default horizontal flips; ``augment="full"`` adds rotation, shifts, zoom and shear);
optional balanced class weights.
Seeds: ``seed`` for Python, NumPy and TensorFlow before the plan is drawn, and
``seed + k`` before fold ``k``'s model is built and trained. Results are repeatable up to
the nondeterminism of multi-threaded TensorFlow kernels on CPU.

Progress: ``progress(event)`` receives :class:`ProgressEvent` objects of kinds
``prepare`` (pre-processing: ``batch`` images done of ``n_batches``), ``fold_start``,
``batch_end``, ``epoch_end``, ``fold_end`` and ``done``. Cancellation: ``cancel`` is
anything with ``is_set()`` (e.g. ``threading.Event``), checked before each fold and after
every batch; it raises :class:`fer_engine.errors.TrainingCancelled` and leaves no run.
"""

from __future__ import annotations

import dataclasses
import platform
import random
from datetime import datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from fer_engine import __version__, emotions
from fer_engine.errors import DatasetError
from fer_engine.models import FULL_AUGMENTATION, create
from fer_engine.models.base import START_FROM_EPOCH, resolve_augmentation
from fer_engine.models.base import ProgressEvent, TrainConfig, check_cancel
from fer_engine.experiments.protocols import PROTOCOLS, make_plan
from fer_engine.experiments.runs import (
    HISTORY_COLUMNS,
    RunWriter,
    new_run_id,
    predictions_frame,
    summary_metrics,
)

__all__ = ["run_experiment", "TrainConfig", "ProgressEvent", "PROTOCOLS", "resolve_dataset",
           "seed_everything", "library_versions"]

KERAS_FAMILIES = ("cnn", "resnet50", "vgg16")


def resolve_dataset(dataset_or_path=None):
    """A :class:`fer_engine.data.Dataset` from itself, a folder path, or None (synthetic demo)."""
    from fer_engine.data import Dataset

    if isinstance(dataset_or_path, Dataset):
        return dataset_or_path
    from fer_engine.data import load_dataset

    if dataset_or_path is None:
        from fer_engine.data.synthetic import default_dataset_path

        return load_dataset(default_dataset_path())
    return load_dataset(Path(dataset_or_path))


def seed_everything(seed: int, tensorflow: bool = True) -> None:
    """Seed Python's ``random``, NumPy and (if ``tensorflow``) TensorFlow/Keras."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if tensorflow:
        import keras

        keras.utils.set_random_seed(seed)


def library_versions() -> dict:
    def version(*names):
        for name in names:
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        return None

    return {
        "python": platform.python_version(),
        "tensorflow": version("tensorflow-cpu", "tensorflow"),
        "keras": version("keras"),
        "numpy": version("numpy"),
        "sklearn": version("scikit-learn"),
        "opencv": version("opencv-python-headless", "opencv-python"),
        "fer_engine": __version__,
    }


def augment_copies(X: np.ndarray, augmentation: dict, seed: int, batch: int = 64) -> np.ndarray:
    """Randomly augmented uint8 copies of uint8 images (n, s, s, c), with Keras layers."""
    from fer_engine.models.keras_base import apply_layers, augmentation_layers

    layers = augmentation_layers(augmentation, seed)
    out = np.empty_like(X)
    for start in range(0, len(X), batch):
        x = X[start:start + batch].astype(np.float32)
        y = np.asarray(apply_layers(layers, x))
        out[start:start + batch] = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    return out


def _dataset_section(dataset, n_used: int, excluded: list[dict]) -> dict:
    return {
        "root": str(dataset.root),
        "name": dataset.name or Path(str(dataset.root)).name,
        "layout": dataset.layout,
        "synthetic": bool(dataset.synthetic),
        "participants_known": bool(dataset.participants_known),
        "fingerprint": dataset.fingerprint,
        "n_images": int(dataset.n_images),
        "n_participants": int(dataset.n_participants),
        "labels": list(dataset.labels),
        "n_used": int(n_used),
        "excluded": excluded,
        "warnings": [str(w) for w in getattr(dataset, "warnings", [])],
    }


def run_experiment(
    dataset_or_path=None,
    model: str = "cnn",
    protocol: str = "loso",
    *,
    epochs: int = 30,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
    weights: str | None = None,
    augment: str | bool | dict = "flip",
    class_weight: bool = False,
    k: int = 5,
    test_size: float = 0.2,
    val_fraction: float = 0.15,
    augment_before_split: bool = False,
    copies: int = 4,
    early_stopping_patience: int = 6,
    detect: bool = True,
    margin: float = 0.2,
    model_options: dict | None = None,
    out_dir=None,
    progress=None,
    cancel=None,
) -> Path:
    """Train ``model`` under ``protocol`` on a dataset; returns the complete run folder.

    ``dataset_or_path``: a :class:`fer_engine.data.Dataset`, a dataset folder, or None for
    the synthetic demo dataset. ``model``: ``cnn``, ``resnet50``, ``vgg16`` or ``hog_svm``.
    ``protocol``: ``loso``, ``group-kfold`` (``k``), ``holdout`` (``test_size`` of the
    participants), ``paper`` (LEAKY image-level split; ``augment_before_split`` with
    ``copies`` augmented copies per image reproduces the notebook), ``official``.
    ``weights``: ``imagenet``/``none``/file (default: imagenet for resnet50/vgg16, none
    otherwise; ImageNet offline raises :class:`WeightsUnavailableError` before any work).
    ``augment``: ``"flip"`` (default; horizontal flips only), ``"full"`` (also rotation,
    shifts, zoom, shear; see ``fer_engine.models.base.AUGMENTATIONS`` for why it is not the
    default), ``"none"``, True (= the default) / False, or a dict of factors like
    ``FULL_AUGMENTATION``.
    ``val_fraction``: share of each fold's training participants held out for early
    stopping and learning-rate reduction (0 disables both). ``detect``/``margin``: face
    detection settings of pre-processing (no face: centre crop). ``model_options``: extra
    options of the family (``input_size``, ``unfreeze``, ``C``...). ``out_dir``: the runs
    folder (default ``fer_engine.paths.runs_dir()``).
    """
    started = datetime.now()
    if protocol not in PROTOCOLS:
        raise DatasetError(f"Unknown protocol '{protocol}'. Choose one of: {', '.join(PROTOCOLS)}.")
    check_cancel(cancel)
    dataset = resolve_dataset(dataset_or_path)
    labels = emotions.subset(dataset.labels)
    if len(labels) < 2:
        raise DatasetError("The dataset has fewer than two emotions; there is nothing to tell apart.")
    uses_tf = model in KERAS_FAMILIES or (protocol == "paper" and augment_before_split)
    seed_everything(seed, tensorflow=uses_tf)
    options = dict(model_options or {})
    # Built first: an ImageNet download failure must stop us before any slow work.
    first = create(model, labels, weights=weights, **options)
    spec = first.input_spec
    model_section = {**first.meta(), "weights": first.options.get("weights", "none")}
    model_section.pop("labels", None)
    augmentation = resolve_augmentation(augment)
    # the paper protocol's copies are always augmented with the full set, as in the notebook
    copy_augmentation = dict(FULL_AUGMENTATION)
    if model not in KERAS_FAMILIES:
        augmentation = None  # HOG+SVM trains on the images as they are: say so in config.json
    config = TrainConfig(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
        augmentation=augmentation, class_weight=class_weight,
        early_stopping={"monitor": "val_loss", "patience": int(early_stopping_patience),
                        "restore_best_weights": True, "start_from_epoch": START_FROM_EPOCH},
    )

    # -- pre-processing -----------------------------------------------------------
    from fer_engine.preprocess import prepare_dataset

    def on_prepare(done, total):
        check_cancel(cancel)  # raising here stops prepare_dataset's worker pool
        if progress is not None:
            progress(ProgressEvent("prepare", batch=int(done), n_batches=int(total)))

    prepared = prepare_dataset(dataset, spec, detect=detect, margin=margin, fallback="centre",
                               progress=on_prepare)
    check_cancel(cancel)
    ok = np.asarray(prepared.ok, dtype=bool)
    table_all = dataset.table.reset_index(drop=True)
    excluded = [{"path": str(table_all["path"].iloc[i]), "reason": str(prepared.messages[i])}
                for i in np.flatnonzero(~ok)]
    table = table_all[ok].reset_index(drop=True)
    X = prepared.X[ok]

    # -- protocol -------------------------------------------------------------------
    plan = make_plan(table, protocol, participants_known=dataset.participants_known, seed=seed, k=k,
                     test_size=test_size, val_fraction=val_fraction,
                     augment_before_split=augment_before_split, copies=copies)
    samples = plan.samples
    Xs = X[samples["row"].to_numpy()]
    copy_rows = np.flatnonzero(samples["copy"].to_numpy() > 0)
    if len(copy_rows):
        Xs[copy_rows] = augment_copies(Xs[copy_rows], copy_augmentation, seed)
        plan.params["copy_augmentation"] = copy_augmentation
    ys = table["emotion"].map(emotions.normalise).to_numpy()[samples["row"].to_numpy()]

    # -- folds ------------------------------------------------------------------------
    n_folds = len(plan.folds)

    def emit(kind, fold, **kw):
        if progress is not None:
            progress(ProgressEvent(kind, fold=fold, n_folds=n_folds, **kw))

    run_id = new_run_id(model, protocol, started)
    with RunWriter(run_id, out_dir) as writer:
        pred_frames, history_rows = [], []
        for fold in plan.folds:
            check_cancel(cancel)
            emit("fold_start", fold.index, n_epochs=config.epochs,
                 metrics={"n_train": len(fold.train), "n_val": len(fold.val), "n_test": len(fold.test)})
            if fold.index == 0:
                m, first = first, None
            else:
                seed_everything(seed + fold.index, tensorflow=uses_tf)
                if hasattr(m, "reinitialise"):
                    m.reinitialise()  # fresh weights; keeps the traced functions (saves seconds per fold)
                else:
                    m = create(model, labels, weights=weights, **options)

            def fold_progress(ev, _k=fold.index):
                if progress is not None:
                    progress(dataclasses.replace(ev, fold=_k, n_folds=n_folds))

            fold_config = dataclasses.replace(config, seed=seed + fold.index)
            rows = m.fit(Xs[fold.train], ys[fold.train],
                         X_val=Xs[fold.val] if len(fold.val) else None,
                         y_val=ys[fold.val] if len(fold.val) else None,
                         config=fold_config, progress=fold_progress, cancel=cancel)
            history_rows += [{"fold": fold.index, **r} for r in rows]
            m.save(writer.models_dir, stem=f"fold_{fold.index}")
            proba = m.predict_proba(Xs[fold.test], batch_size=max(64, batch_size))
            frame = predictions_frame(samples.iloc[fold.test], table, np.full(len(fold.test), fold.index),
                                      proba, labels)
            pred_frames.append(frame)
            emit("fold_end", fold.index, metrics={
                "accuracy": float((frame["true"] == frame["pred"]).mean()) if len(frame) else float("nan"),
                "n_test": len(frame), "epochs_run": len(rows)})
        del m
        check_cancel(cancel)

        predictions = pd.concat(pred_frames, ignore_index=True)
        writer.write_csv("predictions.csv", predictions)
        writer.write_csv("history.csv", pd.DataFrame(history_rows, columns=list(HISTORY_COLUMNS)))
        writer.write_json("folds.json", [f.to_json() for f in plan.folds])
        training = config.to_dict()
        training.update(validation=plan.validation, fold_seeds="seed + fold index",
                        early_stopping=config.early_stopping if len(plan.folds[0].val) else None,
                        reduce_lr=config.reduce_lr if len(plan.folds[0].val) else None)
        writer.write_json("config.json", {
            "run_id": run_id,
            "created": started.isoformat(timespec="seconds"),
            "finished": datetime.now().isoformat(timespec="seconds"),
            "labels": list(labels),
            "model": model_section,
            "protocol": plan.config(),
            "dataset": _dataset_section(dataset, len(table), excluded),
            "training": training,
            "preprocess": {"detect": bool(detect), "margin": float(margin), "fallback": "centre",
                           "status_counts": prepared.counts()},
            "seed": int(seed),
            "versions": library_versions(),
            "status": "complete",
        })
        metrics = summary_metrics(predictions, labels)
        metrics.update(protocol=protocol, leaky=plan.leaky,
                       participant_independent=plan.participant_independent)
        if plan.leaky:
            metrics["warning"] = ("LEAKY protocol: the same participants are on both sides of the split; "
                                  "these numbers overstate how well the model recognises emotion.")
        writer.write_json("metrics.json", metrics)
        path = writer.commit()
    emit("done", n_folds - 1, metrics={k: v for k, v in metrics.items()
                                       if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return path
