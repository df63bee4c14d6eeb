"""Results page as a clinician reads it (AppTest on run folders written by
fer_engine.analytics.synthetic): which run it opens on, the LEAKY banner, the leakage
contrast only between runs of the same data, and plain words in every table and text."""

from __future__ import annotations

import re

import pandas as pd
from pages_support import local_app, texts

from fer_engine.analytics.synthetic import (
    loso_folds,
    synthetic_config,
    synthetic_predictions,
    write_run_folder,
)


def history(n_folds: int = 2, epochs: int = 2) -> pd.DataFrame:
    rows = [(f, e, 2.0 / e + f / 100, 0.3, 2.2 / e + f / 50, 0.2, 1e-3)
            for f in range(n_folds) for e in range(1, epochs + 1)]
    return pd.DataFrame(rows, columns=["fold", "epoch", "loss", "accuracy", "val_loss",
                                       "val_accuracy", "learning_rate"])


def write_run(runs, run_id, protocol, accuracy, seed, created, *, model="cnn", epochs=30,
              fingerprint="synthetic", dataset_name=None, n_images=152):
    """A run folder of predictions drawn at random (152 images of 19 people)."""
    pred = synthetic_predictions(accuracy=accuracy, seed=seed)
    config = synthetic_config(model=model, protocol=protocol, run_id=run_id)
    config["created"] = created
    config["training"]["epochs"] = epochs
    config["dataset"].update(fingerprint=fingerprint, n_images=n_images)
    if dataset_name:
        config["dataset"]["name"] = dataset_name
    return str(write_run_folder(runs / run_id, pred, config, loso_folds(pred), history()))


def open_results(monkeypatch, runs, n_boot: int = 200):
    """The Results page as a user opens it from the sidebar (nothing picked before)."""
    at = local_app(monkeypatch, runs)
    at.session_state["results_n_boot"] = n_boot
    at.switch_page("pages/3_Results.py").run()
    assert not at.exception, at.exception
    return at


def leaky_banners(at) -> list[str]:
    return [e.value for e in at.error if "LEAKY" in str(e.value)]


def test_no_leakage_contrast_with_a_leaky_run_of_another_dataset(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    honest = write_run(runs, "20260101-000000-cnn-loso-aaaa", "loso", 0.13, 1,
                       "2026-01-01T00:00:00", epochs=2)
    write_run(runs, "20250101-000000-cnn-paper-bbbb", "paper", 0.97, 2, "2025-01-01T00:00:00",
              fingerprint="0f3a9c", dataset_name="a 981-image dataset", n_images=981)
    at = open_results(monkeypatch, runs)
    assert at.multiselect(key="results_pick").value == [honest]
    assert "Leakage contrast" not in texts(at.markdown)
    assert len(at.get("plotly_chart")) == 7  # the run's own charts; no contrast chart
    info = texts(at.info)
    assert "No like-for-like leakage contrast for cnn / loso" in info
    assert "tested on different datasets" in info and "a 981-image dataset" in info


def test_leakage_contrast_with_the_leaky_run_of_the_same_data(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    write_run(runs, "20260101-000000-cnn-loso-aaaa", "loso", 0.45, 1, "2026-01-01T00:00:00")
    write_run(runs, "20250101-000000-cnn-paper-bbbb", "paper", 0.9, 2, "2025-01-01T00:00:00")
    at = open_results(monkeypatch, runs)
    assert "Leakage contrast: cnn" in texts(at.markdown)
    assert "No like-for-like" not in texts(at.info)


def test_opens_on_the_newest_participant_independent_run_with_no_banner(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    honest = write_run(runs, "20260101-000000-cnn-loso-aaaa", "loso", 0.45, 1,
                       "2026-01-01T00:00:00")
    leaky = write_run(runs, "20260102-000000-cnn-paper-bbbb", "paper", 0.9, 2,
                      "2026-01-02T00:00:00")  # newer
    at = open_results(monkeypatch, runs)
    assert at.multiselect(key="results_pick").value == [honest]
    assert leaky_banners(at) == []
    # picking the leaky run: exactly one LEAKY banner, naming it
    at.multiselect(key="results_pick").set_value([leaky]).run()
    assert not at.exception, at.exception
    banners = leaky_banners(at)
    assert len(banners) == 1 and "20260102-000000-cnn-paper-bbbb" in banners[0]


def test_all_runs_leaky_opens_on_the_newest_under_one_banner(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    write_run(runs, "20260101-000000-cnn-paper-aaaa", "paper", 0.9, 1, "2026-01-01T00:00:00")
    newest = write_run(runs, "20260102-000000-cnn-paper-bbbb", "paper", 0.9, 2,
                       "2026-01-02T00:00:00")
    at = open_results(monkeypatch, runs)
    assert at.multiselect(key="results_pick").value == [newest]
    assert len(leaky_banners(at)) == 1


#: What a clinician must never read on the Results or home page: column names, missing
#: values printed by Python, statistical jargon, the Classify page's model internals.
RAW = ("n_images", "n_participants", "n_correct", "accuracy_low", "accuracy_high",
       "accuracy_boot", "p_value", "country_group", "age_group", "31_plus", "under_31",
       "Wilson", "served function", "float32 Keras graph", "permutation p")
RAW_WORDS = re.compile(r"\b(None|NaN|nan|CI)\b")


def shown_texts(at) -> list[str]:
    """Every text the page shows: elements, widget labels and options, tab and expander
    labels, and each table's column names and cells."""
    out = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning",
                 "error", "success", "text"):
        out += [str(e.value) for e in at.get(kind)]
    out += [f"{m.label} {m.value}" for m in at.metric]
    for kind in ("selectbox", "multiselect", "select_slider", "slider", "toggle", "checkbox"):
        for w in at.get(kind):
            out.append(str(w.label))
            out += [str(o) for o in getattr(w, "options", [])]
    out += [t.label for t in at.tabs] + [x.label for x in at.expander]
    for frame in at.dataframe:
        table = frame.value
        out += [str(c) for c in table.columns]
        out += [str(v) for v in table.astype(object).to_numpy().ravel()]
    return out


def raw_strings(texts_shown) -> set[str]:
    found = {raw for raw in RAW for t in texts_shown if raw in t}
    found |= {m.group(0) for t in texts_shown for m in RAW_WORDS.finditer(t)}
    return found


def test_results_words_are_plain_on_a_run_with_subgroups(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    write_run(runs, "20260101-000000-cnn-loso-aaaa", "loso", 0.45, 1, "2026-01-01T00:00:00")
    write_run(runs, "20250101-000000-cnn-paper-bbbb", "paper", 0.9, 2, "2025-01-01T00:00:00")
    at = open_results(monkeypatch, runs)
    shown = shown_texts(at)
    assert len(at.dataframe) == 3 and "Subgroups" in texts(at.markdown)  # the tables are there
    assert raw_strings(shown) == set()
    groups = at.dataframe[1].value
    assert list(groups.columns[:4]) == ["Grouped by", "Group", "People", "Images"]
    row = groups[groups["Group"] == "Country: RU · Age: 31 or older · Gender: male"].iloc[0]
    assert row["Grouped by"] == "Country × Age × Gender" and row["People"] == 1
    assert row["Accuracy"].endswith("%")
    people = at.dataframe[2].value
    assert {"Person", "Age", "Images", "Accuracy", "95% range"} <= set(people.columns)
    assert people["Accuracy"].str.endswith("%").all()
    # the small groups are named once, in one warning
    small = [t for t in shown if "fewer than 5 people" in t]
    assert len(small) == 1 and "Country: Other (2 people)" in small[0]
    assert re.search(r"On average the model's confidence is \d+\.\d% away from how often it "
                     r"is right", texts(at.caption))
    assert "Expected calibration error:" not in texts(at.caption)


def test_unknown_ages_read_unknown(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    path = write_run(runs, "20260101-000000-cnn-loso-aaaa", "loso", 0.45, 1,
                     "2026-01-01T00:00:00")
    pred = pd.read_csv(f"{path}/predictions.csv", dtype={"participant": str})
    pred.loc[pred["participant"] == "3", ["age", "age_group"]] = None
    pred.to_csv(f"{path}/predictions.csv", index=False)
    at = open_results(monkeypatch, runs)
    assert raw_strings(shown_texts(at)) == set()
    people = at.dataframe[2].value.set_index("Person")
    assert people.loc["3", "Age"] == "unknown" and people.loc["3", "Age (years)"] == "unknown"
    assert "Age: unknown" in set(at.dataframe[1].value["Group"])


def test_home_page_speaks_plainly(tmp_path, monkeypatch):
    at = local_app(monkeypatch, tmp_path / "runs")
    shown = shown_texts(at)
    assert raw_strings(shown) == set()
    body = " ".join(shown)
    assert "confidence interval" not in body and "and friends" not in body
    assert "95% range" in body
