"""Overall and per-class metrics, PPV, per-participant accuracy and calibration, all
computed from a run's predictions table (see :mod:`fer_engine.analytics.inputs`).

Conventions (one rule, applied everywhere):

- Per class, a ratio whose denominator is zero is **undefined**: it is reported as NaN
  with a ``*_defined`` flag set to False, never silently as 0. Precision (PPV) of a class
  the model never predicted, recall of a class with no true samples, specificity when
  every sample is of that class.
- F1, Dice and Jaccard are computed from counts: F1 = Dice = 2TP / (2TP + FP + FN),
  Jaccard = TP / (TP + FP + FN). They are defined whenever the class occurs in the truth
  or the predictions (a class never predicted but present gets F1 = 0, not NaN). Dice is
  the same number as F1 for a single class; both are reported because the second study's
  table lists both.
- Macro averages run over the classes present in the truth (support > 0). Within them an
  undefined precision counts as 0 (scikit-learn's ``zero_division=0``), so a model that
  never predicts fear is not rewarded by dropping fear from the average. Balanced accuracy
  is the macro recall.
- Intervals are 95 % Wilson score intervals on the image counts (these treat images as
  independent, which they are not: images of one person are correlated). The accuracy
  also gets a participant-level (cluster) bootstrap interval, which respects that.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fer_engine import emotions
from fer_engine.analytics.inputs import (
    PredictionsError,
    demographic_columns,
    has_probabilities,
    known_or_unknown,
    prob_columns,
)
from fer_engine.analytics.stats import (
    CONFIDENCE,
    bootstrap_weights,
    cluster_bootstrap_accuracy,
    percentile_interval,
    ratio,
    wilson_interval,
)

#: Default number of bootstrap resamples (participants drawn with replacement).
N_BOOT: int = 1000


# -- counts ------------------------------------------------------------------------------
def label_codes(values, labels) -> np.ndarray:
    """Index of each value in ``labels`` (values must all be among ``labels``)."""
    codes = pd.Categorical(np.asarray(values, dtype=object), categories=list(labels)).codes
    if (codes < 0).any():
        raise PredictionsError("Some labels are not among the run's classes.")
    return codes.astype(np.int64)


def confusion_array(table: pd.DataFrame, labels) -> np.ndarray:
    """(K, K) int counts, rows = true class, columns = predicted class, in ``labels`` order."""
    k = len(labels)
    out = np.zeros((k, k), dtype=np.int64)
    np.add.at(out, (label_codes(table["true"], labels), label_codes(table["pred"], labels)), 1)
    return out


def participant_confusion(table: pd.DataFrame, labels) -> tuple[np.ndarray, np.ndarray]:
    """Per-participant confusion counts.

    Returns ``(participants, tensor)``: participant ids (P,) sorted, and an int tensor
    (P, K, K) of confusion counts per participant. Everything a participant-level bootstrap
    needs: a resample's confusion matrix is ``weights @ tensor``.
    """
    participants, p_idx = np.unique(table["participant"].to_numpy(dtype=str), return_inverse=True)
    k = len(labels)
    out = np.zeros((participants.size, k, k), dtype=np.int64)
    np.add.at(
        out, (p_idx, label_codes(table["true"], labels), label_codes(table["pred"], labels)), 1
    )
    return participants, out


def class_counts(conf: np.ndarray) -> dict[str, np.ndarray]:
    """TP, FP, FN, TN, support and predicted count per class from confusion counts of
    shape (..., K, K). Each value has shape (..., K)."""
    conf = np.asarray(conf)
    tp = np.diagonal(conf, axis1=-2, axis2=-1)
    support = conf.sum(axis=-1)
    predicted = conf.sum(axis=-2)
    total = conf.sum(axis=(-2, -1))[..., None]
    fp = predicted - tp
    fn = support - tp
    tn = total - tp - fp - fn
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "support": support, "predicted": predicted}


def macro_f1_from_confusion(conf: np.ndarray) -> np.ndarray:
    """Macro-F1 over the classes present in the truth, from counts (..., K, K) -> (...)."""
    c = class_counts(conf)
    f1 = ratio(2 * c["tp"], 2 * c["tp"] + c["fp"] + c["fn"])
    present = c["support"] > 0
    n_present = present.sum(axis=-1)
    total = np.where(present, np.nan_to_num(f1), 0.0).sum(axis=-1)
    return ratio(total, n_present)


def accuracy_from_confusion(conf: np.ndarray) -> np.ndarray:
    conf = np.asarray(conf)
    return ratio(np.trace(conf, axis1=-2, axis2=-1), conf.sum(axis=(-2, -1)))


def macro_f1(y_true, y_pred, labels) -> float:
    """Macro-F1 of label arrays (the same convention as :func:`per_class_metrics`)."""
    table = pd.DataFrame({"true": np.asarray(y_true), "pred": np.asarray(y_pred)})
    return float(macro_f1_from_confusion(confusion_array(table, labels)))


# -- confusion matrix --------------------------------------------------------------------
def confusion_counts(table: pd.DataFrame, labels) -> pd.DataFrame:
    """Confusion counts as a DataFrame: index ``true`` label, columns ``pred`` label."""
    conf = confusion_array(table, labels)
    return pd.DataFrame(
        conf, index=pd.Index(labels, name="true"), columns=pd.Index(labels, name="pred")
    )


def confusion_normalised(table: pd.DataFrame, labels) -> pd.DataFrame:
    """Row-normalised confusion matrix: each row sums to 1 (share of that true class given
    each prediction). A class with no true samples has a row of NaN (nothing to share out),
    by design and without a warning; its row in :func:`confusion_counts` is all zeros."""
    counts = confusion_counts(table, labels)
    rows = counts.sum(axis=1).to_numpy()[:, None]
    values = ratio(counts.to_numpy(), np.broadcast_to(rows, counts.shape))
    return pd.DataFrame(values, index=counts.index, columns=counts.columns)


def confusion_long(table: pd.DataFrame, labels) -> pd.DataFrame:
    """Tidy confusion matrix: one row per (true, pred) pair with ``count`` and
    ``row_fraction`` (NaN for a true class with no samples)."""
    counts = confusion_counts(table, labels).stack().rename("count")
    norm = confusion_normalised(table, labels).stack(future_stack=True).rename("row_fraction")
    return pd.concat([counts, norm], axis=1).reset_index()


# -- per class ---------------------------------------------------------------------------
def per_class_metrics(table: pd.DataFrame, labels, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """One row per class (``labels`` order) with counts, metrics and Wilson intervals.

    Columns: ``label, support, predicted, tp, fp, fn, tn, precision, precision_low,
    precision_high, precision_defined, recall, recall_low, recall_high, recall_defined,
    specificity, specificity_low, specificity_high, specificity_defined, f1, dice, jaccard,
    prevalence``. Precision is the PPV; recall is the sensitivity; all in [0, 1];
    ``prevalence`` is the class's share of the samples. See the module doc for undefined
    values.
    """
    c = class_counts(confusion_array(table, labels))
    n = len(table)
    frame = pd.DataFrame({"label": list(labels)})
    for key in ("support", "predicted", "tp", "fp", "fn", "tn"):
        frame[key] = c[key].astype(int)
    for name, num, den in (
        ("precision", c["tp"], c["predicted"]),
        ("recall", c["tp"], c["support"]),
        ("specificity", c["tn"], c["tn"] + c["fp"]),
    ):
        frame[name] = ratio(num, den)
        low, high = wilson_interval(num, den, confidence)
        frame[f"{name}_low"] = low
        frame[f"{name}_high"] = high
        frame[f"{name}_defined"] = den > 0
    frame["f1"] = ratio(2 * c["tp"], 2 * c["tp"] + c["fp"] + c["fn"])
    frame["dice"] = frame["f1"]  # identical per class, reported as the second study does
    frame["jaccard"] = ratio(c["tp"], c["tp"] + c["fp"] + c["fn"])
    frame["prevalence"] = ratio(c["support"], n)
    return frame


@dataclass
class OverallMetrics:
    """Pooled metrics of one predictions table. Proportions in [0, 1].

    ``accuracy_low/high``: Wilson 95 % on images; ``accuracy_boot_low/high``: 95 %
    percentile interval of a participant-level bootstrap (``n_boot`` resamples, ``seed``).
    Macro averages: see the module doc. ``absent_labels``: classes with no true sample
    (left out of macro averages); ``never_predicted``: classes with true samples that
    the model never predicted (precision undefined, counted as 0 in macro precision).
    """

    labels: list[str]
    n_samples: int
    n_participants: int
    n_correct: int
    accuracy: float
    accuracy_low: float
    accuracy_high: float
    accuracy_boot_low: float
    accuracy_boot_high: float
    balanced_accuracy: float
    macro_precision: float
    macro_recall: float
    macro_specificity: float
    macro_f1: float
    macro_dice: float
    macro_jaccard: float
    chance_accuracy: float
    majority_accuracy: float
    n_boot: int
    seed: int
    absent_labels: list[str] = field(default_factory=list)
    never_predicted: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def overall_metrics(
    table: pd.DataFrame,
    labels,
    n_boot: int = N_BOOT,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> OverallMetrics:
    """Pooled accuracy, balanced accuracy and macro metrics with intervals.

    ``chance_accuracy`` is 1 / (number of classes present in the truth);
    ``majority_accuracy`` the accuracy of always answering the most frequent true class.
    """
    labels = list(labels)
    per = per_class_metrics(table, labels, confidence)
    present = per["support"] > 0
    n = len(table)
    n_correct = int(table["correct"].sum())
    low, high = wilson_interval(n_correct, n, confidence)
    pc = table.groupby("participant")["correct"].agg(["sum", "size"])
    rng = np.random.default_rng(seed)
    b_low, b_high, _ = cluster_bootstrap_accuracy(
        pc["sum"].to_numpy(), pc["size"].to_numpy(), n_boot, rng, confidence
    )

    def macro(col: str, undefined_as_zero: bool = False) -> float:
        values = per.loc[present, col]
        if undefined_as_zero:
            values = values.fillna(0.0)
        return float(values.mean()) if len(values) else float("nan")

    absent = per.loc[~present, "label"].tolist()
    never = per.loc[present & (per["predicted"] == 0), "label"].tolist()
    notes = []
    for label in never:
        notes.append(
            f"The model never predicted {label}: its precision (PPV) is undefined (shown as NaN, "
            "counted as 0 in the macro average)."
        )
    if absent:
        notes.append("No true samples of " + ", ".join(absent) + ": left out of macro averages.")
    return OverallMetrics(
        labels=labels,
        n_samples=n,
        n_participants=int(table["participant"].nunique()),
        n_correct=n_correct,
        accuracy=n_correct / n,
        accuracy_low=low,
        accuracy_high=high,
        accuracy_boot_low=b_low,
        accuracy_boot_high=b_high,
        balanced_accuracy=macro("recall"),
        macro_precision=macro("precision", undefined_as_zero=True),
        macro_recall=macro("recall"),
        macro_specificity=macro("specificity"),
        macro_f1=macro("f1"),
        macro_dice=macro("dice"),
        macro_jaccard=macro("jaccard"),
        chance_accuracy=1.0 / max(int(present.sum()), 1),
        majority_accuracy=float(per["support"].max()) / n,
        n_boot=int(n_boot),
        seed=int(seed),
        absent_labels=absent,
        never_predicted=never,
        notes=notes,
    )


# -- PPV ---------------------------------------------------------------------------------
def ppv_table(table: pd.DataFrame, labels, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """PPV (precision) per emotion with Wilson intervals, as the first study reports it.

    Columns: ``label, ppv, ppv_low, ppv_high, tp, predicted, defined, prevalence`` where
    ``prevalence`` is the class's share in this data (the base rate the PPV belongs to).
    A class never predicted has ``ppv`` NaN and ``defined`` False.
    """
    per = per_class_metrics(table, labels, confidence)
    return per.rename(
        columns={
            "precision": "ppv",
            "precision_low": "ppv_low",
            "precision_high": "ppv_high",
            "precision_defined": "defined",
        }
    )[["label", "ppv", "ppv_low", "ppv_high", "tp", "predicted", "defined", "prevalence"]]


def ppv_from_rates(sensitivity, specificity, prevalence):
    """Bayes: PPV = sens * prev / (sens * prev + (1 - spec) * (1 - prev)).

    Arrays broadcast; NaN where the denominator is 0 (a model that never says yes)."""
    sens = np.asarray(sensitivity, dtype=float)
    spec = np.asarray(specificity, dtype=float)
    prev = np.asarray(prevalence, dtype=float)
    return ratio(sens * prev, sens * prev + (1.0 - spec) * (1.0 - prev))


def npv_from_rates(sensitivity, specificity, prevalence):
    """Bayes: NPV = spec * (1 - prev) / (spec * (1 - prev) + (1 - sens) * prev)."""
    sens = np.asarray(sensitivity, dtype=float)
    spec = np.asarray(specificity, dtype=float)
    prev = np.asarray(prevalence, dtype=float)
    return ratio(spec * (1.0 - prev), spec * (1.0 - prev) + (1.0 - sens) * prev)


def parse_prevalence(items) -> dict[str, float]:
    """``["fear=0.05", "anger=0.1"]`` (or a mapping) -> ``{"fear": 0.05, "anger": 0.1}``.

    Raises ``ValueError`` with a plain message for a malformed item or a value outside (0, 1).
    """
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items or []:
            if "=" not in str(item):
                raise ValueError(f"'{item}' is not of the form emotion=prevalence, e.g. fear=0.05.")
            name, value = str(item).split("=", 1)
            pairs.append((name, value))
    out: dict[str, float] = {}
    for name, value in pairs:
        label = emotions.normalise(name)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"The prevalence of {label} must be a number, not '{value}'."
            ) from None
        if not 0.0 < number < 1.0:
            raise ValueError(
                f"The prevalence of {label} must lie strictly between 0 and 1, not {number}."
            )
        out[label] = number
    return out


def ppv_at_prevalence(
    table: pd.DataFrame,
    labels,
    prevalence: Mapping[str, float],
    n_boot: int = N_BOOT,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """PPV (and NPV) each emotion would have at a clinic's base rate instead of the data's.

    ``prevalence``: {label: base rate in (0, 1)}. Sensitivity and specificity come from the
    predictions (one class against the rest), then Bayes' rule gives the PPV. Two 95 %
    intervals are reported:

    - ``ppv_low/ppv_high`` (primary): participant-level bootstrap. Participants are drawn
      with replacement ``n_boot`` times (``seed``), sensitivity and specificity recomputed,
      Bayes applied per resample, percentile interval. Resamples where the PPV is undefined
      (e.g. no true sample of the class drawn) are dropped; ``n_boot_valid`` counts the rest.
    - ``ppv_bounds_low/high``: Bayes applied to the Wilson bounds of sensitivity and
      specificity (PPV increases in both), a simple cross-check that ignores clustering.

    Columns: ``label, prevalence, data_prevalence, sensitivity, specificity, ppv, ppv_low,
    ppv_high, ppv_bounds_low, ppv_bounds_high, npv, n_boot_valid, note`` (``note``: a
    sentence when a zero count, e.g. no false positive, makes the bootstrap interval
    collapse to a point).
    """
    labels = list(labels)
    unknown = [lbl for lbl in prevalence if lbl not in labels]
    if unknown:
        raise PredictionsError(
            f"No such class in this run: {', '.join(unknown)} (classes: {', '.join(labels)})."
        )
    per = per_class_metrics(table, labels, confidence).set_index("label")
    _, tensor = participant_confusion(table, labels)
    rng = np.random.default_rng(seed)
    weights = bootstrap_weights(tensor.shape[0], n_boot, rng)
    boot = class_counts(np.einsum("bp,pij->bij", weights, tensor))
    sens_b = ratio(boot["tp"], boot["tp"] + boot["fn"])
    spec_b = ratio(boot["tn"], boot["tn"] + boot["fp"])
    rows = []
    for label, prev in prevalence.items():
        k = labels.index(label)
        sens, spec = per.loc[label, "recall"], per.loc[label, "specificity"]
        samples = ppv_from_rates(sens_b[:, k], spec_b[:, k], prev)
        low, high = percentile_interval(samples, confidence)
        rows.append(
            {
                "label": label,
                "prevalence": float(prev),
                "data_prevalence": float(per.loc[label, "prevalence"]),
                "sensitivity": float(sens),
                "specificity": float(spec),
                "ppv": float(ppv_from_rates(sens, spec, prev)),
                "ppv_low": low,
                "ppv_high": high,
                "ppv_bounds_low": float(
                    ppv_from_rates(
                        per.loc[label, "recall_low"], per.loc[label, "specificity_low"], prev
                    )
                ),
                "ppv_bounds_high": float(
                    ppv_from_rates(
                        per.loc[label, "recall_high"], per.loc[label, "specificity_high"], prev
                    )
                ),
                "npv": float(npv_from_rates(sens, spec, prev)),
                "n_boot_valid": int(np.isfinite(samples).sum()),
                "note": _ppv_note(per.loc[label]),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "label",
            "prevalence",
            "data_prevalence",
            "sensitivity",
            "specificity",
            "ppv",
            "ppv_low",
            "ppv_high",
            "ppv_bounds_low",
            "ppv_bounds_high",
            "npv",
            "n_boot_valid",
            "note",
        ],
    )


def _ppv_note(row: pd.Series) -> str:
    """Plain warning when a zero count makes the bootstrap interval collapse."""
    if row["support"] == 0:
        return "No true samples of this class: sensitivity and PPV are undefined."
    if row["fp"] == 0:
        return (
            "No false alarms in this data, so every resample gives specificity 100%: the bootstrap "
            "interval is too narrow; read the Wilson-bounds interval."
        )
    if row["tp"] == 0:
        return "Never correctly detected in this data: the PPV is 0 at any prevalence."
    return ""


# -- per participant ---------------------------------------------------------------------
def per_participant_table(
    table: pd.DataFrame, labels=None, confidence: float = CONFIDENCE
) -> pd.DataFrame:
    """One row per participant: demographics (a missing value reads ``unknown``), ``folds``
    (comma-separated), ``n_images``, ``n_correct``, ``accuracy`` with Wilson
    ``accuracy_low/high``. Sorted by accuracy
    (lowest first), then participant. With one image per emotion per person the Wilson
    interval of a single person spans most of [0, 1]; that is the honest picture."""
    demo = demographic_columns(table)
    grouped = table.groupby("participant", sort=True)
    out = grouped[demo].first() if demo else pd.DataFrame(index=grouped.size().index)
    for c in demo:
        out[c] = known_or_unknown(out[c], text=False)
    if "fold" in table.columns:
        out["folds"] = grouped["fold"].agg(lambda s: ",".join(str(v) for v in sorted(pd.unique(s))))
    out["n_images"] = grouped.size()
    out["n_correct"] = grouped["correct"].sum().astype(int)
    out["accuracy"] = out["n_correct"] / out["n_images"]
    low, high = wilson_interval(out["n_correct"].to_numpy(), out["n_images"].to_numpy(), confidence)
    out["accuracy_low"], out["accuracy_high"] = low, high
    out = out.reset_index()
    return out.sort_values(["accuracy", "participant"], kind="stable").reset_index(drop=True)


# -- calibration -------------------------------------------------------------------------
@dataclass
class Calibration:
    """Expected calibration error and reliability-diagram data.

    Confidence = the probability the model gave to its predicted label. Equal-width bins
    on [0, 1] (bin i holds confidences in (i/n, (i+1)/n], the first bin also holds 0).
    ``ece`` = sum over bins of (count / n) * |accuracy - mean confidence|, in [0, 1];
    ``mce`` = the largest such gap over non-empty bins. ``bins`` columns: ``bin, lower,
    upper, count, mean_confidence, accuracy, gap`` (NaN confidence/accuracy in empty bins).
    """

    ece: float
    mce: float
    n: int
    n_bins: int
    bins: pd.DataFrame


def confidence_of_prediction(table: pd.DataFrame, labels) -> np.ndarray:
    """(N,) probability of the predicted label for each row."""
    probs = table[prob_columns(labels)].to_numpy(dtype=float)
    return probs[np.arange(len(table)), label_codes(table["pred"], labels)]


def calibration(table: pd.DataFrame, labels, n_bins: int = 10) -> Calibration | None:
    """Calibration of the predicted label's probability; ``None`` without probability columns."""
    if not has_probabilities(table, labels):
        return None
    conf = confidence_of_prediction(table, labels)
    correct = table["correct"].to_numpy(dtype=float)
    return calibration_from_arrays(conf, correct, n_bins)


def calibration_from_arrays(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10
) -> Calibration:
    """ECE and reliability data from confidences in [0, 1] and 0/1 correctness, shape (N,)."""
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    conf = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    correct = np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.ceil(conf * n_bins - 1e-9).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct, minlength=n_bins)
    mean_conf = ratio(conf_sum, count)
    acc = ratio(acc_sum, count)
    gap = acc - mean_conf
    n = int(conf.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ece = float(np.nansum(count / max(n, 1) * np.abs(gap))) if n else float("nan")
        mce = float(np.nanmax(np.abs(gap))) if n else float("nan")
    bins = pd.DataFrame(
        {
            "bin": np.arange(n_bins),
            "lower": edges[:-1],
            "upper": edges[1:],
            "count": count,
            "mean_confidence": mean_conf,
            "accuracy": acc,
            "gap": gap,
        }
    )
    return Calibration(ece=ece, mce=mce, n=n, n_bins=n_bins, bins=bins)
