"""Reader of the Kaggle tapakah68 layout: images/<set_id>/<Emotion>.<ext> + emotions.csv."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest
from data_builders import KAGGLE, tapakah, write_image

from fer_engine.data import BASE_COLUMNS, load_dataset
from fer_engine.errors import DatasetError


def codes(ds):
    return [i.code for i in ds.issues]


def issue(ds, code):
    found = [i for i in ds.issues if i.code == code]
    assert found, f"no {code} issue in {codes(ds)}"
    return found[0]


@pytest.mark.parametrize("sep", [";", ",", "|", "\t"])
def test_every_delimiter_columns_and_groups(tmp_path, sep):
    rows = [("0", "FEMALE", 36, "RU"), ("1", "MALE", 30, "PH"), ("2", "female", 31, "in")]
    tapakah(tmp_path, rows, sep=sep)
    ds = load_dataset(tmp_path)
    assert ds.layout == "tapakah68"
    assert ds.issues == []
    assert list(ds.table.columns[: len(BASE_COLUMNS)]) == list(BASE_COLUMNS)
    assert ds.n_images == 24 and ds.n_participants == 3 and ds.participants_known
    assert ds.labels == (
        "anger",
        "contempt",
        "disgust",
        "fear",
        "happy",
        "neutral",
        "sad",
        "surprise",
    )
    per = ds.participants().set_index("participant")
    assert per.loc["0", "gender"] == "female" and per.loc["1", "gender"] == "male"
    assert per.loc["2", "gender"] == "female"
    assert per["country"].tolist() == ["RU", "PH", "IN"]
    assert per["country_group"].tolist() == ["RU", "Other", "Other"]
    # AGE_CUT = 31: 30 is under, 31 is not.
    assert per["age_group"].tolist() == ["31_plus", "under_31", "31_plus"]
    assert per["n_images"].tolist() == [8, 8, 8]
    assert ds.table["split"].isna().all()
    assert set(ds.table.loc[ds.table["path"].str.endswith("Surprised.jpg"), "emotion"]) == {
        "surprise"
    }
    assert all(os.path.isabs(p) and os.path.isfile(p) for p in ds.table["path"])


def test_upper_case_headers_and_padded_values(tmp_path):
    tapakah(
        tmp_path,
        [("0", " Female ", "40", " ru"), ("1", "M", "22", "RU")],
        header=("SET_ID", "Gender", "AGE", "Country"),
        sets=("0", "1"),
    )
    ds = load_dataset(tmp_path)
    assert ds.issues == []
    per = ds.participants().set_index("participant")
    assert per["gender"].tolist() == ["female", "male"]
    assert per["country_group"].tolist() == ["RU", "RU"]
    assert per["age"].tolist() == [40.0, 22.0]


def test_lower_case_file_names_and_numbered_photos(tmp_path):
    for name in ("anger.jpg", "surprised.PNG", "Happy_2.jpeg", "Happy_1.jpeg"):
        write_image(tmp_path / "images" / "0" / name)
    (tmp_path / "emotions.csv").write_text("set_id,gender,age,country\n0,FEMALE,20,RU\n")
    ds = load_dataset(tmp_path)
    assert sorted(ds.table["emotion"]) == ["anger", "happy", "happy", "surprise"]


@pytest.mark.parametrize("where", ["root", "images", "wrapper", "csv"])
def test_root_variants(tmp_path, where):
    tapakah(tmp_path / "archive" / "data", sets=("0", "1"))
    path = {
        "root": tmp_path / "archive" / "data",
        "images": tmp_path / "archive" / "data" / "images",
        "wrapper": tmp_path / "archive",
        "csv": tmp_path / "archive" / "data" / "emotions.csv",
    }[where]
    ds = load_dataset(path)
    assert ds.layout == "tapakah68"
    assert ds.root == (tmp_path / "archive" / "data").resolve()
    assert ds.n_images == 16 and ds.table["gender"].notna().all()


def test_missing_metadata_file_is_a_warning(tmp_path):
    tapakah(tmp_path, write_meta=False, sets=("0", "1"))
    ds = load_dataset(tmp_path)
    assert codes(ds) == ["missing_metadata"]
    assert "No emotions.csv" in issue(ds, "missing_metadata").message
    assert ds.n_images == 16 and ds.n_participants == 2
    assert ds.table["gender"].isna().all() and ds.table["country_group"].isna().all()


def test_sets_without_metadata_and_metadata_without_images(tmp_path):
    tapakah(
        tmp_path,
        [("0", "FEMALE", 20, "RU"), ("1", "MALE", 30, "RU"), ("7", "MALE", 40, "IN")],
        sets=("0", "1", "2"),
    )
    ds = load_dataset(tmp_path)
    assert set(codes(ds)) == {"set_without_metadata", "metadata_without_images"}
    assert "2" in issue(ds, "set_without_metadata").message
    assert "set_id 7" in issue(ds, "metadata_without_images").message
    assert ds.n_participants == 3  # set 2 kept, demographics unknown
    assert ds.table.loc[ds.table["participant"] == "2", "gender"].isna().all()


def test_zero_padded_set_ids_match(tmp_path):
    tapakah(tmp_path, [("00", "FEMALE", 20, "RU"), ("01", "MALE", 30, "RU")], sets=("0", "1"))
    ds = load_dataset(tmp_path)
    assert ds.issues == [] and ds.table["gender"].notna().all()


def test_unknown_emotion_names_are_excluded_and_listed(tmp_path):
    tapakah(tmp_path, sets=("0",), meta_rows=[("0", "FEMALE", 20, "RU")])
    write_image(tmp_path / "images" / "0" / "Smile.jpg")
    ds = load_dataset(tmp_path)
    assert codes(ds) == ["unknown_emotion"]
    assert "Smile.jpg" in issue(ds, "unknown_emotion").message
    assert ds.n_images == 8


def test_corrupt_images_are_excluded_and_listed(tmp_path):
    tapakah(tmp_path, sets=("0", "1"))
    good = (tmp_path / "images" / "0" / "Fear.jpg").read_bytes()
    (tmp_path / "images" / "0" / "Fear.jpg").write_bytes(good[: len(good) // 2])  # truncated
    (tmp_path / "images" / "0" / "Sad.jpg").write_bytes(b"this is not an image at all")
    (tmp_path / "images" / "1" / "Happy.jpg").write_bytes(b"")
    ds = load_dataset(tmp_path)
    bad = issue(ds, "corrupt_image")
    assert len(bad.paths) == 3
    assert "truncated" in bad.message and "empty" in bad.message
    assert ds.n_images == 13
    assert not ds.table["path"].isin(bad.paths).any()


def test_duplicate_files_are_kept_and_flagged(tmp_path):
    tapakah(tmp_path, sets=("0", "1"))
    shutil.copy(tmp_path / "images" / "0" / "Fear.jpg", tmp_path / "images" / "1" / "Fear.jpg")
    ds = load_dataset(tmp_path)
    dup = issue(ds, "duplicate_file")
    assert len(dup.paths) == 2 and ds.n_images == 16
    flagged = ds.table[ds.table["duplicate_group"].notna()]
    assert len(flagged) == 2 and flagged["duplicate_group"].nunique() == 1
    assert "duplicate_group" not in ds.participants().columns


def test_empty_and_incomplete_sets(tmp_path):
    tapakah(tmp_path, sets=("0", "1"))
    (tmp_path / "images" / "2").mkdir()
    os.remove(tmp_path / "images" / "1" / "Contempt.jpg")
    ds = load_dataset(tmp_path)
    assert "images/2" in issue(ds, "empty_folder").message
    assert "set 1 lacks contempt" in issue(ds, "incomplete_set").message
    assert ds.n_images == 15


def test_bad_and_duplicate_metadata_rows(tmp_path):
    tapakah(
        tmp_path,
        [("0", "X", "abc", "RU"), ("1", "MALE", 150, "RU"), ("1", "FEMALE", 20, "RU")],
        sets=("0", "1"),
    )
    ds = load_dataset(tmp_path)
    assert codes(ds).count("bad_metadata_value") == 2
    assert "duplicate_metadata" in codes(ds)
    per = ds.participants().set_index("participant")
    assert pd.isna(per.loc["0", "gender"]) and pd.isna(per.loc["0", "age"])
    assert per.loc["1", "gender"] == "male" and pd.isna(
        per.loc["1", "age"]
    )  # first row; 150 implausible


def test_stray_and_non_image_files_are_reported(tmp_path):
    tapakah(tmp_path, sets=("0",), meta_rows=[("0", "FEMALE", 20, "RU")])
    (tmp_path / "images" / "0" / "notes.txt").write_text("hello")
    write_image(tmp_path / "images" / "loose.jpg")
    (tmp_path / "images" / "0" / ".DS_Store").write_bytes(b"junk")  # OS clutter: skipped
    ds = load_dataset(tmp_path)
    messages = " ".join(i.message for i in ds.issues if i.code == "ignored_file")
    assert "notes.txt" in messages and "loose.jpg" in messages and ".DS_Store" not in messages


def test_fatal_problems_raise_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="No images found in"):
        load_dataset(tmp_path / "empty")
    (tmp_path / "data.zip").write_bytes(b"PK")
    with pytest.raises(DatasetError, match="unpack it first"):
        load_dataset(tmp_path / "data.zip")
    only_csv = tmp_path / "only_csv"
    only_csv.mkdir()
    (only_csv / "emotions.csv").write_text("set_id;gender;age;country\n0;FEMALE;20;RU\n")
    with pytest.raises(DatasetError, match="no images/ folder"):
        load_dataset(only_csv)


def test_metadata_without_id_column_is_fatal(tmp_path):
    tapakah(
        tmp_path, [("a", "b", "c", "d")], header=("who", "gender", "age", "country"), sets=("0",)
    )
    with pytest.raises(DatasetError, match="no set_id column"):
        load_dataset(tmp_path)


@pytest.mark.parametrize("sep, named", [(":", "':'"), (" ", "spaces")])
def test_metadata_with_an_unread_delimiter_names_it(tmp_path, sep, named):
    tapakah(tmp_path, sets=("0",), meta_rows=[("0", "FEMALE", 20, "RU")], sep=sep)
    with pytest.raises(DatasetError) as info:
        load_dataset(tmp_path)
    message = str(info.value)
    assert f"seems to separate its columns with {named}" in message
    assert "commas, semicolons, tabs or vertical bars (|)" in message
    assert "no set_id column" not in message


def test_all_images_unreadable_is_fatal(tmp_path):
    for e in KAGGLE[:2]:
        p = tmp_path / "images" / "0" / f"{e}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="None of the images .* could be read"):
        load_dataset(tmp_path)


def test_fingerprint_tracks_content_and_metadata(tmp_path):
    tapakah(tmp_path, sets=("0", "1"))
    fp = load_dataset(tmp_path).fingerprint
    assert len(fp) == 32 and load_dataset(tmp_path).fingerprint == fp
    target = tmp_path / "images" / "0" / "Fear.jpg"
    os.utime(target, ns=(1, 1))
    fp_touched = load_dataset(tmp_path).fingerprint
    assert fp_touched != fp
    (tmp_path / "emotions.csv").write_text(
        (tmp_path / "emotions.csv").read_text().replace("RU", "KZ")
    )
    fp_meta = load_dataset(tmp_path).fingerprint
    assert fp_meta not in (fp, fp_touched)
    write_image(tmp_path / "images" / "1" / "Fear_2.jpg")
    assert load_dataset(tmp_path).fingerprint != fp_meta


def test_explicit_metadata_override(tmp_path):
    tapakah(tmp_path / "d", write_meta=False, sets=("0",))
    other = tmp_path / "people.csv"
    other.write_text("set_id,gender,age,country\n0,MALE,50,IN\n")
    ds = load_dataset(tmp_path / "d", metadata=other)
    assert ds.issues == [] and ds.table["country_group"].eq("Other").all()
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "d", metadata=tmp_path / "missing.csv")


def test_real_tapakah68_metadata(shared_datasets, tmp_path):
    meta = shared_datasets / "tapakah68_metadata" / "emotions.csv"
    if not meta.is_file():
        pytest.skip(f"{meta} not found")
    tapakah(
        tmp_path,
        sets=[str(i) for i in range(19)],
        emotions=("Anger", "Surprised"),
        write_meta=False,
    )
    ds = load_dataset(tmp_path, metadata=meta)
    assert ds.issues == []
    per = ds.participants()
    assert len(per) == 19
    assert per["country_group"].value_counts().to_dict() == {"RU": 17, "Other": 2}
    assert per["gender"].value_counts().to_dict() == {"female": 14, "male": 5}
    assert set(per.loc[per["country_group"] == "Other", "participant"]) == {"7", "10"}
    assert per["age"].min() == 15 and per["age"].max() == 49
