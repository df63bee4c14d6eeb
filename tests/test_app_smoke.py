"""The dashboard starts, Home says what it is for, and the Dataset page lists the active
dataset (AppTest, no browser)."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_builders import class_folders
from pages_support import new_app, shared_cache, texts


@pytest.fixture(scope="module")
def cache() -> Path:
    """A cache folder holding the default synthetic dataset (drawn once per session)."""
    return shared_cache()


@pytest.fixture
def app(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_CACHE_DIR", str(cache))
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("FER_ALLOWED_ROOTS", str(tmp_path / "allowed"))
    monkeypatch.delenv("FER_HOSTED_DEMO", raising=False)
    return new_app()


def test_home_says_what_the_dashboard_is_for(app):
    assert "research dashboard" in app.title[0].value
    assert "Person-wise evaluation" in texts(app.markdown)
    assert "synthetic demo data (19 participants, seed 0)" in texts(app.sidebar.caption)
    assert any("Synthetic demo data" in str(w.value) for w in app.warning)  # banner on Home
    # the repository ships a model: it is the active one until a run is chosen
    assert "the shipped pretrained model (FER2013)" in texts(app.markdown)
    links = [p.proto.label for p in app.get("page_link")]
    # a link holds the page's name only (a long one is cut off at 1400 px); what the page is
    # for stands beside it
    assert links == ["**Dataset**", "**Train**", "**Results**", "**Classify**", "**Live**",
                     "**Session**"]
    body = texts(app.markdown)
    assert "How accurate a finished run is" in body
    # the first step is in the body text, and what works without training
    assert "**First step:** choose the images on the **Dataset** page" in body
    assert "**Classify** (your photos) and **Session** (a recorded video) work at once" in body
    assert "no training needed" in body
    assert not app.info  # no public-demo note in local mode


def test_dataset_page_lists_the_synthetic_default_with_a_banner(app):
    app.switch_page("pages/1_Dataset.py").run()
    assert not app.exception, app.exception
    banner = [w for w in app.warning if "Synthetic demo data" in str(w.value)]
    assert banner, "no synthetic banner"
    metrics = {m.label: m.value for m in app.metric}
    assert (metrics["Images"], metrics["Participants"], metrics["Emotions"]) == ("152", "19", "8")
    assert metrics["Warnings"] == "0" and "No problems found." in texts(app.success)
    groups = app.dataframe[1].value.set_index("Group")
    assert groups.loc["Country: Other", "People"] == 2
    assert groups.loc["Country: Other", "Note"] == "fewer than 5 people: very uncertain"
    assert "Country: Other (2 people)" in texts(app.warning)
    # charts: per emotion, groups, country, gender, age; faces: one strip per emotion + 3 people
    assert len(app.get("plotly_chart")) == 5
    assert len(app.image) == 8 + 3


def test_dataset_page_server_folder_inside_and_outside_the_allowed_roots(app, tmp_path):
    allowed = tmp_path / "allowed" / "fer"
    class_folders(allowed, {"": {"angry": 2, "happy": 2, "bored": 1}})
    app.switch_page("pages/1_Dataset.py").run()
    app.radio[0].set_value("folder").run()
    app.text_input(key="dataset_folder").input(str(tmp_path / "elsewhere"))
    app.button[0].click().run()  # "Use this folder"
    assert not app.exception, app.exception
    assert "outside the folders this server may read" in texts(app.error)
    assert {m.label: m.value for m in app.metric}["Images"] == "152"  # still the default
    app.text_input(key="dataset_folder").input(str(allowed))
    app.button[0].click().run()
    assert not app.exception, app.exception
    assert not [w for w in app.warning if "Synthetic demo data" in str(w.value)]
    assert any("bored/ (1 images)" in str(w.value) for w in app.warning)
    assert {m.label: m.value for m in app.metric}["Participants"] == "unknown"
    app.text_input(key="dataset_folder").input(str(allowed / "nowhere"))
    app.button[0].click().run()
    assert not app.exception
    assert "does not exist" in texts(app.error)
    assert {m.label: m.value for m in app.metric}["Images"] == "4"  # still the folder
    app.radio[0].set_value("synthetic").run()
    app.button[0].click().run()  # "Use synthetic data" (19 participants, seed 0)
    assert [w for w in app.warning if "Synthetic demo data" in str(w.value)]
    assert {m.label: m.value for m in app.metric}["Images"] == "152"


def test_home_without_a_shipped_model_says_none_yet(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_CACHE_DIR", str(cache))
    monkeypatch.setenv("FER_ARTIFACTS_DIR", str(tmp_path / "artifacts"))  # no pretrained/
    monkeypatch.delenv("FER_RUNS_DIR", raising=False)
    monkeypatch.delenv("FER_HOSTED_DEMO", raising=False)
    app = new_app()
    assert "none yet: train one" in texts(app.markdown)
