"""Model comparison (exact McNemar, paired participant bootstrap) and the leakage contrast."""

from __future__ import annotations

import pandas as pd
import pytest

from fer_engine.analytics.compare import (
    compare_runs,
    leakage_contrast,
    leaky_partner,
    mcnemar_exact,
    paired_comparison,
)
from fer_engine.analytics.inputs import EvalRun, PredictionsError

LABELS = ["anger", "fear"]


def run_from(rows, run_id, protocol="loso", model="cnn", leaky=None) -> EvalRun:
    """rows: (sample_id, participant, true, pred)."""
    frame = pd.DataFrame(rows, columns=["sample_id", "participant", "true", "pred"])
    leaky = protocol == "paper" if leaky is None else leaky
    config = {
        "run_id": run_id,
        "labels": LABELS,
        "model": {"name": model},
        "protocol": {"name": protocol, "leaky": leaky, "participant_independent": not leaky},
    }
    return EvalRun.from_table(frame, config)


def test_mcnemar_exact_hand_counts():
    # b=5, c=1: two-sided binomial(6, 1/2): 2 * (C(6,0) + C(6,1)) / 64 = 14/64
    assert mcnemar_exact(5, 1) == pytest.approx(14 / 64)
    assert mcnemar_exact(1, 5) == pytest.approx(14 / 64)
    assert mcnemar_exact(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar_exact(3, 3) == pytest.approx(1.0)
    assert mcnemar_exact(0, 0) == 1.0


# A right on s0-s5 (6), B right on s0-s1 and s6 -> both 2, A only 4, B only 1, both wrong 1 (s7)
A_ROWS = [
    (f"s{i}", "p1" if i < 4 else "p2", "anger", "anger" if i < 6 else "fear") for i in range(8)
]
B_ROWS = [
    (f"s{i}", "p1" if i < 4 else "p2", "anger", "anger" if i in (0, 1, 6) else "fear")
    for i in range(8)
]


def test_paired_comparison_counts_and_p():
    a, b = run_from(A_ROWS, "a"), run_from(B_ROWS, "b", model="hog_svm")
    r = paired_comparison(a.predictions, b.predictions, "A", "B", n_boot=300)
    assert (r.both_correct, r.a_only_correct, r.b_only_correct, r.both_wrong) == (2, 4, 1, 1)
    assert r.n_shared == 8 and r.n_participants == 2
    assert r.accuracy_a == pytest.approx(6 / 8) and r.accuracy_b == pytest.approx(3 / 8)
    assert r.diff == pytest.approx(3 / 8)
    assert r.mcnemar_p == pytest.approx(mcnemar_exact(4, 1))
    # two people: p1 diff (4-2)/4, p2 diff (2-1)/4 -> resamples give .25, .375 or .5
    assert 0.25 <= r.diff_low <= r.diff <= r.diff_high <= 0.5
    assert "McNemar" in r.sentence and "8 images of 2 people" in r.sentence
    assert f"95% interval {r.diff_low:+.1%} to {r.diff_high:+.1%}" in r.sentence
    assert r.sentence.endswith("With only 2 people the interval is rough.")


def test_paired_comparison_uses_only_shared_samples():
    a = run_from(A_ROWS + [("extra", "p3", "fear", "fear")], "a")
    b = run_from(B_ROWS, "b")
    r = paired_comparison(a.predictions, b.predictions, n_boot=50)
    assert r.n_shared == 8 and r.n_only_a == 1 and r.n_only_b == 0


def test_paired_single_participant_degenerate_interval():
    rows_a = [(f"s{i}", "p1", "anger", "anger" if i < 3 else "fear") for i in range(4)]
    rows_b = [(f"s{i}", "p1", "anger", "anger" if i < 1 else "fear") for i in range(4)]
    r = paired_comparison(
        run_from(rows_a, "a").predictions, run_from(rows_b, "b").predictions, n_boot=100
    )
    assert r.diff_low == r.diff_high == pytest.approx(0.5)
    # the sentence neither prints that interval nor calls a winner from it
    assert "4 images of 1 person" in r.sentence and "no interval" in r.sentence
    assert "95% interval" not in r.sentence and "is more accurate on these images" not in r.sentence
    assert "do not show which is more accurate" in r.sentence


def test_paired_comparison_refuses_different_data():
    a = run_from(A_ROWS, "a")
    other = run_from([(f"t{i}", "p1", "anger", "anger") for i in range(3)], "o")
    with pytest.raises(PredictionsError, match="share no image"):
        paired_comparison(a.predictions, other.predictions)
    flipped = run_from([(s, p, "fear", pr) for s, p, _, pr in A_ROWS], "f")
    with pytest.raises(PredictionsError, match="not run on the same data"):
        paired_comparison(a.predictions, flipped.predictions)


def test_leakage_contrast_side_by_side():
    honest = run_from(B_ROWS, "honest", protocol="loso")
    leaky_rows = [
        (f"s{i}#aug0", "p1" if i < 4 else "p2", "anger", "anger" if i < 7 else "fear")
        for i in range(8)
    ]
    leaky = run_from(leaky_rows, "paper", protocol="paper")
    c = leakage_contrast(honest, leaky, n_boot=100)
    tab = c.table.set_index("run_id")
    assert tab.loc["paper", "leaky"] and not tab.loc["honest", "leaky"]
    assert tab.loc["honest", "accuracy"] == pytest.approx(3 / 8) and tab.loc[
        "paper", "accuracy"
    ] == pytest.approx(7 / 8)
    assert c.gap == pytest.approx(0.5)
    assert c.paired is None  # different sample ids: not paired
    assert "leaky" in c.sentence and "+50.0%" in c.sentence
    with pytest.raises(PredictionsError):
        leakage_contrast(leaky, honest)


def test_leakage_contrast_pairs_shared_images_and_notes_model_mismatch():
    honest = run_from(B_ROWS, "honest")
    leaky = run_from(A_ROWS[:5], "paper", protocol="paper", model="vgg16")
    c = leakage_contrast(honest, leaky, n_boot=50)
    assert c.paired is not None and c.paired.n_shared == 5
    assert any("different models" in n for n in c.notes)


def test_compare_runs_picks_the_right_comparison():
    loso = run_from(A_ROWS, "loso")
    hog = run_from(B_ROWS, "hog", model="hog_svm")
    paper = run_from(A_ROWS, "paper", protocol="paper")
    unrelated = run_from([("z", "p9", "fear", "fear")], "z")
    out = compare_runs([loso, hog, paper, unrelated], n_boot=20)
    assert len(out["paired"]) == 1 and {out["paired"][0].name_a, out["paired"][0].name_b} == {
        loso.title,
        hog.title,
    }
    assert len(out["leakage"]) == 2  # paper (cnn) against the cnn runs, not against hog_svm
    assert {c.independent_run for c in out["leakage"]} == {"loso", "z"}
    assert sum("share no image" in n for n in out["notes"]) == 2
    assert sum("models differ" in n for n in out["notes"]) == 1


def test_leaky_partner_is_the_newest_leaky_run_of_the_same_model_not_shown():
    listing = pd.DataFrame(
        [  # newest first, as list_runs gives them
            ("r6", "cnn", False, "/runs/r6"),
            ("r5", "resnet50", True, "/runs/r5"),
            ("r4", "cnn", True, "/runs/r4"),
            ("r3", "cnn", True, "/runs/r3"),
            ("r2", "cnn", False, "/runs/r2"),
            ("r1", "vgg16", False, "/runs/r1"),
        ],
        columns=["run_id", "model", "leaky", "path"],
    )
    assert leaky_partner(listing, "cnn") == "/runs/r4"
    assert leaky_partner(listing, "cnn", exclude=["/runs/r6", "/runs/r4"]) == "/runs/r3"
    assert leaky_partner(listing, "cnn", exclude=("/runs/r4", "/runs/r3")) is None
    assert leaky_partner(listing, "resnet50") == "/runs/r5"
    assert leaky_partner(listing, "vgg16") is None  # only an independent run of that model
    assert leaky_partner(listing, "fervgg") is None
    assert leaky_partner(listing.iloc[:0], "cnn") is None

