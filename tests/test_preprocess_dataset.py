"""prepare_dataset: alignment with the table, failures reported, the on-disk cache."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer_engine.data import Dataset
from fer_engine.errors import NoFaceError
from fer_engine.preprocess import GRAY_48, RGB_224, InputSpec, dataset_cache, prepare_dataset

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("FER_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def dataset(tmp_path) -> Dataset:
    """Five rows: a face photo, a face crop, a no-face image, a corrupt file, a missing file."""
    root = tmp_path / "data"
    root.mkdir()
    photo = cv2.resize(skimage_data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    Image.fromarray(photo).save(root / "photo.jpg", quality=92)
    Image.fromarray(photo[25:95, 80:145]).convert("L").save(root / "crop.png")
    ramp = (np.linspace(30, 220, 120)[None, :] * np.ones((90, 1))).astype(np.uint8)
    Image.fromarray(ramp).save(root / "ramp.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    names = ["photo.jpg", "crop.png", "ramp.png", "broken.jpg", "missing.jpg"]
    table = pd.DataFrame(
        {
            "path": [str(root / n) for n in names],
            "participant": ["p1", "p1", "p2", "p2", "p3"],
            "emotion": ["happy", "happy", "neutral", "sad", "fear"],
        }
    )
    return Dataset(
        table=table, root=root, layout="class_folders", labels=("fear", "happy", "neutral", "sad")
    )


def test_rows_are_aligned_and_failures_reported(dataset, cache_dir):
    prep = prepare_dataset(dataset, GRAY_48, cache=False)
    assert len(prep) == 5 and prep.X.shape == (5, 48, 48, 1) and prep.X.dtype == np.uint8
    assert list(prep.status) == ["face", "face", "centre", "error", "error"]
    assert list(prep.ok) == [True, True, True, False, False]
    assert list(prep.face_found) == [True, True, False, False, False]
    assert "'broken.jpg'" in prep.messages[3] and "does not exist" in prep.messages[4]
    assert prep.messages[2] == "No face found: centre crop used."
    np.testing.assert_array_equal(prep.X[3:], 0)
    face = prep.face_box(0)
    assert (
        face.contains(102, 50) and face.contains(123, 51) and face.contains(112, 72)
    )  # eyes, mouth at 1/2 scale
    assert prep.crop_box(2).as_tuple() == (15, 0, 90, 90) and prep.face_box(2) is None
    assert list(prep.image_shapes[0]) == [256, 256] and list(prep.image_shapes[3]) == [0, 0]
    assert prep.inputs().dtype == np.float32 and prep.inputs().max() <= 1.0
    assert prep.inputs(prep.ok).shape == (3, 48, 48, 1)
    assert prep.counts() == {"centre": 1, "error": 2, "face": 2}
    assert list(prep.problems()["row"]) == [2, 3, 4]
    frame = prep.to_frame(dataset.table.index)
    assert (
        list(frame.columns[:2]) == ["status", "message"]
        and frame.loc[0, "crop_w"] == prep.crop_boxes[0, 2]
    )
    assert not cache_dir.exists()  # cache=False writes nothing


def test_fallback_none_and_error(dataset, cache_dir):
    prep = prepare_dataset(dataset, GRAY_48, fallback="none", cache=False)
    assert prep.status[2] == "none" and not prep.ok[2]
    with pytest.raises(
        NoFaceError, match=r"No face was found in 1 of 5 images \(for example ramp.png\)"
    ):
        prepare_dataset(dataset, GRAY_48, fallback="error", cache=False)


def test_detect_false_and_workers_agree(dataset, cache_dir):
    one = prepare_dataset(dataset, RGB_224, detect=False, cache=False, workers=1)
    two = prepare_dataset(dataset, RGB_224, detect=False, cache=False, workers=2)
    assert list(one.status) == ["whole", "whole", "whole", "error", "error"]
    np.testing.assert_array_equal(one.X, two.X)
    np.testing.assert_array_equal(one.crop_boxes, two.crop_boxes)


def test_second_call_hits_the_cache(dataset, cache_dir):
    calls = []
    first = prepare_dataset(dataset, GRAY_48, progress=lambda d, t: calls.append((d, t)))
    assert not first.from_cache and first.cache_file.is_file()
    assert first.cache_file.parent == cache_dir / "preprocessed"
    assert calls[-1] == (5, 5) and all(b >= a for a, b in zip(calls, calls[1:]))
    assert list(cache_dir.joinpath("preprocessed").iterdir()) == [
        first.cache_file
    ]  # no temp files left

    calls.clear()
    second = prepare_dataset(dataset, GRAY_48, progress=lambda d, t: calls.append((d, t)))
    assert second.from_cache and second.key == first.key and calls == [(5, 5)]
    assert second.seconds < first.seconds
    for name in ("X", "status", "messages", "face_boxes", "crop_boxes", "n_faces", "image_shapes"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    np.testing.assert_array_equal(first.face_scores, second.face_scores)


def test_changed_settings_or_files_miss_the_cache(dataset, cache_dir):
    base = prepare_dataset(dataset, GRAY_48)
    for kwargs in (
        {"spec": InputSpec(48, 1, "symmetric")},
        {"spec": RGB_224},
        {"margin": 0.3},
        {"detect": False},
        {"fallback": "none"},
    ):
        spec = kwargs.pop("spec", GRAY_48)
        other = prepare_dataset(dataset, spec, **kwargs)
        assert not other.from_cache and other.key != base.key, kwargs
    # Without a fingerprint, a file's size and time are part of the key.
    ramp = Path(dataset.table["path"][2])
    Image.fromarray(np.full((90, 120), 77, np.uint8)).save(ramp)
    os.utime(ramp, ns=(1, 1))
    changed = prepare_dataset(dataset, GRAY_48)
    assert not changed.from_cache and changed.X[2].max() == 77
    # A subset of the rows is a different dataset.
    subset = Dataset(
        table=dataset.table.iloc[:2].reset_index(drop=True),
        root=dataset.root,
        layout=dataset.layout,
        labels=dataset.labels,
    )
    assert not prepare_dataset(subset, GRAY_48).from_cache


def test_fingerprint_is_used_when_present(dataset, cache_dir):
    dataset.fingerprint = "abc"
    a = prepare_dataset(dataset, GRAY_48, detect=False)
    dataset.fingerprint = "abd"
    b = prepare_dataset(dataset, GRAY_48, detect=False)
    assert not b.from_cache and a.key != b.key
    dataset.fingerprint = "abc"
    assert prepare_dataset(dataset, GRAY_48, detect=False).from_cache


def test_corrupt_cache_file_is_rebuilt(dataset, cache_dir):
    first = prepare_dataset(dataset, GRAY_48, detect=False)
    valid = first.cache_file.read_bytes()
    for damaged in (b"garbage", valid[: len(valid) // 2]):
        first.cache_file.write_bytes(damaged)
        again = prepare_dataset(dataset, GRAY_48, detect=False)
        assert not again.from_cache
        np.testing.assert_array_equal(first.X, again.X)
        assert prepare_dataset(dataset, GRAY_48, detect=False).from_cache


def test_cache_version_is_part_of_the_key(dataset, cache_dir, monkeypatch):
    a = prepare_dataset(dataset, GRAY_48, detect=False)
    monkeypatch.setattr(dataset_cache, "CACHE_VERSION", "preprocess-test")
    assert not prepare_dataset(dataset, GRAY_48, detect=False).from_cache
    assert a.settings["version"] != "preprocess-test"


def test_progress_can_cancel_and_unwritable_cache_is_reported(dataset, tmp_path, monkeypatch):
    class Cancelled(Exception):
        pass

    def cancel(done, total):
        raise Cancelled

    with pytest.raises(Cancelled):
        prepare_dataset(dataset, GRAY_48, detect=False, cache=False, progress=cancel, workers=2)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("FER_CACHE_DIR", str(blocker))
    prep = prepare_dataset(dataset, GRAY_48, detect=False)
    assert prep.cache_file is None and "could not be cached" in prep.cache_error
    assert list(prep.status[:3]) == ["whole"] * 3
