"""Train a model family under an evaluation protocol and write a run folder.

:func:`run_experiment` (data, :class:`~fer_engine.experiments.spec.ExperimentSpec`) is the one
entry point the CLI (``python -m fer_engine train``) and the dashboard's Train page (through a
background job) call::

    plan_experiment: first model built, prepare_dataset (faces, crops, uint8 arrays, cached),
                     protocols.make_plan (folds; leakage asserted)
    fit_folds:       per fold: fit (validation carved from training participants), save,
                     predict the fold's test samples
    pool:            the folds' predictions in one table (every sample scored once per run)
    write_run:       predictions.csv, history.csv, folds.json, config.json, metrics.json,
                     then the atomic rename of the run folder (docs/run_format.md)

Training: Adam + categorical cross-entropy; early stopping (best weights restored) and
learning-rate reduction on the validation loss; augmentation on training batches only
(default horizontal flips; ``augment="full"`` adds rotation, shifts, zoom and shear);
optional balanced class weights. ``transfer`` (frozen) fits a logistic-regression head on the
shipped network's features, computed once per run (``cache_features``) and never fitted on a
test participant; each fold's fit gets its participants for the grouped choice of C.

Scoring, no training (``model="pretrained"``, ``protocol="none"``): the shipped model scores
every image; images of an emotion it cannot output (``contempt``: FER2013 has seven) are left
out of the predictions, listed in ``config.json``'s excluded images, and said in a note
(``metrics.json``'s ``not_scored`` and ``notes``, the protocol's notes) with what the model
answered for them.
Data that cannot serve: a protocol the dataset cannot support (``protocols.refusal``: no
participant ids, too few people, no split of its own) is refused before any slow work; images
pre-processing cannot read are left out, listed in ``config.json``'s excluded images and said
in one sentence (:func:`unreadable_note`) among ``metrics.json``'s ``notes`` and the
protocol's notes.
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
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fer_engine import __version__, emotions
from fer_engine.errors import DatasetError
from fer_engine.models import FULL_AUGMENTATION, SCORING_MODELS, FERModel, create, load_model
from fer_engine.models.base import START_FROM_EPOCH, resolve_augmentation
from fer_engine.models.base import ProgressEvent, TrainConfig, check_cancel
from fer_engine.execution import engine_for
from fer_engine.experiments.folds import family_options, fit_fold, seed_everything
from fer_engine.experiments.protocols import PROTOCOLS, Plan, make_plan, refusal
from fer_engine.experiments.spec import ExperimentSpec
from fer_engine.experiments.runs import (
    HISTORY_COLUMNS,
    RunWriter,
    new_run_id,
    predictions_frame,
    summary_metrics,
)

if TYPE_CHECKING:
    from fer_engine.data import Dataset

__all__ = ["run_experiment", "ExperimentSpec", "TrainConfig", "ProgressEvent", "PROTOCOLS",
           "resolve_dataset", "seed_everything", "library_versions"]

KERAS_FAMILIES = ("cnn", "resnet50", "vgg16")
#: Models whose runs use TensorFlow (seeded with it).
TF_MODELS = (*KERAS_FAMILIES, "transfer", *SCORING_MODELS)


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


@dataclass
class Planned:
    """An experiment ready to fit: the spec, its data prepared and its folds drawn.

    ``X``/``y``: the plan's samples (uint8 images, canonical emotion names), in the order of
    ``plan.samples``; ``table``: the dataset rows that pre-processing kept; ``model``: the
    first fold's model, built before any slow work (an ImageNet download failure stops
    there); ``train_config``: the fit settings every fold starts from.
    """

    spec: ExperimentSpec
    dataset: Dataset
    labels: tuple[str, ...]
    model: FERModel | None
    model_section: dict
    train_config: TrainConfig
    uses_tf: bool
    table: pd.DataFrame
    excluded: list[dict]
    preprocess_counts: dict
    plan: Plan
    X: np.ndarray
    y: np.ndarray
    #: scoring runs: per emotion the model cannot output, its images and the model's answers
    not_scored: dict = field(default_factory=dict)
    #: per fold, what the fit chose (transfer: C, inner folds, the head's participants)
    fold_info: list = field(default_factory=list)
    #: the sentence saying how many images could not be read in pre-processing ("" if none)
    unreadable: str = ""
    #: where the folds ran (config.json's ``execution``), set by :func:`fit_folds`
    execution: dict = field(default_factory=dict)
    #: per fold index, the Ray node that fitted it (folds.json's ``node``)
    fold_nodes: dict = field(default_factory=dict)

    @property
    def scoring(self) -> bool:
        """No training: a trained model scores every image (protocol ``none``)."""
        return self.spec.model in SCORING_MODELS

    @property
    def n_folds(self) -> int:
        return len(self.plan.folds)

    def emit(self, progress, kind: str, fold: int, **kw) -> None:
        if progress is not None:
            progress(ProgressEvent(kind, fold=fold, n_folds=self.n_folds, **kw))


def run_experiment(dataset_or_path=None, spec: ExperimentSpec | None = None, *, out_dir=None,
                   progress=None, cancel=None, execution=None) -> Path:
    """Train ``spec`` (default: ``ExperimentSpec()``) on a dataset; returns the complete run
    folder.

    ``dataset_or_path``: a :class:`fer_engine.data.Dataset`, a dataset folder, or None for
    the synthetic demo dataset. ``out_dir``: the runs folder (default
    ``fer_engine.paths.runs_dir()``). ImageNet weights that cannot be downloaded raise
    :class:`WeightsUnavailableError` before any slow work. ``execution``: where the folds
    run (:func:`fer_engine.execution.engine_for`): None in this process, ``"auto"``, an
    engine, or ``{"workers": N, "address": A}`` for Ray.
    """
    spec = spec if spec is not None else ExperimentSpec()
    started = datetime.now()
    check_cancel(cancel)
    planned = plan_experiment(resolve_dataset(dataset_or_path), spec, progress, cancel)
    with RunWriter(new_run_id(spec.model, spec.protocol, started), out_dir) as writer:
        engine = None if planned.scoring else engine_for(execution, planned.n_folds)
        pred_frames, history_rows = fit_folds(planned, writer.models_dir, progress, cancel,
                                              engine=engine)
        check_cancel(cancel)
        predictions = pd.concat(pred_frames, ignore_index=True)
        metrics = write_run(writer, planned, predictions, history_rows, started)
        path = writer.commit()
    numbers = {k: v for k, v in metrics.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    planned.emit(progress, "done", planned.n_folds - 1, metrics=numbers)
    return path


def plan_experiment(dataset, spec: ExperimentSpec, progress=None, cancel=None) -> Planned:
    """Build the first model, pre-process the images and draw the protocol's folds.

    A protocol the data cannot support is refused first, before any slow work."""
    labels = emotions.subset(dataset.labels)
    if len(labels) < 2:
        raise DatasetError("The dataset has fewer than two emotions; there is nothing to tell apart.")
    why = refusal(dataset.table, spec.protocol, participants_known=dataset.participants_known,
                  k=spec.k)
    if why:
        raise DatasetError(why)
    uses_tf = (spec.model in TF_MODELS
               or (spec.protocol == "paper" and spec.augment_before_split))
    seed_everything(spec.seed, tensorflow=uses_tf)
    # Built first: an ImageNet download failure must stop us before any slow work.
    if spec.model in SCORING_MODELS:
        from fer_engine.models import pretrained
        from fer_engine.models.lite import served_by

        first = load_model(spec.model)
        labels = first.labels  # what the model can answer; other emotions are not scored
        model_section = {**first.meta(), "name": spec.model, "architecture": first.name,
                         "weights": pretrained.record()["file"], "base": pretrained.record(),
                         "served": served_by(first)}
    else:
        first = create(spec.model, labels, weights=spec.weights, **family_options(spec))
        model_section = {**first.meta(), "weights": first.options.get("weights", "none")}
    model_section.pop("labels", None)
    if spec.margin is None:  # faces are cut as the model's own training faces were
        spec = dataclasses.replace(spec, margin=first.face_margin)
    augmentation = resolve_augmentation(spec.augment)
    if not (spec.model in KERAS_FAMILIES or spec.finetune):
        # HOG+SVM and a frozen transfer head see the images as they are: say so in config.json
        augmentation = None
    train_config = TrainConfig(
        epochs=spec.epochs, batch_size=spec.batch_size, learning_rate=spec.learning_rate,
        seed=spec.seed, augmentation=augmentation, class_weight=spec.class_weight,
        early_stopping={"monitor": "val_loss", "patience": spec.early_stopping_patience,
                        "restore_best_weights": True, "start_from_epoch": START_FROM_EPOCH},
    )
    table, X, excluded, counts, unreadable = _prepare_images(dataset, first.input_spec, spec,
                                                            progress, cancel)
    not_scored: dict = {}
    if spec.model in SCORING_MODELS:
        table, X, not_scored = _drop_unscorable(first, table, X, excluded)
    plan = make_plan(table, spec.protocol, participants_known=dataset.participants_known,
                     seed=spec.seed, k=spec.k, test_size=spec.test_size,
                     val_fraction=spec.val_fraction, augment_before_split=spec.augment_before_split,
                     copies=spec.copies)
    rows = plan.samples["row"].to_numpy()
    Xs = X[rows]
    copy_rows = np.flatnonzero(plan.samples["copy"].to_numpy() > 0)
    if len(copy_rows):
        # the paper protocol's copies are always augmented with the full set, as in the notebook
        Xs[copy_rows] = augment_copies(Xs[copy_rows], dict(FULL_AUGMENTATION), spec.seed)
        plan.params["copy_augmentation"] = dict(FULL_AUGMENTATION)
    ys = table["emotion"].map(emotions.normalise).to_numpy()[rows]
    plan.notes.extend(info["note"] for info in not_scored.values())
    if unreadable:
        plan.notes.insert(0, unreadable)
    return Planned(spec, dataset, labels, first, model_section, train_config, uses_tf, table,
                   excluded, counts, plan, Xs, ys, not_scored, unreadable=unreadable)


def _drop_unscorable(model, table: pd.DataFrame, X: np.ndarray, excluded: list[dict]):
    """Leave out the images of emotions ``model`` cannot output (appended to ``excluded``);
    returns (table, X, {emotion: {n_images, answers, note}})."""
    truth = table["emotion"].map(emotions.normalise)
    lacking = ~truth.isin(model.labels).to_numpy()
    if not lacking.any():
        return table, X, {}
    answers = model.predict(X[lacking])
    out = {}
    for label in emotions.subset(truth[lacking].unique()):
        mine = (truth[lacking] == label).to_numpy()
        counts = pd.Series(answers[mine]).value_counts()
        said = ", ".join(f"{emotions.display_name(k).lower()} {v}" for k, v in counts.items())
        n = int(mine.sum())
        out[label] = {
            "n_images": n,
            "answers": {str(k): int(v) for k, v in counts.items()},
            "note": (f"{emotions.display_name(label)}: {n} image(s) not scored. The shipped model "
                     f"has no {label} class (it was trained on {len(model.labels)} emotions), so "
                     f"these images are excluded from accuracy and every analysis. It called "
                     f"them: {said}."),
        }
    reason = "{}: the shipped model cannot output this emotion; not scored"
    excluded.extend({"path": str(p), "reason": reason.format(e)}
                    for p, e in zip(table["path"][lacking], truth[lacking]))
    keep = ~lacking
    if not keep.any():
        raise DatasetError("None of the dataset's emotions is one the shipped model can output; "
                           "there is nothing to score.")
    return table[keep].reset_index(drop=True), X[keep], out


def unreadable_note(paths, n_images: int, root=None, reason: str = "") -> str:
    """One sentence for the images pre-processing could not read: how many of ``n_images``,
    the first one's path (relative to the dataset folder ``root``) and why ("" when none)."""
    paths = list(paths)
    if not paths:
        return ""
    first = Path(str(paths[0]))
    if root is not None:
        try:
            first = first.relative_to(Path(str(root)))
        except ValueError:
            pass
    why = f": {reason.rstrip('.')}" if reason else ""
    return (f"{len(paths)} of {n_images} images could not be read and were left out "
            f"(first: {first.as_posix()}{why}).")


def _prepare_images(dataset, input_spec, spec: ExperimentSpec, progress, cancel):
    """(kept table rows, their uint8 images, excluded images with reasons, status counts, the
    sentence about images that could not be read: :func:`unreadable_note`)."""
    from fer_engine.preprocess import prepare_dataset

    def on_prepare(done, total):
        check_cancel(cancel)  # raising here stops prepare_dataset's worker pool
        if progress is not None:
            progress(ProgressEvent("prepare", batch=int(done), n_batches=int(total)))

    prepared = prepare_dataset(dataset, input_spec, detect=spec.detect, margin=spec.margin,
                               detector=spec.detector, align=spec.align, fallback="centre",
                               progress=on_prepare)
    check_cancel(cancel)
    ok = np.asarray(prepared.ok, dtype=bool)
    table_all = dataset.table.reset_index(drop=True)
    excluded = [{"path": str(table_all["path"].iloc[i]), "reason": str(prepared.messages[i])}
                for i in np.flatnonzero(~ok)]
    failed = np.flatnonzero(prepared.failed)
    note = unreadable_note(table_all["path"].iloc[failed], len(table_all), dataset.root,
                           str(prepared.messages[failed[0]]) if len(failed) else "")
    return (table_all[ok].reset_index(drop=True), prepared.X[ok], excluded, prepared.counts(),
            note)


def fit_folds(planned: Planned, models_dir: Path, progress=None, cancel=None, engine=None):
    """Fit, save and score each fold's model; returns (prediction frames, history rows).

    Fold ``k`` is seeded with ``seed + k`` (:func:`fer_engine.experiments.folds.fit_fold`).
    ``engine`` None: the folds run one after another in this process, one Keras model
    re-initialised per fold (it keeps its traced functions, which saves seconds per fold).
    An :class:`fer_engine.execution.Engine`: each fold is a Ray task
    (:func:`~fer_engine.experiments.folds.fold_unit`). ``planned.execution`` records where
    they ran.
    """
    spec, plan = planned.spec, planned.plan
    X, m = planned.X, planned.model
    participants = plan.samples["participant"].astype(str).to_numpy()
    if engine is not None and not planned.scoring:
        return _fit_folds_on(engine, planned, models_dir, participants, progress, cancel)
    planned.execution = {"engine": "this process", "workers": 1}
    pred_frames, history_rows = [], []
    if not planned.scoring:
        m.cache_features(X)  # transfer: every image's features once per run, not per fold
    for fold in plan.folds:
        check_cancel(cancel)
        planned.emit(progress, "fold_start", fold.index, n_epochs=planned.train_config.epochs,
                     metrics={"n_train": len(fold.train), "n_val": len(fold.val),
                              "n_test": len(fold.test)})
        if planned.scoring:  # the shipped model as it is: its files stand for the fold's model
            from fer_engine.models import pretrained

            pretrained.copy_into(models_dir, f"fold_{fold.index}")
            rows = []
        else:
            m, rows, info = fit_fold(spec, planned.labels, planned.train_config,
                                     planned.uses_tf, X, planned.y, participants, fold,
                                     planned.n_folds, models_dir, model=m,
                                     progress=progress, cancel=cancel)
            if info:
                planned.fold_info.append({"fold": fold.index, **info})
        proba = m.predict_proba(X[fold.test], batch_size=max(64, spec.batch_size))
        frame = _fold_frame(planned, fold, proba)
        pred_frames.append(frame)
        history_rows += [{"fold": fold.index, **r} for r in rows]
        _emit_fold_end(planned, progress, fold.index, frame, len(rows))
    planned.model = None  # the run keeps the saved files, not the last model in memory
    return pred_frames, history_rows


def _fold_frame(planned: Planned, fold, proba) -> pd.DataFrame:
    return predictions_frame(planned.plan.samples.iloc[fold.test], planned.table,
                             np.full(len(fold.test), fold.index), proba, planned.labels)


def _emit_fold_end(planned: Planned, progress, index: int, frame: pd.DataFrame, epochs: int):
    accuracy = float((frame["true"] == frame["pred"]).mean()) if len(frame) else float("nan")
    planned.emit(progress, "fold_end", index,
                 metrics={"accuracy": accuracy, "n_test": len(frame), "epochs_run": epochs})


def _fit_folds_on(engine, planned: Planned, models_dir: Path, participants, progress, cancel):
    """The folds as Ray tasks: the plan's arrays written once into a work folder beside the
    run's models (on a cluster, the runs folder must be on storage every node sees)."""
    import shutil

    from fer_engine.experiments import folds as fold_units

    work = models_dir.parent / "_work"
    features = None
    if hasattr(planned.model, "remember_features"):  # transfer: the frozen features, once
        features = planned.model.features(planned.X)
    fold_units.write_work(work, planned.X, planned.y, participants, features)
    planned.model = None  # the driver keeps no model: the units build their own
    units = [fold_units.make_unit(work, models_dir, planned.spec, planned.labels,
                                  planned.train_config, planned.uses_tf, fold, planned.n_folds)
             for fold in planned.plan.folds]

    def relay(event: dict) -> None:
        if progress is not None:
            event = {k: v for k, v in event.items() if k != "throttle"}
            progress(ProgressEvent(**event))

    try:
        results = engine.run_units(fold_units.fold_unit, units, progress=relay, cancel=cancel)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pred_frames, history_rows = [], []
    where = engine.where().to_json()
    nodes = []
    for fold, result in zip(planned.plan.folds, results, strict=True):
        frame = _fold_frame(planned, fold, result["proba"])
        pred_frames.append(frame)
        history_rows += [{"fold": fold.index, **r} for r in result["history"]]
        if result["fit_info"]:
            planned.fold_info.append({"fold": fold.index, **result["fit_info"]})
        planned.fold_nodes[fold.index] = result["node"]
        if result["node"] not in nodes:
            nodes.append(result["node"])
    planned.execution = {**where, "nodes": nodes}
    return pred_frames, history_rows


def write_run(writer: RunWriter, planned: Planned, predictions: pd.DataFrame,
              history_rows: list[dict], started: datetime) -> dict:
    """Write predictions, history, folds, config and metrics into ``writer``; returns the
    metrics (``metrics.json``)."""
    spec, plan, config = planned.spec, planned.plan, planned.train_config
    writer.write_csv("predictions.csv", predictions)
    writer.write_csv("history.csv", pd.DataFrame(history_rows, columns=list(HISTORY_COLUMNS)))
    writer.write_json("folds.json", [
        {**f.to_json(), **({"node": planned.fold_nodes[f.index]}
                           if f.index in planned.fold_nodes else {})}
        for f in plan.folds])
    has_val = len(plan.folds[0].val) > 0
    training = config.to_dict()
    training.update(validation=plan.validation, fold_seeds="seed + fold index",
                    early_stopping=config.early_stopping if has_val else None,
                    reduce_lr=config.reduce_lr if has_val else None)
    model_section = dict(planned.model_section)
    if planned.scoring:
        training = {"trained": False, "validation": plan.validation,
                    "note": "No training: the shipped model scores every image as it is."}
    elif spec.model == "transfer":
        from fer_engine.models.transfer import CS, INNER_FOLDS

        model_section["folds"] = planned.fold_info
        head = {"head": "multinomial logistic regression (scikit-learn, lbfgs, L2) on "
                        "standardised mirror-averaged features of the shipped network",
                "C_grid": list(CS),
                "C_choice": f"log-loss, GroupKFold (up to {INNER_FOLDS} folds) over the fold's "
                            "training people only"}
        if spec.finetune:
            training.update(head, finetune="block4_conv1..3 and the head (Adam), after a "
                                           "logistic-regression start on the training people")
        else:
            training.update(head, optimizer="lbfgs (scikit-learn)",
                            loss="multinomial logistic loss + L2 penalty", epochs=None,
                            batch_size=None, learning_rate=None, early_stopping=None,
                            reduce_lr=None,
                            validation="none: the head is fitted on every training person "
                                       "(the fold's validation people included); C by grouped "
                                       "cross-validation among them")
    writer.write_json("config.json", {
        "run_id": writer.run_id,
        "created": started.isoformat(timespec="seconds"),
        "finished": datetime.now().isoformat(timespec="seconds"),
        "labels": list(planned.labels),
        "model": model_section,
        "protocol": plan.config(),
        "dataset": _dataset_section(planned.dataset, len(planned.table), planned.excluded),
        "training": training,
        "preprocess": {"detect": spec.detect, "margin": spec.margin, "detector": spec.detector,
                       "align": spec.align, "fallback": "centre",
                       "status_counts": planned.preprocess_counts},
        "seed": spec.seed,
        "execution": planned.execution,
        "versions": library_versions(),
        "status": "complete",
    })
    metrics = summary_metrics(predictions, planned.labels)
    metrics.update(protocol=spec.protocol, leaky=plan.leaky,
                   participant_independent=plan.participant_independent)
    notes = [planned.unreadable] if planned.unreadable else []
    if planned.not_scored:
        metrics["not_scored"] = {k: {"n_images": v["n_images"], "answers": v["answers"]}
                                 for k, v in planned.not_scored.items()}
        notes += [v["note"] for v in planned.not_scored.values()]
    if notes:
        metrics["notes"] = notes
    if plan.leaky:
        metrics["warning"] = ("LEAKY protocol: the same participants are on both sides of the "
                              "split; these numbers overstate how well the model recognises "
                              "emotion.")
    writer.write_json("metrics.json", metrics)
    return metrics
