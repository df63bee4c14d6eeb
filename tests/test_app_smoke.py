"""The dashboard starts, and the Dataset page lists the active dataset (AppTest, no browser)."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_builders import class_folders
from streamlit.testing.v1 import AppTest

from fer_engine.data import synthetic

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A cache folder holding the default synthetic dataset (drawn once for the module)."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FER_CACHE_DIR", str(root))
        synthetic.default_dataset_path()
    return root


@pytest.fixture
def app(cache, monkeypatch) -> AppTest:
    monkeypatch.setenv("FER_CACHE_DIR", str(cache))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def test_home_says_what_the_dashboard_is_for(app):
    assert "research dashboard" in app.title[0].value
    assert "Person-wise evaluation" in texts(app.markdown)
    assert "synthetic demo data" in texts(app.sidebar.caption).lower()


def test_dataset_page_lists_the_synthetic_default_with_a_banner(app):
    app.switch_page("pages/1_Dataset.py").run()
    assert not app.exception, app.exception
    banner = [w for w in app.warning if "Synthetic demo data" in str(w.value)]
    assert banner, "no synthetic banner"
    metrics = {m.label: m.value for m in app.metric}
    assert (
        metrics["Images"] == "152"
        and metrics["Participants"] == "19"
        and metrics["Emotions"] == "8"
    )
    assert metrics["Warnings"] == "0" and "No problems found." in texts(app.success)
    groups = app.dataframe[1].value
    row = groups[(groups["group"] == "country_group") & (groups["value"] == "Other")].iloc[0]
    assert row["participants"] == 2 and bool(row["small_n"])


def test_dataset_page_other_folder_and_bad_folder(app, tmp_path):
    class_folders(tmp_path, {"": {"angry": 2, "happy": 2, "bored": 1}})
    app.switch_page("pages/1_Dataset.py").run()
    app.text_input[0].input(str(tmp_path))
    app.button[0].click().run()  # "Use this folder"
    assert not app.exception, app.exception
    assert not [w for w in app.warning if "Synthetic demo data" in str(w.value)]
    assert any("bored/ (1 images)" in str(w.value) for w in app.warning)
    assert {m.label: m.value for m in app.metric}["Participants"] == "unknown"
    app.text_input[0].input(str(tmp_path / "nowhere"))
    app.button[0].click().run()
    assert not app.exception
    assert "does not exist" in texts(app.error)
    app.button[1].click().run()  # back to the synthetic demo data
    assert not app.exception and app.text_input[0].value == ""
    assert [w for w in app.warning if "Synthetic demo data" in str(w.value)]
