"""The synthetic demo dataset: layout, determinism, metadata, the cached default."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer_engine.data import load_dataset, synthetic
from fer_engine.emotions import EMOTIONS

KAGGLE_FILES = sorted(
    f"{n}.jpg"
    for n in ("Anger", "Contempt", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprised")
)


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def three(tmp_path_factory) -> Path:
    return synthetic.generate(tmp_path_factory.mktemp("syn") / "a", participants=3, seed=0)


def test_layout_and_metadata(three):
    assert sorted(os.listdir(three)) == ["SYNTHETIC.txt", "emotions.csv", "images"]
    assert sorted(os.listdir(three / "images")) == ["0", "1", "2"]
    for sid in ("0", "1", "2"):
        assert sorted(os.listdir(three / "images" / sid)) == KAGGLE_FILES
    with Image.open(three / "images" / "0" / "Surprised.jpg") as img:
        assert img.format == "JPEG" and img.size == (synthetic.WIDTH, synthetic.HEIGHT) == (
            320,
            400,
        )
        assert img.mode == "RGB"
    meta = pd.read_csv(three / "emotions.csv", sep=";", dtype=str)
    real = synthetic.default_metadata().head(3)
    pd.testing.assert_frame_equal(meta, real)  # the first three real participants
    assert synthetic.read_marker(three)["seed"] == 0


def test_loads_as_synthetic_tapakah68(three):
    ds = load_dataset(three)
    assert ds.layout == "tapakah68" and ds.synthetic and "synthetic" in ds.name
    assert ds.issues == []
    assert ds.labels == EMOTIONS and ds.n_images == 24 and ds.n_participants == 3
    assert ds.table.groupby("participant")["emotion"].nunique().eq(8).all()
    assert ds.table["gender"].notna().all() and ds.table["age_group"].notna().all()


def test_same_seed_same_bytes_different_seed_different(three, tmp_path):
    again = synthetic.generate(tmp_path / "b", participants=3, seed=0)
    assert digests(again) == digests(three)
    other = synthetic.generate(tmp_path / "c", participants=3, seed=1)
    a, b = digests(three), digests(other)
    images = [k for k in a if k.endswith(".jpg")]
    assert all(a[k] != b[k] for k in images)


def test_expressions_and_identities_differ(three):
    def gray(sid, name):
        return cv2.imread(str(three / "images" / sid / f"{name}.jpg"), cv2.IMREAD_GRAYSCALE).astype(
            float
        )

    # all eight expressions of one person are different pictures
    faces = [gray("0", n[:-4]) for n in KAGGLE_FILES]
    for i in range(8):
        for j in range(i + 1, 8):
            assert np.abs(faces[i] - faces[j]).mean() > 1.0
    # two people differ more than one person's neutral and happy
    same = np.abs(gray("0", "Neutral") - gray("0", "Happy")).mean()
    other = np.abs(gray("0", "Neutral") - gray("1", "Neutral")).mean()
    assert other > same


def test_faces_are_found_by_the_haar_cascade(three):
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    found = 0
    paths = sorted((three / "images").rglob("*.jpg"))
    for p in paths:
        gray = cv2.equalizeHist(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE))
        found += len(cascade.detectMultiScale(gray, 1.1, 5, minSize=(40, 40))) > 0
    assert found / len(paths) >= 0.75, f"{found}/{len(paths)} faces found"


def test_more_participants_than_the_real_nineteen():
    meta = synthetic.participants_table(25, seed=3)
    assert len(meta) == 25 and meta["set_id"].tolist() == [str(i) for i in range(25)]
    pd.testing.assert_frame_equal(meta.head(19), synthetic.default_metadata().astype(str))
    extra = meta.iloc[19:]
    assert set(extra["gender"]) <= {"FEMALE", "MALE"}
    assert extra["age"].astype(int).between(16, 65).all()
    assert extra["country"].str.fullmatch("[A-Z]{2}").all()
    pd.testing.assert_frame_equal(meta, synthetic.participants_table(25, seed=3))


def test_metadata_table_and_images_per_emotion(tmp_path):
    table = pd.DataFrame({"SET_ID": ["a7"], "Gender": ["male"], "Age": [60], "Country": ["in"]})
    root = synthetic.generate(
        tmp_path / "d",
        participants=table,
        images_per_emotion=2,
        seed=5,
        emotions=("happy", "surprise"),
    )
    assert sorted(os.listdir(root / "images" / "a7")) == [
        "Happy_1.jpg",
        "Happy_2.jpg",
        "Surprised_1.jpg",
        "Surprised_2.jpg",
    ]
    ds = load_dataset(root)
    assert ds.labels == ("happy", "surprise") and ds.n_images == 4
    assert ds.participants()["country_group"].tolist() == ["Other"]
    assert ds.participants()["age_group"].tolist() == ["31_plus"]


def test_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        synthetic.generate(tmp_path / "x", participants=1)


def test_default_dataset_is_generated_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    path = synthetic.default_dataset_path(participants=2, seed=0)
    assert path.parent == tmp_path / "cache" / "synthetic"
    assert (path / "SYNTHETIC.txt").is_file()
    stamp = (path / "images" / "0" / "Anger.jpg").stat().st_mtime_ns
    calls = []
    monkeypatch.setattr(synthetic, "generate", lambda *a, **k: calls.append(1))
    assert synthetic.default_dataset_path(participants=2, seed=0) == path
    assert calls == [] and (path / "images" / "0" / "Anger.jpg").stat().st_mtime_ns == stamp
    # other settings are another folder; no temporary folders are left behind
    assert synthetic.cache_key(2, 1) != synthetic.cache_key(2, 0) != synthetic.cache_key(3, 0)
    assert [p.name for p in (tmp_path / "cache" / "synthetic").iterdir()] == [path.name]


def test_default_dataset_race_keeps_the_winner(tmp_path, monkeypatch):
    """Another process finishing first: its folder is kept, ours is discarded."""
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    final = tmp_path / "cache" / "synthetic" / synthetic.cache_key(1, 0)
    real_generate = synthetic.generate

    def racing_generate(out, **kwargs):
        real_generate(final, **kwargs)  # the other process wins the race ...
        (final / "winner").write_text("1")
        return real_generate(out, **kwargs)  # ... while we are still writing ours

    monkeypatch.setattr(synthetic, "generate", racing_generate)
    path = synthetic.default_dataset_path(participants=1, seed=0)
    assert path == final and (final / "winner").is_file()
    assert [p.name for p in final.parent.iterdir()] == [final.name]
