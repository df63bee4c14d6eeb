"""Model comparison (exact McNemar, paired participant bootstrap) and the leakage contrast."""

from __future__ import annotations

import pandas as pd
import pytest

from fer_engine.analytics.compare import (
    compare_runs,
    contrast_obstacle,
    default_run,
    leakage_contrast,
    leaky_partner,
    mcnemar_exact,
    paired_comparison,
    images_tested,
)
from fer_engine.analytics.inputs import EvalRun, PredictionsError

LABELS = ["anger", "fear"]


def run_from(rows, run_id, protocol="loso", model="cnn", leaky=None, fingerprint="data-1",
             epochs=None) -> EvalRun:
    """rows: (sample_id, participant, true, pred); the dataset is recorded by ``fingerprint``."""
    frame = pd.DataFrame(rows, columns=["sample_id", "participant", "true", "pred"])
    leaky = protocol == "paper" if leaky is None else leaky
    config = {
        "run_id": run_id,
        "labels": LABELS,
        "model": {"name": model},
        "protocol": {"name": protocol, "leaky": leaky, "participant_independent": not leaky},
        "dataset": {"name": f"dataset {fingerprint}", "fingerprint": fingerprint},
    }
    if epochs is not None:
        config["training"] = {"epochs": epochs}
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
    assert (f"95% range {100 * r.diff_low:+.1f} to {100 * r.diff_high:+.1f} percentage points"
            in r.sentence)
    assert "McNemar's test" in r.sentence and "McNemar p =" not in r.sentence
    assert r.sentence.endswith("With only 2 people the range is rough.")


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
    assert "4 images of 1 person" in r.sentence and "no 95% range" in r.sentence
    assert "95% range " not in r.sentence and "is more accurate on these images" not in r.sentence
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
    assert "leaky" in c.sentence and "+50.0 percentage points" in c.sentence
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
    # paper (cnn) against the cnn run of the same images only: not against hog_svm, and not
    # against the cnn run that tested another image
    assert [(c.independent_run, c.leaky_run) for c in out["leakage"]] == [("loso", "paper")]
    assert sum("share no image" in n for n in out["notes"]) == 2
    assert sum("models differ" in n for n in out["notes"]) == 1
    assert sum("No like-for-like leakage contrast" in n and "different images" in n
               for n in out["notes"]) == 1


def test_tested_images_count_augmented_copies_as_their_image():
    frame = pd.DataFrame({"sample_id": ["a.jpg#aug0", "a.jpg#aug1", "b.jpg"],
                          "path": ["a.jpg", "a.jpg", "b.jpg"]})
    assert images_tested(frame) == {"a.jpg", "b.jpg"}
    assert images_tested(frame.drop(columns="path")) == {"a.jpg", "b.jpg"}


def test_a_leakage_contrast_needs_the_same_dataset_and_images():
    honest = run_from(B_ROWS, "honest", epochs=2)
    # another dataset, even with the same image names: refused, saying why
    elsewhere = run_from(A_ROWS, "paper-elsewhere", protocol="paper", fingerprint="data-2",
                         epochs=30)
    reason = contrast_obstacle(honest, elsewhere)
    assert reason.startswith("they were tested on different datasets")
    assert "dataset data-1, 8 images tested" in reason and "dataset data-2" in reason
    with pytest.raises(PredictionsError, match="No like-for-like leakage contrast.*different "
                                               "datasets"):
        leakage_contrast(honest, elsewhere)
    # a run that records no dataset cannot be shown to be the same data
    unrecorded = run_from(A_ROWS, "paper-unrecorded", protocol="paper", fingerprint="")
    assert "does not record which dataset" in contrast_obstacle(honest, unrecorded)
    # same dataset, images that only partly overlap (neither run tested all of the other's)
    partial = run_from(A_ROWS[4:] + [("s9", "p3", "anger", "anger")], "paper-partial",
                       protocol="paper")
    assert contrast_obstacle(honest, partial).startswith(
        "they tested different images of the same dataset (4 in common; 4 tested only by the "
        "participant-independent run and 1 only by the leaky one)")
    # same dataset, the leaky run tested a random share of the images: like for like
    share = run_from(A_ROWS[:5], "paper-share", protocol="paper", epochs=30)
    assert contrast_obstacle(honest, share) == ""
    c = leakage_contrast(honest, share, n_boot=20)
    assert c.paired is not None and c.paired.n_shared == 5
    assert any("tested 5 of the 8 images" in n for n in c.notes)
    assert any("different numbers of epochs (2 participant-independent, 30 leaky)" in n
               for n in c.notes)


def test_a_dataset_moved_between_two_runs_is_still_the_same_images():
    from fer_engine.analytics.inputs import EvalRun

    def at(root, run_id, protocol, n):
        frame = pd.DataFrame({"sample_id": [f"{root}/img{i}.jpg" for i in range(n)],
                              "path": [f"{root}/img{i}.jpg" for i in range(n)],
                              "participant": [f"p{i % 4}" for i in range(n)],
                              "true": ["anger"] * n, "pred": ["anger"] * n})
        config = {"run_id": run_id, "labels": LABELS, "model": {"name": "cnn"},
                  "protocol": {"name": protocol, "leaky": protocol == "paper",
                               "participant_independent": protocol != "paper"},
                  "dataset": {"name": "d", "fingerprint": "same", "root": root}}
        return EvalRun.from_table(frame, config)

    honest, leaky = at("/home/a/faces", "h", "loso", 8), at("/mnt/b/faces", "l", "paper", 4)
    assert contrast_obstacle(honest, leaky) == ""  # the fingerprint takes paths relative too
    assert images_tested(honest.predictions, "/home/a/faces/") == {f"img{i}.jpg" for i in range(8)}


def listing(rows):
    return pd.DataFrame(rows, columns=["run_id", "model", "leaky", "fingerprint", "path"])


def test_leaky_partner_is_the_newest_like_for_like_leaky_run_not_shown():
    honest = run_from(B_ROWS, "r6")
    loaded = {
        "/runs/r5": run_from(A_ROWS, "r5", protocol="paper", model="resnet50"),
        "/runs/r4": run_from(A_ROWS, "r4", protocol="paper"),
        "/runs/r3": run_from(A_ROWS[:4], "r3", protocol="paper"),
        "/runs/r7": run_from(A_ROWS, "r7", protocol="paper", fingerprint="data-2"),
        "/runs/r8": run_from([("t1", "p1", "anger", "anger")], "r8", protocol="paper"),
    }
    calls = []

    def load(path):
        calls.append(path)
        return loaded[path]

    runs = listing([  # newest first, as list_runs gives them
        ("r7", "cnn", True, "data-2", "/runs/r7"),
        ("r6", "cnn", False, "data-1", "/runs/r6"),
        ("r5", "resnet50", True, "data-1", "/runs/r5"),
        ("r4", "cnn", True, "data-1", "/runs/r4"),
        ("r3", "cnn", True, "data-1", "/runs/r3"),
        ("r2", "cnn", False, "data-1", "/runs/r2"),
    ])
    # r7 is newer but of another dataset: never loaded, never picked
    assert leaky_partner(runs, honest, load=load).path == "/runs/r4" and calls == ["/runs/r4"]
    shown = ["/runs/r6", "/runs/r4"]
    assert leaky_partner(runs, honest, exclude=shown, load=load).path == "/runs/r3"
    # only the other dataset's leaky run is left: no partner, and the reason is plain
    other = leaky_partner(runs, honest, exclude=("/runs/r4", "/runs/r3"), load=load)
    assert other.path is None
    assert other.reason.startswith(f"No like-for-like leakage contrast for {honest.title}: the "
                                   "LEAKY run r7 of cnn is not comparable because they were "
                                   "tested on different datasets")
    # same dataset, other images
    runs8 = listing([("r8", "cnn", True, "data-1", "/runs/r8")])
    assert "tested different images" in leaky_partner(runs8, honest, load=load).reason
    # no leaky run of the model at all: nothing to say
    assert leaky_partner(runs, run_from(B_ROWS, "v", model="vgg16"), load=load) == (
        leaky_partner(runs.iloc[:0], honest, load=load))
    assert leaky_partner(runs.iloc[:0], honest, load=load).path is None
    assert leaky_partner(runs.iloc[:0], honest, load=load).reason == ""


def test_results_open_on_the_newest_participant_independent_run():
    runs = listing([
        ("r3", "cnn", True, "data-1", "/runs/r3"),
        ("r2", "cnn", False, "data-1", "/runs/r2"),
        ("r1", "cnn", False, "data-1", "/runs/r1"),
    ])
    assert default_run(runs) == "/runs/r2"
    assert default_run(runs.iloc[:1]) == "/runs/r3"  # all leaky: the newest
    assert default_run(runs.iloc[:0]) is None
