"""Pages show a failed action as one ``st.error`` sentence (the CLI's), never a traceback."""

from __future__ import annotations

from pathlib import Path

from pages_support import new_app, shared_cache, small_dataset, texts, zip_folder
from streamlit.testing.v1 import AppTest

PREFIX = "Loading the dataset failed with an internal error (RuntimeError: boom). The full log is in "


def _errors_script():
    from dashboard import widgets
    from fer_engine.errors import DatasetError

    try:
        raise RuntimeError("boom\nmore")
    except RuntimeError as exc:
        widgets.error(exc, "Loading the dataset", before="The active dataset cannot be loaded:",
                      after="Choose other data.")
    widgets.error(DatasetError("The folder /x does not exist."), "Loading the dataset",
                  after="The previous dataset is still active.")


def test_error_box_says_what_failed_and_where_the_log_is(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_function(_errors_script).run()
    assert not at.exception, at.exception
    internal, known = (e.value for e in at.error)
    assert internal.startswith("The active dataset cannot be loaded: " + PREFIX)
    assert internal.endswith(". Choose other data.")
    log = Path(internal[len("The active dataset cannot be loaded: " + PREFIX):-len(". Choose other data.")])
    assert log.parent == tmp_path / "cache" / "logs"
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError: boom\nmore" in text
    assert known == "The folder /x does not exist. The previous dataset is still active."


def test_dataset_page_survives_an_internal_error_while_unpacking(tmp_path, monkeypatch):
    cache = shared_cache()
    monkeypatch.setenv("FER_CACHE_DIR", str(cache))
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("FER_HOSTED_DEMO", raising=False)
    monkeypatch.delenv("FER_MAX_UPLOAD_MB", raising=False)
    from fer_engine.data import upload

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(upload, "extract_zip", broken)
    at = new_app()
    at.switch_page("pages/1_Dataset.py").run()
    before = {m.label: m.value for m in at.metric}
    at.radio[0].set_value("upload").run()
    data = zip_folder(small_dataset(cache), prefix="tapakah68")
    at.file_uploader(key="zip_upload").set_value(("faces.zip", data, "application/zip"))
    at.run()
    assert not at.exception, at.exception
    errors = texts(at.error)
    assert ("faces.zip cannot be used: Reading the archive failed with an internal error "
            "(RuntimeError: boom). The full log is in ") in errors
    assert "The previous dataset is still active." in errors
    assert {m.label: m.value for m in at.metric} == before
