"""Dataset page (AppTest): synthetic parameters, uploaded zips good and bad, missing metadata,
and the hosted-demo mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from pages_support import new_app, shared_cache, small_dataset, texts, zip_folder


@pytest.fixture(scope="module")
def cache() -> dict:
    root = shared_cache()
    return {"root": root, "small": small_dataset(root)}


@pytest.fixture
def app(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_CACHE_DIR", str(cache["root"]))
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("FER_HOSTED_DEMO", raising=False)
    monkeypatch.delenv("FER_MAX_UPLOAD_MB", raising=False)
    at = new_app()
    at.switch_page("pages/1_Dataset.py").run()
    assert not at.exception, at.exception
    return at


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def upload(at, name: str, data: bytes):
    at.file_uploader(key="zip_upload").set_value((name, data, "application/zip"))
    at.run()
    assert not at.exception, at.exception
    return at


def uploads(cache) -> list[Path]:
    return sorted((cache["root"] / "uploads").glob("upload-*"))


def test_synthetic_parameters(app):
    app.number_input[0].set_value(4)
    app.number_input[1].set_value(0)
    app.button[0].click().run()  # "Use synthetic data"
    assert not app.exception, app.exception
    assert metrics(app)["Images"] == "32" and metrics(app)["Participants"] == "4"
    assert "synthetic demo data (4 participants, seed 0)" in texts(app.subheader)
    app.switch_page("app.py").run()  # Home names the session's active dataset
    assert "**synthetic demo data (4 participants, seed 0)**" in texts(app.markdown)


def test_synthetic_participants_out_of_range_are_refused_with_the_range(app):
    before = texts(app.subheader)
    app.number_input(key="synthetic_participants").set_value(999999999)
    app.button[0].click().run()  # "Use synthetic data"
    assert not app.exception, app.exception
    assert ("Participants must be a whole number from 2 to 200; 999,999,999 is not."
            in texts(app.error))
    assert "No synthetic data drawn" in texts(app.error)
    assert texts(app.subheader) == before  # the active dataset did not change
    app.number_input(key="synthetic_seed").set_value(1e20)
    app.number_input(key="synthetic_participants").set_value(4)
    app.button[0].click().run()
    assert "Seed must be a whole number from 0 to 10,000" in texts(app.error)
    assert texts(app.subheader) == before


def test_upload_good_zip_then_bad_ones_keep_the_app_usable(app, cache):
    app.radio[0].set_value("upload").run()
    before = set(uploads(cache))
    upload(app, "tapakah.zip", zip_folder(cache["small"], prefix="tapakah68"))
    assert not app.error, texts(app.error)
    assert metrics(app)["Images"] == "32" and metrics(app)["Participants"] == "4"
    assert metrics(app)["Warnings"] == "0"
    first = set(uploads(cache)) - before
    assert len(first) == 1

    # a zip that is not a dataset
    upload(app, "notes.zip", _text_zip())
    assert "notes.zip cannot be used" in texts(app.error) and "No images found" in texts(app.error)
    assert metrics(app)["Images"] == "32"  # the previous upload is still active
    assert set(uploads(cache)) - before == first  # the failed one left nothing behind

    # a zip with ../ paths
    evil = zip_folder(cache["small"], prefix="ds", extra={"ds/../../evil.txt": b"x"})
    upload(app, "evil.zip", evil)
    assert "unsafe path" in texts(app.error)
    assert not (cache["root"] / "evil.txt").exists()
    assert metrics(app)["Images"] == "32"

    # choosing other data removes this session's upload folder
    app.radio[0].set_value("synthetic").run()
    app.button[0].click().run()
    assert metrics(app)["Images"] == "152"
    assert set(uploads(cache)) - before == set()


def _text_zip() -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("notes/readme.txt", "not a dataset")
    return buf.getvalue()


def test_dataset_with_missing_metadata_is_usable_with_warnings(app, cache):
    app.radio[0].set_value("upload").run()
    upload(app, "nometa.zip", zip_folder(cache["small"], prefix="tapakah68", skip={"emotions.csv"}))
    assert not app.error, texts(app.error)
    assert metrics(app)["Images"] == "32" and int(metrics(app)["Warnings"]) >= 1
    assert "emotions.csv" in texts(app.warning)
    assert "Demographics are unknown" in texts(app.info)
    # the other pages still work with this dataset
    app.switch_page("pages/2_Train.py").run()
    assert not app.exception, app.exception
    assert "32 images of 4 participants" in texts(app.markdown)


def test_upload_over_the_size_limit(app, cache, monkeypatch):
    monkeypatch.setenv("FER_MAX_UPLOAD_MB", "0")
    app.radio[0].set_value("upload").run()
    upload(app, "tapakah.zip", zip_folder(cache["small"], prefix="tapakah68"))
    assert "at most 0 MB can be uploaded" in texts(app.error)
    assert metrics(app)["Images"] == "152"


def test_hosted_demo_mode(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_CACHE_DIR", str(cache["root"]))
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("FER_HOSTED_DEMO", "1")
    monkeypatch.setenv("FER_DEMO_MAX_EPOCHS", "3")
    at = new_app()
    assert "public demo" in texts(at.info)
    assert "Public demo" in texts(at.sidebar.caption)
    at.switch_page("pages/1_Dataset.py").run()
    assert not at.exception, at.exception
    assert list(at.radio[0].options) == ["Synthetic demo data", "Upload a .zip"]  # no server folders
    at.number_input(key="synthetic_participants").set_value(20)
    at.button[0].click().run()  # "Use synthetic data": refused, with the demo's range
    assert "Participants must be a whole number from 2 to 19; 20 is not." in texts(at.error)
    assert str(cache["root"]) not in texts(at.caption)  # server paths are not shown
    at.radio[0].set_value("upload").run()
    assert "At most 20 MB" in texts(at.caption)
    at.switch_page("pages/2_Train.py").run()
    assert not at.exception, at.exception
    assert "at most 3 epochs" in texts(at.info)
    at.selectbox(key="train_model").set_value("cnn").run()  # a family trained epoch by epoch
    at.number_input(key="train_epochs").set_value(4).run()
    assert "Epochs (maximum) must be a whole number from 1 to 3; 4 is not." in texts(at.error)


@pytest.fixture
def hosted_app(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_CACHE_DIR", str(cache["root"]))
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("FER_HOSTED_DEMO", "1")
    monkeypatch.delenv("FER_MAX_UPLOAD_MB", raising=False)
    at = new_app()
    at.switch_page("pages/1_Dataset.py").run()
    assert not at.exception, at.exception
    at.radio[0].set_value("upload").run()
    return at


def no_server_path(text: str, cache) -> bool:
    import tempfile

    return (str(cache["root"]) not in text and "upload-" not in text
            and tempfile.gettempdir() + "/" not in text)


def test_hosted_demo_messages_show_no_server_paths(hosted_app, cache, monkeypatch):
    at = hosted_app
    upload(at, "notes.zip", _text_zip())
    error = texts(at.error)
    assert "notes.zip cannot be used: No images found in notes." in error
    assert no_server_path(error, cache), error

    # a dataset without its metadata file: the warning names the folder inside the archive
    upload(at, "nometa.zip", zip_folder(cache["small"], prefix="tapakah68", skip={"emotions.csv"}))
    assert not at.error, texts(at.error)
    warnings = texts(at.warning)
    assert "No emotions.csv found in tapakah68:" in warnings
    assert no_server_path(warnings, cache), warnings

    # an internal error: its log's path is cut to the log's name
    from fer_engine.data import upload as upload_module

    def broken(*args, **kwargs):
        raise RuntimeError(f"disk trouble at {cache['root']}/uploads/upload-x1/data")

    monkeypatch.setattr(upload_module, "extract_zip", broken)
    upload(at, "other.zip", zip_folder(cache["small"], prefix="tapakah68"))
    error = texts(at.error)
    assert "internal error (RuntimeError: disk trouble at data)" in error
    assert "The full log is in " in error and ".log." in error
    assert no_server_path(error, cache), error


def test_hosted_demo_active_dataset_error_shows_no_server_path(hosted_app, cache):
    import shutil

    at = hosted_app
    before = set(uploads(cache))
    upload(at, "mine.zip", zip_folder(cache["small"], prefix="tapakah68"))
    assert metrics(at)["Images"] == "32"
    (folder,) = set(uploads(cache)) - before
    shutil.rmtree(folder)  # the upload disappears from the server's disk
    at.button[0].click().run()  # "Reload from disk"
    error = texts(at.error)
    assert "The active dataset cannot be loaded:" in error and "does not exist" in error
    assert no_server_path(error, cache), error


def test_an_uploaded_dataset_is_named_after_its_zip(app, cache, tmp_path):
    from data_builders import class_folders

    app.radio[0].set_value("upload").run()
    faces = class_folders(tmp_path / "src", {"": {"angry": 2, "happy": 2}})
    upload(app, "my_faces.zip", zip_folder(faces, prefix="."))
    assert not app.error, texts(app.error)
    assert texts(app.subheader) == "my_faces"
    app.switch_page("app.py").run()  # Home names the session's active dataset
    assert "**my_faces**" in texts(app.markdown)


def test_a_class_folder_zip_with_a_manifest_says_where_the_participants_came_from(app, tmp_path):
    from data_builders import write_image

    src = tmp_path / "src"
    rows = ["path,participant,gender"]
    for i, (emotion, pid) in enumerate([("angry", "a"), ("happy", "a"), ("angry", "b"),
                                        ("happy", "b"), ("angry", "c"), ("happy", "c")]):
        write_image(src / emotion / f"x{i}.jpg")
        rows.append(f"{emotion}/x{i}.jpg,{pid},female")
    (src / "manifest.csv").write_text("\n".join(rows) + "\n")
    app.radio[0].set_value("upload").run()
    assert "manifest.csv" in texts(app.caption)  # the upload help names the manifest
    upload(app, "study.zip", zip_folder(src, prefix="study"))
    assert not app.error, texts(app.error)
    assert "Participants taken from manifest.csv (3 people)." in texts(app.info)
    assert "manifest.csv" not in texts(app.warning)  # not listed as an ignored file
    assert metrics(app)["Participants"] == "3" and metrics(app)["Warnings"] == "0"


def test_misspelt_emotion_folders_are_named_in_the_error(app, tmp_path):
    from data_builders import class_folders

    app.radio[0].set_value("upload").run()
    faces = class_folders(tmp_path / "src", {"": {"happyy": 3, "angery": 2}})
    upload(app, "faces.zip", zip_folder(faces, prefix="."))
    error = texts(app.error)
    assert ("faces.zip cannot be used: Found 5 images in the uploaded archive, in folders whose "
            "names are not emotions (angery (anger?), happyy (happy?)).") in error
    assert "No images found" not in error and "upload-" not in error


RAW_WORDS = {"n_images", "participant", "path", "emotion", "split", "gender", "age", "country",
             "country_group", "age_group", "duplicate_group", "small_n", "total", "group", "value"}


def test_tables_and_charts_are_in_plain_words(app, tmp_path):
    import json
    import shutil

    from data_builders import tapakah

    ds = tapakah(tmp_path / "study", [("0", "FEMALE", 36, "RU"), ("1", "MALE", "", ""),
                                      ("2", "female", 25, "PH")])
    shutil.copy(ds / "images" / "0" / "Anger.jpg", ds / "images" / "1" / "Anger.jpg")
    app.radio[0].set_value("upload").run()
    upload(app, "study.zip", zip_folder(ds, prefix="."))
    assert texts(app.subheader) == "study"
    frames = {tuple(f.value.columns): f.value for f in app.dataframe}
    assert set(frames) == {
        ("Emotion", "Images"),
        ("Group", "People", "Images", "Note"),
        ("Person", "Gender", "Age (years)", "Country of origin", "Country group", "Age group",
         "Images"),
        ("File", "Person", "Emotion", "Gender", "Age (years)", "Country of origin",
         "Country group", "Age group", "Identical copy"),
    }
    for columns, frame in frames.items():
        assert not RAW_WORDS & set(columns), columns
        assert not frame.isna().any().any(), columns
        shown = set(frame.astype(str).to_numpy().ravel())
        assert not shown & {"None", "nan", "NaN", "<NA>"}, columns
    for columns in frames:  # no heading twice, none that reads as a copy of another
        assert len(set(columns)) == len(columns), columns
        assert not {"Age", "Country"} & set(columns), columns
    people = frames[("Person", "Gender", "Age (years)", "Country of origin", "Country group",
                     "Age group", "Images")].set_index("Person")
    assert people.loc["1", "Gender"] == "male" and people.loc["1", "Country group"] == "unknown"
    assert people.loc["1", "Age group"] == "unknown" and people.loc["2", "Age group"] == "under 31"
    groups = frames[("Group", "People", "Images", "Note")].set_index("Group")
    assert groups.loc["Age: under 31", "People"] == 1
    assert groups.loc["Country: unknown", "Note"] == "fewer than 5 people: very uncertain"
    files = frames[("File", "Person", "Emotion", "Gender", "Age (years)", "Country of origin",
                    "Country group", "Age group", "Identical copy")].set_index("File")
    assert files.loc["images/0/Anger.jpg", "Identical copy"] == "group 1"
    assert files.loc["images/0/Happy.jpg", "Identical copy"] == ""
    assert files.loc["images/2/Surprised.jpg", "Emotion"] == "Surprise"
    assert "Small groups: Country: Other (1 person), Country: RU (1 person)" in texts(app.warning)

    # the subgroup chart: groups in words, the small-group line labelled above the bars
    (chart,) = [json.loads(c.proto.spec) for c in app.get("plotly_chart")
                if "Subgroups" in c.proto.spec]
    assert "Age: under 31" in chart["data"][0]["y"] and "age_group: under_31" not in chart["data"][0]["y"]
    (note,) = chart["layout"]["annotations"]
    assert note["text"] == "5 people"
    assert (note["yref"], note["y"], note["yanchor"]) == ("y domain", 1, "bottom")


def test_the_thumbnails_use_the_picked_face_detector(app, monkeypatch):
    import fer_engine.preprocess as preprocess
    from dashboard import cache as page_cache
    from fer_engine.preprocess.detectors import DETECTOR_LABELS, available_detectors

    real = preprocess.prepare_image
    used: list[str] = []

    def recording(path, spec, **kwargs):
        used.append(kwargs["detector"])
        return real(path, spec, **{**kwargs, "detector": "haar"})  # fast, whatever was asked

    monkeypatch.setattr(preprocess, "prepare_image", recording)
    page_cache.thumbnail.clear()
    try:
        app.run()
        box = app.selectbox(key="dataset_detector")
        assert box.label == "Face detector" and box.value == "haar"  # the fast preview
        assert list(box.options) == [DETECTOR_LABELS[d] for d in available_detectors()]
        assert "MTCNN is slower but finds more faces" in texts(app.caption)
        assert used and set(used) == {"haar"}
        if "mtcnn" not in available_detectors():
            pytest.skip("mtcnn is not installed")
        used.clear()
        box.set_value("mtcnn").run()
        assert not app.exception, app.exception
        assert used and set(used) == {"mtcnn"}  # every thumbnail asked MTCNN
        assert len(app.image) == 8 + 3
    finally:
        page_cache.thumbnail.clear()  # no MTCNN-keyed thumbnails cut by Haar left for others


def test_the_images_table_is_built_once_per_dataset(monkeypatch, tmp_path):
    from dashboard import cache
    from fer_engine.data import summary

    calls = []
    real = summary.images_table
    monkeypatch.setattr(summary, "images_table", lambda ds: calls.append(ds) or real(ds))
    cache.clear_datasets()
    ds = cache.dataset(None)  # the synthetic demo data
    first = cache.images_table(ds)
    assert cache.images_table(ds).equals(first) and len(calls) == 1  # a rerun: from the cache
    assert len(first) == len(ds.table)
