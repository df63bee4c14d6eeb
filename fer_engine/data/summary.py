"""What a dataset holds: counts per emotion and split, per subgroup, and a text report.

Used by ``python -m fer_engine inspect`` and the Dataset page, so both show the same numbers.
The ``*_table`` functions give the same tables in words for people (no column names, no
None or NaN: missing values read ``unknown``), as the Dataset page shows them.
"""

from __future__ import annotations

import os

import pandas as pd

from fer_engine import emotions
from fer_engine import format as fmt
from fer_engine.data.dataset import GROUP_COLUMNS, PER_IMAGE_COLUMNS, Dataset
from fer_engine.format import SYNTHETIC_BANNER

#: Groups with fewer participants than this get a small-n note.
SMALL_N = 5

LAYOUT_DESCRIPTIONS = {
    "tapakah68": "Kaggle tapakah68: images/<set_id>/<Emotion>.<ext> + emotions.csv",
    "class_folders": "class folders: [split/]<emotion>/<image>",
}


def emotion_counts(ds: Dataset) -> pd.DataFrame:
    """Images per emotion (rows, in label order) and per split (columns), plus ``total``."""
    t = ds.table
    splits = t["split"].dropna().unique().tolist() if t["split"].notna().any() else []
    out = pd.DataFrame(index=pd.Index(list(ds.labels), name="emotion"))
    for split in splits:
        out[split] = t[t["split"] == split].groupby("emotion").size()
    out["total"] = t.groupby("emotion").size()
    return out.fillna(0).astype(int)


def split_counts(ds: Dataset) -> pd.DataFrame:
    """Images and participants per split (one row ``all`` when the dataset has no splits)."""
    t = ds.table.assign(split=ds.table["split"].fillna("all"))
    g = t.groupby("split", sort=False)
    return pd.DataFrame({"images": g.size(), "participants": g["participant"].nunique()})


def group_counts(ds: Dataset, small_n: int = SMALL_N) -> pd.DataFrame:
    """Participants and images per value of each subgroup column.

    Columns: ``group`` (country_group/age_group/gender), ``value`` (``unknown`` where the
    metadata does not say), ``participants``, ``images``, ``small_n`` (True when fewer
    than ``small_n`` participants: any comparison involving that group is very uncertain).
    """
    rows = []
    t = ds.table
    for col in GROUP_COLUMNS:
        values = t[col].astype(object).where(t[col].notna(), "unknown")
        g = t.assign(_v=values).groupby("_v", sort=True)
        for value, part in g:
            n_p = int(part["participant"].nunique())
            rows.append(
                {
                    "group": col,
                    "value": str(value),
                    "participants": n_p,
                    "images": int(len(part)),
                    "small_n": n_p < small_n,
                }
            )
    return pd.DataFrame(rows, columns=["group", "value", "participants", "images", "small_n"])


def emotion_counts_table(ds: Dataset) -> pd.DataFrame:
    """:func:`emotion_counts` in words: ``Emotion``, one column per split, ``Images``."""
    counts = emotion_counts(ds)
    out = counts.rename(columns=lambda c: "Images" if c == "total" else fmt.group_value(c))
    out.insert(0, "Emotion", [emotions.display_name(e) for e in counts.index])
    return out.reset_index(drop=True)


def group_counts_table(ds: Dataset, small_n: int = SMALL_N) -> pd.DataFrame:
    """:func:`group_counts` in words: ``Group`` (``Country: RU``, ``Age: under 31``),
    ``People``, ``Images`` and a ``Note`` for groups under ``small_n`` people."""
    groups = group_counts(ds, small_n)
    return pd.DataFrame({
        "Group": [fmt.subgroup([g], [v]) for g, v in zip(groups["group"], groups["value"])],
        "People": groups["participants"].astype(int),
        "Images": groups["images"].astype(int),
        "Note": [f"fewer than {small_n} people: very uncertain" if small else ""
                 for small in groups["small_n"]],
    })


def _column_name(column: str) -> str:
    """A demographic column's heading in a table: a derived group (``country_group``,
    ``age_group``) reads "Country group", "Age group", so that it is not taken for a second
    copy of "Country of origin" or "Age (years)" beside it."""
    name = fmt.attribute(column)
    return f"{name} group" if column.endswith("_group") and not name.endswith("group") else name


def _in_words(table: pd.DataFrame, columns) -> pd.DataFrame:
    """The demographic ``columns`` of ``table`` under their names in words, values in words."""
    return pd.DataFrame({_column_name(c): [fmt.group_value(v) for v in table[c]]
                         for c in columns}, index=table.index)


def participants_table(ds: Dataset) -> pd.DataFrame:
    """:meth:`Dataset.participants` in words: ``Person``, the demographics, ``Images``."""
    per = ds.participants()
    columns = [c for c in per.columns if c not in ("participant", "n_images")]
    out = _in_words(per, columns)
    out.insert(0, "Person", per["participant"].astype(str))
    out["Images"] = per["n_images"].astype(int)
    return out.reset_index(drop=True)


def images_table(ds: Dataset) -> pd.DataFrame:
    """The dataset's table in words: ``File`` (relative to the dataset's folder), ``Person``,
    ``Emotion``, ``Split`` (when the dataset has splits), the demographics, and ``Identical
    copy`` (the group of byte-identical files, when there are any)."""
    t = ds.table
    out = pd.DataFrame({
        "File": [os.path.relpath(p, ds.root) for p in t["path"]],
        "Person": t["participant"].astype(str),
        "Emotion": [emotions.display_name(e) for e in t["emotion"]],
    }, index=t.index)
    if t["split"].notna().any():
        out["Split"] = [fmt.group_value(v) for v in t["split"]]
    demographics = [c for c in t.columns if c not in PER_IMAGE_COLUMNS and c != "participant"]
    out = out.join(_in_words(t, demographics))
    if "duplicate_group" in t.columns and t["duplicate_group"].notna().any():
        out["Identical copy"] = [f"group {str(g).removeprefix('dup')}" if isinstance(g, str)
                                 else "" for g in t["duplicate_group"]]
    return out.reset_index(drop=True)


def overview(ds: Dataset) -> dict:
    """Key facts as a flat dict (for a header line or a metrics row)."""
    return {
        "name": ds.name,
        "root": str(ds.root),
        "layout": ds.layout,
        "synthetic": ds.synthetic,
        "images": ds.n_images,
        "participants": ds.n_participants if ds.participants_known else None,
        "participants_known": ds.participants_known,
        "emotions": ", ".join(ds.labels),
        "warnings": len(ds.warnings),
        "fingerprint": ds.fingerprint,
    }


def format_report(ds: Dataset, small_n: int = SMALL_N) -> str:
    """Plain-text report: layout, counts per emotion/split/group, validation warnings."""
    lines = []
    if ds.synthetic:
        lines += [f"*** {SYNTHETIC_BANNER} ***", ""]
    lines += [
        f"Dataset:      {ds.name}",
        f"Folder:       {ds.root}",
        f"Layout:       {LAYOUT_DESCRIPTIONS.get(ds.layout, ds.layout)}",
        f"Images:       {ds.n_images}",
    ]
    if ds.participants_known:
        lines.append(f"Participants: {ds.n_participants}")
    else:
        lines.append(
            "Participants: unknown (no manifest): each image counts as its own participant, "
            "so person-wise splits are not possible"
        )
    lines += [
        f"Emotions:     {len(ds.labels)} ({', '.join(ds.labels)})",
        f"Fingerprint:  {ds.fingerprint}",
        "",
        "Images per emotion:",
    ]
    lines += ["  " + line for line in emotion_counts(ds).to_string().splitlines()]
    if ds.table["split"].notna().any():
        lines += ["", "Images per split:"]
        lines += ["  " + line for line in split_counts(ds).to_string().splitlines()]
    groups = group_counts(ds, small_n)
    if (groups["value"] != "unknown").any():
        lines += ["", "Participants and images per group:"]
        shown = groups.assign(
            note=groups["small_n"].map(
                lambda s: f"small n (<{small_n} participants): very uncertain" if s else ""
            )
        )
        shown = shown.drop(columns=["small_n"])
        lines += ["  " + line for line in shown.to_string(index=False).splitlines()]
    else:
        lines += ["", "Groups: no demographics (gender, age, country) in this dataset."]
    lines += [
        "",
        f"Validation: {len(ds.warnings)} warning(s)"
        + ("" if ds.warnings else ", no problems found"),
    ]
    lines += [f"  - [{i.code}] {i.message}" for i in ds.warnings]
    lines += [f"  {i.message}" for i in ds.notes]
    return "\n".join(lines)
