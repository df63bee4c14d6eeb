"""Overall / per-class metrics, PPV, per-participant accuracy and calibration against
hand-computed values on small fixed tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from sklearn.metrics import (
    balanced_accuracy_score,
    f1_score,
    jaccard_score,
    precision_recall_fscore_support,
)

from fer_engine.analytics import metrics as m
from fer_engine.analytics.inputs import EvalRun, PredictionsError, validate_predictions
from fer_engine.analytics.stats import cluster_bootstrap_accuracy, to_jsonable, wilson_interval

LABELS = ["anger", "fear", "happy", "sad"]  # sad: never true, never predicted


def table(rows, **extra) -> pd.DataFrame:
    """rows: (participant, true, pred)."""
    frame = pd.DataFrame(rows, columns=["participant", "true", "pred"])
    frame.insert(0, "sample_id", [f"s{i}" for i in range(len(frame))])
    for key, value in extra.items():
        frame[key] = value
    return frame


# 3 people x 3 emotions. Hand counts in the comments of the tests below.
ROWS = [
    ("p1", "anger", "anger"),
    ("p1", "fear", "anger"),
    ("p1", "happy", "happy"),
    ("p2", "anger", "anger"),
    ("p2", "fear", "fear"),
    ("p2", "happy", "anger"),
    ("p3", "anger", "happy"),
    ("p3", "fear", "anger"),
    ("p3", "happy", "happy"),
]


@pytest.fixture
def fixed():
    t, labels, _ = validate_predictions(table(ROWS), LABELS)
    return t, labels


# -- Wilson -------------------------------------------------------------------------------
def test_wilson_known_values():
    low, high = wilson_interval(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(0.7225, abs=1e-4) and high == 1.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


@pytest.mark.parametrize("k,n", [(1, 3), (5, 17), (40, 152), (151, 152)])
def test_wilson_matches_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_wilson_vectorised_and_rejects_bad_counts():
    low, high = wilson_interval(np.array([8, 0]), np.array([10, 0]))
    assert low[0] == pytest.approx(0.4902, abs=1e-4) and np.isnan(low[1]) and np.isnan(high[1])
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


# -- per class ----------------------------------------------------------------------------
def test_per_class_hand_values(fixed):
    t, labels = fixed
    pc = m.per_class_metrics(t, labels).set_index("label")
    # anger: TP 2, FP 3 (p1 fear, p2 happy, p3 fear), FN 1 (p3), TN 3
    assert pc.loc["anger", ["tp", "fp", "fn", "tn", "support", "predicted"]].tolist() == [
        2,
        3,
        1,
        3,
        3,
        5,
    ]
    assert pc.loc["anger", "precision"] == pytest.approx(2 / 5)
    assert pc.loc["anger", "recall"] == pytest.approx(2 / 3)
    assert pc.loc["anger", "specificity"] == pytest.approx(3 / 6)
    assert pc.loc["anger", "f1"] == pytest.approx(0.5)
    assert pc.loc["anger", "jaccard"] == pytest.approx(2 / 6)
    # fear: TP 1, FP 0, FN 2, TN 6
    assert pc.loc["fear", ["tp", "fp", "fn", "tn"]].tolist() == [1, 0, 2, 6]
    assert pc.loc["fear", "precision"] == 1.0 and pc.loc["fear", "recall"] == pytest.approx(1 / 3)
    assert pc.loc["fear", "f1"] == pytest.approx(0.5) and pc.loc[
        "fear", "jaccard"
    ] == pytest.approx(1 / 3)
    # happy: TP 2, FP 1, FN 1, TN 5
    assert pc.loc["happy", "precision"] == pytest.approx(2 / 3)
    assert pc.loc["happy", "specificity"] == pytest.approx(5 / 6)
    assert pc.loc["happy", "f1"] == pytest.approx(2 / 3) and pc.loc[
        "happy", "jaccard"
    ] == pytest.approx(0.5)
    # Dice is F1 per class
    assert np.allclose(pc["dice"], pc["f1"], equal_nan=True)
    # Wilson on the counts
    assert (pc.loc["anger", "precision_low"], pc.loc["anger", "precision_high"]) == pytest.approx(
        wilson_interval(2, 5)
    )
    assert (pc.loc["fear", "recall_low"], pc.loc["fear", "recall_high"]) == pytest.approx(
        wilson_interval(1, 3)
    )


def test_absent_class_is_undefined_not_zero(fixed):
    t, labels = fixed
    sad = m.per_class_metrics(t, labels).set_index("label").loc["sad"]
    assert sad["support"] == 0 and sad["predicted"] == 0
    assert np.isnan(sad["precision"]) and not sad["precision_defined"]
    assert np.isnan(sad["recall"]) and not sad["recall_defined"]
    assert np.isnan(sad["f1"]) and np.isnan(sad["jaccard"])
    assert sad["specificity"] == 1.0 and sad["specificity_defined"]


def test_overall_hand_values_and_sklearn_agreement(fixed):
    t, labels = fixed
    o = m.overall_metrics(t, labels, n_boot=200, seed=1)
    assert (o.n_samples, o.n_participants, o.n_correct) == (9, 3, 5)
    assert o.accuracy == pytest.approx(5 / 9)
    assert (o.accuracy_low, o.accuracy_high) == pytest.approx(wilson_interval(5, 9))
    assert o.balanced_accuracy == pytest.approx((2 / 3 + 1 / 3 + 2 / 3) / 3)
    assert o.macro_precision == pytest.approx((0.4 + 1 + 2 / 3) / 3)
    assert o.macro_f1 == pytest.approx((0.5 + 0.5 + 2 / 3) / 3)
    assert o.macro_jaccard == pytest.approx((1 / 3 + 1 / 3 + 0.5) / 3)
    assert o.macro_specificity == pytest.approx((0.5 + 1 + 5 / 6) / 3)
    assert o.absent_labels == ["sad"] and o.never_predicted == []
    assert o.chance_accuracy == pytest.approx(1 / 3)
    present = ["anger", "fear", "happy"]
    assert o.balanced_accuracy == pytest.approx(balanced_accuracy_score(t["true"], t["pred"]))
    assert o.macro_f1 == pytest.approx(
        f1_score(t["true"], t["pred"], labels=present, average="macro")
    )
    p, r, f, _ = precision_recall_fscore_support(
        t["true"], t["pred"], labels=present, zero_division=0
    )
    pc = m.per_class_metrics(t, labels).set_index("label").loc[present]
    assert (
        np.allclose(pc["precision"], p)
        and np.allclose(pc["recall"], r)
        and np.allclose(pc["f1"], f)
    )
    assert np.allclose(
        pc["jaccard"], jaccard_score(t["true"], t["pred"], labels=present, average=None)
    )


def test_never_predicted_class_flagged_and_zero_in_macro():
    t, labels, _ = validate_predictions(
        table(
            [
                ("a", "anger", "anger"),
                ("a", "fear", "anger"),
                ("b", "fear", "happy"),
                ("b", "happy", "happy"),
            ]
        ),
        ["anger", "fear", "happy"],
    )
    pc = m.per_class_metrics(t, labels).set_index("label")
    assert np.isnan(pc.loc["fear", "precision"]) and not pc.loc["fear", "precision_defined"]
    assert pc.loc["fear", "f1"] == 0.0 and pc.loc["fear", "recall"] == 0.0  # defined: TP = 0
    o = m.overall_metrics(t, labels, n_boot=10)
    assert o.never_predicted == ["fear"]
    assert o.macro_precision == pytest.approx((0.5 + 0 + 0.5) / 3)
    p = precision_recall_fscore_support(t["true"], t["pred"], average="macro", zero_division=0)[0]
    assert o.macro_precision == pytest.approx(p)
    assert any("never predicted fear" in n for n in o.notes)


def test_perfect_and_chance_predictors():
    labels = ["anger", "fear", "happy", "sad"]
    rows = [(f"p{i}", e, e) for i in range(4) for e in labels]
    t, _, _ = validate_predictions(table(rows), labels)
    o = m.overall_metrics(t, labels, n_boot=100)
    assert (
        o.accuracy == 1
        and o.macro_f1 == 1
        and o.balanced_accuracy == 1
        and o.macro_specificity == 1
    )
    assert o.accuracy_boot_low == 1 and o.accuracy_boot_high == 1
    assert np.allclose(np.diag(m.confusion_normalised(t, labels)), 1)
    # always answering "anger" on balanced data: chance level
    rows = [(f"p{i}", e, "anger") for i in range(4) for e in labels]
    t, _, _ = validate_predictions(table(rows), labels)
    o = m.overall_metrics(t, labels, n_boot=100)
    assert o.accuracy == pytest.approx(0.25) and o.balanced_accuracy == pytest.approx(0.25)
    assert o.accuracy == pytest.approx(o.chance_accuracy)
    assert o.never_predicted == ["fear", "happy", "sad"]
    pc = m.per_class_metrics(t, labels).set_index("label")
    assert pc.loc["anger", "recall"] == 1 and pc.loc["anger", "precision"] == 0.25
    assert pc.loc["anger", "specificity"] == 0


def test_confusion_counts_normalised_long(fixed):
    t, labels = fixed
    counts = m.confusion_counts(t, labels)
    expected = np.array([[2, 0, 1, 0], [2, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]])
    assert (counts.to_numpy() == expected).all()
    assert list(counts.index) == list(labels) and list(counts.columns) == list(labels)
    norm = m.confusion_normalised(t, labels)
    assert np.allclose(norm.iloc[:3].sum(axis=1), 1)
    assert norm.loc["sad"].isna().all()  # documented: no true samples -> NaN row
    long = m.confusion_long(t, labels)
    assert len(long) == 16 and set(long.columns) == {"true", "pred", "count", "row_fraction"}
    row = long[(long["true"] == "fear") & (long["pred"] == "anger")].iloc[0]
    assert row["count"] == 2 and row["row_fraction"] == pytest.approx(2 / 3)


def test_bootstrap_resamples_participants():
    # two people: 0/8 and 8/8 correct. Resampling people gives only 0, 1/2 or 1.
    low, high, samples = cluster_bootstrap_accuracy(
        np.array([0, 8]), np.array([8, 8]), 500, np.random.default_rng(0)
    )
    assert set(np.round(samples, 6)) <= {0.0, 0.5, 1.0}
    assert low == 0.0 and high == 1.0
    # one person: every resample is that person -> degenerate interval
    low, high, samples = cluster_bootstrap_accuracy(
        np.array([3]), np.array([8]), 100, np.random.default_rng(0)
    )
    assert low == high == pytest.approx(3 / 8)


def test_overall_bootstrap_is_seeded(fixed):
    t, labels = fixed
    a = m.overall_metrics(t, labels, n_boot=300, seed=7)
    b = m.overall_metrics(t, labels, n_boot=300, seed=7)
    assert (a.accuracy_boot_low, a.accuracy_boot_high) == (
        b.accuracy_boot_low,
        b.accuracy_boot_high,
    )
    assert a.accuracy_boot_low <= a.accuracy <= a.accuracy_boot_high


# -- PPV ------------------------------------------------------------------------------------
def test_ppv_table(fixed):
    t, labels = fixed
    ppv = m.ppv_table(t, labels).set_index("label")
    assert ppv.loc["anger", "ppv"] == pytest.approx(0.4)
    assert (ppv.loc["anger", "ppv_low"], ppv.loc["anger", "ppv_high"]) == pytest.approx(
        wilson_interval(2, 5)
    )
    assert ppv.loc["anger", "prevalence"] == pytest.approx(3 / 9)
    assert not ppv.loc["sad", "defined"] and np.isnan(ppv.loc["sad", "ppv"])


def test_ppv_at_prevalence_bayes(fixed):
    t, labels = fixed
    out = m.ppv_at_prevalence(t, labels, {"anger": 0.1, "fear": 0.05}, n_boot=300).set_index(
        "label"
    )
    # anger: sens 2/3, spec 1/2 -> PPV = (2/3 * .1) / (2/3 * .1 + 1/2 * .9)
    assert out.loc["anger", "ppv"] == pytest.approx((2 / 30) / (2 / 30 + 0.45))
    assert out.loc["anger", "npv"] == pytest.approx(0.45 / (0.45 + (1 / 3) * 0.1))
    # fear: no false positives (spec 1) -> PPV 1 at any prevalence
    assert out.loc["fear", "ppv"] == pytest.approx(1.0)
    # bounds from the Wilson bounds of sensitivity and specificity
    s_lo, s_hi = wilson_interval(2, 3)
    c_lo, c_hi = wilson_interval(3, 6)
    assert out.loc["anger", "ppv_bounds_low"] == pytest.approx(m.ppv_from_rates(s_lo, c_lo, 0.1))
    assert out.loc["anger", "ppv_bounds_high"] == pytest.approx(m.ppv_from_rates(s_hi, c_hi, 0.1))
    assert out.loc["anger", "ppv_low"] <= out.loc["anger", "ppv"] <= out.loc["anger", "ppv_high"]


def test_ppv_at_data_prevalence_equals_precision(fixed):
    t, labels = fixed
    out = m.ppv_at_prevalence(t, labels, {"anger": 3 / 9, "happy": 3 / 9}, n_boot=10).set_index(
        "label"
    )
    assert out.loc["anger", "ppv"] == pytest.approx(0.4)
    assert out.loc["happy", "ppv"] == pytest.approx(2 / 3)


def test_ppv_at_prevalence_single_participant_degenerate():
    rows = [
        ("only", "anger", "anger"),
        ("only", "anger", "fear"),
        ("only", "fear", "fear"),
        ("only", "fear", "anger"),
    ]
    t, labels, _ = validate_predictions(table(rows), ["anger", "fear"])
    out = m.ppv_at_prevalence(t, labels, {"fear": 0.2}, n_boot=200).iloc[0]
    assert out["ppv_low"] == pytest.approx(out["ppv"]) and out["ppv_high"] == pytest.approx(
        out["ppv"]
    )


def test_parse_prevalence():
    assert m.parse_prevalence(["fear=0.05", "Angry=0.1"]) == {"fear": 0.05, "anger": 0.1}
    assert m.parse_prevalence({"Fearful": "0.2"}) == {"fear": 0.2}
    for bad in (["fear"], ["fear=2"], ["fear=0"], ["fear=x"], ["bogus=0.1"]):
        with pytest.raises(ValueError):
            m.parse_prevalence(bad)


def test_ppv_at_prevalence_unknown_class(fixed):
    t, _ = fixed
    with pytest.raises(PredictionsError):
        m.ppv_at_prevalence(t, ["anger", "fear"], {"happy": 0.1}, n_boot=5)


# -- per participant ------------------------------------------------------------------------
def test_per_participant_table(fixed):
    t, _ = fixed
    t = t.assign(
        gender=t["participant"].map({"p1": "female", "p2": "male", "p3": "female"}),
        fold=[0, 0, 0, 1, 1, 1, 2, 2, 2],
    )
    pp = m.per_participant_table(t).set_index("participant")
    assert pp.loc["p1", "n_correct"] == 2 and pp.loc["p3", "n_correct"] == 1
    assert pp.loc["p3", "accuracy"] == pytest.approx(1 / 3)
    assert (pp.loc["p1", "accuracy_low"], pp.loc["p1", "accuracy_high"]) == pytest.approx(
        wilson_interval(2, 3)
    )
    assert pp.loc["p2", "gender"] == "male" and pp.loc["p3", "folds"] == "2"
    assert m.per_participant_table(t)["participant"].iloc[0] == "p3"  # lowest first


# -- calibration ------------------------------------------------------------------------------
def test_ece_perfect_vs_overconfident():
    conf = np.r_[np.full(4, 0.75), np.full(10, 0.9)]
    correct = np.r_[[1, 1, 1, 0], [1] * 9 + [0]]
    cal = m.calibration_from_arrays(conf, correct, 10)
    assert cal.ece == pytest.approx(0.0, abs=1e-12)
    bins = cal.bins.set_index("bin")
    assert bins.loc[7, "count"] == 4 and bins.loc[7, "accuracy"] == 0.75
    assert bins.loc[8, "count"] == 10 and np.isnan(bins.loc[0, "accuracy"])
    over = m.calibration_from_arrays(np.full(10, 0.95), np.r_[[1] * 5, [0] * 5], 10)
    assert over.ece == pytest.approx(0.45) and over.mce == pytest.approx(0.45)


def test_calibration_bin_edges():
    cal = m.calibration_from_arrays(np.array([0.0, 0.1, 0.3, 0.30000001, 1.0]), np.ones(5), 10)
    counts = cal.bins.set_index("bin")["count"]
    assert counts[0] == 2 and counts[2] == 1 and counts[3] == 1 and counts[9] == 1


def test_calibration_from_table_uses_predicted_label_probability():
    frame = table(
        [
            ("a", "anger", "anger"),
            ("a", "fear", "anger"),
            ("b", "fear", "fear"),
            ("b", "anger", "fear"),
        ]
    )
    frame["p_anger"] = [0.8, 0.8, 0.4, 0.4]
    frame["p_fear"] = [0.2, 0.2, 0.6, 0.6]
    t, labels, _ = validate_predictions(frame, ["anger", "fear"])
    cal = m.calibration(t, labels, n_bins=10)
    # confidences 0.8 (1 of 2 right) and 0.6 (1 of 2 right): ECE = .5 * .3 + .5 * .1
    assert cal.ece == pytest.approx(0.2)
    assert m.calibration(t.drop(columns=["p_fear"]), labels) is None


# -- validation ------------------------------------------------------------------------------
def test_validation_errors_and_notes():
    with pytest.raises(PredictionsError, match="pred"):
        validate_predictions(table(ROWS).drop(columns=["pred"]), LABELS)
    bad = table(ROWS)
    bad.loc[0, "pred"] = "contempt"
    with pytest.raises(PredictionsError, match="contempt"):
        validate_predictions(bad, LABELS)
    dup = table(ROWS)
    dup.loc[1, "sample_id"] = "s0"
    with pytest.raises(PredictionsError, match="unique"):
        validate_predictions(dup, LABELS)
    mixed = table(ROWS, country_group=["RU", "Other"] + ["RU"] * 7)
    with pytest.raises(PredictionsError, match="country_group"):
        validate_predictions(mixed, LABELS)
    spelled = table([("a", "Angry", "ANGER"), ("a", "Fearful", "anger")])
    t, _, _ = validate_predictions(spelled, ["anger", "fear"])
    assert t["true"].tolist() == ["anger", "fear"] and t["correct"].tolist() == [True, False]
    probs = table([("a", "anger", "anger")])
    probs["p_anger"], probs["p_fear"] = 0.5, 0.2
    assert any("sum to 1" in n for n in validate_predictions(probs, ["anger", "fear"])[2])


def test_labels_come_from_config_in_canonical_order():
    run = EvalRun.from_table(table(ROWS), {"labels": ["sad", "happy", "fear", "anger"]})
    assert run.labels == ("anger", "fear", "happy", "sad")
    probs = table(ROWS)
    for lbl in ("happy", "anger", "fear"):
        probs[f"p_{lbl}"] = 1 / 3
    assert EvalRun.from_table(probs).labels == ("anger", "fear", "happy")


def test_to_jsonable_handles_nan_frames_and_dataclasses(fixed):
    t, labels = fixed
    out = to_jsonable(
        {
            "o": m.overall_metrics(t, labels, n_boot=5),
            "pc": m.per_class_metrics(t, labels),
            "c": m.confusion_counts(t, labels),
        }
    )
    import json

    text = json.dumps(out, allow_nan=False)
    assert json.loads(text)["pc"][3]["precision"] is None
    assert json.loads(text)["c"][0]["true"] == "anger"
