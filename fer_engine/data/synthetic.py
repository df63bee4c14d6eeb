"""The synthetic demo dataset: procedurally drawn faces in the Kaggle tapakah68 layout.

The study's photos cannot be shipped, so the dashboard's default data is drawn here:
``images/<set_id>/<Emotion>.jpg`` (Kaggle file names: Anger, Contempt, Disgust, Fear,
Happy, Neutral, Sad, Surprised) plus ``emotions.csv`` (set_id;gender;age;country) and a
``SYNTHETIC.txt`` marker that the reader recognises (``Dataset.synthetic``).

The faces are drawn by :mod:`fer_engine.data.synthetic_faces` (320x400 portraits, eight
expressions, per-participant identity, per-image nuisance).

Everything is a pure function of the seed, the set_id and the metadata row, so the same
arguments give byte-identical files on the same OpenCV/NumPy build.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fer_engine.data.readers import MARKER, read_marker  # noqa: F401 (re-exported)
from fer_engine.data.synthetic_faces import (  # noqa: F401 (re-exported)
    EXPRESSIONS,
    HEIGHT,
    WIDTH,
    Expression,
    Identity,
    make_identity,
    render_face,
    seeded_rng,
)
from fer_engine.emotions import EMOTIONS

#: Bump when the drawing changes: it is part of the cache key.
GENERATOR_VERSION = 2

#: The Kaggle tapakah68 file stem of each canonical emotion.
KAGGLE_NAMES: dict[str, str] = {
    "anger": "Anger",
    "contempt": "Contempt",
    "disgust": "Disgust",
    "fear": "Fear",
    "happy": "Happy",
    "neutral": "Neutral",
    "sad": "Sad",
    "surprise": "Surprised",
}

DEFAULT_METADATA = Path(__file__).with_name("default_metadata.csv")


# --------------------------------------------------------------------------- metadata
def default_metadata() -> pd.DataFrame:
    """The 19 real participants of the Kaggle tapakah68 dataset (set_id, gender, age, country)."""
    return pd.read_csv(DEFAULT_METADATA, sep=";", dtype=str)


def participants_table(participants: int | pd.DataFrame = 19, seed: int = 0) -> pd.DataFrame:
    """Metadata for ``participants`` people: the real 19 first, then seeded plausible extras.

    A DataFrame is used as given (columns set_id, gender, age, country; any case).
    Returns columns set_id, gender (FEMALE/MALE), age (int), country.
    """
    if isinstance(participants, pd.DataFrame):
        meta = participants.rename(columns=lambda c: str(c).strip().lower()).copy()
        missing = {"set_id", "gender", "age", "country"} - set(meta.columns)
        if missing:
            raise ValueError(f"participant table lacks columns {sorted(missing)}")
        return meta[["set_id", "gender", "age", "country"]].astype(str).reset_index(drop=True)
    n = int(participants)
    if n < 1:
        raise ValueError("participants must be at least 1")
    meta = default_metadata().head(n)
    extra = n - len(meta)
    if extra > 0:
        r = seeded_rng(seed, "extra-participants")
        rows = []
        for i in range(extra):
            country = "RU" if r.uniform() < 0.85 else str(r.choice(["PH", "IN", "KZ", "BY", "UA"]))
            rows.append(
                {
                    "set_id": str(len(meta) + i),
                    "gender": "FEMALE" if r.uniform() < 0.7 else "MALE",
                    "age": str(int(np.clip(r.normal(31, 9), 16, 65))),
                    "country": country,
                }
            )
        meta = pd.concat([meta, pd.DataFrame(rows)], ignore_index=True)
    return meta.astype(str)


# --------------------------------------------------------------------------- writing
def file_stem(emotion: str, k: int, images_per_emotion: int) -> str:
    """Kaggle stem (``Anger``); ``Anger_2`` etc. when there are several per emotion."""
    name = KAGGLE_NAMES[emotion]
    return name if images_per_emotion == 1 else f"{name}_{k + 1}"


def generate(
    out_dir: str | Path,
    participants: int | pd.DataFrame = 19,
    images_per_emotion: int = 1,
    seed: int = 0,
    difficulty: float = 1.0,
    emotions: tuple[str, ...] = EMOTIONS,
    jpeg_quality: int = 92,
) -> Path:
    """Write a synthetic dataset in the tapakah68 layout into ``out_dir``; returns the path.

    ``out_dir`` must not exist or be empty. Writes ``images/<set_id>/<Emotion>.jpg``
    (320x400 RGB JPEGs), ``emotions.csv`` (``;``-separated, like the shared copy) and
    ``SYNTHETIC.txt`` (the marker, with the generator settings as JSON).
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    if images_per_emotion < 1:
        raise ValueError("images_per_emotion must be at least 1")
    meta = participants_table(participants, seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    jobs = []
    for _, row in meta.iterrows():
        sid = str(row["set_id"])
        age = pd.to_numeric(row["age"], errors="coerce")
        ident = make_identity(seed, sid, row["gender"], age, difficulty)
        folder = out / "images" / sid
        folder.mkdir(parents=True, exist_ok=True)
        for emotion in emotions:
            for k in range(images_per_emotion):
                path = folder / f"{file_stem(emotion, k, images_per_emotion)}.jpg"
                jobs.append((path, ident, emotion, seeded_rng(seed, "image", sid, emotion, k)))

    def draw(job) -> None:
        path, ident, emotion, rng = job
        rgb = render_face(ident, emotion, rng, difficulty)
        ok, buf = cv2.imencode(
            ".jpg",
            cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)],
        )
        if not ok:  # pragma: no cover - OpenCV always encodes a uint8 image
            raise RuntimeError("JPEG encoding failed")
        path.write_bytes(buf.tobytes())

    # Each image has its own generator, so the thread order does not change any byte.
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        list(pool.map(draw, jobs))
    meta.to_csv(out / "emotions.csv", sep=";", index=False)
    settings = {
        "generator_version": GENERATOR_VERSION,
        "participants": len(meta),
        "seed": int(seed),
        "images_per_emotion": int(images_per_emotion),
        "difficulty": float(difficulty),
        "emotions": list(emotions),
    }
    (out / MARKER).write_text(
        "Synthetic demo data drawn by fer_engine.data.synthetic: not photographs of real people.\n"
        "Demographics are copied from the real tapakah68 metadata (or seeded) only to exercise\n"
        "the subgroup analyses; they say nothing about the drawn faces' real-world counterparts.\n"
        + json.dumps(settings, sort_keys=True)
        + "\n"
    )
    return out


def cache_key(
    participants: int = 19, seed: int = 0, images_per_emotion: int = 1, difficulty: float = 1.0
) -> str:
    """Folder name of a default dataset in the cache: all settings plus the generator version."""
    meta = participants_table(participants, seed).to_csv(index=False).encode()
    digest = f"{zlib.crc32(meta):08x}"
    return (
        f"v{GENERATOR_VERSION}-p{participants}-k{images_per_emotion}-s{seed}"
        f"-d{difficulty:g}-{digest}"
    )


def default_dataset_path(
    participants: int = 19, seed: int = 0, images_per_emotion: int = 1, difficulty: float = 1.0
) -> Path:
    """The embedded default dataset, generated on first use under the cache folder.

    Lives in ``fer_engine.paths.cache_dir()/synthetic/<key>/``. Generation writes into a
    temporary sibling folder and renames it into place, so a half-written dataset is
    never seen and two processes racing both end up with the same complete folder.
    """
    from fer_engine.paths import cache_dir

    parent = cache_dir() / "synthetic"
    final = parent / cache_key(participants, seed, images_per_emotion, difficulty)
    if (final / MARKER).is_file():
        return final
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=parent))
    try:
        generate(
            tmp,
            participants=participants,
            images_per_emotion=images_per_emotion,
            seed=seed,
            difficulty=difficulty,
        )
        try:
            os.rename(tmp, final)
        except OSError:
            # Another process finished first (the target exists and is not empty).
            if not (final / MARKER).is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
