"""Dataset previews: one image per person and emotion, face crops shown as they are."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fer_engine.data.dataset import Dataset
from fer_engine.data.preview import sample_rows, thumbnail


def _astronaut():
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()


def test_a_face_that_fills_the_picture_is_shown_as_it_is_not_padded():
    import cv2

    from fer_engine.preprocess import detect_faces

    crop = np.ascontiguousarray(_astronaut()[50:180, 158:288])  # a 130 px face crop
    (face,) = detect_faces(crop, detector="haar")
    assert face.w * 1.7 > crop.shape[1]  # with the margin the face's square leaves the picture
    thumb = thumbnail(crop, 64, "haar")
    expected = cv2.resize(crop, (64, 64), interpolation=cv2.INTER_AREA)
    assert thumb.shape == (64, 64, 3)
    assert np.abs(thumb.astype(int) - expected.astype(int)).mean() < 4
    # no smeared border: the outer rows differ from each other as the picture's own do
    assert np.abs(np.diff(thumb[:6].astype(int), axis=0)).mean() > 1


def test_a_face_in_a_larger_photo_is_cut_around_the_face():
    import cv2

    photo = _astronaut()  # 512 px, the face about 93 px wide near the top
    thumb = thumbnail(photo, 64, "haar")
    whole = cv2.resize(photo, (64, 64), interpolation=cv2.INTER_AREA)
    assert np.abs(thumb.astype(int) - whole.astype(int)).mean() > 20  # not the whole photo


def test_samples_are_different_people_in_natural_order():
    table = pd.DataFrame({
        "path": [f"/d/happy/{i:02d}.jpg" for i in range(8)] + ["/d/sad/x.jpg"],
        "emotion": ["happy"] * 8 + ["sad"],
        "participant": ["10", "10", "10", "2", "2", "1", "3", "3", "1"],
    })
    ds = Dataset(table=table, root="/d", layout="class_folders", labels=("happy", "sad"))
    rows = sample_rows(ds, "happy", 3)
    assert list(rows["participant"]) == ["1", "2", "3"]
    assert list(rows["path"]) == ["/d/happy/05.jpg", "/d/happy/03.jpg", "/d/happy/06.jpg"]
    assert list(sample_rows(ds, "happy", 6)["participant"]) == ["1", "2", "3", "10"]
    assert list(sample_rows(ds, "sad", 6)["path"]) == ["/d/sad/x.jpg"]
