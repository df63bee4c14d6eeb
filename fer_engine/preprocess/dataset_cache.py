"""Pre-process a whole dataset into arrays, cached on disk: :func:`prepare_dataset`.

The cache is one ``.npz`` per (dataset content, input spec, settings, code version)
under ``fer_engine.paths.cache_dir() / "preprocessed"``, written atomically (temporary
file, then rename), so an interrupted run never leaves a half-written cache behind.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pandas as pd
import PIL

from fer_engine import paths
from fer_engine.errors import ImageError, NoFaceError
from fer_engine.preprocess import decode
from fer_engine.preprocess.align import DEFAULT_ALIGN, MAX_ANGLE, MIN_ANGLE
from fer_engine.preprocess.detectors import DEFAULT_DETECTOR, check_detector, detector_settings
from fer_engine.preprocess.crop import DEFAULT_MARGIN
from fer_engine.preprocess.faces import FaceBox
from fer_engine.preprocess.image import FALLBACKS, STATUS_FACE, STATUS_NONE, prepare_image
from fer_engine.preprocess.spec import InputSpec, normalise

#: Bump whenever a change in this package changes the arrays it produces.
CACHE_VERSION: str = "preprocess-2"
#: ``PreparedDataset.status`` of a row whose image could not be decoded.
STATUS_ERROR = "error"
#: Rows handed to a worker at a time.
CHUNK: int = 64

_ARRAYS = (
    "X",
    "status",
    "messages",
    "face_boxes",
    "crop_boxes",
    "face_scores",
    "n_faces",
    "image_shapes",
)


@dataclass
class PreparedDataset:
    """Model-ready pixels for every row of ``dataset.table``, in the table's row order.

    ``X``: (n, size, size, channels) uint8 (normalise with :meth:`inputs`).
    ``status`` (n,): ``face`` (largest face used), ``centre`` (no face: centre crop),
    ``whole`` (detection off), ``none`` (no face, no fallback: row unusable) or
    ``error`` (image could not be decoded: row unusable). ``messages`` (n,): a sentence
    per row. ``face_boxes`` / ``crop_boxes`` (n, 4) int32 ``x, y, w, h`` in the original
    photo's pixels, -1 where there is none. ``face_scores`` (n,) float32 (NaN where no
    face). ``n_faces`` (n,) int32 faces found. ``image_shapes`` (n, 2) int32 ``H, W`` of
    the decoded photo (0 on error). Unusable rows hold zeros in ``X``; they are never
    dropped, so row ``i`` always is ``dataset.table.iloc[i]``.
    """

    spec: InputSpec
    X: np.ndarray
    status: np.ndarray
    messages: np.ndarray
    face_boxes: np.ndarray
    crop_boxes: np.ndarray
    face_scores: np.ndarray
    n_faces: np.ndarray
    image_shapes: np.ndarray
    settings: dict
    key: str = ""
    cache_file: Path | None = None
    from_cache: bool = False
    seconds: float = 0.0
    cache_error: str = ""  # why the result could not be written to the cache, if it could not

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def ok(self) -> np.ndarray:
        """(n,) bool: the row has a model input."""
        return ~np.isin(self.status, (STATUS_NONE, STATUS_ERROR))

    @property
    def face_found(self) -> np.ndarray:
        """(n,) bool: a face was detected in the row's image."""
        return self.status == STATUS_FACE

    @property
    def failed(self) -> np.ndarray:
        """(n,) bool: the row's image could not be decoded."""
        return self.status == STATUS_ERROR

    def inputs(self, rows=None) -> np.ndarray:
        """Normalised float32 model inputs for ``rows`` (indices or a bool mask; all when None)."""
        return normalise(self.X if rows is None else self.X[rows], self.spec)

    def face_box(self, i: int) -> FaceBox | None:
        return _box(self.face_boxes[i], self.face_scores[i])

    def crop_box(self, i: int) -> FaceBox | None:
        return _box(self.crop_boxes[i])

    def counts(self) -> dict[str, int]:
        """Number of rows per status."""
        values, n = np.unique(self.status, return_counts=True)
        return {str(v): int(c) for v, c in zip(values, n)}

    def problems(self) -> pd.DataFrame:
        """Rows without a detected face or without an input: row, status, message."""
        rows = np.flatnonzero(self.status != STATUS_FACE)
        if self.settings.get("detect") is False:
            rows = np.flatnonzero(~self.ok)
        return pd.DataFrame(
            {"row": rows, "status": self.status[rows], "message": self.messages[rows]}
        )

    def to_frame(self, index=None) -> pd.DataFrame:
        """One row per image: status, message, boxes; ``index`` e.g. ``dataset.table.index``."""
        frame = pd.DataFrame(
            {
                "status": self.status,
                "message": self.messages,
                "n_faces": self.n_faces,
                "face_score": self.face_scores,
            },
            index=index,
        )
        for prefix, boxes in (("face", self.face_boxes), ("crop", self.crop_boxes)):
            for j, c in enumerate("xywh"):
                frame[f"{prefix}_{c}"] = boxes[:, j]
        return frame


def _box(row: np.ndarray, score: float = math.nan) -> FaceBox | None:
    if row[2] <= 0:
        return None
    return FaceBox(int(row[0]), int(row[1]), int(row[2]), int(row[3]), float(score))


def _settings(
    detect, margin, fallback, min_size, scale_factor, min_neighbors, detector, align
) -> dict:
    """Everything besides the spec and the files that changes the arrays."""
    check_detector(detector)
    detect = bool(detect)
    return {
        "detect": detect,
        "margin": float(margin),
        "fallback": fallback,
        "min_size": float(min_size),
        "scale_factor": float(scale_factor),
        "min_neighbors": int(min_neighbors),
        # Without detection neither the detector nor alignment touches the arrays.
        "detector": detector if detect else None,
        "detector_settings": detector_settings(detector)["settings"] if detect else None,
        "align": bool(align) and detect,
        "align_settings": [MIN_ANGLE, MAX_ANGLE],
        "decode": [decode.MAX_PIXELS, decode.MIN_SIDE, list(decode.BACKGROUND)],
        "libraries": [cv2.__version__, PIL.__version__],
        "version": CACHE_VERSION,
    }


def cache_key(dataset, spec: InputSpec, settings: dict) -> str:
    """Hex digest of the dataset's content (its fingerprint, or else paths, sizes and
    modification times), its row order, the spec and ``settings``."""
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {"spec": spec.to_dict(), "settings": settings, "fingerprint": dataset.fingerprint},
            sort_keys=True,
        ).encode()
    )
    for p in dataset.table["path"].tolist():
        h.update(f"{p}\0".encode())
        if not dataset.fingerprint:
            try:
                st = os.stat(p)
                h.update(f"{st.st_size}:{st.st_mtime_ns}\0".encode())
            except (OSError, TypeError, ValueError):
                h.update(b"missing\0")
    return h.hexdigest()


def _load(file: Path, key: str, n: int, spec: InputSpec) -> dict | None:
    """The cached arrays, or None when absent, unreadable or not for this key."""
    try:
        with np.load(file, allow_pickle=False) as z:
            if str(z["key"]) != key or z["X"].shape != (n,) + spec.shape:
                return None
            return {name: z[name] for name in _ARRAYS}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def _save(file: Path, key: str, arrays: dict) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=file.stem + ".", suffix=".tmp", dir=file.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, key=np.array(key), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prepare_rows(rows, paths_, spec, settings, out) -> int:
    """Fill ``out``'s arrays for ``rows``; returns how many rows were done."""
    fallback = "none" if settings["fallback"] == "error" else settings["fallback"]
    for i in rows:
        path = paths_[i]
        try:
            if not isinstance(path, (str, os.PathLike)) or not str(path):
                raise ImageError(f"Row {i} has no image file.")
            prep = prepare_image(
                path,
                spec,
                detect=settings["detect"],
                margin=settings["margin"],
                fallback=fallback,
                max_faces=1,
                min_size=settings["min_size"],
                scale_factor=settings["scale_factor"],
                min_neighbors=settings["min_neighbors"],
                detector=settings["detector"] or DEFAULT_DETECTOR,
                align=settings["align"],
            )
        except ImageError as exc:
            out["status"][i], out["messages"][i] = STATUS_ERROR, str(exc)
            continue
        out["status"][i], out["messages"][i] = prep.status, prep.message
        out["image_shapes"][i] = prep.rgb.shape[:2]
        out["n_faces"][i] = len(prep.faces)
        if prep.faces:
            out["face_boxes"][i] = prep.faces[0].as_tuple()
            out["face_scores"][i] = prep.faces[0].score
        if prep.crops:
            out["crop_boxes"][i] = prep.crops[0].as_tuple()
            out["X"][i] = prep.pixels[0]
    return len(rows)


def prepare_dataset(
    dataset,
    spec: InputSpec,
    *,
    detect: bool = True,
    margin: float = DEFAULT_MARGIN,
    fallback: str = "centre",
    cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    min_size: float = 0.1,
    scale_factor: float = 1.1,
    min_neighbors: int = 5,
    detector: str = DEFAULT_DETECTOR,
    align: bool = DEFAULT_ALIGN,
) -> PreparedDataset:
    """Pre-process every image of ``dataset`` (a :class:`fer_engine.data.Dataset`) for ``spec``.

    One input per row (the largest face; see :func:`prepare_image` for ``detect``,
    ``margin``, ``fallback`` and the detection settings). Rows whose image cannot be
    decoded get status ``error`` and the reason in ``messages``. With
    ``fallback="error"`` every row is processed, then :class:`NoFaceError` is raised
    if any had no face. With ``cache`` the result is read from / written to the disk
    cache; a cache that cannot be written is reported in ``cache_error``, not raised.
    ``progress(done, total)`` is called from the calling thread as rows finish; an
    exception it raises (a cancel button) stops the work and propagates.
    ``workers``: threads (default: 2 or the number of CPUs if smaller).
    ``detector`` (a name of :data:`fer_engine.preprocess.detectors.DETECTORS`) and
    ``align`` (eyes levelled before the crop) are part of the cache key; with
    ``detect=False`` neither is used.
    """
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback must be one of {FALLBACKS}, not {fallback!r}")
    started = time.perf_counter()
    settings = _settings(
        detect, margin, fallback, min_size, scale_factor, min_neighbors, detector, align
    )
    n = len(dataset.table)
    key = cache_key(dataset, spec, settings)
    file = paths.cache_dir() / "preprocessed" / f"{key[:32]}.npz"
    arrays = _load(file, key, n, spec) if cache else None
    from_cache = arrays is not None
    cache_error = ""
    if arrays is None:
        arrays = {
            "X": np.zeros((n,) + spec.shape, dtype=np.uint8),
            "status": np.full(n, STATUS_ERROR, dtype="<U6"),
            "messages": np.full(n, "", dtype=object),
            "face_boxes": np.full((n, 4), -1, dtype=np.int32),
            "crop_boxes": np.full((n, 4), -1, dtype=np.int32),
            "face_scores": np.full(n, np.nan, dtype=np.float32),
            "n_faces": np.zeros(n, dtype=np.int32),
            "image_shapes": np.zeros((n, 2), dtype=np.int32),
        }
        paths_ = dataset.table["path"].tolist()
        chunks = [range(s, min(s + CHUNK, n)) for s in range(0, n, CHUNK)]
        workers = workers or min(2, os.cpu_count() or 1)
        done = 0
        if workers <= 1:
            for rows in chunks:
                done += _prepare_rows(rows, paths_, spec, settings, arrays)
                if progress:
                    progress(done, n)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [
                    pool.submit(_prepare_rows, rows, paths_, spec, settings, arrays)
                    for rows in chunks
                ]
                try:
                    for future in as_completed(futures):
                        done += future.result()
                        if progress:
                            progress(done, n)
                except BaseException:  # e.g. the progress callback cancelled: stop promptly
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
        arrays["messages"] = arrays["messages"].astype(str)
        if cache:
            try:
                _save(file, key, arrays)
            except OSError as exc:
                cache_error = (
                    f"The pre-processed arrays could not be cached in {file.parent}: {exc}"
                )
    if progress and (from_cache or n == 0):
        progress(n, n)
    result = PreparedDataset(
        spec=spec,
        settings=settings,
        key=key,
        cache_file=file if cache and not cache_error else None,
        from_cache=from_cache,
        cache_error=cache_error,
        seconds=time.perf_counter() - started,
        **arrays,
    )
    if fallback == "error":
        missing = np.flatnonzero(result.status == STATUS_NONE)
        if len(missing):
            names = ", ".join(Path(dataset.table["path"].iloc[i]).name for i in missing[:3])
            raise NoFaceError(
                f"No face was found in {len(missing)} of {n} images (for example {names}). "
                f"Allow a centre crop, or remove those images."
            )
    return result
