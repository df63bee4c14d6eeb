"""The methods section and the study checklist, generated from a run's config and folds.

Nothing here is typed by hand per run: every sentence is built from ``config.json``,
``folds.json`` and the predictions table, and an item the run cannot answer says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from fer_engine import format as fmt
from fer_engine.analytics.inputs import EvalRun, known_or_unknown

if TYPE_CHECKING:
    from fer_engine.analytics.report import RunSection

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


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items()) if value else "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value) if value else "none"
    return "not recorded" if value is None or value == "" else str(value)


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
        k: v for k, v in protocol.items() if k not in ("name", "leaky", "participant_independent")
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
        f"{', '.join(run.labels)}. Fingerprint: {_fmt(dataset.get('fingerprint'))}.{synth}"
    )
    paragraphs.append(
        f"Protocol: {run.protocol_name}. "
        + PROTOCOL_TEXT.get(run.protocol_name, "")
        + (f" Parameters: {_fmt(params)}." if params else "")
        + f" Participant independence check: {independence['sentence']}"
    )
    paragraphs.append(
        f"Model: {model.get('name', 'not recorded')} (weights: {_fmt(model.get('weights'))}; "
        f"input: {_fmt(model.get('input_spec'))}). Pre-processing: {_fmt(cfg.get('preprocess'))}."
    )
    paragraphs.append(
        f"Training: optimizer {_fmt(training.get('optimizer'))}, loss "
        f"{_fmt(training.get('loss'))}, {_fmt(training.get('epochs'))} epochs, batch size "
        f"{_fmt(training.get('batch_size'))}, learning rate {_fmt(training.get('learning_rate'))}, "
        f"class weights {_fmt(training.get('class_weight'))}, early stopping "
        f"{_fmt(training.get('early_stopping'))}, learning-rate reduction "
        f"{_fmt(training.get('reduce_lr'))}. Validation: {_fmt(training.get('validation'))}. "
        f"Augmentation (training images only): {_fmt(augmentation)}. Seed: {_fmt(cfg.get('seed'))}."
    )
    paragraphs.append(f"Software: {_fmt(cfg.get('versions'))}.")
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
            _fmt(cfg.get("preprocess")),
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
            + f"; class weights: {_fmt(training.get('class_weight'))}",
            "Results › Per class",
        )
    )
    items.append(
        _item(
            "Model and training settings reported (reproducible)",
            ANSWERED if cfg.get("model") and training else PARTLY,
            f"{run.model_name}; seed {_fmt(cfg.get('seed'))}; {_fmt(training.get('epochs'))} "
            "epochs",
            "Methods › Training",
        )
    )
    items.append(
        _item(
            "Validation data for tuning kept apart from test data",
            ANSWERED if training.get("validation") else NOT_ANSWERED,
            _fmt(training.get("validation")),
            "Methods › Training",
        )
    )
    items.append(
        _item(
            "Performance metrics with uncertainty",
            ANSWERED,
            f"Accuracy {fmt.pct(overall.accuracy)} (Wilson "
            f"{fmt.interval(overall.accuracy_low, overall.accuracy_high)}; participant bootstrap "
            f"{fmt.interval(overall.accuracy_boot_low, overall.accuracy_boot_high)}), per-class "
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
            _fmt(cfg.get("versions")),
            "Methods › Software",
        )
    )
    return items
