"""Identity-shortcut probe: does the model's representation encode *who* rather than *what*?

Given penultimate-layer features per image (``model.features(X)``: shape (N, D)), a
linear probe (standardise + logistic regression) is trained to predict the participant,
grouped so that it is trained on some emotions and tested on the other emotions of the
same people (leave-one-emotion-out). High identity accuracy on emotions the probe never
saw means identity is linearly decodable from the features independently of expression.

The same features are also probed for emotion with participants held out
(:class:`~sklearn.model_selection.GroupKFold` over participants), and the model's own
emotion accuracy can be passed in. When identity is easy to decode while emotion is near
chance, the features look like an identity shortcut: the flag is raised with a plain
sentence.

Thresholds (parameters of :func:`identity_probe`): identity is "easy" when probe accuracy
is at least ``identity_min`` (0.5) and the lower end of its Wilson 95 % interval is at
least ``identity_factor`` (2) times chance (1 / number of participants); emotion is "near
chance" when its accuracy is below ``emotion_factor`` (2) times chance (1 / number of
emotions present).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from fer_engine.analytics.stats import CONFIDENCE, wilson_interval
from fer_engine.preprocess.crop import DEFAULT_MARGIN


@dataclass
class IdentityProbe:
    """Result of :func:`identity_probe`. Accuracies in [0, 1] with Wilson 95 % intervals.

    ``per_emotion``: one row per held-out emotion: ``held_out, n_images, identity_accuracy``.
    ``emotion_source``: ``"model"`` when the model's own accuracy was given (it is then the
    one ``emotion_accuracy`` holds and the flag uses), else ``"probe"``.
    """

    n_images: int
    n_participants: int
    n_features: int
    identity_accuracy: float
    identity_low: float
    identity_high: float
    identity_chance: float
    emotion_probe_accuracy: float
    emotion_accuracy: float
    emotion_low: float
    emotion_high: float
    emotion_chance: float
    emotion_source: str
    identity_easy: bool
    emotion_near_chance: bool
    flag: bool
    sentence: str
    per_emotion: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _probe() -> object:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))


def identity_probe(
    features,
    participant,
    emotion,
    model_accuracy: float | None = None,
    identity_min: float = 0.5,
    identity_factor: float = 2.0,
    emotion_factor: float = 2.0,
    confidence: float = CONFIDENCE,
) -> IdentityProbe:
    """Probe ``features`` (N, D) float for identity (leave-one-emotion-out) and emotion
    (participants held out). ``participant`` and ``emotion``: length-N labels.
    ``model_accuracy``: the model's own pooled emotion accuracy on the same N images, if known.
    """
    from sklearn.model_selection import GroupKFold

    x = np.asarray(features, dtype=float)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError("features must be a non-empty (N, D) array")
    who = np.asarray(participant).astype(str)
    what = np.asarray(emotion).astype(str)
    if who.shape[0] != x.shape[0] or what.shape[0] != x.shape[0]:
        raise ValueError("features, participant and emotion must have the same length N")
    n = x.shape[0]
    people = np.unique(who)
    kinds = np.unique(what)
    notes: list[str] = []
    if people.size < 2 or kinds.size < 2:
        raise ValueError("the probe needs at least two participants and two emotions")

    identity_pred = np.empty(n, dtype=object)
    rows = []
    # Tiny problems: one BLAS thread is faster than two fighting over a busy CPU.
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")  # convergence chatter on tiny data
        for held in kinds:
            test = what == held
            train = ~test
            if np.unique(who[train]).size < 2:
                identity_pred[test] = ""
                continue
            clf = _probe().fit(x[train], who[train])
            identity_pred[test] = clf.predict(x[test])
            rows.append(
                {
                    "held_out": held,
                    "n_images": int(test.sum()),
                    "identity_accuracy": float((identity_pred[test] == who[test]).mean()),
                }
            )
        emotion_pred = np.empty(n, dtype=object)
        for train, test in GroupKFold(n_splits=min(5, people.size)).split(x, what, who):
            if np.unique(what[train]).size < 2:
                emotion_pred[test] = ""
                continue
            emotion_pred[test] = _probe().fit(x[train], what[train]).predict(x[test])

    id_hits = int((identity_pred == who).sum())
    id_low, id_high = wilson_interval(id_hits, n, confidence)
    emo_probe = float((emotion_pred == what).mean())
    if model_accuracy is not None:
        emo_acc, source = float(model_accuracy), "model"
        emo_hits = round(emo_acc * n)
    else:
        emo_acc, source = emo_probe, "probe"
        emo_hits = int((emotion_pred == what).sum())
    emo_low, emo_high = wilson_interval(emo_hits, n, confidence)
    id_chance = 1.0 / people.size
    emo_chance = 1.0 / kinds.size
    id_acc = id_hits / n
    identity_easy = id_acc >= identity_min and id_low >= identity_factor * id_chance
    near_chance = emo_acc < emotion_factor * emo_chance
    flag = bool(identity_easy and near_chance)
    what_emotion = (
        "the model's emotion accuracy" if source == "model" else "a probe for emotion on new people"
    )
    if flag:
        sentence = (
            f"Warning: the features tell who the person is ({id_acc:.0%} of images on emotions the "
            f"probe never saw; chance {id_chance:.0%}) far better than what they feel "
            f"({what_emotion}: {emo_acc:.0%}; chance {emo_chance:.0%}). The model may be "
            "recognising people rather than expressions."
        )
    else:
        sentence = (
            f"Identity is decoded from the features on {id_acc:.0%} of images (chance "
            f"{id_chance:.0%}); {what_emotion}: {emo_acc:.0%} (chance {emo_chance:.0%}). "
            + (
                "Identity is easy to decode, but emotion is well above chance, so no shortcut flag."
                if identity_easy
                else "Identity is not easy to decode from these features."
            )
        )
    return IdentityProbe(
        n_images=n,
        n_participants=int(people.size),
        n_features=int(x.shape[1]),
        identity_accuracy=id_acc,
        identity_low=id_low,
        identity_high=id_high,
        identity_chance=id_chance,
        emotion_probe_accuracy=emo_probe,
        emotion_accuracy=emo_acc,
        emotion_low=emo_low,
        emotion_high=emo_high,
        emotion_chance=emo_chance,
        emotion_source=source,
        identity_easy=bool(identity_easy),
        emotion_near_chance=bool(near_chance),
        flag=flag,
        sentence=sentence,
        per_emotion=pd.DataFrame(rows, columns=["held_out", "n_images", "identity_accuracy"]),
        notes=notes,
    )


def run_features(run, dataset=None, batch_size: int = 256) -> tuple[np.ndarray, list[str]]:
    """Penultimate features for every row of a run's ``predictions.csv``, in row order.

    Each row's features come from the fold model that scored it (``models/fold_<k>``),
    so under a participant-independent protocol that model never saw the person. The
    images are re-read from the run's dataset (``config.dataset.root``, or ``dataset``:
    a :class:`fer_engine.data.Dataset` or folder) and pre-processed with the run's
    settings (cached by :func:`fer_engine.preprocess.prepare_dataset`).

    Returns ``(features, notes)``: float32 (N, D) and plain sentences (e.g. the dataset
    changed since the run, or augmented copies were featurised from their original image).
    Raises :class:`fer_engine.errors.ModelError` when the run has no models or its images
    cannot be found. Imports TensorFlow for Keras models.
    """
    from fer_engine.analytics.inputs import as_eval_run, run_dataset_rows
    from fer_engine.errors import ModelError
    from fer_engine.models import load_model
    from fer_engine.preprocess import prepare_dataset

    run = as_eval_run(run)
    if run.path is None or not (Path(run.path) / "models").is_dir():
        raise ModelError(
            f"Run {run.run_id} has no saved models, so its features cannot be computed."
        )
    table = run.predictions
    paths = table["path"] if "path" in table.columns else table["sample_id"]
    originals = paths.astype(str).str.replace(r"#aug\d+$", "", regex=True)
    dataset, rows, notes = run_dataset_rows(run, originals, dataset)
    if (originals != paths.astype(str)).any():
        notes.append("Augmented copies were featurised from their original image.")
    pre = run.config.get("preprocess") or {}
    folds = table["fold"].to_numpy() if "fold" in table.columns else np.zeros(len(table), int)
    out: np.ndarray | None = None
    prepared = None
    for fold in pd.unique(folds):
        model = load_model(run.path, fold=int(fold))
        if prepared is None:
            prepared = prepare_dataset(
                dataset,
                model.input_spec,
                detect=bool(pre.get("detect", True)),
                margin=float(pre.get("margin", DEFAULT_MARGIN)),
                fallback=str(pre.get("fallback", "centre")),
            )
        idx = np.flatnonzero(folds == fold)
        feats = np.asarray(model.features(prepared.X[rows[idx]], batch_size=batch_size))
        if out is None:
            out = np.zeros((len(table), feats.shape[1]), dtype=np.float32)
        out[idx] = feats
    return out, notes
