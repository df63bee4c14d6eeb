"""The methods section of a run, generated from its config, folds and predictions table.

Nothing here is typed by hand per run: every sentence is built from ``config.json``,
``folds.json`` and the predictions table, and an item the run cannot answer says so.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from fer_engine.analytics.inputs import EvalRun, known_or_unknown
from fer_engine.execution import ran_sentence

PROTOCOL_TEXT: dict[str, str] = {
    "loso": "Leave-one-subject-out: each person's images are scored by a model trained on the "
    "other people only; the out-of-fold predictions are pooled, so every image is scored once.",
    "group-kfold": "Grouped k-fold: participants are split into k folds; each fold is scored by a "
    "model trained on the other folds' people.",
    "holdout": "One participant-level split into training and test people, stratified by the "
    "demographic groups where possible.",
    "paper": "LEAKY reproduction of the first study's notebook: images are split at random, so the "
    "same people appear in training and test. Its accuracy measures recognition of people already "
    "seen, not of new people. Shown only as a contrast.",
    "official": "The dataset's own train/test split.",
}

COHORT_ATTRIBUTES: tuple[str, ...] = ("gender", "age_group", "country_group", "country")


def cohort_table(run: EvalRun) -> pd.DataFrame:
    """Participants and images per demographic value of the scored data: columns
    ``attribute, value, participants, images``; missing values show as ``unknown``."""
    t = run.predictions
    rows = []
    for attr in COHORT_ATTRIBUTES:
        if attr not in t.columns:
            continue
        values = known_or_unknown(t[attr])
        for value, sub in t.groupby(values.to_numpy()):
            rows.append(
                {
                    "attribute": attr,
                    "value": value,
                    "participants": int(sub["participant"].nunique()),
                    "images": len(sub),
                }
            )
    rows.append(
        {
            "attribute": "total",
            "value": "all",
            "participants": int(t["participant"].nunique()),
            "images": len(t),
        }
    )
    return pd.DataFrame(rows, columns=["attribute", "value", "participants", "images"])


def independence_check(run: EvalRun) -> dict[str, Any]:
    """Whether any participant is on both sides of a split, from ``folds.json``.

    Returns ``{"status": "passed"|"failed"|"not checked", "sentence": str, "folds": DataFrame
    (fold, n_train, n_val, n_test, overlap_declared, overlap_found, val_test_overlap),
    "rows_outside_test": int}``. ``overlap_found`` is recomputed from the participant lists
    rather than trusted; ``rows_outside_test`` counts prediction rows whose participant is
    not in the test list of their fold.
    """
    folds = run.folds
    if not folds:
        return {
            "status": "not checked",
            "folds": pd.DataFrame(),
            "rows_outside_test": 0,
            "sentence": "No folds.json: the split could not be checked for participant overlap.",
        }
    rows, test_of = [], {}
    for f in folds:
        train = {str(p) for p in f.get("train", [])}
        val = {str(p) for p in f.get("val", [])}
        test = {str(p) for p in f.get("test", [])}
        test_of[f.get("fold")] = test
        rows.append(
            {
                "fold": f.get("fold"),
                "n_train": len(train),
                "n_val": len(val),
                "n_test": len(test),
                "overlap_declared": len(f.get("overlap") or []),
                "overlap_found": len((train | val) & test),
                "val_test_overlap": len(val & test),
            }
        )
    table = pd.DataFrame(rows)
    outside = 0
    t = run.predictions
    if "fold" in t.columns:
        for fold, sub in t.groupby("fold"):
            key = (
                fold
                if fold in test_of
                else (int(fold) if str(fold).isdigit() and int(fold) in test_of else None)
            )
            test = test_of.get(key, set())
            outside += int((~sub["participant"].isin(test)).sum()) if key is not None else len(sub)
    found = int(table["overlap_found"].sum())
    if found == 0 and outside == 0:
        status = "passed"
        sentence = (
            f"Passed: in all {len(table)} fold(s) no participant is both in training (or "
            "validation) and in test, and every scored image belongs to a test participant of its "
            "fold."
        )
    else:
        status = "failed"
        parts = []
        if found:
            parts.append(
                f"{found} participant placement(s) appear on both the training and test side of a "
                "fold"
            )
        if outside:
            parts.append(
                f"{outside} scored image(s) belong to people not listed as test in their fold"
            )
        sentence = "Failed: " + "; ".join(parts) + ". The accuracy is not that of unseen people."
    return {"status": status, "sentence": sentence, "folds": table, "rows_outside_test": outside}


def setting_text(value: Any) -> str:
    """A recorded setting as the methods and the checklist write it: ``name: value`` pairs
    (underscores as spaces) joined by semicolons, lists joined by commas, ``none`` for an
    empty one, ``not recorded`` for a missing one."""
    if isinstance(value, dict):
        return "; ".join(f"{str(k).replace('_', ' ')}: {setting_text(v)}"
                         for k, v in value.items()) if value else "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(setting_text(v) for v in value) if value else "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "not recorded" if value is None or value == "" else str(value)


#: How a face was found for an image (``preprocess.status_counts`` of config.json).
_STATUS_WORDS = {"face": "with a face found", "centre": "with no face found (centre square used)",
                 "none": "with no face found (left out)", "error": "that could not be read"}


def preprocess_text(pre: Any) -> str:
    """The ``preprocess`` section of config.json in one sentence: detector, margin,
    alignment, what happens without a face, and how many images had one."""
    if not isinstance(pre, dict) or not pre:
        return "not recorded"
    if pre.get("detect") is False:
        text = "whole images, no face detection"
    else:
        text = (f"faces found by {pre.get('detector') or 'the default detector'}, cut with a "
                f"margin of {setting_text(pre.get('margin'))} of the face's size"
                + (", eyes levelled" if pre.get("align") else ", not rotated"))
        if pre.get("fallback") == "centre":
            text += "; where no face is found, the image's centre square"
    counts = pre.get("status_counts")
    if isinstance(counts, dict) and counts:
        total = sum(int(v) for v in counts.values())
        text += f" ({total} images: " + ", ".join(
            f"{int(v)} {_STATUS_WORDS.get(k, k)}" for k, v in counts.items()) + ")"
    return text


def epochs_text(training: dict) -> str:
    """``"30 epochs"``, or that the model is fitted in one step when no epochs are recorded
    for a run that trained (the transfer model's head, the HOG + SVM baseline)."""
    if training.get("trained") is False:
        return "no training"
    epochs = training.get("epochs")
    if epochs in (None, ""):
        return "fitted in one step (no epochs)"
    return f"at most {epochs} epochs"


def methods_section(run: EvalRun) -> dict[str, Any]:
    """Methods of a run as data: ``dataset``, ``cohort`` (DataFrame), ``protocol``,
    ``independence``, ``model``, ``preprocess``, ``augmentation``, ``training``, ``seed``,
    ``versions`` and ``paragraphs`` (the same in plain sentences)."""
    cfg = run.config
    dataset = dict(cfg.get("dataset") or {})
    model = dict(cfg.get("model") or {})
    training = dict(cfg.get("training") or {})
    protocol = run.protocol
    augmentation = training.get("augmentation")
    cohort = cohort_table(run)
    independence = independence_check(run)
    t = run.predictions
    params = {
        k: v for k, v in protocol.items()
        if k not in ("name", "leaky", "participant_independent", "validation", "notes")
    }
    paragraphs = []
    data_name = dataset.get("name") or "an unnamed dataset"
    synth = (
        " It is SYNTHETIC demo data (procedurally drawn faces), not photographs of people."
        if run.synthetic
        else ""
    )
    paragraphs.append(
        f"Data: {data_name} ({dataset.get('layout', 'layout not recorded')}), "
        f"{dataset.get('n_images', 'unknown number of')} images of "
        f"{dataset.get('n_participants', 'an unknown number of')} participants; this run scored "
        f"{len(t)} images of {t['participant'].nunique()} participants. Classes: "
        f"{', '.join(run.labels)}. Fingerprint: {setting_text(dataset.get('fingerprint'))}.{synth}"
    )
    paragraphs.append(
        f"Protocol: {run.protocol_name}. "
        + PROTOCOL_TEXT.get(run.protocol_name, "")
        + (f" Parameters: {setting_text(params)}." if params else "")
        + f" Participant independence check: {independence['sentence']}"
    )
    paragraphs.append(
        f"Model: {model.get('name', 'not recorded')} "
        f"(weights: {setting_text(model.get('weights'))}; "
        f"input: {setting_text(model.get('input_spec'))}). "
        f"Pre-processing: {preprocess_text(cfg.get('preprocess'))}."
    )
    if training.get("trained") is False:
        paragraphs.append(
            f"Training: none. {training.get('note') or 'The model scores every image as it is.'}"
        )
    else:
        fitted = [f"optimizer {setting_text(training.get('optimizer'))}",
                  f"loss {setting_text(training.get('loss'))}", epochs_text(training)]
        for key, name in (("batch_size", "batch size"), ("learning_rate", "learning rate"),
                          ("class_weight", "class weights"), ("early_stopping", "early stopping"),
                          ("reduce_lr", "learning-rate reduction")):
            if training.get(key) not in (None, ""):
                fitted.append(f"{name} {setting_text(training.get(key))}")
        paragraphs.append(
            "Training: " + ", ".join(fitted) + ". "
            f"Validation: {setting_text(training.get('validation'))}. "
            f"Augmentation (training images only): {setting_text(augmentation)}. "
            f"Seed: {setting_text(cfg.get('seed'))}."
            + (f" {ran_sentence(cfg.get('execution'))}" if cfg.get("execution") else "")
        )
    paragraphs.append(f"Software: {setting_text(cfg.get('versions'))}.")
    return {
        "dataset": dataset,
        "cohort": cohort,
        "protocol": {
            "name": run.protocol_name,
            "leaky": run.leaky,
            "participant_independent": protocol.get("participant_independent"),
            "description": PROTOCOL_TEXT.get(run.protocol_name, ""),
            "params": params,
        },
        "independence": independence,
        "model": model,
        "preprocess": cfg.get("preprocess"),
        "augmentation": augmentation,
        "training": training,
        "seed": cfg.get("seed"),
        "versions": cfg.get("versions"),
        "paragraphs": paragraphs,
    }
