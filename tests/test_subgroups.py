"""Subgroup analysis: fairlearn disaggregation, participant bootstrap, permutation tests,
small-sample warnings and calibration by group, on small fixed tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fer_engine.analytics import subgroups as sg
from fer_engine.analytics.inputs import PredictionsError, validate_predictions
from fer_engine.analytics.metrics import calibration_from_arrays, macro_f1
from fer_engine.analytics.stats import permutation_test_means, wilson_interval

LABELS = ["anger", "fear", "happy", "sad"]


def people_table(spec) -> pd.DataFrame:
    """spec: {participant: (country_group, age_group, n_correct)}; 4 images each, one per
    emotion; the first n_correct are right, the rest predicted as the next emotion."""
    rows = []
    for person, (country, age, hits) in spec.items():
        for i, label in enumerate(LABELS):
            pred = label if i < hits else LABELS[(i + 1) % 4]
            rows.append(
                {
                    "sample_id": f"{person}/{label}",
                    "participant": person,
                    "country_group": country,
                    "age_group": age,
                    "true": label,
                    "pred": pred,
                    **{f"p_{lbl}": (0.7 if lbl == pred else 0.1) for lbl in LABELS},
                }
            )
    table, _, _ = validate_predictions(pd.DataFrame(rows), LABELS)
    return table


SPEC = {
    "a": ("RU", "under_31", 4),
    "b": ("RU", "under_31", 2),
    "c": ("RU", "31_plus", 3),
    "d": ("Other", "31_plus", 1),
}


def test_small_sample_warning_text():
    assert (
        sg.small_sample_warning(2)
        == "Only 2 people: this number can swing widely; do not compare it."
    )
    assert "1 person" in sg.small_sample_warning(1) and "do not compare" in sg.small_sample_warning(
        1
    )
    assert sg.small_sample_warning(5) == ""
    assert sg.small_sample_warning(3, min_participants=3) == ""


def test_overall_people_warning_text():
    one = sg.overall_people_warning(1)
    assert one.startswith("All test images come from 1 person") and "no width" in one
    assert sg.overall_people_warning(3).startswith("The test images come from only 3 people")
    assert all("leave-one-subject-out" in sg.overall_people_warning(n) for n in (1, 2, 4))
    assert sg.overall_people_warning(5) == sg.overall_people_warning(19) == ""
    assert sg.overall_people_warning(2, min_participants=2) == ""


def test_subgroup_counts_accuracy_and_intervals():
    t = people_table(SPEC)
    res = sg.subgroup_metrics(t, LABELS, ["country_group"], reference="RU", n_boot=300, seed=0)
    g = res.groups.set_index("group")
    assert g.loc["RU", "n_participants"] == 3 and g.loc["RU", "n_images"] == 12
    assert g.loc["RU", "n_correct"] == 9 and g.loc["RU", "accuracy"] == pytest.approx(9 / 12)
    assert g.loc["Other", "accuracy"] == pytest.approx(1 / 4)
    assert (g.loc["RU", "accuracy_low"], g.loc["RU", "accuracy_high"]) == pytest.approx(
        wilson_interval(9, 12)
    )
    # macro-F1 by group is the analytics' macro-F1 of that group's rows
    ru = t[t["country_group"] == "RU"]
    assert g.loc["RU", "macro_f1"] == pytest.approx(macro_f1(ru["true"], ru["pred"], LABELS))
    # one person in "Other": bootstrap redraws that person only -> degenerate interval
    assert (
        g.loc["Other", "accuracy_boot_low"]
        == g.loc["Other", "accuracy_boot_high"]
        == pytest.approx(0.25)
    )
    # RU: people with 4/4, 2/4, 3/4 -> resampled accuracies lie in [0.5, 1]
    assert (
        0.5 <= g.loc["RU", "accuracy_boot_low"] <= 0.75 <= g.loc["RU", "accuracy_boot_high"] <= 1.0
    )
    # reference, difference and ratio
    assert g.loc["RU", "is_reference"] and not g.loc["Other", "is_reference"]
    assert g.loc["Other", "accuracy_diff"] == pytest.approx(0.25 - 0.75)
    assert g.loc["Other", "accuracy_ratio"] == pytest.approx(1 / 3)
    assert math.isnan(g.loc["RU", "p_value"]) and g.loc["RU", "p_method"] == "reference"
    # small-sample warnings
    assert g.loc["Other", "small_sample"] and g.loc["Other", "warning"].startswith("Only 1 person")
    # the chart labels each bar with its group in words, its people and images, and a
    # warning sign on small groups
    from fer_engine.analytics.figures import subgroup_bars

    labels = {label.split("<br>")[0]: label for label in subgroup_bars(res.groups).data[0].y}
    assert set(labels) == {"Country: Other", "Country: RU"}
    assert "⚠ 3 people, 12 images" in labels["Country: RU"]
    assert "⚠ 1 person, 4 images" in labels["Country: Other"]
    assert (
        g.loc["RU", "warning"] == "Only 3 people: this number can swing widely; do not compare it."
    )
    # fairlearn's between-group spread
    assert res.difference["accuracy"] == pytest.approx(0.5)
    assert res.ratio["accuracy"] == pytest.approx(1 / 3)


def test_exact_permutation_p_value_hand_count():
    t = people_table(SPEC)
    res = sg.subgroup_metrics(t, LABELS, ["country_group"], reference="RU", n_boot=50)
    other = res.groups.set_index("group").loc["Other"]
    # 4 people, 1 in "Other": 4 relabelings, each person alone vs the other three.
    # Accuracies 4,2,3,1 of 4 -> statistics: a: 1-6/12=.5, b: .5-8/12, c: .75-7/12, d: .25-9/12=-.5
    # |stat| >= .5 for a and d -> p = 2/4
    assert other["p_method"] == "exact" and other["p_value"] == pytest.approx(0.5)


def test_permutation_identical_vs_separated_groups():
    rng = np.random.default_rng(0)
    same = np.full(10, 4.0)
    p, method, n = permutation_test_means(same, np.full(10, 8.0), np.arange(10) < 5, 1000, rng)
    assert p == 1.0 and method == "exact" and n == 252
    sep = np.r_[np.full(5, 8.0), np.zeros(5)]
    p, method, _ = permutation_test_means(sep, np.full(10, 8.0), np.arange(10) < 5, 1000, rng)
    assert p == pytest.approx(2 / 252)  # only the observed split and its mirror are as extreme
    # Monte Carlo when enumeration is not allowed: close to the exact value, never 0
    p_mc, method, n = permutation_test_means(
        sep, np.full(10, 8.0), np.arange(10) < 5, 2000, rng, max_exact=10
    )
    assert method == "monte carlo" and n == 2000 and 0 < p_mc < 0.03


def test_permutation_is_over_participants_not_images():
    # Group A: 2 people, group B: 2 people; 8 images each. Image-level permutation would give
    # p ~ 0 for 16/16 vs 0/16; person-level has only C(4,2)=6 relabelings -> p = 2/6.
    p, _, n = permutation_test_means(
        np.array([8.0, 8.0, 0.0, 0.0]),
        np.full(4, 8.0),
        np.array([True, True, False, False]),
        1000,
        np.random.default_rng(0),
    )
    assert n == 6 and p == pytest.approx(2 / 6)


def test_best_reference_skips_small_groups_and_named_reference():
    spec = {f"r{i}": ("RU", "31_plus", 2) for i in range(5)} | {"x": ("Other", "31_plus", 4)}
    t = people_table(spec)
    res = sg.subgroup_metrics(t, LABELS, ["country_group"], reference="best", n_boot=20)
    assert res.reference == "RU"  # Other is more accurate but has 1 person
    res = sg.subgroup_metrics(
        t, LABELS, ["country_group"], reference="best", n_boot=20, min_participants=1
    )
    assert res.reference == "Other"
    res = sg.subgroup_metrics(
        t, LABELS, ["country_group"], reference="largest", n_boot=20, min_participants=1
    )
    assert res.reference == "RU"
    with pytest.raises(PredictionsError, match="no group 'Mars'"):
        sg.subgroup_metrics(t, LABELS, ["country_group"], reference="Mars", n_boot=20)


def test_intersections_unknown_groups_and_recall():
    t = people_table(SPEC)
    t.loc[t["participant"] == "b", "age_group"] = None
    res = sg.subgroup_metrics(t, LABELS, ["country_group", "age_group"], n_boot=20)
    names = set(res.groups["group"])
    assert names == {"RU · under_31", "RU · unknown", "RU · 31_plus", "Other · 31_plus"}
    assert res.grouping == "country_group × age_group"
    rec = res.recall.set_index(["group", "label"])
    # person a (4/4) alone in RU · under_31; d gets only anger right
    assert rec.loc[("RU · under_31", "sad"), "recall"] == 1.0
    assert rec.loc[("Other · 31_plus", "anger"), "recall"] == 1.0
    assert rec.loc[("Other · 31_plus", "fear"), "recall"] == 0.0
    assert rec.loc[("Other · 31_plus", "fear"), "support"] == 1
    assert (
        rec.loc[("Other · 31_plus", "fear"), "recall_low"],
        rec.loc[("Other · 31_plus", "fear"), "recall_high"],
    ) == pytest.approx(wilson_interval(0, 1))


def test_subgroup_analysis_skips_missing_columns_and_combines():
    t = people_table(SPEC)
    results = sg.subgroup_analysis(t, LABELS, n_boot=20)
    assert [r.grouping for r in results] == [
        "country_group",
        "age_group",
        "country_group × age_group",
    ]
    _, notes = sg.available_groupings(t)
    assert notes == ["No gender information in this run: the 4 subgroup views that need it are "
                     "left out."]
    _, notes = sg.available_groupings(t.drop(columns=["country_group", "age_group"]))
    assert notes == ["No country, age or gender information in this run: the 7 subgroup views "
                     "that need them are left out."]
    assert sg.available_groupings(t, [("country_group",), ("age_group",)])[1] == []
    groups, recall = sg.combine(results)
    assert len(groups) == 2 + 2 + 3 and len(recall) == len(groups) * len(LABELS)


def test_bootstrap_is_seeded_and_independent_of_other_groups():
    spec = {f"r{i}": ("RU", "31_plus", i % 5) for i in range(12)} | {"x": ("Other", "31_plus", 1)}
    t = people_table(spec)
    cols = ["accuracy_boot_low", "accuracy_boot_high"]
    a = sg.subgroup_metrics(t, LABELS, ["country_group"], n_boot=200, seed=3).groups.set_index(
        "group"
    )
    b = sg.subgroup_metrics(t, LABELS, ["country_group"], n_boot=200, seed=3).groups.set_index(
        "group"
    )
    pd.testing.assert_frame_equal(a, b)
    c = sg.subgroup_metrics(t, LABELS, ["country_group"], n_boot=200, seed=4).groups.set_index(
        "group"
    )
    assert not np.allclose(a.loc["RU", cols].astype(float), c.loc["RU", cols].astype(float))
    # RU's interval does not depend on which other groups exist
    alone = sg.subgroup_metrics(
        t[t["country_group"] == "RU"], LABELS, ["country_group"], n_boot=200, seed=3
    ).groups.set_index("group")
    assert np.allclose(alone.loc["RU", cols].astype(float), a.loc["RU", cols].astype(float))


def test_calibration_by_group_matches_subset():
    t = people_table(SPEC)
    summary, bins = sg.calibration_by_group(t, LABELS, groupings=[("country_group",)], n_bins=10)
    ru = t["country_group"] == "RU"
    expected = calibration_from_arrays(np.full(ru.sum(), 0.7), t.loc[ru, "correct"].to_numpy(), 10)
    row = summary.set_index("group").loc["RU"]
    assert row["ece"] == pytest.approx(expected.ece) and row["n_participants"] == 3
    assert summary.set_index("group").loc["Other", "small_sample"]
    assert set(bins["group"]) == {"RU", "Other"} and len(bins) == 20
    assert sg.calibration_by_group(t.drop(columns=["p_sad"]), LABELS)[0].empty


def test_groups_read_in_words():
    assert sg.readable_group("country_group × age_group × gender", "RU · 31_plus · male") == (
        "Country: RU · Age: 31 or older · Gender: male")
    assert sg.readable_group("age_group", "under_31") == "Age: under 31"
    assert sg.readable_group("gender", "unknown") == "Gender: unknown"
    assert sg.readable_grouping("country_group × gender") == "Country × Gender"


def test_small_and_single_group_notes_say_each_thing_once():
    t = people_table(SPEC | {"e": ("RU", "31_plus", 2)})
    t["gender"] = "female"
    groups, _ = sg.combine(sg.subgroup_analysis(t, LABELS, n_boot=20, n_perm=20))
    # every group has fewer than 5 people: one sentence lists them all, in words
    small = sg.small_groups_note(groups)
    assert small.startswith("Groups of fewer than 5 people: Country: Other (1 person); "
                            "Country: RU (4 people);")
    assert small.count("fewer than") == 1 and "31_plus" not in small
    assert "Age: 31 or older · Gender: female (3 people)" in small
    assert sg.small_groups_note(groups, min_participants=1) == ""
    assert sg.single_group_note(groups) == "Only one group, so nothing to compare, by: Gender."
    assert sg.small_groups_note(groups.iloc[:0]) == sg.single_group_note(groups.iloc[:0]) == ""



def test_one_view_left_out_reads_in_the_singular():
    table = pd.DataFrame({"participant": ["a", "b"], "gender": [None, None],
                          "age_group": ["under_31", "31_plus"]})
    _, notes = sg.available_groupings(table, [("gender",), ("age_group",)])
    assert notes == ["No gender information in this run: the subgroup view that needs it is "
                     "left out."]
