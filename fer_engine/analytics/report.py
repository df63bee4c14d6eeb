"""The study report: everything the analytics compute for one or more runs, for the dashboard,
rendered as text, JSON or one self-contained HTML file.

``build_report(runs, ...)`` returns a dict whose ``"runs"`` are :class:`RunSection` objects
holding DataFrames and result dataclasses (so a page can draw them directly);
:func:`report_to_json` turns it into JSON types (NaN -> null). :func:`render` picks a format.
Numbers and the warnings are written by :mod:`fer_engine.format`.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from fer_engine import __version__
from fer_engine import format as fmt
from fer_engine.analytics import compare as compare_mod
from fer_engine.analytics import methods as methods_mod
from fer_engine.analytics import metrics as m
from fer_engine.analytics import subgroups as sg
from fer_engine.analytics.inputs import EvalRun, as_eval_run
from fer_engine.analytics.methods import epochs_text, preprocess_text, setting_text
from fer_engine.analytics.probe import IdentityProbe, identity_probe
from fer_engine.analytics.stats import to_jsonable

FORMATS: tuple[str, ...] = ("text", "json", "html")


@dataclass
class RunSection:
    """All analytics of one run, as the text and HTML reports and the Results page show them.

    ``banner`` is the LEAKY warning naming the run (None unless ``leaky``);
    ``synthetic_banner`` the synthetic-data note (None unless ``synthetic``). ``confusion``
    holds ``counts``, ``normalised`` and ``long`` tables; ``subgroups`` ``groups``, ``recall``
    and ``summary`` (one dict per grouping); ``calibration`` ``overall`` (a
    :class:`~fer_engine.analytics.metrics.Calibration` or None without probabilities),
    ``by_group`` and ``bins_by_group``. ``methods`` comes from
    :mod:`fer_engine.analytics.methods`, ``checklist`` from :func:`checklist`.
    """

    run_id: str
    title: str
    model: str
    protocol: str
    leaky: bool
    banner: str | None
    synthetic: bool
    synthetic_banner: str | None
    labels: list[str]
    overall: m.OverallMetrics
    overall_warning: str
    per_class: pd.DataFrame
    confusion: dict[str, pd.DataFrame]
    ppv: pd.DataFrame
    ppv_at_prevalence: pd.DataFrame | None
    subgroups: dict[str, Any]
    per_participant: pd.DataFrame
    calibration: dict[str, Any]
    probe: IdentityProbe | None
    history: pd.DataFrame | None
    notes: list[str]
    methods: dict[str, Any] = field(default_factory=dict)
    checklist: list[dict[str, str]] = field(default_factory=list)


def build_run_section(
    run: EvalRun,
    prevalence: dict[str, float] | None = None,
    n_boot: int = m.N_BOOT,
    seed: int = 0,
    reference: str = "best",
    n_bins: int = 10,
    min_participants: int = sg.MIN_PARTICIPANTS,
    features: np.ndarray | None = None,
) -> RunSection:
    """All analytics of one run (see :class:`RunSection`)."""
    t, labels = run.predictions, list(run.labels)
    prevalence = {k: v for k, v in (prevalence or {}).items()}
    notes = list(run.notes)
    if run.participants_unknown:
        notes.append(
            "The dataset does not record who is in each image, so the same person may be in "
            "training and test; participant-level intervals treat each image as its own person."
        )
    wanted = {k: v for k, v in prevalence.items() if k in labels}
    for k in prevalence:
        if k not in labels:
            notes.append(f"Prevalence for {k} ignored: this run has no {k} class.")
    overall = m.overall_metrics(t, labels, n_boot, seed)
    notes.extend(overall.notes)
    results = sg.subgroup_analysis(
        t,
        labels,
        reference=reference,
        n_boot=n_boot,
        n_perm=n_boot,
        seed=seed,
        min_participants=min_participants,
    )
    _, skipped = sg.available_groupings(t)
    notes.extend(skipped)
    groups, recall = sg.combine(results)
    cal_summary, cal_bins = sg.calibration_by_group(
        t, labels, n_bins=n_bins, min_participants=min_participants
    )
    probe = None
    if features is not None:
        probe = identity_probe(
            features, t["participant"], t["true"], model_accuracy=overall.accuracy
        )
    section = RunSection(
        run_id=run.run_id,
        title=run.title,
        model=run.model_name,
        protocol=run.protocol_name,
        leaky=run.leaky,
        banner=fmt.leaky_banner(run.run_id, run.protocol_name) if run.leaky else None,
        synthetic=run.synthetic,
        synthetic_banner=fmt.SYNTHETIC_BANNER if run.synthetic else None,
        labels=labels,
        overall=overall,
        # who is who unknown (each image has its own id): the note above covers it
        overall_warning=""
        if run.participants_unknown
        else sg.overall_people_warning(overall.n_participants, min_participants),
        per_class=m.per_class_metrics(t, labels),
        confusion={
            "counts": m.confusion_counts(t, labels),
            "normalised": m.confusion_normalised(t, labels),
            "long": m.confusion_long(t, labels),
        },
        ppv=m.ppv_table(t, labels),
        ppv_at_prevalence=m.ppv_at_prevalence(t, labels, wanted, n_boot, seed)
        if wanted
        else None,
        subgroups={
            "groups": groups,
            "recall": recall,
            "summary": [
                {
                    "grouping": r.grouping,
                    "reference": r.reference,
                    "difference": r.difference,
                    "ratio": r.ratio,
                    "notes": r.notes,
                }
                for r in results
            ],
        },
        per_participant=m.per_participant_table(t, labels),
        calibration={
            "overall": m.calibration(t, labels, n_bins),
            "by_group": cal_summary,
            "bins_by_group": cal_bins,
        },
        probe=probe,
        history=run.history,
        notes=notes,
        methods=methods_mod.methods_section(run),
    )
    return section


# -- checklist ---------------------------------------------------------------------------
ANSWERED, PARTLY, NOT_ANSWERED = "answered", "partly answered", "not answered"


def _item(item: str, status: str, answer: str, where: str) -> dict[str, str]:
    return {"item": item, "status": status, "answer": answer, "where": where}


def checklist(
    run: EvalRun, section: RunSection, has_baseline: bool = False
) -> list[dict[str, str]]:
    """The first study's checklist for a supervised clinical ML study, filled from the run.

    Each item: ``item``, ``status`` (answered / partly answered / not answered), ``answer``
    (what the run says) and ``where`` (the report section). The item wording paraphrases
    common clinical-ML reporting checklists; the study's exact wording was not available
    when this was written.
    """
    cfg = run.config
    methods = section.methods
    overall = section.overall
    training = methods["training"]
    ind = methods["independence"]
    items = []
    items.append(
        _item(
            "Clinical question and intended use stated",
            NOT_ANSWERED,
            "A run cannot state this; write it in the study text (e.g. monitoring fear and anger "
            "during PTSD therapy).",
            "—",
        )
    )
    ds = methods["dataset"]
    items.append(
        _item(
            "Data source and cohort described (who, how many, demographics)",
            ANSWERED if ds else PARTLY,
            f"{ds.get('name', 'dataset')}: {overall.n_participants} participants, "
            f"{overall.n_samples} images" + (" (synthetic)" if run.synthetic else ""),
            "Methods › Cohort",
        )
    )
    items.append(
        _item(
            "Ground truth labels defined",
            PARTLY,
            f"Classes {', '.join(run.labels)} as labelled by the dataset (posed expressions); how "
            "labels were obtained and checked is not recorded in the run.",
            "Methods › Data",
        )
    )
    items.append(
        _item(
            "Unit of analysis and independence of training and test data",
            ANSWERED if ind["status"] != "not checked" else PARTLY,
            f"Protocol {run.protocol_name}; {ind['sentence']}",
            "Methods › Protocol",
        )
    )
    items.append(
        _item(
            "Pre-processing described",
            ANSWERED if cfg.get("preprocess") else NOT_ANSWERED,
            preprocess_text(cfg.get("preprocess")),
            "Methods › Model",
        )
    )
    support = section.per_class[["label", "support"]]
    items.append(
        _item(
            "Class balance and how imbalance was handled",
            ANSWERED if "class_weight" in training else PARTLY,
            "Support per class: "
            + ", ".join(f"{r.label} {r.support}" for r in support.itertuples())
            + f"; class weights: {setting_text(training.get('class_weight'))}",
            "Results › Per class",
        )
    )
    items.append(
        _item(
            "Model and training settings reported (reproducible)",
            ANSWERED if cfg.get("model") and training else PARTLY,
            f"{run.model_name}; seed {setting_text(cfg.get('seed'))}; "
            f"{epochs_text(training)}",
            "Methods › Training",
        )
    )
    items.append(
        _item(
            "Validation data for tuning kept apart from test data",
            ANSWERED if training.get("validation") else NOT_ANSWERED,
            setting_text(training.get("validation")),
            "Methods › Training",
        )
    )
    items.append(
        _item(
            "Performance metrics with uncertainty",
            ANSWERED,
            f"Accuracy {fmt.pct(overall.accuracy)} (participant bootstrap "
            f"{fmt.interval(overall.accuracy_boot_low, overall.accuracy_boot_high)}; Wilson "
            f"{fmt.interval(overall.accuracy_low, overall.accuracy_high)}), per-class "
            "metrics with Wilson intervals",
            "Results › Overall, Per class",
        )
    )
    prev = section.ppv_at_prevalence
    items.append(
        _item(
            "Clinically relevant metric at a realistic base rate (PPV at the clinic's prevalence)",
            ANSWERED if prev is not None and len(prev) else PARTLY,
            "PPV at " + ", ".join(f"{r.label} {fmt.pct(r.prevalence)}" for r in prev.itertuples())
            if prev is not None and len(prev)
            else (
                "PPV only at this data's prevalence; give --prevalence fear=0.05 for a clinic's "
                "base rate"
            ),
            "Results › PPV",
        )
    )
    cal = section.calibration["overall"]
    items.append(
        _item(
            "Calibration assessed",
            ANSWERED if cal is not None else NOT_ANSWERED,
            f"ECE {cal.ece:.3f} over {cal.n_bins} bins"
            if cal is not None
            else "no probabilities in the run",
            "Results › Calibration",
        )
    )
    groups = section.subgroups["groups"]
    items.append(
        _item(
            "Performance in subgroups (sex, age, origin) with uncertainty",
            ANSWERED if len(groups) else NOT_ANSWERED,
            (
                f"{groups['grouping'].nunique()} groupings; {int(groups['small_sample'].sum())} "
                "groups have fewer than 5 people and are flagged"
            )
            if len(groups)
            else "no demographic information",
            "Results › Subgroups",
        )
    )
    items.append(
        _item(
            "Comparison with a baseline or simpler model on the same data",
            ANSWERED if has_baseline else NOT_ANSWERED,
            "paired comparison in this report"
            if has_baseline
            else "not in this report: add a second run (e.g. hog_svm) on the same images",
            "Comparisons",
        )
    )
    items.append(
        _item(
            "External validation on independent data",
            NOT_ANSWERED,
            "Only one dataset was used; no external test set.",
            "—",
        )
    )
    probe = section.probe
    items.append(
        _item(
            "What the model relies on (explanations, shortcut checks)",
            ANSWERED if probe is not None else NOT_ANSWERED,
            probe.sentence
            if probe is not None
            else (
                "identity-shortcut probe not run (needs model features); see the explanations page"
            ),
            "Results › Identity probe",
        )
    )
    items.append(
        _item(
            "Leakage checked and declared",
            ANSWERED,
            "LEAKY protocol: same people in training and test"
            if run.leaky
            else "participant-independent protocol",
            "Banner, Methods › Protocol",
        )
    )
    items.append(
        _item(
            "Failure analysis per individual",
            ANSWERED,
            "accuracy per participant with intervals",
            "Results › Per participant",
        )
    )
    items.append(
        _item(
            "Software, versions and data fingerprint recorded",
            ANSWERED
            if cfg.get("versions") and (cfg.get("dataset") or {}).get("fingerprint")
            else PARTLY,
            setting_text(cfg.get("versions")),
            "Methods › Software",
        )
    )
    return items


def build_report(
    runs,
    prevalence=None,
    n_boot: int = m.N_BOOT,
    seed: int = 0,
    reference: str = "best",
    n_bins: int = 10,
    min_participants: int = sg.MIN_PARTICIPANTS,
    features: dict[str, np.ndarray] | None = None,
    probe: bool = False,
) -> dict[str, Any]:
    """The whole study report for ``runs`` (run folders, run ids, :class:`EvalRun` objects,
    run-like objects or predictions DataFrames).

    ``prevalence``: ``{"fear": 0.05}`` or ``["fear=0.05"]``: PPV at a clinic's base rate.
    ``n_boot``: bootstrap resamples and Monte Carlo permutations (participants, seeded by
    ``seed``). ``reference``: subgroup reference ("best", "largest" or a group label).
    ``features``: optional ``{run_id: (N, D) array}`` of penultimate features in the row
    order of that run's predictions, for the identity-shortcut probe. ``probe=True``
    computes them from each run folder's fold models (:func:`~fer_engine.analytics.probe.
    run_features`; loads TensorFlow for Keras models); a run whose models or images are
    not available gets a note instead.

    Returns ``{"generated", "fer_engine_version", "settings", "runs": [RunSection...],
    "comparisons": {"paired", "leakage", "notes"}, "banners": [...]}``; ``banners`` are the
    LEAKY warnings of the leaky runs.
    """
    if isinstance(runs, (str, EvalRun, pd.DataFrame)) or not hasattr(runs, "__iter__"):
        runs = [runs]
    eval_runs = [as_eval_run(r) for r in runs]
    if not eval_runs:
        raise ValueError("build_report needs at least one run")
    prev = m.parse_prevalence(prevalence) if prevalence else {}
    features = dict(features or {})
    probe_notes: dict[str, list[str]] = {}
    if probe:
        from fer_engine.analytics.probe import run_features
        from fer_engine.errors import UserFacingError

        for r in eval_runs:
            if r.run_id in features:
                continue
            try:
                features[r.run_id], probe_notes[r.run_id] = run_features(r)
            except UserFacingError as exc:
                probe_notes[r.run_id] = [f"Identity probe not run: {exc}"]
    # Small matrices only: one BLAS thread avoids thread contention on a shared CPU.
    with threadpool_limits(limits=1):
        sections = [
            build_run_section(
                r, prev, n_boot, seed, reference, n_bins, min_participants, features.get(r.run_id)
            )
            for r in eval_runs
        ]
        comparisons = compare_mod.compare_runs(eval_runs, n_boot, seed)
    for r, section in zip(eval_runs, sections):
        section.notes.extend(probe_notes.get(r.run_id, []))
    for run, section in zip(eval_runs, sections):
        baseline = any(run.title in (p.name_a, p.name_b) for p in comparisons["paired"])
        section.checklist = checklist(run, section, has_baseline=baseline)
    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "fer_engine_version": __version__,
        "settings": {
            "n_boot": int(n_boot),
            "seed": int(seed),
            "prevalence": prev,
            "reference": reference,
            "n_bins": int(n_bins),
            "min_participants": int(min_participants),
            "confidence": 0.95,
        },
        "runs": sections,
        "comparisons": comparisons,
        "banners": [s.banner for s in sections if s.banner],
    }


def report_to_json(report: dict[str, Any]) -> dict[str, Any]:
    """The report as JSON types only (DataFrames -> lists of records, NaN -> null)."""
    return to_jsonable(report)


# -- text --------------------------------------------------------------------------------
def _table(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False) if len(frame) else "(none)"


def _frame_per_class(pc: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "emotion": pc["label"],
            "n": pc["support"],
            "predicted": pc["predicted"],
            "precision/PPV": [
                fmt.pct(v) + ("" if d else " (never predicted)")
                for v, d in zip(pc["precision"], pc["precision_defined"])
            ],
            "PPV 95% CI": fmt.intervals(pc["precision_low"], pc["precision_high"]),
            "recall": pc["recall"].map(fmt.pct),
            "recall 95% CI": fmt.intervals(pc["recall_low"], pc["recall_high"]),
            "specificity": pc["specificity"].map(fmt.pct),
            "F1": pc["f1"].map(fmt.pct),
            "Dice": pc["dice"].map(fmt.pct),
            "Jaccard": pc["jaccard"].map(fmt.pct),
        }
    )


def _frame_groups(g: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "grouping": g["grouping"].map(sg.readable_grouping),
            "group": [sg.readable_group(gr, v) for gr, v in zip(g["grouping"], g["group"])],
            "people": g["n_participants"],
            "images": g["n_images"],
            "accuracy": g["accuracy"].map(fmt.pct),
            "Wilson 95%": fmt.intervals(g["accuracy_low"], g["accuracy_high"]),
            "bootstrap 95%": fmt.intervals(g["accuracy_boot_low"], g["accuracy_boot_high"]),
            "macro-F1": g["macro_f1"].map(fmt.pct),
            "vs ref": [
                "reference" if r else fmt.signed_pct(d)
                for r, d in zip(g["is_reference"], g["accuracy_diff"])
            ],
            "ratio": g["accuracy_ratio"].map(fmt.ratio),
            "p (perm.)": g["p_value"].map(fmt.p_value),
            "warning": g["warning"],
        }
    )


#: Columns of :func:`fer_engine.analytics.metrics.per_participant_table` that are numbers
#: rather than who the person is.
PARTICIPANT_NUMBERS = ("folds", "n_images", "n_correct", "accuracy", "accuracy_low",
                       "accuracy_high")


def predictions_for_people(predictions: pd.DataFrame) -> pd.DataFrame:
    """A run's predictions table as people download it: folds numbered from 1 (the run
    folder's ``predictions.csv`` keeps the engine's 0-based fold index)."""
    out = predictions.copy()
    if "fold" in out.columns:
        folds = pd.to_numeric(out["fold"], errors="coerce")
        out["fold"] = (folds + 1).astype("Int64") if folds.notna().all() else out["fold"]
    return out


def fold_numbers(folds) -> str:
    """Folds as people count them, from 1: ``"0,2"`` (a run's 0-based fold indices) ->
    ``"1, 3"``."""
    return ", ".join(str(int(f) + 1) if str(f).strip().lstrip("-").isdigit() else str(f).strip()
                     for f in str(folds).split(","))


def participant_table(pp: pd.DataFrame) -> pd.DataFrame:
    """The per-participant table in words: named columns, groups as read, percentages."""
    out = pd.DataFrame({fmt.attribute("participant"): pp["participant"].astype(str)})
    for column in [c for c in pp.columns if c not in PARTICIPANT_NUMBERS + ("participant",)]:
        out[fmt.attribute(column)] = pp[column].map(fmt.group_value)
    if "folds" in pp and pp["folds"].astype(str).nunique() > 1:  # one fold: nothing to tell
        out["Tested in fold"] = pp["folds"].map(fold_numbers)
    out["Images"] = pp["n_images"].to_numpy()
    out["Right"] = pp["n_correct"].to_numpy()
    out["Accuracy"] = pp["accuracy"].map(fmt.pct).to_numpy()
    out["95% range"] = fmt.intervals(pp["accuracy_low"], pp["accuracy_high"])
    return out


def _frame_folds(folds: pd.DataFrame) -> pd.DataFrame:
    """The methods' folds table (:func:`methods.independence_check`) in words, folds
    numbered from 1."""
    return pd.DataFrame({
        "Fold": [fold_numbers(f) for f in folds["fold"]],
        "People in training": folds["n_train"], "People in validation": folds["n_val"],
        "People in test": folds["n_test"],
        "People on both sides (declared)": folds["overlap_declared"],
        "People on both sides (recounted)": folds["overlap_found"],
        "Validation people also in test": folds["val_test_overlap"],
    })


def _frame_cohort(cohort: pd.DataFrame) -> pd.DataFrame:
    """The methods' cohort table (:func:`methods.cohort_table`) in words."""
    total = cohort["attribute"] == "total"
    return pd.DataFrame({
        "attribute": cohort["attribute"].where(total, cohort["attribute"].map(fmt.attribute)),
        "value": cohort["value"].where(total, cohort["value"].map(fmt.group_value)),
        "participants": cohort["participants"],
        "images": cohort["images"],
    })


def _frame_calibration(by: pd.DataFrame) -> pd.DataFrame:
    """Calibration per group (:func:`subgroups.calibration_by_group`) in words."""
    return pd.DataFrame(
        {
            "grouping": by["grouping"].map(sg.readable_grouping),
            "group": [sg.readable_group(gr, v) for gr, v in zip(by["grouping"], by["group"])],
            "people": by["n_participants"],
            "images": by["n_images"],
            "ECE": by["ece"].map(lambda v: f"{v:.3f}"),
            "largest bin gap": by["mce"].map(lambda v: f"{v:.3f}"),
            "warning": by["warning"],
        }
    )


def _accuracy_intervals(o: m.OverallMetrics) -> str:
    """The two 95% intervals of the overall accuracy, the honest one first: people
    resampled (participant bootstrap), then images counted as independent (Wilson)."""
    return (
        f"95% range {fmt.interval(o.accuracy_boot_low, o.accuracy_boot_high)} from resampling "
        f"people; {fmt.interval(o.accuracy_low, o.accuracy_high)} counting images as "
        "independent (Wilson), too narrow"
    )


def _images_per_person(pp: pd.DataFrame) -> str:
    """``"8 images each"`` or ``"3 to 18 images each"``: the images per person of a run."""
    n = pp["n_images"]
    if not len(n):
        return "no images"
    low, high = int(n.min()), int(n.max())
    return f"{low} images each" if low == high else f"{low} to {high} images each"


def _text_section(s: RunSection) -> list[str]:
    o = s.overall
    out = [f"=== {s.title} ==="]
    if s.banner:
        out += ["!" * 78, "!! " + s.banner, "!" * 78]
    if s.synthetic_banner:
        out.append("NOTE: " + s.synthetic_banner)
    out += [
        "",
        f"Overall: {o.n_samples} images of {sg.n_people(o.n_participants)}.",
        (
            f"  accuracy {fmt.pct(o.accuracy)} ({_accuracy_intervals(o)}, {o.n_boot} resamples)"
        ),
        *([f"  WARNING: {s.overall_warning}"] if s.overall_warning else []),
        (
            f"  chance level (always answering the most frequent emotion) "
            f"{fmt.pct(o.majority_accuracy)}"
        ),
        (
            f"  balanced accuracy {fmt.pct(o.balanced_accuracy)}; macro precision "
            f"{fmt.pct(o.macro_precision)}, recall {fmt.pct(o.macro_recall)}, specificity "
            f"{fmt.pct(o.macro_specificity)}, F1 {fmt.pct(o.macro_f1)}, Dice "
            f"{fmt.pct(o.macro_dice)}, Jaccard {fmt.pct(o.macro_jaccard)}"
        ),
        "",
        "Per class (Wilson 95% intervals; Dice equals F1 per class):",
        _table(_frame_per_class(s.per_class)),
        "",
        "Confusion matrix (rows: true, columns: predicted):",
        s.confusion["counts"].to_string(),
        "",
        "Row-normalised:",
        s.confusion["normalised"].map(fmt.pct).to_string(),
    ]
    ppv = s.ppv
    out += [
        "",
        "PPV per emotion at this data's prevalence (Wilson 95%):",
        _table(
            pd.DataFrame(
                {
                    "emotion": ppv["label"],
                    "PPV": ppv["ppv"].map(fmt.pct),
                    "95% CI": fmt.intervals(ppv["ppv_low"], ppv["ppv_high"]),
                    "hits/predicted": [f"{a}/{b}" for a, b in zip(ppv["tp"], ppv["predicted"])],
                    "prevalence": ppv["prevalence"].map(fmt.pct),
                }
            )
        ),
    ]
    pp = s.ppv_at_prevalence
    if pp is not None and len(pp):
        out += [
            "",
            (
                "PPV at a chosen prevalence (Bayes from sensitivity and specificity; participant "
                "bootstrap 95%):"
            ),
            _table(
                pd.DataFrame(
                    {
                        "emotion": pp["label"],
                        "prevalence": pp["prevalence"].map(fmt.pct),
                        "sensitivity": pp["sensitivity"].map(fmt.pct),
                        "specificity": pp["specificity"].map(fmt.pct),
                        "PPV": pp["ppv"].map(fmt.pct),
                        "bootstrap 95%": fmt.intervals(pp["ppv_low"], pp["ppv_high"]),
                        "from Wilson bounds": fmt.intervals(
                            pp["ppv_bounds_low"], pp["ppv_bounds_high"]
                        ),
                        "NPV": pp["npv"].map(fmt.pct),
                    }
                )
            ),
        ]
        out += [f"  {r.label}: {r.note}" for r in pp.itertuples() if r.note]
    g = s.subgroups["groups"]
    out += [
        "",
        (
            "Subgroups (difference vs the reference group; p from permuting group labels over "
            "people, not adjusted for the many comparisons: one small p among many is expected by "
            "chance):"
        ),
        _table(_frame_groups(g)) if len(g) else "(no demographic columns)",
    ]
    out += [
        "",
        f"Per participant ({_images_per_person(s.per_participant)}; lowest accuracy first):",
        _table(participant_table(s.per_participant)),
    ]
    cal = s.calibration["overall"]
    if cal is not None:
        out += [
            "",
            (
                f"Calibration: ECE {cal.ece:.3f}, largest bin gap {cal.mce:.3f} ({cal.n_bins} "
                "equal-width bins)."
            ),
            _table(
                cal.bins.assign(
                    mean_confidence=cal.bins["mean_confidence"].map(fmt.pct),
                    accuracy=cal.bins["accuracy"].map(fmt.pct),
                    gap=cal.bins["gap"].map(fmt.pct),
                )
            ),
        ]
        by = s.calibration["by_group"]
        if len(by):
            out += [
                "ECE by group:",
                _table(_frame_calibration(by)),
            ]
    if s.probe is not None:
        out += ["", "Identity-shortcut probe: " + s.probe.sentence]
    meth = s.methods
    out += ["", "Methods:"] + ["  " + p for p in meth["paragraphs"]]
    out += ["Cohort (scored data):", _table(_frame_cohort(meth["cohort"]))]
    if len(meth["independence"]["folds"]):
        out += ["Folds:", _table(_frame_folds(meth["independence"]["folds"]))]
    out += ["", "Checklist for a supervised clinical ML study:"]
    for item in s.checklist:
        out.append(f"  [{item['status']}] {item['item']}: {item['answer']} ({item['where']})")
    if s.notes:
        out += ["", "Notes:"] + ["  - " + n for n in s.notes]
    return out


def render_text(report: dict[str, Any]) -> str:
    """Readable plain-text report."""
    with pd.option_context(
        "display.width", 200, "display.max_columns", 50, "display.max_colwidth", 90
    ):
        lines = [
            f"FER study report (fer_engine {report['fer_engine_version']}, {report['generated']})"
        ]
        for b in report["banners"]:
            lines += ["!" * 78, "!! " + b, "!" * 78]
        for s in report["runs"]:
            lines += [""] + _text_section(s)
        comp = report["comparisons"]
        if comp["paired"] or comp["leakage"] or comp["notes"]:
            lines += ["", "=== Comparisons ==="]
            for p in comp["paired"]:
                lines.append(p.sentence)
            for lc in comp["leakage"]:
                lines += [
                    "LEAKAGE CONTRAST: " + lc.sentence,
                    _table(
                        lc.table.assign(
                            accuracy=lc.table["accuracy"].map(fmt.pct),
                            accuracy_low=lc.table["accuracy_low"].map(fmt.pct),
                            accuracy_high=lc.table["accuracy_high"].map(fmt.pct),
                            accuracy_boot_low=lc.table["accuracy_boot_low"].map(fmt.pct),
                            accuracy_boot_high=lc.table["accuracy_boot_high"].map(fmt.pct),
                        )
                    ),
                ]
                if lc.paired is not None:
                    lines.append("  " + lc.paired.sentence)
                lines += ["  " + n for n in lc.notes]
            lines += ["  " + n for n in comp["notes"]]
    return "\n".join(lines) + "\n"


def render_json(report: dict[str, Any]) -> str:
    """Everything in the report as JSON (NaN as null)."""
    return json.dumps(report_to_json(report), indent=1, ensure_ascii=False, allow_nan=False)


# -- HTML --------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
  margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.5em}
.banner{background:#b71c1c;color:#fff;padding:1em;font-weight:bold;border-radius:6px;
  margin:1em 0;font-size:1.1em}
.synthetic{background:#fff3cd;border:1px solid #e0c060;padding:.6em;border-radius:6px}
.warn{color:#b71c1c} .caption{color:#555;font-size:.92em;margin:.2em 0 1em}
table{border-collapse:collapse;font-size:.88em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left} th{background:#f3f3f3}
.status-answered{color:#1b5e20} .status-partly{color:#8d6e00} .status-not{color:#b71c1c}
"""


class _FigureWriter:
    """Inlines plotly.js once (with the first figure), then only the figure divs."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fig) -> str:
        self.count += 1
        return fig.to_html(
            full_html=False,
            include_plotlyjs=self.count == 1,
            div_id=f"fig{self.count}",
            config={"displaylogo": False},
        )


def _html_table(frame: pd.DataFrame) -> str:
    if frame is None or not len(frame):
        return "<p>(none)</p>"
    return frame.to_html(index=False, escape=True, na_rep="—", border=0)


def _esc(text: Any) -> str:
    return html.escape(str(text))


def _html_section(s: RunSection, fig_html: _FigureWriter, index: int) -> list[str]:
    from fer_engine.analytics import figures

    o = s.overall
    out = [f'<h2 id="run{index}">{_esc(s.title)}</h2>']
    if s.banner:
        out.append(f'<div class="banner" role="alert">⚠ {_esc(s.banner)}</div>')
    if s.synthetic_banner:
        out.append(f'<p class="synthetic">{_esc(s.synthetic_banner)}</p>')
    out.append("<h3>Overall</h3>")
    out.append(
        f"<p>{o.n_samples} images of {sg.n_people(o.n_participants)}. Accuracy "
        f"<b>{fmt.pct(o.accuracy)}</b> "
        f"({_accuracy_intervals(o)}). Chance level (always answering the most frequent "
        f"emotion) {fmt.pct(o.majority_accuracy)}. "
        f"Balanced accuracy {fmt.pct(o.balanced_accuracy)}, macro-F1 {fmt.pct(o.macro_f1)}, macro "
        f"precision {fmt.pct(o.macro_precision)}, macro recall {fmt.pct(o.macro_recall)}, macro "
        f"specificity {fmt.pct(o.macro_specificity)}, macro Jaccard {fmt.pct(o.macro_jaccard)}.</p>"
    )
    out.append(
        '<p class="caption">The range from resampling people redraws whole people and is the '
        "honest one when each person has several images; the Wilson interval treats images as "
        "independent and is too narrow.</p>"
    )
    if s.overall_warning:
        out.append(f'<p class="warn" role="alert">⚠ {_esc(s.overall_warning)}</p>')
    out.append("<h3>Per class</h3>")
    out.append(fig_html(figures.per_class_bars(s.per_class)))
    out.append(
        '<p class="caption">Bars: share of each emotion; whiskers: Wilson 95% intervals. '
        "Dice equals F1 for one class; both are listed as the second study does. A class the model "
        "never predicted has no precision (—).</p>"
    )
    out.append(_html_table(_frame_per_class(s.per_class)))
    out.append("<h3>Confusion matrix</h3>")
    out.append(
        fig_html(figures.confusion_heatmap(s.confusion["counts"], s.confusion["normalised"]))
    )
    out.append(
        '<p class="caption">Numbers are images; colour is the share of the true class (row).</p>'
    )
    out.append("<h3>PPV</h3>")
    out.append(fig_html(figures.ppv_chart(s.ppv, s.ppv_at_prevalence)))
    out.append(
        '<p class="caption">PPV: when the model says this emotion, how often it is right. It '
        "depends on how common the emotion is; the diamonds show it at the prevalence you "
        "chose.</p>"
    )
    if s.ppv_at_prevalence is not None:
        out.append(_html_table(s.ppv_at_prevalence.round(4)))
    g = s.subgroups["groups"]
    out.append("<h3>Subgroups</h3>")
    if len(g):
        out.append(fig_html(figures.subgroup_bars(g)))
        out.append(
            '<p class="caption">Whiskers: participant bootstrap 95% intervals. Pale bars '
            "marked ⚠ have fewer than 5 people: do not compare them. p: permutation test over "
            "people, not adjusted for the many comparisons (one small p among many is expected by "
            "chance).</p>"
        )
        for w in sorted(set(g.loc[g["small_sample"], "warning"])):
            out.append(f'<p class="warn">⚠ {_esc(w)}</p>')
        out.append(_html_table(_frame_groups(g)))
    else:
        out.append("<p>No demographic information in this run.</p>")
    out.append("<h3>Per participant</h3>")
    out.append(fig_html(figures.participant_dots(s.per_participant)))
    out.append(
        f'<p class="caption">One dot per person; with {_images_per_person(s.per_participant)}, '
        "the interval of one person is wide.</p>"
    )
    out.append(_html_table(participant_table(s.per_participant)))
    cal = s.calibration["overall"]
    out.append("<h3>Calibration</h3>")
    if cal is not None:
        grouping = "country_group" if len(s.calibration["bins_by_group"]) else None
        out.append(
            fig_html(
                figures.reliability_diagram(cal.bins, s.calibration["bins_by_group"], grouping)
            )
        )
        out.append(
            f"<p>Expected calibration error {cal.ece:.3f} ({cal.n_bins} equal-width bins); points "
            "on the diagonal mean the stated confidence matches the accuracy.</p>"
        )
        if len(s.calibration["by_group"]):
            out.append(_html_table(_frame_calibration(s.calibration["by_group"])))
    else:
        out.append("<p>No probabilities in this run.</p>")
    if s.probe is not None:
        out.append("<h3>Identity probe</h3>")
        cls = "warn" if s.probe.flag else ""
        out.append(f'<p class="{cls}">{_esc(s.probe.sentence)}</p>')
    meth = s.methods
    out.append("<h3>Methods</h3>")
    out += [f"<p>{_esc(p)}</p>" for p in meth["paragraphs"]]
    out.append("<h4>Cohort</h4>" + _html_table(_frame_cohort(meth["cohort"])))
    if len(meth["independence"]["folds"]):
        out.append(
            "<h4>Folds and independence check</h4>" + _html_table(_frame_folds(meth["independence"]["folds"]))
        )
    history = s.history
    if history is not None and len(history) and {"fold", "epoch", "loss"} <= set(history.columns):
        out.append("<h4>Training curves</h4>")
        out.append(fig_html(figures.training_curves(history)))
        out.append(
            '<p class="caption">Loss per epoch for each fold; dotted: validation loss on '
            "held-out training participants (what early stopping watched).</p>"
        )
    out.append("<h3>Checklist for a supervised clinical ML study</h3>")
    rows = "".join(
        f"<tr><td>{_esc(i['item'])}</td><td "
        f'class="status-{i["status"].split()[0]}">{_esc(i["status"])}</td>'
        f"<td>{_esc(i['answer'])}</td><td>{_esc(i['where'])}</td></tr>"
        for i in s.checklist
    )
    out.append(
        "<table "
        'class="checklist"><tr><th>item</th><th>status</th><th>answer</th><th>where</th></tr>'
        f"{rows}</table>"
    )
    if s.notes:
        out.append(
            "<h3>Notes</h3><ul>" + "".join(f"<li>{_esc(n)}</li>" for n in s.notes) + "</ul>"
        )
    return out


def render_html(report: dict[str, Any]) -> str:
    """One self-contained HTML file: plotly.js inlined once, every chart and table."""
    from fer_engine.analytics import figures

    fig_html = _FigureWriter()
    settings = report["settings"]
    body = [
        (
            f"<h1>FER study report</h1><p>fer_engine {_esc(report['fer_engine_version'])}, "
            f"generated {_esc(report['generated'])}; {settings['n_boot']} bootstrap resamples, "
            f"seed {settings['seed']}.</p>"
        )
    ]
    for b in report["banners"]:
        body.append(f'<div class="banner" role="alert">⚠ {_esc(b)}</div>')
    body.append(
        "<ul>"
        + "".join(
            f'<li><a href="#run{i}">{_esc(s.title)}</a>'
            + (" — <b>LEAKY</b>" if s.leaky else "")
            + "</li>"
            for i, s in enumerate(report["runs"])
        )
        + "</ul>"
    )
    for i, s in enumerate(report["runs"]):
        body += _html_section(s, fig_html, i)
    comp = report["comparisons"]
    if comp["paired"] or comp["leakage"] or comp["notes"]:
        body.append("<h2>Comparisons</h2>")
        for p in comp["paired"]:
            body.append(f"<p>{_esc(p.sentence)}</p>")
        for lc in comp["leakage"]:
            body.append('<div class="banner">Leakage contrast: the red bar is LEAKY.</div>')
            body.append(fig_html(figures.accuracy_comparison(lc.table)))
            body.append(f"<p>{_esc(lc.sentence)}</p>")
            body.append(_html_table(lc.table.round(4)))
            if lc.paired is not None:
                body.append(f"<p>{_esc(lc.paired.sentence)}</p>")
            body += [f"<p>{_esc(n)}</p>" for n in lc.notes]
        body += [f"<p>{_esc(n)}</p>" for n in comp["notes"]]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>FER study report</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def render(report: dict[str, Any], fmt: str = "text") -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    return {"text": render_text, "json": render_json, "html": render_html}[fmt](report)
