"""Reader of the class-folder layout root/[split/]<emotion>/<file>, with and without manifest."""

from __future__ import annotations

import shutil

import pytest
from data_builders import class_folders, write_image

from fer_engine.data import load_dataset
from fer_engine.errors import DatasetError


def codes(ds):
    return [i.code for i in ds.issues]


def issue(ds, code):
    found = [i for i in ds.issues if i.code == code]
    assert found, f"no {code} issue in {codes(ds)}"
    return found[0]


def test_single_split_synonym_folders(tmp_path):
    class_folders(tmp_path, {"": {"Angry": 2, "HAPPINESS": 3, "surprised": 1, "sad": 2}})
    ds = load_dataset(tmp_path)
    assert ds.layout == "class_folders" and ds.issues == []
    assert ds.labels == ("anger", "happy", "sad", "surprise")
    assert ds.table["emotion"].value_counts().to_dict() == {
        "happy": 3,
        "anger": 2,
        "sad": 2,
        "surprise": 1,
    }
    assert ds.table["split"].isna().all()
    # no manifest: participants unknown, one id per image
    assert not ds.participants_known
    assert ds.n_participants == ds.n_images == 8
    assert ds.table["participant"].str.startswith("img:").all()
    assert ds.table[["gender", "age", "country", "country_group", "age_group"]].isna().all().all()


def test_splits_and_pointing_at_one_split(tmp_path):
    class_folders(tmp_path, {"train": {"angry": 3, "happy": 2}, "test": {"angry": 1, "happy": 1}})
    ds = load_dataset(tmp_path)
    assert ds.table.groupby("split").size().to_dict() == {"test": 2, "train": 5}
    one = load_dataset(tmp_path / "train")
    assert one.n_images == 5 and set(one.table["split"]) == {"train"}
    assert one.name.endswith("/train")


def test_unknown_emotion_folder_is_excluded(tmp_path):
    class_folders(tmp_path, {"": {"angry": 2, "happy": 2, "confused": 4}})
    ds = load_dataset(tmp_path)
    msg = issue(ds, "unknown_emotion").message
    assert "confused/ (4 images)" in msg and ds.n_images == 4


@pytest.mark.parametrize("layout, total", [
    ({"": {"happyy": 3, "angery": 2, "cats": 1}}, 6),
    ({"train": {"happyy": 2, "angery": 1, "cats": 1}, "test": {"happyy": 1, "angery": 1}}, 6),
], ids=["one-split", "train-test"])
def test_misspelt_emotion_folders_say_what_was_found(tmp_path, layout, total):
    class_folders(tmp_path, layout)
    with pytest.raises(DatasetError) as info:
        load_dataset(tmp_path)
    message = str(info.value)
    assert message.startswith(f"Found {total} images in {tmp_path}, in folders whose names are "
                              "not emotions (angery (anger?), cats, happyy (happy?)).")
    assert "anger, contempt, disgust, fear, happy, neutral, sad, surprise" in message
    assert "No images found" not in message


def test_stem_collisions_get_distinct_participant_ids(tmp_path):
    write_image(tmp_path / "angry" / "1.jpg")
    write_image(tmp_path / "happy" / "1.jpg")
    write_image(tmp_path / "happy" / "2.jpg")
    ds = load_dataset(tmp_path)
    assert sorted(ds.table["participant"]) == ["img:2", "img:angry/1", "img:happy/1"]


def test_empty_folders_stray_images_and_other_files(tmp_path):
    class_folders(tmp_path, {"train": {"angry": 2, "happy": 1}})
    (tmp_path / "train" / "fear").mkdir()
    write_image(tmp_path / "train" / "loose.png")
    (tmp_path / "train" / "angry" / "README.txt").write_text("x")
    ds = load_dataset(tmp_path)
    assert "train/fear" in issue(ds, "empty_folder").message
    messages = " ".join(i.message for i in ds.issues if i.code == "ignored_file")
    assert "loose.png" in messages and "README.txt" in messages
    assert ds.n_images == 3 and "fear" not in ds.labels


def test_duplicates_across_splits_and_labels(tmp_path):
    class_folders(tmp_path, {"train": {"angry": 2, "happy": 2}, "test": {"angry": 1}})
    src = next((tmp_path / "train" / "angry").iterdir())
    shutil.copy(src, tmp_path / "test" / "angry" / "copy.jpg")
    shutil.copy(src, tmp_path / "train" / "happy" / "relabelled.jpg")
    ds = load_dataset(tmp_path)
    assert len(issue(ds, "duplicate_file").paths) == 3
    assert len(issue(ds, "duplicate_across_splits").paths) == 3
    assert len(issue(ds, "conflicting_duplicates").paths) == 3
    assert ds.n_images == 7 and ds.table["duplicate_group"].notna().sum() == 3


def test_corrupt_png_and_trailing_data_jpeg(tmp_path):
    class_folders(tmp_path, {"": {"angry": 1, "happy": 1}})
    png = write_image(tmp_path / "angry" / "cut.png", size=(64, 64))
    png.write_bytes(png.read_bytes()[:400])  # pixel data and IEND chunk cut off
    ok = write_image(tmp_path / "happy" / "trailer.jpg")
    ok.write_bytes(ok.read_bytes() + b"\x00" * 100)  # data after the end marker: still valid
    write_image(tmp_path / "happy" / "fine.webp")
    write_image(tmp_path / "happy" / "fine.bmp")
    ds = load_dataset(tmp_path)
    assert [p.split("/")[-1] for p in issue(ds, "corrupt_image").paths] == ["cut.png"]
    assert ds.n_images == 5


def test_full_check_decodes_every_image(tmp_path):
    class_folders(tmp_path, {"": {"angry": 1, "happy": 1}})
    bad = write_image(tmp_path / "angry" / "middle.jpg", size=(64, 64))
    data = bytearray(bad.read_bytes())
    data[3:80] = b"\x00" * 77  # headers destroyed; start and end markers intact
    bad.write_bytes(bytes(data))
    assert "corrupt_image" not in codes(load_dataset(tmp_path))  # the quick check sees intact ends
    full = load_dataset(tmp_path, check="full")
    assert [p.split("/")[-1] for p in issue(full, "corrupt_image").paths] == ["middle.jpg"]


def test_manifest_gives_participants_and_demographics(tmp_path):
    class_folders(tmp_path, {"": {}})
    rows = ["path;participant;gender;age;country;camera"]
    for i, (emotion, pid, g, age, c) in enumerate(
        [
            ("angry", "p1", "F", 20, "ru"),
            ("happy", "p1", "F", 20, "ru"),
            ("angry", "p2", "Male", 45, "PH"),
            ("happy", "p2", "Male", 45, "PH"),
        ]
    ):
        write_image(tmp_path / "train" / emotion / f"x{i}.jpg")
        rows.append(f"train/{emotion}/x{i}.jpg;{pid};{g};{age};{c};cam{i % 2}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset(tmp_path)
    assert ds.warnings == [] and ds.participants_known
    assert [n.message for n in ds.notes] == ["Participants taken from manifest.csv (2 people)."]
    assert ds.n_participants == 2
    per = ds.participants().set_index("participant")
    assert per.loc["p1", "gender"] == "female" and per.loc["p2", "age_group"] == "31_plus"
    assert per.loc["p2", "country_group"] == "Other"
    assert "camera" in ds.table.columns  # extra manifest columns are kept
    # pointing at the split still finds the manifest one level up
    assert load_dataset(tmp_path / "train").participants_known


def test_a_manifest_beside_the_emotion_folders_is_read_not_ignored(tmp_path):
    rows = ["path,participant"]
    for i, (emotion, pid) in enumerate([("angry", "a"), ("happy", "a"), ("angry", "b"),
                                        ("happy", "c")]):
        write_image(tmp_path / emotion / f"x{i}.jpg")
        rows.append(f"{emotion}/x{i}.jpg,{pid}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "notes.txt").write_text("not a dataset file")
    ds = load_dataset(tmp_path)
    assert ds.participants_known and ds.n_participants == 3
    assert [n.message for n in ds.notes] == ["Participants taken from manifest.csv (3 people)."]
    (ignored,) = [w for w in ds.warnings if w.code == "ignored_file"]
    assert "notes.txt" in ignored.message and "manifest" not in ignored.message


def test_incomplete_manifest_and_label_mismatch(tmp_path):
    write_image(tmp_path / "angry" / "a.jpg")
    write_image(tmp_path / "happy" / "b.jpg")
    write_image(tmp_path / "happy" / "c.jpg")
    (tmp_path / "manifest.csv").write_text(
        "Path,Participant,Emotion\nangry/a.jpg,p1,angry\nhappy/b.jpg,p1,sad\nhappy/gone.jpg,p2,happy\n"
    )
    ds = load_dataset(tmp_path)
    assert "c.jpg" in issue(ds, "image_without_metadata").message
    assert "gone.jpg" in issue(ds, "metadata_without_images").message
    assert "b.jpg" in issue(ds, "label_mismatch").message
    assert not ds.participants_known
    pids = ds.table.set_index(ds.table["path"].str.split("/").str[-1])["participant"]
    assert pids["a.jpg"] == "p1" and pids["c.jpg"] == "img:c"
    assert ds.table.loc[ds.table["path"].str.endswith("b.jpg"), "emotion"].item() == "happy"


def test_manifest_without_path_column_is_fatal(tmp_path):
    class_folders(tmp_path, {"": {"angry": 1, "happy": 1}})
    (tmp_path / "manifest.csv").write_text("participant,gender\np1,F\n")
    with pytest.raises(DatasetError, match="no path column"):
        load_dataset(tmp_path)


def test_unsorted_images_are_fatal(tmp_path):
    write_image(tmp_path / "a.jpg")
    write_image(tmp_path / "b.jpg")
    with pytest.raises(DatasetError, match="not sorted by emotion"):
        load_dataset(tmp_path)


def test_one_emotion_only_warns(tmp_path):
    class_folders(tmp_path, {"": {"happy": 2}})
    assert "few_labels" in codes(load_dataset(tmp_path))


@pytest.mark.shared_data
def test_real_fer2013(shared_datasets):
    root = shared_datasets / "fer2013"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    ds = load_dataset(root)
    assert ds.layout == "class_folders" and not ds.participants_known and not ds.synthetic
    assert ds.table.groupby("split").size().to_dict() == {"public_test": 3589, "train": 28709}
    assert ds.labels == ("anger", "disgust", "fear", "happy", "neutral", "sad", "surprise")
    train = ds.table[ds.table["split"] == "train"]
    assert train["emotion"].value_counts().to_dict() == {
        "happy": 7215,
        "neutral": 4965,
        "sad": 4830,
        "fear": 4097,
        "anger": 3995,
        "surprise": 3171,
        "disgust": 436,
    }
    # FER2013 holds byte-identical files, a few across train and test: flagged, not dropped
    assert {"duplicate_file", "duplicate_across_splits"} <= set(codes(ds))
    assert "corrupt_image" not in codes(ds)
    test_only = load_dataset(root / "public_test")
    assert test_only.n_images == 3589 and set(test_only.table["split"]) == {"public_test"}
