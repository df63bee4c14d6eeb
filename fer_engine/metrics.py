"""Metrics entry point: the analytics live in :mod:`fer_engine.analytics`; this module
re-exports the common functions so ``from fer_engine.metrics import ...`` keeps working.

``summary_metrics(predictions, labels)`` gives the small dict a run's ``metrics.json``
needs (accuracy, macro-F1, balanced accuracy, counts), with the analytics' conventions.
"""

from __future__ import annotations

import pandas as pd

from fer_engine.analytics import (
    EvalRun,
    build_report,
    calibration,
    confusion_counts,
    confusion_normalised,
    mcnemar_exact,
    overall_metrics,
    paired_comparison,
    per_class_metrics,
    per_participant_table,
    ppv_at_prevalence,
    ppv_table,
    subgroup_analysis,
    validate_predictions,
    wilson_interval,
)

__all__ = [
    "EvalRun",
    "build_report",
    "calibration",
    "confusion_counts",
    "confusion_normalised",
    "mcnemar_exact",
    "overall_metrics",
    "paired_comparison",
    "per_class_metrics",
    "per_participant_table",
    "ppv_at_prevalence",
    "ppv_table",
    "subgroup_analysis",
    "summary_metrics",
    "validate_predictions",
    "wilson_interval",
]


def summary_metrics(predictions: pd.DataFrame, labels=None, n_boot: int = 0) -> dict:
    """``{"accuracy", "macro_f1", "balanced_accuracy", "n_samples", "n_participants"}``
    from a predictions table (floats in [0, 1]); ``n_boot`` > 0 adds the participant
    bootstrap interval of the accuracy (``accuracy_boot_low``, ``accuracy_boot_high``)."""
    table, labels, _ = validate_predictions(predictions, labels)
    o = overall_metrics(table, labels, n_boot=n_boot)
    out = {
        "accuracy": o.accuracy,
        "macro_f1": o.macro_f1,
        "balanced_accuracy": o.balanced_accuracy,
        "n_samples": o.n_samples,
        "n_participants": o.n_participants,
    }
    if n_boot:
        out["accuracy_boot_low"] = o.accuracy_boot_low
        out["accuracy_boot_high"] = o.accuracy_boot_high
    return out
