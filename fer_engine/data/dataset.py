"""The one table every dataset becomes.

A :class:`Dataset` is what every reader returns: a pandas DataFrame with one row per
image plus what is known about the collection as a whole. Downstream code
(pre-processing, training, metrics, pages) only ever sees this.

Table columns (always present; ``None``/NaN where unknown):

=================  =======================================================================
``path``           absolute path of the image file (str)
``participant``    participant id (str). Kaggle tapakah68: the set_id. Class-folder data
                   without a manifest: one id per image (``img:<stem>``), flagged by
                   ``Dataset.participants_known = False``.
``emotion``        canonical emotion name (see :mod:`fer_engine.emotions`)
``split``          the dataset's own split where it has one (``train``, ``public_test``...)
``gender``         ``female`` / ``male`` (lower case) or None
``age``            age in years (float) or NaN
``country``        ISO-like code in upper case (``RU``, ``PH``...) or None
``country_group``  ``RU`` or ``Other`` (None when country unknown)
``age_group``      ``under_31`` or ``31_plus`` (None when age unknown)
=================  =======================================================================

Further per-image column added by the readers:

=================  =======================================================================
``duplicate_group`` None, or an id (``dup1``, ``dup2``...) shared by byte-identical files
=================  =======================================================================

Further demographic columns from a metadata file or manifest are kept as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

BASE_COLUMNS: tuple[str, ...] = (
    "path",
    "participant",
    "emotion",
    "split",
    "gender",
    "age",
    "country",
    "country_group",
    "age_group",
)

#: Columns that describe an image rather than its participant.
PER_IMAGE_COLUMNS: tuple[str, ...] = ("path", "emotion", "split", "duplicate_group")

#: The subgroup columns the first study compares.
GROUP_COLUMNS: tuple[str, ...] = ("country_group", "age_group", "gender")

#: Age cut of the first study: under 31 vs 31 and over.
AGE_CUT: int = 31

_DIGITS = re.compile(r"(\d+)")


def natural_key(value) -> tuple:
    """Sort key putting ids in natural order: ``'2'`` before ``'10'``, ``'p2'`` before ``'p10'``.

    The id as text, cut into runs of digits (compared as numbers) and the text between
    them (compared as text): ``sorted(ids, key=natural_key)``. Ids equal but for leading
    zeros (``'01'``, ``'1'``) tie, so they keep their order.
    """
    parts = _DIGITS.split(str(value))
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


@dataclass(frozen=True)
class ValidationIssue:
    """One finding of the validator.

    ``severity`` is ``"warning"`` (the dataset is usable; the affected items are
    excluded or flagged as the message says), ``"info"`` (what the reader did with a file
    that is not an image, e.g. took the participants from ``manifest.csv``) or ``"error"``
    (only ever seen inside a :class:`fer_engine.errors.DatasetError`). ``code`` is a stable machine name such as
    ``missing_metadata``, ``set_without_metadata``, ``metadata_without_images``,
    ``unknown_emotion``, ``corrupt_image``, ``duplicate_file``, ``empty_folder``; the
    full list, with what happens to the affected items, is in :mod:`fer_engine.data.readers`.
    ``paths`` lists the files or folders concerned.
    """

    severity: str
    code: str
    message: str
    paths: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"[{self.severity}] {self.message}"


@dataclass
class Dataset:
    """A loaded, validated dataset."""

    table: pd.DataFrame
    root: Path
    layout: str  # "tapakah68" or "class_folders"
    labels: tuple[str, ...]  # emotions this dataset covers, canonical order
    name: str = ""
    synthetic: bool = False
    participants_known: bool = True
    issues: list[ValidationIssue] = field(default_factory=list)
    fingerprint: str = ""  # content hash: paths, sizes, mtimes and metadata

    @property
    def warnings(self) -> list[ValidationIssue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def notes(self) -> list[ValidationIssue]:
        """What the reader did that is not a problem (``severity == "info"``)."""
        return [i for i in self.issues if i.severity == "info"]

    @property
    def n_images(self) -> int:
        return len(self.table)

    @property
    def n_participants(self) -> int:
        return int(self.table["participant"].nunique())

    def participants(self) -> pd.DataFrame:
        """One row per participant with its demographics and image count."""
        cols = [c for c in self.table.columns if c not in PER_IMAGE_COLUMNS]
        per = self.table[cols].drop_duplicates("participant").set_index("participant")
        per["n_images"] = self.table.groupby("participant").size()
        return per.reset_index()
