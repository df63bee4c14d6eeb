"""Builders of tiny datasets on disk for the data-layer tests (not a test module)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from PIL import Image

KAGGLE = ("Anger", "Contempt", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprised")
_counter = itertools.count(1)


def write_image(path: Path, fmt: str | None = None, size: tuple[int, int] = (12, 10)) -> Path:
    """A small, unique (never byte-identical to another) image at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(next(_counter))
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, fmt or _format(path))
    return path


def _format(path: Path) -> str:
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}[
        path.suffix.lower()
    ]


def tapakah(
    root: Path,
    meta_rows: list[tuple] | None = None,
    sets=("0", "1", "2"),
    emotions=KAGGLE,
    sep: str = ";",
    header=("set_id", "gender", "age", "country"),
    write_meta: bool = True,
) -> Path:
    """``root/images/<set>/<Emotion>.jpg`` plus ``root/emotions.csv``."""
    for s in sets:
        for e in emotions:
            write_image(root / "images" / str(s) / f"{e}.jpg")
    if write_meta:
        if meta_rows is None:
            meta_rows = [
                (s, "FEMALE" if i % 2 == 0 else "MALE", 25 + 5 * i, "RU" if i else "PH")
                for i, s in enumerate(sets)
            ]
        lines = [sep.join(header)] + [sep.join(str(v) for v in row) for row in meta_rows]
        (root / "emotions.csv").write_text("\n".join(lines) + "\n")
    return root


def class_folders(root: Path, layout: dict[str, dict[str, int]]) -> Path:
    """``{split or '': {emotion folder: n images}}`` -> ``root/[split/]<emotion>/img<k>.jpg``."""
    for split, folders in layout.items():
        for folder, n in folders.items():
            for _ in range(n):
                write_image(root / split / folder / f"img{next(_counter)}.jpg")
    return root
