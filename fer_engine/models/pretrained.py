"""The shipped FER2013 model (``artifacts/pretrained/``): what ``load_model("pretrained")`` returns.

The folder holds ``model.keras`` (the fused float32 inference graph of
:mod:`fer_engine.models.fervgg`), ``meta.json`` (labels, input spec), ``model.tflite`` +
``model.tflite.json`` (its LiteRT twin: the function every ``predict_proba`` serves, see
:mod:`fer_engine.models.lite`), and the model card ``model_card.json`` / ``MODEL_CARD.md``.
See the card for data, training command, the served function, accuracy and known limits.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from fer_engine.errors import ModelError
from fer_engine.paths import pretrained_dir

MODEL_FILE = "model.keras"
#: The margin around a detected face at which the shipped model classifies faces in photos
#: (its ``face_margin``, written to ``meta.json`` at export). FER2013's own crops, which it
#: learnt from, are framed as tightly as a detector's face box (an upscaled FER2013 face
#: is about 0.92 of MTCNN's box on it), so the engine's default of 0.2 (crop side 1.4 x the
#: box) shows it a face smaller than it knows. ``benchmarks/face_margin.py`` on FER2013
#: train faces (2026-12-04), MTCNN, mean of faces filling 256-800 px photos and faces
#: pasted into scenes: margin 0 81.0 %, 0.05 80.3 %, 0.1 72.4 %, 0.2 57.4 %.
FACE_MARGIN: float = 0.0
CARD_JSON = "model_card.json"
CARD_MD = "MODEL_CARD.md"


def model_path() -> Path:
    return pretrained_dir() / MODEL_FILE


def available() -> bool:
    return model_path().is_file()


def record() -> dict:
    """Which network this is, for a run's ``config.json``: name, file and its SHA-256."""
    from fer_engine.models.lite import sha256

    path = model_path()
    return {"name": "pretrained", "description": "the shipped FER2013 network (fervgg)",
            "file": f"{path.parent.name}/{path.name}", "sha256": sha256(path)}


def copy_into(directory, stem: str) -> Path:
    """Copy the shipped model (its Keras file, LiteRT twin and record, ``meta.json``) into a
    run's models folder as ``<stem>.keras`` etc., so the run serves the same function."""
    import shutil

    from fer_engine.models.base import META_FILE
    from fer_engine.models.lite import twin_paths

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{stem}.keras"
    shutil.copyfile(model_path(), target)
    for src, dst in zip(twin_paths(model_path()), twin_paths(target)):
        if src.is_file():
            shutil.copyfile(src, dst)
    shutil.copyfile(pretrained_dir() / META_FILE, directory / META_FILE)
    return target


def load_pretrained():
    """The shipped model as a :class:`fer_engine.models.base.FERModel` (a fresh object)."""
    from fer_engine.models.base import FERModel

    path = model_path()
    if not path.is_file():
        raise ModelError(
            f"The shipped pretrained model is missing ({path}); restore artifacts/pretrained/ "
            "from the repository, or use a run folder or model file instead."
        )
    return FERModel.load(path)


def model_card() -> dict:
    """The machine-readable model card (empty dict if the card is missing); read again
    when the file or the artifacts folder changes."""
    path = pretrained_dir() / CARD_JSON
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return {}
    return _read_card(str(path), stamp)


@lru_cache(maxsize=2)
def _read_card(path: str, stamp: int) -> dict:
    return json.loads(Path(path).read_text())
