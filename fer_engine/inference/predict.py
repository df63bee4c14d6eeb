"""Face-level prediction for images: detect faces, classify each, one table row per face.

Used by ``python -m fer_engine predict`` and by the dashboard's Classify page.
Model calls are batched (``predict_proba`` on up to ``batch_size`` faces at a time);
face detection runs per image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fer_engine import emotions
from fer_engine.errors import ImageError, UserFacingError

#: File name endings treated as images when a folder is searched.
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".jfif", ".pgm", ".ppm"}
)
BOX_COLUMNS = ("x", "y", "w", "h")


def expand_sources(sources) -> list:
    """Files and folders -> a flat list; folders are searched recursively for image files.

    Items may be paths (str/Path) or ``(name, data)`` pairs where ``data`` is bytes, a
    binary file or an (H, W, 3) uint8 RGB array (e.g. an upload). Files named explicitly
    are kept whatever their ending (a non-image gets an error row, not silence).
    """
    if isinstance(sources, (str, Path)) or (isinstance(sources, tuple) and len(sources) == 2
                                            and isinstance(sources[0], str)
                                            and not isinstance(sources[1], (str, Path))):
        sources = [sources]
    out: list = []
    for item in sources:
        if isinstance(item, tuple):
            out.append(item)
            continue
        path = Path(item).expanduser()
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            out.append(path)
    return out


def columns_for(labels) -> list[str]:
    """Column order of :func:`predict_images`' table."""
    return (["path", "face", *BOX_COLUMNS, "pred", "confidence"]
            + [emotions.prob_column(lab) for lab in labels] + ["error"])


def predict_images(model, sources, *, detect: bool = True, margin: float | None = None,
                   batch_size: int = 64,
                   max_faces: int | None = None, fold=None, detector: str | None = None,
                   align: bool | None = None) -> pd.DataFrame:
    """Classify every face in ``sources``; one row per face.

    ``model``: a loaded :class:`fer_engine.models.base.FERModel` or anything
    :func:`fer_engine.experiments.runs.load_trained_model` accepts (run folder or id, model
    file, ``"pretrained"``; ``fold`` is passed on). ``detect=False``: each image is taken as a
    face crop (its centre square). Columns: ``path``, ``face`` (0 = largest), ``x, y, w, h``
    (the face box in the original image's pixels; the centre square when detection is off),
    ``pred``, ``confidence`` (the top probability), ``p_<label>`` per class of the model,
    ``error``.
    ``detector``/``align``: see :func:`fer_engine.preprocess.prepare_image` (None: its defaults).
    ``margin``: around each detected face (None: the model's own, ``model.face_margin``).
    An image that cannot be read or has no face gets one row with ``error`` (the reason)
    and no prediction; the others go on.
    """
    from fer_engine.experiments.runs import load_trained_model
    from fer_engine.models.base import face_margin
    from fer_engine.preprocess import prepare_image

    model = load_trained_model(model, fold=fold)
    margin = face_margin(model, margin)
    # None: the engine's defaults (fer_engine.preprocess.DEFAULT_DETECTOR / DEFAULT_ALIGN).
    detection = {k: v for k, v in (("detector", detector), ("align", align)) if v is not None}
    labels = model.labels
    spec = model.input_spec
    rows: list[dict] = []
    pending: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        X = np.stack([pix for _, pix in pending])
        P = model.predict_proba(X, batch_size=batch_size)
        for (r, _), p in zip(pending, P):
            rows[r]["pred"] = labels[int(np.argmax(p))]
            rows[r]["confidence"] = float(np.max(p))
            for lab, v in zip(labels, p):
                rows[r][emotions.prob_column(lab)] = float(v)
        pending.clear()

    for item in expand_sources(sources):
        name, source = (item[0], item[1]) if isinstance(item, tuple) else (str(item), item)
        try:
            if isinstance(source, Path) and not source.exists():
                raise ImageError(f"{source} does not exist.")
            prep = prepare_image(source, spec, detect=detect, margin=margin, fallback="none",
                                 max_faces=max_faces, **detection)
        except (UserFacingError, OSError, ValueError) as exc:
            rows.append({"path": name, "error": str(exc) or type(exc).__name__})
            continue
        if prep.n_inputs == 0:
            rows.append({"path": name, "error": prep.message or "No face found."})
            continue
        boxes = prep.faces if prep.faces else prep.crops
        for i in range(prep.n_inputs):
            box = boxes[i]
            rows.append({"path": name, "face": i, "x": box.x, "y": box.y, "w": box.w, "h": box.h})
            pending.append((len(rows) - 1, prep.pixels[i]))
        if len(pending) >= batch_size:
            flush()
    flush()
    frame = pd.DataFrame(rows, columns=columns_for(labels))
    for col in ("face", *BOX_COLUMNS):
        frame[col] = frame[col].astype("Int64")
    return frame


def summarise(frame: pd.DataFrame) -> dict:
    """Counts for a one-line report: images, faces classified, images with an error."""
    ok = frame["error"].isna()
    return {"images": int(frame["path"].nunique()), "faces": int(ok.sum()),
            "errors": int((~ok).sum())}

