"""The study report: build_report, the three formats, methods, checklist and the CLI."""

from __future__ import annotations

import json
import re
from html import escape as html_escape
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from fer_engine.analytics import methods as methods_mod
from fer_engine.analytics.inputs import EvalRun, as_eval_run
from fer_engine.analytics.report import build_report, render, report_to_json
from fer_engine.analytics.synthetic import (
    default_participants,
    loso_folds,
    synthetic_config,
    synthetic_predictions,
    write_run_folder,
)
from fer_engine.cli import main

N_BOOT = 200


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    loso = synthetic_predictions(accuracy=0.45, seed=0)
    paper = synthetic_predictions(accuracy=0.9, seed=1)
    hog = synthetic_predictions(accuracy=0.3, seed=2)
    overlap = [
        {
            "fold": 0,
            "train": [str(i) for i in range(19)],
            "val": [],
            "test": [str(i) for i in range(19)],
            "overlap": [str(i) for i in range(19)],
        }
    ]
    paper["fold"] = 0
    history = pd.DataFrame(
        [(f, e, 2.0 - e / 10, 0.2, 2.1 - e / 20, 0.2, 1e-3) for f in range(6) for e in (1, 2, 3)],
        columns=["fold", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"],
    )
    small = synthetic_predictions(
        accuracy=0.5, seed=3, participants=default_participants().iloc[4:10]
    )
    return {
        "small": write_run_folder(
            root / "small", small, synthetic_config(run_id="small"), loso_folds(small), history
        ),
        "small_paper": write_run_folder(
            root / "small_paper",
            small,
            synthetic_config(protocol="paper", run_id="small_paper"),
            history=history,
        ),
        "loso": write_run_folder(
            root / "loso", loso, synthetic_config(run_id="loso"), loso_folds(loso)
        ),
        "paper": write_run_folder(
            root / "paper", paper, synthetic_config(protocol="paper", run_id="paper"), overlap
        ),
        "hog": write_run_folder(
            root / "hog", hog, synthetic_config(model="hog_svm", run_id="hog"), loso_folds(hog)
        ),
    }


@pytest.fixture(scope="module")
def report(runs):
    return build_report(
        [runs["loso"], runs["paper"], runs["hog"]], prevalence=["fear=0.05"], n_boot=N_BOOT
    )


def test_build_report_structure(report):
    assert [s.run_id for s in report["runs"]] == ["loso", "paper", "hog"]
    loso, paper, _ = report["runs"]
    assert not loso.leaky and loso.banner is None
    assert paper.leaky and "LEAKY" in paper.banner and report["banners"] == [paper.banner]
    assert loso.synthetic and "Synthetic" in loso.synthetic_banner
    assert loso.overall.n_samples == 152 and loso.overall.n_participants == 19
    assert len(loso.per_class) == 8 and loso.confusion["counts"].to_numpy().sum() == 152
    assert loso.ppv_at_prevalence["label"].tolist() == ["fear"]
    groups = loso.subgroups["groups"].set_index(["grouping", "group"])
    other = groups.loc[("country_group", "Other")]
    assert other["n_participants"] == 2 and other["n_images"] == 16
    assert other["warning"] == "Only 2 people: this number can swing widely; do not compare it."
    assert len(loso.per_participant) == 19
    assert loso.calibration["overall"].n == 152 and len(loso.calibration["by_group"]) == 6
    assert report["settings"]["n_boot"] == N_BOOT
    # comparisons: loso vs hog share every image; paper vs loso is the leakage contrast
    comp = report["comparisons"]
    assert len(comp["paired"]) == 1 and comp["paired"][0].n_shared == 152
    assert len(comp["leakage"]) == 1 and comp["leakage"][0].leaky_run == "paper"


def test_methods_and_independence(report, runs):
    loso, paper, _ = report["runs"]
    assert loso.methods["independence"]["status"] == "passed"
    assert paper.methods["independence"]["status"] == "failed"
    assert "Failed" in paper.methods["independence"]["sentence"]
    cohort = loso.methods["cohort"].set_index(["attribute", "value"])
    assert cohort.loc[("country_group", "Other"), "participants"] == 2
    assert cohort.loc[("gender", "female"), "participants"] == 14
    assert cohort.loc[("total", "all"), "images"] == 152
    text = " ".join(loso.methods["paragraphs"])
    assert "Leave-one-subject-out" in text and "rotation: 0.05" in text and "batch size 32" in text
    assert not re.search(r"\w=\w", text), text  # sentences, not key=value dumps
    assert "not recorded" not in text
    # a fold table that puts a test person in training is caught even if not declared
    run = as_eval_run(runs["loso"])
    run.folds = [dict(f) for f in run.folds]
    run.folds[0]["train"] = run.folds[0]["train"] + run.folds[0]["test"]
    assert methods_mod.independence_check(run)["status"] == "failed"
    run.folds = None
    assert methods_mod.independence_check(run)["status"] == "not checked"


def test_preprocessing_and_one_step_fits_read_as_sentences():
    pre = {"detect": True, "margin": 0.2, "detector": "mtcnn", "align": True,
           "fallback": "centre", "status_counts": {"face": 975, "centre": 6}}
    assert methods_mod.preprocess_text(pre) == (
        "faces found by mtcnn, cut with a margin of 0.2 of the face's size, eyes levelled; "
        "where no face is found, the image's centre square (981 images: 975 with a face "
        "found, 6 with no face found (centre square used))")
    assert methods_mod.preprocess_text({"detect": False}) == "whole images, no face detection"
    assert methods_mod.epochs_text({"epochs": None}) == "fitted in one step (no epochs)"
    assert methods_mod.epochs_text({"epochs": 30}) == "at most 30 epochs"
    assert methods_mod.epochs_text({"trained": False}) == "no training"


def test_checklist_filled_from_run(report, runs):
    items = {i["item"]: i for i in report["runs"][0].checklist}
    assert items["Clinical question and intended use stated"]["status"] == "not answered"
    assert items["External validation on independent data"]["status"] == "not answered"
    assert items["Calibration assessed"]["status"] == "answered"
    prev = items[
        "Clinically relevant metric at a realistic base rate (PPV at the clinic's prevalence)"
    ]
    assert prev["status"] == "answered" and "fear 5.0%" in prev["answer"]
    assert (
        items["Comparison with a baseline or simpler model on the same data"]["status"]
        == "answered"
    )
    assert (
        items["What the model relies on (explanations, shortcut checks)"]["status"]
        == "not answered"
    )
    assert all(i["where"] for i in report["runs"][0].checklist)
    single = build_report(runs["small"], n_boot=20)["runs"][0].checklist
    single = {i["item"]: i["status"] for i in single}
    assert (
        single[
            "Clinically relevant metric at a realistic base rate (PPV at the clinic's prevalence)"
        ]
        == "partly answered"
    )
    assert single["Comparison with a baseline or simpler model on the same data"] == "not answered"


def test_json_round_trip(report):
    text = render(report, "json")
    data = json.loads(text)  # allow_nan=False in the renderer: NaN became null
    assert json.loads(json.dumps(data)) == data
    loso = data["runs"][0]
    assert loso["overall"]["accuracy"] == pytest.approx(report["runs"][0].overall.accuracy)
    assert data["runs"][1]["banner"].startswith("LEAKY EVALUATION")
    assert loso["subgroups"]["groups"][0]["grouping"] == "country_group"
    assert {r["label"] for r in loso["per_class"]} == set(report["runs"][0].labels)
    assert data["comparisons"]["leakage"][0]["table"][1]["leaky"] is True
    assert report_to_json(report) == data


def test_text_report(report):
    text = render(report, "text")
    assert text.count("LEAKY EVALUATION") >= 2  # top and in the paper run's section
    for heading in (
        "Overall:",
        "Per class",
        "Confusion matrix",
        "PPV per emotion",
        "PPV at a chosen prevalence",
        "Subgroups",
        "Per participant",
        "Calibration: ECE",
        "Methods:",
        "Checklist for a supervised clinical ML study",
        "LEAKAGE CONTRAST",
        "McNemar",
    ):
        assert heading in text, heading
    assert "Only 2 people: this number can swing widely; do not compare it." in text


class _Checker(HTMLParser):
    VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr"})

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.scripts, self.divs, self.text = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag == "div":
            self.divs.append(dict(attrs))

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}>, open: {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "script":
            self.scripts.append(data)
        else:
            self.text.append(data)


def test_html_report_parses_and_is_self_contained(report):
    page = render(report, "html")
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    assert page.startswith("<!DOCTYPE html>")
    # plotly.js inlined exactly once, no external script or CDN
    assert sum("plotly.js v" in s for s in checker.scripts) == 1
    assert "<script src=" not in page and "https://" not in " ".join(checker.text)
    # per run: per-class, confusion, PPV, subgroups, participants, reliability; + leakage chart
    figures = [
        d
        for d in checker.divs
        if d.get("id", "").startswith("fig") and "plotly-graph-div" in d.get("class", "")
    ]
    assert len(figures) == 3 * 6 + 1
    body = " ".join(checker.text)
    assert body.count("LEAKY EVALUATION") >= 2 and 'role="alert"' in page
    assert "Checklist for a supervised clinical ML study" in body and "not answered" in body
    assert "Leave-one-subject-out" in body and "Only 2 people" in body


def test_cli_formats_and_errors(runs, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "report",
                str(runs["small"]),
                "--bootstrap",
                "20",
                "--format",
                "json",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["runs"][0]["run_id"] == "small"
    assert main(["report", str(runs["small_paper"]), "--bootstrap", "20"]) == 0
    captured = capsys.readouterr()
    assert "LEAKY EVALUATION" in captured.out and "Subgroups" in captured.out
    html_out = tmp_path / "r.html"
    assert (
        main(
            [
                "report",
                str(runs["small_paper"]),
                "--bootstrap",
                "20",
                "--format",
                "html",
                "--out",
                str(html_out),
            ]
        )
        == 0
    )
    assert "LEAKY EVALUATION" in capsys.readouterr().err  # also said on the terminal
    page = html_out.read_text()
    assert page.count("plotly.js v") == 1
    assert "Training curves" in page  # the run has a history.csv
    assert main(["report", str(runs["small"]), "--prevalence", "fear"]) == 2
    assert "emotion=prevalence" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: No run folder") and "Traceback" not in err
    assert main(["report", str(runs["small"]), "--reference", "Mars", "--bootstrap", "5"]) == 2
    assert "no group 'Mars'" in capsys.readouterr().err


def test_report_from_tables_and_features(runs):
    run = as_eval_run(runs["small"])
    t = run.predictions
    rng = np.random.default_rng(0)
    ids = t["participant"].astype(int).to_numpy()
    feats = rng.normal(size=(19, 8))[ids] * 3 + rng.normal(size=(len(t), 8)) * 0.3
    rep = build_report(
        EvalRun.from_table(t.drop(columns=["correct"]), run.config),
        n_boot=20,
        features={"small": feats},
    )
    probe = rep["runs"][0].probe
    assert probe is not None and probe.identity_accuracy > 0.8
    items = {i["item"]: i["status"] for i in rep["runs"][0].checklist}
    assert items["What the model relies on (explanations, shortcut checks)"] == "answered"
    assert "Identity probe" in render(rep, "text") or "Identity-shortcut probe" in render(
        rep, "text"
    )


def test_probe_flag_without_models_gives_a_note(runs):
    rep = build_report(runs["small"], n_boot=10, probe=True)
    assert any("Identity probe not run" in n for n in rep["runs"][0].notes)


def test_a_test_set_of_few_people_is_warned_about(runs, report):
    run = as_eval_run(runs["small"])
    t = run.predictions.drop(columns=["correct"])
    people = sorted(t["participant"].unique())
    for n, start in ((1, "All test images come from 1 person"),
                     (3, "The test images come from only 3 people")):
        few = t[t["participant"].isin(people[:n])]
        rep = build_report(EvalRun.from_table(few, run.config), n_boot=20)
        section = rep["runs"][0]
        assert section.overall.n_participants == n
        assert section.overall_warning.startswith(start)
        assert f"WARNING: {section.overall_warning}" in render(rep, "text")
        people_text = "1 person" if n == 1 else "3 people"
        assert f"{len(few)} images of {people_text}." in render(rep, "text")
        assert html_escape(section.overall_warning) in render(rep, "html")
        assert json.loads(render(rep, "json"))["runs"][0]["overall_warning"].startswith(start)
    # 6 and 19 people: no warning
    assert build_report(runs["small"], n_boot=10)["runs"][0].overall_warning == ""
    assert report["runs"][0].overall_warning == ""
    assert "WARNING: " not in render(report, "text")


def test_unknown_participants_are_not_called_leaky(runs):
    run = as_eval_run(runs["small"])
    config = dict(run.config)
    config["protocol"] = {"name": "official", "leaky": False, "participant_independent": False}
    config["dataset"] = {**config["dataset"], "participants_known": False}
    t = run.predictions.drop(columns=["correct"])
    rep = build_report(EvalRun.from_table(t, config), n_boot=10)
    section = rep["runs"][0]
    assert not section.leaky and section.banner is None and rep["banners"] == []
    assert any("does not record who is in each image" in n for n in section.notes)
    # who is who is unknown: the note above says so, no few-people warning on top
    few = build_report(EvalRun.from_table(t.head(3), config), n_boot=10)["runs"][0]
    assert few.overall.n_participants == 1 and few.overall_warning == ""


def test_accepts_the_training_side_run_object(runs):
    from fer_engine.experiments.runs import load_run

    run = as_eval_run(load_run(runs["small"]))
    assert run.run_id == "small" and run.path == runs["small"]
    assert run.folds and run.history is not None and len(run.history) == 18
    assert run.labels == tuple(synthetic_config()["labels"])


def test_subgroups_read_in_words_in_the_text_and_html_reports(report):
    for fmt_name in ("text", "html"):
        out = render(report, fmt_name)
        assert "Age: 31 or older" in out and "Country: RU" in out, fmt_name
        assert "31_plus" not in out and "country_group" not in out, fmt_name
