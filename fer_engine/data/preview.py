"""Previews of a dataset's faces: which images to show per emotion, and each as a thumbnail.

Used by the Dataset page (through its cache) so that a look at the data shows different
people and each face as it is in its file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fer_engine.data.dataset import Dataset, natural_key

#: Space around a detected face in a thumbnail, as a fraction of the face's size per side.
THUMB_MARGIN = 0.35


def sample_rows(ds: Dataset, label: str, n: int) -> pd.DataFrame:
    """Up to ``n`` rows of ``ds.table`` showing ``label``, one per participant: the first
    image (in file order) of the first ``n`` participants in natural order (2 before 10),
    so a preview shows ``n`` different people rather than near-identical frames of one."""
    rows = ds.table[ds.table["emotion"] == label]
    rows = rows.sort_values("path", kind="stable").drop_duplicates("participant")
    order = sorted(rows["participant"].astype(str), key=natural_key)[:n]
    by_person = rows.set_index(rows["participant"].astype(str))
    return by_person.loc[order].reset_index(drop=True)


def thumbnail(source, size: int, detector: str, margin: float = THUMB_MARGIN) -> np.ndarray | None:
    """A (size, size, 3) uint8 preview of the largest face in ``source`` (a path or bytes),
    unaligned, found with ``detector``; the centre square when no face is found; None when
    no input could be made.

    When the face fills the picture (its square with ``margin`` around it is larger than
    the picture, as in a dataset of face crops) the picture's centre square is shown as it
    is, as Classify does for "cropped faces", instead of a crop padded with the picture's
    repeated edge pixels (smeared, stretched borders).
    """
    from fer_engine import preprocess
    from fer_engine.preprocess.crop import centre_box, extract_face

    spec = preprocess.InputSpec(size, 3, "raw")
    prepared = preprocess.prepare_image(source, spec, margin=margin, detector=detector,
                                        align=False, max_faces=1)
    if not prepared.n_inputs:
        return None
    h, w = prepared.rgb.shape[:2]
    crop = prepared.crops[0]
    if crop.x < 0 or crop.y < 0 or crop.x2 > w or crop.y2 > h:  # would be padded
        return extract_face(prepared.rgb, centre_box(prepared.rgb.shape), spec)
    return prepared.pixels[0]
