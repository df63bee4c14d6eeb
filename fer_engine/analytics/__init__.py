"""Evaluation analytics: everything computed from a run's predictions table (+ config).

Modules:

- :mod:`~fer_engine.analytics.inputs`: :class:`EvalRun`, :func:`validate_predictions`.
- :mod:`~fer_engine.analytics.stats`: Wilson intervals, participant bootstrap, permutation tests.
- :mod:`~fer_engine.analytics.metrics`: overall / per-class metrics, confusion, PPV,
  PPV at a prevalence, per-participant accuracy, calibration.
- :mod:`~fer_engine.analytics.subgroups`: fairlearn MetricFrame disaggregation with
  cluster-bootstrap intervals, reference differences, permutation p-values, small-n warnings.
- :mod:`~fer_engine.analytics.compare`: McNemar + paired bootstrap; leakage contrast.
- :mod:`~fer_engine.analytics.probe`: identity-shortcut probe on penultimate features.
- :mod:`~fer_engine.analytics.methods`: methods section from config, folds and predictions.
- :mod:`~fer_engine.analytics.report`: :func:`build_report`, the study checklist, and text / JSON /
  HTML rendering.
- :mod:`~fer_engine.analytics.figures`: plotly figures of the report's tables.

Importing this package does not import plotly (only the HTML report and figures do).
"""

from fer_engine.analytics.compare import (
    LeakageContrast,
    PairedComparison,
    compare_runs,
    leakage_contrast,
    mcnemar_exact,
    paired_comparison,
)
from fer_engine.analytics.inputs import EvalRun, PredictionsError, as_eval_run, validate_predictions
from fer_engine.analytics.metrics import (
    Calibration,
    OverallMetrics,
    calibration,
    confusion_counts,
    confusion_long,
    confusion_normalised,
    overall_metrics,
    parse_prevalence,
    per_class_metrics,
    per_participant_table,
    ppv_at_prevalence,
    ppv_from_rates,
    ppv_table,
)
from fer_engine.analytics.probe import IdentityProbe, identity_probe
from fer_engine.analytics.report import build_report, render, report_to_json
from fer_engine.analytics.stats import wilson_interval
from fer_engine.analytics.subgroups import (
    DEFAULT_GROUPINGS,
    SubgroupResult,
    calibration_by_group,
    overall_people_warning,
    small_sample_warning,
    subgroup_analysis,
    subgroup_metrics,
)

__all__ = [
    "DEFAULT_GROUPINGS",
    "Calibration",
    "EvalRun",
    "IdentityProbe",
    "LeakageContrast",
    "OverallMetrics",
    "PairedComparison",
    "PredictionsError",
    "SubgroupResult",
    "as_eval_run",
    "build_report",
    "calibration",
    "calibration_by_group",
    "compare_runs",
    "confusion_counts",
    "confusion_long",
    "confusion_normalised",
    "identity_probe",
    "leakage_contrast",
    "mcnemar_exact",
    "overall_metrics",
    "overall_people_warning",
    "paired_comparison",
    "parse_prevalence",
    "per_class_metrics",
    "per_participant_table",
    "ppv_at_prevalence",
    "ppv_from_rates",
    "ppv_table",
    "render",
    "report_to_json",
    "small_sample_warning",
    "subgroup_analysis",
    "subgroup_metrics",
    "validate_predictions",
    "wilson_interval",
]
