"""Runs whose people have no, or partly missing, demographics: the per-participant table, the
subgroup analysis and the report show ``unknown``, never ``NaN``."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fer_engine.analytics import metrics as m
from fer_engine.analytics.inputs import UNKNOWN, as_eval_run
from fer_engine.analytics.subgroups import subgroup_analysis
from fer_engine.analytics.synthetic import (
    default_participants,
    loso_folds,
    synthetic_config,
    synthetic_predictions,
    write_run_folder,
)
from fer_engine.cli import main

NAN = re.compile(r"\b(nan|NaN|None)\b")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    people = default_participants()
    people.loc[people["participant"].isin(["3", "7"]), ["gender", "age", "age_group"]] = np.nan
    people.loc[people["participant"] == "11", ["country", "country_group"]] = np.nan
    partial = synthetic_predictions(accuracy=0.5, seed=4, participants=people)
    bare = synthetic_predictions(accuracy=0.5, seed=5)[
        lambda t: [c for c in t.columns if c not in people.columns or c == "participant"]]
    return {
        name: write_run_folder(root / name, t, synthetic_config(run_id=name), loso_folds(t))
        for name, t in (("partial", partial), ("bare", bare))
    }


def test_per_participant_table_says_unknown(runs):
    run = as_eval_run(runs["partial"])
    pp = m.per_participant_table(run.predictions, run.labels).set_index("participant")
    assert pp.loc["3", "gender"] == UNKNOWN and pp.loc["7", "age_group"] == UNKNOWN
    assert pp.loc["7", "age"] == UNKNOWN and pp.loc["11", "country_group"] == UNKNOWN
    assert pp.loc["11", "gender"] in ("female", "male") and pp.loc["3", "country_group"] == "RU"
    assert float(pp.loc["0", "age"]) > 0  # a known age stays a number
    assert not pp.isna().any().any()


def test_subgroups_have_an_unknown_group(runs):
    run = as_eval_run(runs["partial"])
    results = subgroup_analysis(run.predictions, run.labels, n_boot=20, n_perm=20)
    groups = next(r.groups for r in results if r.grouping == "gender")
    everything = [r.groups["group"] for r in results]
    gender = groups[groups["grouping"] == "gender"].set_index("group")
    assert set(gender.index) == {"female", "male", UNKNOWN}
    assert gender.loc[UNKNOWN, "n_participants"] == 2
    assert not any(g.astype(str).str.contains("nan").any() for g in everything)


def test_report_shows_unknown_not_nan(runs, capsys):
    assert main(["report", str(runs["partial"]), "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    table = re.split(r"Per participant \([^)]*lowest accuracy first\):\n", out)[1].split("\n\n")[0]
    rows = {line.split()[0]: line for line in table.splitlines()[1:]}
    assert len(rows) == 19
    assert rows["3"].split()[1:3] == [UNKNOWN, UNKNOWN]  # gender, age
    assert rows["11"].split()[3:5] == [UNKNOWN, UNKNOWN]  # country, country_group
    assert not NAN.search(table)
    assert main(["report", str(runs["partial"]), "--bootstrap", "20", "--format", "html"]) == 0
    html = capsys.readouterr().out
    assert html.count("<td>unknown</td>") >= 8  # 2 people x 3 columns + 1 x 2 in the table
    assert not re.search(r"<td>(nan|NaN|None)</td>", html)


def test_a_run_without_demographics_reports(runs, capsys):
    assert main(["report", str(runs["bare"]), "--bootstrap", "20"]) == 0
    captured = capsys.readouterr()
    assert "accuracy" in captured.out.lower() and not NAN.search(captured.out)
    assert captured.err == ""
