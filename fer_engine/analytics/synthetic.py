"""Synthetic predictions tables and run folders in the documented run format.

For tests, benchmarks and demos of the analytics before (or without) a trained run: the
predictions are drawn at random with a chosen accuracy, NOT produced by a model. The
participants are the 19 of the first study's metadata (gender, age, country) unless
given; every participant has one image per emotion, as in the tapakah68 dataset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fer_engine import emotions
from fer_engine.experiments.runs import RunWriter

_METADATA = Path(__file__).resolve().parents[1] / "data" / "default_metadata.csv"
_AGE_CUT = 31


def default_participants() -> pd.DataFrame:
    """The 19 participants (``participant, gender, age, country, country_group, age_group``)."""
    if _METADATA.is_file():
        meta = pd.read_csv(_METADATA, sep=None, engine="python")
    else:  # the same 19 rows, should the data package move the file
        meta = pd.DataFrame(
            {
                "set_id": range(19),
                "gender": [
                    "FEMALE",
                    "FEMALE",
                    "FEMALE",
                    "MALE",
                    "FEMALE",
                    "MALE",
                    "FEMALE",
                    "MALE",
                    "FEMALE",
                    "FEMALE",
                    "MALE",
                    "FEMALE",
                    "FEMALE",
                    "FEMALE",
                    "FEMALE",
                    "FEMALE",
                    "FEMALE",
                    "FEMALE",
                    "MALE",
                ],
                "age": [36, 37, 36, 29, 43, 49, 38, 19, 29, 32, 33, 15, 34, 43, 20, 18, 37, 24, 19],
                "country": ["RU"] * 7 + ["PH", "RU", "RU", "IN"] + ["RU"] * 8,
            }
        )
    meta.columns = [c.strip().lower() for c in meta.columns]
    out = pd.DataFrame(
        {
            "participant": meta["set_id"].astype(str),
            "gender": meta["gender"].astype(str).str.strip().str.lower(),
            "age": meta["age"].astype(float),
            "country": meta["country"].astype(str).str.strip().str.upper(),
        }
    )
    out["country_group"] = np.where(out["country"] == "RU", "RU", "Other")
    out["age_group"] = np.where(out["age"] < _AGE_CUT, "under_31", "31_plus")
    return out


def synthetic_predictions(
    accuracy: float = 0.45,
    seed: int = 0,
    labels=emotions.EMOTIONS,
    participants: pd.DataFrame | None = None,
    confidence: float = 3.0,
    participant_spread: float = 0.15,
) -> pd.DataFrame:
    """A predictions table in the run format, one row per participant x emotion.

    Each participant gets their own hit rate around ``accuracy`` (logit-normal spread
    ``participant_spread``), so participants differ as real ones do; a miss picks another
    class at random. Probabilities: a Dirichlet draw with extra mass ``confidence`` on the
    predicted class. Folds are one per participant (``loso``-like).
    """
    rng = np.random.default_rng(seed)
    labels = list(labels)
    people = default_participants() if participants is None else participants.reset_index(drop=True)
    base = np.log(accuracy / (1 - accuracy))
    rows = []
    for i, person in people.iterrows():
        p_hit = 1 / (1 + np.exp(-(base + rng.normal(0, participant_spread * 4))))
        for label in labels:
            hit = rng.random() < p_hit
            pred = (
                label
                if hit
                else labels[(labels.index(label) + rng.integers(1, len(labels))) % len(labels)]
            )
            probs = rng.dirichlet(np.ones(len(labels)))
            probs[labels.index(pred)] += confidence
            probs /= probs.sum()
            sid = f"images/{person['participant']}/{label.capitalize()}.jpg"
            row = {
                "sample_id": sid,
                "path": sid,
                **person.to_dict(),
                "fold": int(i),
                "true": label,
                "pred": pred,
            }
            row.update({emotions.prob_column(lbl): float(p) for lbl, p in zip(labels, probs)})
            rows.append(row)
    return pd.DataFrame(rows)


def synthetic_config(
    model: str = "cnn",
    protocol: str = "loso",
    labels=emotions.EMOTIONS,
    run_id: str = "synthetic-run",
    leaky: bool | None = None,
) -> dict:
    """A ``config.json`` dict in the documented format, marked synthetic."""
    leaky = protocol == "paper" if leaky is None else leaky
    return {
        "run_id": run_id,
        "created": "2026-01-01T00:00:00",
        "labels": list(labels),
        "model": {
            "name": model,
            "weights": "none",
            "input_spec": {"size": 48, "channels": 1, "normalisation": "unit"},
        },
        "protocol": {"name": protocol, "leaky": leaky, "participant_independent": not leaky},
        "dataset": {
            "root": "synthetic",
            "name": "synthetic demo (predictions drawn at random)",
            "layout": "tapakah68",
            "synthetic": True,
            "participants_known": True,
            "fingerprint": "synthetic",
            "n_images": 152,
            "n_participants": 19,
            "labels": list(labels),
        },
        "training": {
            "epochs": 30,
            "batch_size": 32,
            "learning_rate": 0.001,
            "optimizer": "adam",
            "loss": "categorical_crossentropy",
            "augmentation": {"rotation": 0.05, "shift": 0.1, "zoom": 0.1, "flip": True},
            "class_weight": False,
            "early_stopping": {"monitor": "val_loss", "patience": 6},
            "reduce_lr": {"monitor": "val_loss", "factor": 0.5},
            "validation": "15% of each fold's training participants",
        },
        "preprocess": {"detect": True, "margin": 0.2, "fallback": "centre"},
        "seed": 0,
        "versions": {"fer_engine": "synthetic"},
        "status": "complete",
    }


def loso_folds(predictions: pd.DataFrame) -> list[dict]:
    """``folds.json`` content: one fold per participant (test) with everyone else training."""
    people = sorted(predictions["participant"].astype(str).unique(), key=lambda p: (len(p), p))
    fold_of = predictions.groupby(predictions["participant"].astype(str))["fold"].first()
    out = []
    for person in people:
        others = [p for p in people if p != person]
        out.append(
            {
                "fold": int(fold_of[person]),
                "train": others,
                "val": [],
                "test": [person],
                "overlap": [],
            }
        )
    return sorted(out, key=lambda f: f["fold"])


def write_run_folder(
    dest,
    predictions: pd.DataFrame,
    config: dict,
    folds: list | None = None,
    history: pd.DataFrame | None = None,
) -> Path:
    """Write the run folder ``dest`` through :class:`fer_engine.experiments.runs.RunWriter`,
    as every run is written: ``config.json``, ``predictions.csv``, ``folds.json`` and
    ``history.csv`` (when given) and a minimal ``metrics.json`` (accuracy, n_samples,
    n_participants), built beside it and renamed into place; no ``models/`` (nothing was
    trained). Returns ``dest``; :class:`FileExistsError` if it exists already."""
    dest = Path(dest)
    correct = predictions["true"] == predictions["pred"]
    metrics = {
        "accuracy": float(correct.mean()),
        "n_samples": len(predictions),
        "n_participants": int(predictions["participant"].nunique()),
    }
    with RunWriter(dest.name, dest.parent, models=False) as writer:
        writer.write_json("config.json", config)
        writer.write_csv("predictions.csv", predictions)
        if folds is not None:
            writer.write_json("folds.json", folds)
        if history is not None:
            writer.write_csv("history.csv", history)
        writer.write_json("metrics.json", metrics)
        return writer.commit()
