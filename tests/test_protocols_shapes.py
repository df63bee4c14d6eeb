"""Every protocol on every valid shape of dataset table: it runs and keeps its promises, or
it refuses with one plain sentence. Property-based (hypothesis) over generated tables, plus
the shapes met in real data. No TensorFlow, no images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fer_engine.emotions import EMOTIONS
from fer_engine.errors import DatasetError, SettingsError, UserFacingError
from fer_engine.experiments.protocols import PROTOCOLS, make_plan

DEMOGRAPHICS = ("gender", "country_group", "age_group")
VALUES = {"gender": ("female", "male"), "country_group": ("RU", "Other"),
          "age_group": ("under_31", "31_plus")}
PROPERTIES = settings(max_examples=60, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def tables(draw) -> pd.DataFrame:
    """A usable-images table: 1-12 people with 1-6 images each (emotions drawn, so a person
    may miss some and a class may be rare), ids as numbers, number-like text or names, and
    no, some, or partly missing demographics (missing for a whole person or on some rows)."""
    n_people = draw(st.integers(1, 12))
    ids = draw(st.sampled_from(["int", "text-number", "name"]))
    columns = draw(st.sets(st.sampled_from(DEMOGRAPHICS)))
    missing = draw(st.sampled_from(["none", "people", "rows"]))
    split_by = draw(st.sampled_from(["absent", "person", "image"]))
    rows = []
    for i in range(n_people):
        pid = {"int": i * 7, "text-number": f"{i * 7:03d}", "name": f"p{i}"}[ids]
        person = {c: draw(st.sampled_from(VALUES[c])) for c in columns}
        if missing == "people" and draw(st.booleans()):
            person = {c: None for c in columns}
        split = draw(st.sampled_from(["train", "test"]))
        for j in range(draw(st.integers(1, 6))):
            row = {"path": f"/data/{pid}/{j}.jpg", "participant": pid,
                   "emotion": draw(st.sampled_from(EMOTIONS)), **person}
            if missing == "rows" and draw(st.booleans()):
                row.update({c: None for c in columns})
            if split_by != "absent":
                row["split"] = split if split_by == "person" else draw(st.sampled_from(["train", "test"]))
            rows.append(row)
    return pd.DataFrame(rows)


def _refusal(table: pd.DataFrame, protocol: str, k: int, known: bool) -> bool:
    """Whether ``protocol`` must refuse ``table`` (with a sentence) rather than run."""
    people = table["participant"].astype(str).nunique()
    if protocol in ("loso", "group-kfold", "holdout") and not known:
        return True
    if protocol in ("loso", "holdout"):
        return people < 3
    if protocol == "group-kfold":
        return people < k
    if protocol == "paper":
        return len(table) < 2
    if protocol == "official":
        if "split" not in table.columns:
            return True
        sides = table.groupby("split")["participant"].agg(lambda s: set(map(str, s)))
        if set(sides.index) != {"train", "test"}:
            return True
        return known and bool(sides["train"] & sides["test"])
    return False  # none


def _assert_one_sentence(exc: Exception) -> None:
    text = str(exc)
    assert isinstance(exc, UserFacingError), repr(exc)
    assert text and "\n" not in text and text.endswith("."), text


def _assert_promises(plan, table: pd.DataFrame, protocol: str, k: int) -> None:
    part = plan.samples["participant"].to_numpy()
    n = len(plan.samples)
    tested = np.zeros(n, dtype=np.int64)
    for f in plan.folds:
        for a, b in ((f.train, f.val), (f.train, f.test), (f.val, f.test)):
            assert not set(a) & set(b), f"fold {f.index}: a sample on two sides"
        assert len(f.test) > 0, f"fold {f.index} tests nothing"
        if protocol != "none":
            assert len(f.train) > 0, f"fold {f.index} trains on nothing"
        if protocol != "paper":
            training = set(part[f.train]) | set(part[f.val])
            assert not training & set(part[f.test]), f"fold {f.index}: a person on both sides"
            assert f.overlap == []
        np.add.at(tested, f.test, 1)
    if protocol in ("loso", "group-kfold", "none"):
        assert np.all(tested == 1), "every sample is tested exactly once"
    else:
        assert np.all(tested <= 1)
    if protocol == "loso":
        assert [len(set(part[f.test])) for f in plan.folds] == [1] * len(plan.folds)
        assert len(plan.folds) == table["participant"].astype(str).nunique()
    if protocol == "group-kfold":
        assert len(plan.folds) == k
    if protocol in ("group-kfold", "holdout"):
        stratified = plan.params["stratified_by"]
        present = [c for c in DEMOGRAPHICS if c in table.columns and table[c].notna().any()]
        assert set(stratified) <= set(present)
        if not stratified:
            assert any("plain groups of whole people" in note for note in plan.notes)


@PROPERTIES
@given(table=tables(), k=st.integers(2, 6), test_size=st.sampled_from([0.1, 0.2, 0.5, 0.9]),
       seed=st.integers(0, 3), val_fraction=st.sampled_from([0.0, 0.15, 0.4]))
def test_every_protocol_runs_and_keeps_its_promises_or_refuses_in_a_sentence(
        table, k, test_size, seed, val_fraction):
    for protocol in PROTOCOLS:
        refuse = _refusal(table, protocol, k, known=True)
        try:
            plan = make_plan(table, protocol, k=k, test_size=test_size, seed=seed,
                             val_fraction=val_fraction)
        except UserFacingError as exc:
            _assert_one_sentence(exc)
            assert refuse, f"{protocol} refused a table it can split: {exc}"
            continue
        assert not refuse, f"{protocol} ran on a table it should refuse"
        _assert_promises(plan, table, protocol, k)


@settings(max_examples=25, deadline=None)
@given(table=tables(), seed=st.integers(0, 3))
def test_unknown_participants_refuse_person_splits_and_still_allow_the_others(table, seed):
    """Participants unknown: each image is its own id, as the class-folder reader does."""
    table = table.assign(participant=[f"img:{i}" for i in range(len(table))])
    for protocol in PROTOCOLS:
        refuse = _refusal(table, protocol, 2, known=False)
        try:
            plan = make_plan(table, protocol, participants_known=False, k=2, seed=seed)
        except UserFacingError as exc:
            _assert_one_sentence(exc)
            assert refuse, f"{protocol}: {exc}"
            continue
        assert not refuse and not plan.participant_independent
        _assert_promises(plan, table, protocol, 2)


def _manifest_table(people: int, images: int = 10, **columns) -> pd.DataFrame:
    """A class-folder dataset with a manifest of path, participant (and ``columns``)."""
    rows = [{"path": f"/data/{EMOTIONS[j % 8]}/{p}_{j}.jpg", "participant": p,
             "emotion": EMOTIONS[j % 8], "split": None,
             **{c: f(p) for c, f in columns.items()}}
            for p in range(1, people + 1) for j in range(images)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("protocol", ["group-kfold", "holdout"])
def test_a_manifest_without_demographics_gets_plain_grouped_folds_and_says_so(protocol):
    table = _manifest_table(100)  # about 1,000 posed images of about 100 people, no demographics
    plan = make_plan(table, protocol, k=5, seed=0)
    assert plan.params["stratified_by"] == []
    assert plan.config()["notes"] == ["No demographic columns to stratify by, so the folds are "
                                      "plain groups of whole people, not stratified."]
    tested = sorted(set(p for f in plan.folds for p in f.test_participants))
    if protocol == "group-kfold":
        assert len(plan.folds) == 5 and len(tested) == 100
        assert sorted(len(f.test_participants) for f in plan.folds) == [20] * 5
    else:
        assert len(plan.folds) == 1 and len(tested) == 20  # a fifth of the people
    _assert_promises(plan, table.astype({"participant": str}), protocol, 5)


def test_a_constant_or_partly_missing_column_stratifies_on_what_is_known():
    gender = {p: ("female" if p % 2 else "male") if p % 3 else None for p in range(1, 31)}
    table = _manifest_table(30, images=4, gender=gender.get)
    table.loc[table.index % 4 == 0, "gender"] = None  # some rows of known people lack it too
    plan = make_plan(table, "group-kfold", k=3, seed=0)
    assert plan.params["stratified_by"] == ["gender"] and plan.notes == []
    per_fold = [[gender[int(p)] for p in f.test_participants] for f in plan.folds]
    # each fold gets about a third of the women, the men and the unknown
    for value in ("female", "male", None):
        counts = [sum(1 for g in fold if g == value) for fold in per_fold]
        assert max(counts) - min(counts) <= 1, (value, counts)


@pytest.mark.parametrize("protocol, people, k, message", [
    ("loso", 2, 5, "Leave-one-subject-out needs at least 3 participants; this dataset has 2."),
    ("holdout", 2, 5, "A participant-level holdout needs at least 3 participants; this dataset has 2."),
    ("group-kfold", 3, 5, "group-kfold with k=5 needs at least 5 participants; this dataset has 3. "
                          "Choose k of at most 3, or leave-one-subject-out."),
])
def test_too_few_people_is_one_sentence_naming_the_count(protocol, people, k, message):
    with pytest.raises(DatasetError) as exc:
        make_plan(_manifest_table(people, images=3), protocol, k=k)
    assert str(exc.value) == message


def test_two_people_two_folds_and_one_image_still_split():
    plan = make_plan(_manifest_table(2, images=1), "group-kfold", k=2)
    assert [f.test_participants for f in plan.folds] in (
        [["1"], ["2"]], [["2"], ["1"]])
    one = make_plan(_manifest_table(1, images=2), "paper", test_size=0.9)
    assert len(one.folds[0].train) == 1 and len(one.folds[0].test) == 1
    with pytest.raises(DatasetError, match="at least 2 images; this dataset has 1"):
        make_plan(_manifest_table(1, images=1), "paper")


@pytest.mark.parametrize("kwargs, message", [
    ({"test_size": 2.0}, "The test share must be more than 0 and less than 1; it is 2."),
    ({"val_fraction": 0.5}, "The validation share must be at least 0 and less than 0.5; it is 0.5."),
    ({"k": 1}, "group-kfold needs k of at least 2; it is 1."),
])
def test_settings_out_of_range_are_one_sentence(kwargs, message):
    with pytest.raises(SettingsError) as exc:
        make_plan(_manifest_table(6, images=2), "group-kfold", **kwargs)
    assert str(exc.value) == message


def test_five_hundred_people_leave_one_out():
    table = _manifest_table(500, images=2)
    plan = make_plan(table, "loso", seed=0)
    assert len(plan.folds) == 500
    assert [f.test_participants for f in plan.folds[:3]] == [["1"], ["2"], ["3"]]
    assert sorted(np.concatenate([f.test for f in plan.folds])) == list(range(1000))


def test_stratifying_that_leaves_a_fold_empty_falls_back_to_plain_groups():
    # 4 people, 4 folds: stratified by gender, sklearn puts two people in one fold and none
    # in another; every fold must still test someone
    people = [(0, "male", 4), (1, "female", 2), (2, "female", 1), (3, "male", 2)]
    table = pd.DataFrame([{"path": f"/d/{p}/{j}.jpg", "participant": p, "emotion": "happy",
                           "gender": g} for p, g, n in people for j in range(n)])
    plan = make_plan(table, "group-kfold", k=4, seed=0)
    assert sorted(f.test_participants[0] for f in plan.folds) == ["0", "1", "2", "3"]
    assert plan.params["stratified_by"] == []
    assert plan.notes == ["Stratifying by gender left a fold without test people, so the folds "
                          "are plain groups of whole people, not stratified."]
