"""Evaluation protocols: who is on which side of each split. No TensorFlow, no images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fer_engine.emotions import EMOTIONS
from fer_engine.errors import DatasetError
from fer_engine.experiments.protocols import (
    Fold,
    LeakageError,
    check_no_leakage,
    check_pooled,
    make_plan,
)
from fer_engine.data.synthetic import default_metadata


@pytest.fixture(scope="module")
def study_table() -> pd.DataFrame:
    """The study's shape: the 19 real participants' metadata x 8 emotions = 152 rows."""
    meta = default_metadata()
    rows = []
    for _, r in meta.iterrows():
        for e in EMOTIONS:
            country = str(r["country"]).upper()
            rows.append({
                "path": f"/data/images/{r['set_id']}/{e}.jpg", "participant": str(r["set_id"]),
                "emotion": e, "split": None, "gender": str(r["gender"]).lower(), "age": float(r["age"]),
                "country": country, "country_group": "RU" if country == "RU" else "Other",
                "age_group": "under_31" if float(r["age"]) < 31 else "31_plus",
            })
    return pd.DataFrame(rows)


def _people(table, idx):
    return set(table["participant"].iloc[idx])


def _assert_independent(plan, table):
    for f in plan.folds:
        training = _people(table, np.concatenate([f.train, f.val]).astype(int))
        assert not training & _people(table, f.test), f"fold {f.index} leaks"
        assert not _people(table, f.val) & _people(table, f.train)
        assert f.overlap == []
        assert set(f.test_participants) == _people(table, f.test)


def test_loso_one_participant_per_fold_and_every_image_scored_once(study_table):
    plan = make_plan(study_table, "loso", seed=0)
    assert len(study_table) == 152 and len(plan.folds) == 19
    assert [f.test_participants for f in plan.folds] == [[str(i)] for i in range(19)]  # natural order
    tested = np.concatenate([f.test for f in plan.folds])
    assert sorted(tested) == list(range(152))  # pooled: each image exactly once
    for f in plan.folds:
        assert len(f.test) == 8 and len(f.train) + len(f.val) == 144
        assert len(f.val_participants) == 3  # round(0.15 * 18) whole participants
    _assert_independent(plan, study_table)
    cfg = plan.config()
    assert cfg["leaky"] is False and cfg["participant_independent"] is True and cfg["n_folds"] == 19
    assert "never a test participant" in plan.validation


def test_group_kfold_is_balanced_stratified_and_pooled(study_table):
    plan = make_plan(study_table, "group-kfold", k=5, seed=1)
    assert len(plan.folds) == 5
    assert sorted(len(f.test_participants) for f in plan.folds) == [3, 4, 4, 4, 4]
    assert sorted(np.concatenate([f.test for f in plan.folds])) == list(range(152))
    _assert_independent(plan, study_table)
    assert plan.params["stratified_by"] == ["country_group", "gender", "age_group"]
    # the two "Other" participants (7 and 10) are spread, not put in one fold
    others = [f.index for f in plan.folds for p in f.test_participants if p in ("7", "10")]
    assert len(set(others)) == 2
    # seeded: same seed, same folds; another seed, other folds
    again = make_plan(study_table, "group-kfold", k=5, seed=1)
    assert [f.test_participants for f in again.folds] == [f.test_participants for f in plan.folds]
    other = make_plan(study_table, "group-kfold", k=5, seed=2)
    assert [f.test_participants for f in other.folds] != [f.test_participants for f in plan.folds]


def test_group_kfold_needs_enough_participants(study_table):
    with pytest.raises(DatasetError, match="at least 20 participants"):
        make_plan(study_table, "group-kfold", k=20)


def test_holdout_is_one_participant_level_split_of_about_a_fifth(study_table):
    plan = make_plan(study_table, "holdout", test_size=0.2, seed=0)
    (f,) = plan.folds
    assert 3 <= len(f.test_participants) <= 5
    assert len(f.test) == 8 * len(f.test_participants)
    assert len(f.train) + len(f.val) + len(f.test) == 152
    _assert_independent(plan, study_table)


def test_paper_is_image_level_and_labelled_leaky(study_table):
    plan = make_plan(study_table, "paper", test_size=0.2, seed=0)
    (f,) = plan.folds
    assert len(f.test) == round(0.2 * 152)
    assert plan.leaky and not plan.participant_independent
    assert len(f.overlap) >= 15  # nearly every participant on both sides, recorded not raised
    assert any("LEAKY" in n for n in plan.notes)
    assert plan.config()["leaky"] is True
    with pytest.raises(LeakageError):  # the same folds would trip the assertion
        check_no_leakage(plan.samples, plan.folds)


def test_paper_augment_before_split_puts_copies_of_one_photo_on_both_sides(study_table):
    plan = make_plan(study_table, "paper", augment_before_split=True, copies=4, seed=0)
    samples = plan.samples
    assert len(samples) == 152 * 5
    assert samples["sample_id"].is_unique
    assert samples.loc[samples["copy"] == 2, "sample_id"].str.endswith("#aug2").all()
    assert (samples.loc[samples["copy"] == 0, "sample_id"] == study_table["path"]).all()
    (f,) = plan.folds
    assert f.overlap_images > 50  # source photos with copies in train and in test
    assert plan.params["augment_before_split"] is True and plan.params["copies"] == 4


def test_official_uses_the_datasets_own_split():
    n = 60
    table = pd.DataFrame({
        "path": [f"/f/{i}.png" for i in range(n)], "participant": [f"img:{i}" for i in range(n)],
        "emotion": ["happy", "sad", "fear"] * 20,
        "split": ["train"] * 40 + ["PublicTest"] * 15 + ["private_test"] * 5,
    })
    plan = make_plan(table, "official", participants_known=False, seed=0)
    (f,) = plan.folds
    assert sorted(f.test) == list(range(40, 55))
    assert set(f.train) | set(f.val) == set(range(40)) and len(f.val) == 6  # 15 % of train images
    assert not plan.participant_independent and not plan.leaky
    assert any("5 images in other split" in n for n in plan.notes)
    # a validation split of its own is used as it is
    table.loc[35:39, "split"] = "validation"
    f = make_plan(table, "official", participants_known=False).folds[0]
    assert sorted(f.val) == list(range(35, 40)) and sorted(f.train) == list(range(35))


def test_official_refuses_a_split_that_shares_participants():
    table = pd.DataFrame({"path": list("abcd"), "participant": ["p1", "p2", "p1", "p3"],
                          "emotion": ["happy", "sad"] * 2, "split": ["train", "train", "test", "test"]})
    with pytest.raises(DatasetError, match="both train and test"):
        make_plan(table, "official", participants_known=True)
    with pytest.raises(DatasetError, match="no split of its own"):
        make_plan(table.assign(split=None), "official")


def test_grouped_protocols_refuse_data_without_participants(study_table):
    for protocol in ("loso", "group-kfold", "holdout"):
        with pytest.raises(DatasetError, match="needs participant ids; this dataset has none"):
            make_plan(study_table, protocol, participants_known=False)


def test_a_deliberately_leaky_fold_list_trips_the_assertion(study_table):
    plan = make_plan(study_table, "loso")
    check_no_leakage(plan.samples, plan.folds)  # the real folds pass
    f = plan.folds[0]
    # move one image of the test participant into training
    leaky = Fold(0, np.append(f.train, f.test[0]), f.val, f.test[1:], f.train_participants,
                 f.val_participants, f.test_participants, overlap=[])  # the fold's own list lies
    with pytest.raises(LeakageError, match="participant"):
        check_no_leakage(plan.samples, [leaky])
    same_sample = Fold(0, f.train, f.val, np.append(f.test, f.train[0]), [], [], [], [])
    with pytest.raises(LeakageError, match="same sample"):
        check_no_leakage(plan.samples, [same_sample])


def test_pooled_check_trips_on_a_sample_tested_twice_or_never(study_table):
    plan = make_plan(study_table, "loso")
    check_pooled(plan.samples, plan.folds)
    with pytest.raises(LeakageError, match="exactly once"):
        check_pooled(plan.samples, plan.folds[:-1])
    with pytest.raises(LeakageError, match="exactly once"):
        check_pooled(plan.samples, plan.folds + plan.folds[:1])


def test_validation_can_be_switched_off(study_table):
    plan = make_plan(study_table, "loso", val_fraction=0)
    assert all(len(f.val) == 0 for f in plan.folds)
    assert "none" in plan.validation


def test_fold_json_matches_the_contract(study_table):
    f = make_plan(study_table, "holdout").folds[0].to_json()
    assert {"fold", "train", "val", "test", "overlap"} <= set(f)
    assert f["overlap"] == [] and all(isinstance(p, str) for p in f["train"] + f["val"] + f["test"])


def _fer2013_like(n: int = 40) -> pd.DataFrame:
    """Class folders without a manifest: every image its own id, the dataset's own split."""
    return pd.DataFrame({
        "path": [f"/f/{i}.png" for i in range(n)], "participant": [f"img:{i}" for i in range(n)],
        "emotion": ["happy", "sad"] * (n // 2),
        "split": ["train"] * (n - 10) + ["PublicTest"] * 10,
    })


def test_support_offers_only_what_the_data_allow_and_says_why_not(study_table):
    from fer_engine.experiments.protocols import PROTOCOL_LABELS, default_protocol, protocol_support

    fer = protocol_support(_fer2013_like(), participants_known=False)
    assert list(fer) == list(PROTOCOL_LABELS)  # the order people see
    assert fer == {
        "loso": "Leave-one-subject-out needs participant ids; this dataset has none.",
        "group-kfold": "Grouped k-fold needs participant ids; this dataset has none.",
        "holdout": "A participant-level holdout needs participant ids; this dataset has none.",
        "official": None, "none": None, "paper": None,
    }
    assert default_protocol(fer) == "official"  # never the leaky one while another applies

    study = protocol_support(study_table)
    assert [p for p, why in study.items() if why is None] == [
        "loso", "group-kfold", "holdout", "none", "paper"]
    assert study["official"] == ("The dataset's own split needs train and test folders; this "
                                 "dataset has no split of its own.")
    assert default_protocol(study) == "loso"
    # many people: k grouped folds, not one training per person
    assert default_protocol(study, n_participants=30) == "loso"
    assert default_protocol(study, n_participants=118) == "group-kfold"
    assert default_protocol(fer, n_participants=118) == "official"

    two = study_table[study_table["participant"].isin(["1", "2"])]
    support = protocol_support(two)
    assert support["loso"] == ("Leave-one-subject-out needs at least 3 participants; this "
                               "dataset has 2.")
    assert support["group-kfold"] is None  # with k = 2
    assert default_protocol(support) == "group-kfold"
    assert default_protocol({"loso": "no", "paper": "no"}) is None


def test_make_plan_refuses_with_the_same_sentence_the_support_gives(study_table):
    from fer_engine.experiments.protocols import refusal

    cases = [(_fer2013_like(), "loso", False, 5), (study_table, "official", True, 5),
             (study_table, "group-kfold", True, 20),
             (study_table[study_table["participant"] == "1"], "holdout", True, 5)]
    for table, protocol, known, k in cases:
        why = refusal(table, protocol, participants_known=known, k=k)
        assert why and why.endswith(".")
        with pytest.raises(DatasetError) as exc:
            make_plan(table, protocol, participants_known=known, k=k)
        assert str(exc.value) == why
