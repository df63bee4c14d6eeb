"""Metadata tables: reading CSVs (separated by commas, semicolons, tabs or ``|``; headers and
values in any case) and the derived subgroup columns.

Both the Kaggle tapakah68 ``emotions.csv`` (set_id, gender, age, country) and a
class-folder ``manifest.csv`` (path, participant, demographics) pass through here.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from fer_engine.data.dataset import AGE_CUT
from fer_engine.errors import DatasetError

#: Header spellings accepted for the participant id (after lower-casing, spaces -> _).
PARTICIPANT_COLUMNS = (
    "set_id",
    "setid",
    "set",
    "participant",
    "participant_id",
    "subject",
    "subject_id",
    "person",
    "person_id",
    "id",
)
#: Header spellings accepted for the image path in a manifest.
PATH_COLUMNS = ("path", "file", "filename", "file_name", "image", "image_path", "img")

_GENDERS = {
    "female": "female",
    "f": "female",
    "woman": "female",
    "w": "female",
    "girl": "female",
    "male": "male",
    "m": "male",
    "man": "male",
    "boy": "male",
}
_RUSSIA = {"RU", "RUS", "RUSSIA", "RUSSIAN FEDERATION"}


def _column_name(name: object) -> str:
    return str(name).strip().lstrip("\ufeff").strip().lower().replace(" ", "_").replace("-", "_")


#: Column delimiters read, in order of preference when a header has several equally often.
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars (|)"}


def sniff_delimiter(text: str) -> str:
    """The delimiter of a small CSV: one of :data:`DELIMITERS`, the one its header line holds
    most often (``,`` when it holds none)."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def _unread_delimiter(header: str) -> str | None:
    """The character that seems to separate the columns of a header read as one column
    (``set_id:gender:age``), or None when it looks like one column name."""
    candidates = [c for c in header.strip() if not (c.isalnum() or c in "_-.'\"()")]
    if not candidates:
        return None
    return max(set(candidates), key=lambda c: (candidates.count(c), c))


def read_csv_table(path: Path, what: str) -> pd.DataFrame:
    """Read a metadata CSV as strings with normalised headers (lower case, ``_``).

    ``what`` names the file in error messages ("metadata file", "manifest").
    Raises :class:`DatasetError` when the file cannot be read as a table.
    """
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        text = Path(path).read_bytes().decode("latin-1")
    except OSError as exc:
        raise DatasetError(f"The {what} {path} could not be read ({exc.strerror}).") from exc
    if not text.strip():
        raise DatasetError(f"The {what} {path} is empty.")
    sep = sniff_delimiter(text)
    try:
        table = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            skipinitialspace=True,
            keep_default_na=False,
            quoting=csv.QUOTE_MINIMAL,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise DatasetError(f"The {what} {path} is not a readable CSV table ({exc}).") from exc
    if len(table.columns) == 1:
        other = _unread_delimiter(str(table.columns[0]))
        if other is not None:
            shown = "spaces" if other.isspace() else f"'{other}'"
            raise DatasetError(
                f"The {what} {path} seems to separate its columns with {shown}, which this tool "
                f"does not read (its first line: {str(table.columns[0]).strip()[:80]}). Separate "
                f"the columns with {', '.join(_DELIMITER_NAMES[d] for d in DELIMITERS[:-1])} or "
                f"{_DELIMITER_NAMES[DELIMITERS[-1]]}."
            )
    table.columns = [_column_name(c) for c in table.columns]
    table = table.apply(lambda col: col.str.strip())
    return table.replace({"": None})


def find_column(table: pd.DataFrame, candidates: tuple[str, ...]) -> str | None:
    """First column of ``table`` whose name is among ``candidates`` (already normalised)."""
    return next((c for c in candidates if c in table.columns), None)


def id_key(value: object) -> str:
    """Comparable participant id: stripped; ``"007"`` and ``"7"`` and ``"7.0"`` compare equal."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def normalise_gender(value: object) -> str | None:
    """``female`` / ``male`` for common spellings in any case; None when empty or unknown."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return _GENDERS.get(str(value).strip().lower())


def country_group(country: object) -> str | None:
    """``RU`` for Russia (any common spelling), ``Other`` for any other country, else None."""
    if country is None or (isinstance(country, float) and np.isnan(country)) or str(country) == "":
        return None
    return "RU" if str(country).strip().upper() in _RUSSIA else "Other"


def age_group(age: float) -> str | None:
    """``under_31`` / ``31_plus`` (cut at :data:`AGE_CUT`); None when unknown."""
    if age is None or pd.isna(age):
        return None
    return "under_31" if float(age) < AGE_CUT else "31_plus"


def clean_demographics(
    table: pd.DataFrame, source: str
) -> tuple[pd.DataFrame, list[tuple[str, str, list]]]:
    """Normalise gender/age/country columns in place of the raw ones.

    Returns the cleaned copy and a list of problems as ``(code, message, ids)`` tuples
    (values that could not be understood become unknown; the rows stay).
    """
    out = table.copy()
    problems: list[tuple[str, str, list]] = []
    for col in ("gender", "age", "country"):
        if col not in out.columns:
            out[col] = None
    raw_gender = out["gender"]
    out["gender"] = raw_gender.map(normalise_gender)
    bad = raw_gender.notna() & out["gender"].isna()
    if bad.any():
        values = sorted(set(raw_gender[bad].astype(str)))
        problems.append(
            (
                "bad_metadata_value",
                f"{int(bad.sum())} row(s) of {source} have a gender this tool does not "
                f"understand ({', '.join(values[:5])}); their gender is treated as unknown.",
                list(out.index[bad]),
            )
        )
    raw_age = out["age"]
    age = pd.to_numeric(raw_age, errors="coerce").astype(float)
    implausible = age.notna() & ((age < 0) | (age > 120))
    bad = (raw_age.notna() & age.isna()) | implausible
    if bad.any():
        values = sorted(set(raw_age[bad].astype(str)))
        problems.append(
            (
                "bad_metadata_value",
                f"{int(bad.sum())} row(s) of {source} have an age that is not a number "
                f"between 0 and 120 ({', '.join(values[:5])}); their age is treated as unknown.",
                list(out.index[bad]),
            )
        )
    out["age"] = age.where(~implausible)
    out["country"] = out["country"].map(lambda c: str(c).strip().upper() if c is not None else None)
    return out, problems


def add_groups(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``country_group`` and ``age_group`` from ``country`` and ``age`` (returns the table)."""
    table["country_group"] = table["country"].map(country_group)
    table["age_group"] = table["age"].map(age_group)
    return table
