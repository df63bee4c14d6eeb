"""Dataset readers: find the layout of a folder and turn it into one validated table.

Two layouts are recognised automatically (see :func:`detect_layout`):

``tapakah68`` (Kaggle "tapakah68/facial-emotion-recognition")
    ``images/<set_id>/<Emotion>.<ext>`` plus ``emotions.csv`` (set_id, gender, age,
    country; ``,``, ``;``, tab or ``|`` separated; headers and values in any case). One set per
    participant. ``<Emotion>_<n>`` names are accepted for several photos per emotion.
    The path may be the folder holding ``images/`` and ``emotions.csv``, the ``images``
    folder itself, or a folder that only wraps one of those (as unzipping often leaves).

``class_folders`` (Kaggle FER2013 and many others)
    ``root/[split/]<emotion>/<file>``; folder names are emotions in any spelling the
    vocabulary knows. Optional ``manifest.csv`` in the root (path relative to it,
    participant, demographics). Without one, participants are unknown: every image gets
    its own id (``img:<stem>``) and ``Dataset.participants_known`` is False.

What happens to problems (never silently):

============================  =========================================  ============
problem (``code``)            what happens                               severity
============================  =========================================  ============
folder missing / no images    :class:`DatasetError`                      fatal
metadata file unreadable      :class:`DatasetError`                      fatal
``missing_metadata``          images kept, demographics unknown          warning
``set_without_metadata``      images kept, demographics unknown          warning
``metadata_without_images``   metadata row has no images; listed         warning
``image_without_metadata``    (manifest) image kept, own participant id  warning
``unknown_emotion``           images excluded                            warning
``corrupt_image``             image excluded                             warning
``duplicate_file``            kept; ``duplicate_group`` column set       warning
``duplicate_across_splits``   kept; the same image in two splits         warning
``conflicting_duplicates``    kept; the same image with two labels       warning
``empty_folder``              nothing to load there; listed              warning
``ignored_file``              non-image files and misplaced images       warning
``incomplete_set``            set kept; missing emotions listed          warning
``duplicate_metadata``        first row per participant used             warning
``bad_metadata_value``        that value treated as unknown              warning
``label_mismatch``            (manifest) folder label kept               warning
``few_labels``                fewer than two emotions: cannot train      warning
``participants_from_manifest`` who is on each image read from it         info
============================  =========================================  ============
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from pathlib import Path

import pandas as pd

from fer_engine import emotions as emo
from fer_engine.data import metadata as md
from fer_engine.data.dataset import BASE_COLUMNS, Dataset, ValidationIssue, natural_key
from fer_engine.data.files import (
    CHECK_MODES,
    FileEntry,
    check_files,
    file_entry,
    fingerprint,
    list_folder,
)
from fer_engine.data.upload import archive_stem
from fer_engine.errors import DatasetError

LAYOUTS = ("tapakah68", "class_folders")

#: Folder names read as a dataset's own split when a path points straight at one.
KNOWN_SPLITS = frozenset(
    {
        "train",
        "training",
        "test",
        "testing",
        "val",
        "valid",
        "validation",
        "dev",
        "public_test",
        "private_test",
        "publictest",
        "privatetest",
    }
)

_EXPECTED = (
    "Expected either images/<set_id>/<Emotion>.jpg with an emotions.csv next to images/ "
    "(the Kaggle tapakah68 layout), or one folder per emotion such as angry/, happy/ "
    "(optionally inside train/ and test/ folders, as in the Kaggle FER2013 download)."
)
_MAX_LISTED = 5

#: Marker file in the root of a synthetic dataset (written by :mod:`fer_engine.data.synthetic`).
MARKER = "SYNTHETIC.txt"
_STEM = re.compile(r"^(.*?)[\s_\-.]*\d*$")


# --------------------------------------------------------------------------- helpers
def emotion_from_stem(stem: str) -> str | None:
    """Canonical emotion of a tapakah68 file stem: ``Surprised`` and ``Anger_2`` -> label."""
    label = emo.try_normalise(stem)
    if label is None:
        m = _STEM.match(stem)
        if m and m.group(1):
            label = emo.try_normalise(m.group(1))
    return label


def _listing(paths, root: Path, limit: int = _MAX_LISTED) -> str:
    rel = [_rel(p, root) for p in paths]
    shown = ", ".join(rel[:limit])
    return shown + (f" and {len(rel) - limit} more" if len(rel) > limit else "")


def _rel(path, root: Path) -> str:
    try:
        return os.path.relpath(str(path), str(root))
    except ValueError:
        return str(path)


class _Report:
    """Collects warnings while a reader runs."""

    def __init__(self, root: Path):
        self.root = root
        self.issues: list[ValidationIssue] = []

    def warn(self, code: str, message: str, paths=()) -> None:
        self.issues.append(ValidationIssue("warning", code, message, tuple(str(p) for p in paths)))

    def note(self, code: str, message: str, paths=()) -> None:
        """What the reader did with a file that is not an image (not a problem)."""
        self.issues.append(ValidationIssue("info", code, message, tuple(str(p) for p in paths)))


def _has_emotion_subdirs(folder: Path) -> bool:
    try:
        dirs, _, _ = list_folder(folder)
    except OSError:
        return False
    return any(emo.is_emotion(d.name) for d in dirs)


def _is_sets_folder(folder: Path, probe: int = 8) -> bool:
    """True if ``folder`` holds set folders whose files are named after emotions."""
    try:
        dirs, _, _ = list_folder(folder)
    except OSError:
        return False
    for d in dirs[:probe]:
        try:
            _, images, _ = list_folder(d.path)
        except OSError:
            continue
        if any(emotion_from_stem(Path(i.name).stem) for i in images):
            return True
    return False


def _find_entry(folder: Path, name: str, *, want_dir: bool) -> Path | None:
    """``folder/name`` matched case-insensitively, a folder or a file as asked."""
    try:
        for entry in os.scandir(folder):
            if entry.name.lower() == name.lower() and (entry.is_dir() if want_dir else entry.is_file()):
                return Path(entry.path)
    except OSError:
        return None
    return None


def _find_file(folder: Path, name: str) -> Path | None:
    return _find_entry(folder, name, want_dir=False)


def _find_dir(folder: Path, name: str) -> Path | None:
    return _find_entry(folder, name, want_dir=True)


# --------------------------------------------------------------------------- layout
class Layout:
    """Where a dataset's parts are. ``kind`` is ``tapakah68`` or ``class_folders``.

    tapakah68: ``images`` (the sets folder). class_folders: ``splits`` as
    ``[(split name or None, folder)]``.
    """

    def __init__(
        self,
        kind: str,
        root: Path,
        images: Path | None = None,
        splits: list[tuple[str | None, Path]] | None = None,
    ):
        self.kind, self.root, self.images, self.splits = kind, root, images, splits or []

    def __repr__(self) -> str:
        return f"Layout({self.kind!r}, root={str(self.root)!r})"


def detect_layout(path: str | Path, _depth: int = 0) -> Layout:
    """Find the layout of the dataset at ``path``; raises :class:`DatasetError` if none fits."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DatasetError(f"The folder {p} does not exist.")
    if p.is_file():
        if p.suffix.lower() == ".csv":
            return detect_layout(p.parent, _depth)
        if p.suffix.lower() in (".zip", ".tar", ".gz", ".tgz", ".7z", ".rar"):
            raise DatasetError(
                f"{p} is an archive: unpack it first, then choose the unpacked folder."
            )
        raise DatasetError(
            f"{p} is a file, not a dataset folder. Choose the folder that holds the images."
        )
    p = p.resolve()
    try:
        dirs, images, _ = list_folder(p)
    except PermissionError as exc:
        raise DatasetError(f"The folder {p} cannot be read (permission denied).") from exc

    images_dir = _find_dir(p, "images")
    metadata = _find_file(p, "emotions.csv")
    if images_dir is not None and (metadata is not None or _is_sets_folder(images_dir)):
        return Layout("tapakah68", p, images=images_dir)
    if any(emo.is_emotion(d.name) for d in dirs):
        split = p.name if p.name.lower() in KNOWN_SPLITS else None
        return Layout("class_folders", p, splits=[(split, p)])
    split_dirs = [d for d in dirs if _has_emotion_subdirs(Path(d.path))]
    wrapper = (len(dirs) == 1 and not images and split_dirs
               and dirs[0].name.lower() not in KNOWN_SPLITS)
    if wrapper and _depth < 2:
        # One folder of emotion folders, not named like a split: it wraps the dataset
        # (as unzipping an archive of that folder leaves), it is not a split of it.
        return detect_layout(dirs[0].path, _depth + 1)
    if split_dirs:
        return Layout("class_folders", p, splits=[(d.name, Path(d.path)) for d in split_dirs])
    if _is_sets_folder(p):
        root = p.parent if p.name.lower() == "images" else p
        return Layout("tapakah68", root, images=p)
    if metadata is not None and images_dir is None:
        raise DatasetError(f"{p} has an emotions.csv but no images/ folder next to it. {_EXPECTED}")
    if len(dirs) == 1 and not images and _depth < 2:
        # Unzipping often leaves one wrapper folder around the dataset.
        return detect_layout(dirs[0].path, _depth + 1)
    if images:
        raise DatasetError(
            f"The images in {p} are not sorted by emotion, so they cannot be used for training "
            f"or evaluation. {_EXPECTED}"
        )
    misnamed = _images_in_other_folders(dirs)
    if misnamed:
        names = [f"{name} ({guess}?)" if guess else name
                 for name, guess in ((n, _closest_emotion(n)) for n in sorted(misnamed))]
        shown = ", ".join(names[:_MAX_LISTED])
        more = f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else ""
        raise DatasetError(
            f"Found {sum(misnamed.values())} images in {p}, in folders whose names are not "
            f"emotions ({shown}{more}). Name the folders after the emotions: "
            f"{', '.join(emo.EMOTIONS)} (or synonyms such as angry, happiness, surprised), "
            "or use the Kaggle tapakah68 layout: images/<set_id>/<Emotion>.jpg with an "
            "emotions.csv next to images/."
        )
    raise DatasetError(f"No images found in {p}. {_EXPECTED}")


def _images_in_other_folders(dirs: list[os.DirEntry]) -> dict[str, int]:
    """Images per folder name in ``dirs`` and in their sub-folders (``<name>/`` or
    ``<split>/<name>/``), for a folder whose sub-folders are not named after emotions."""
    found: dict[str, int] = defaultdict(int)
    for d in dirs:
        try:
            subs, images, _ = list_folder(d.path)
        except OSError:
            continue
        if images:
            found[d.name] += len(images)
        for sub in subs:
            try:
                n = len(list_folder(sub.path)[1])
            except OSError:
                continue
            if n:
                found[sub.name] += n
    return dict(found)


def _closest_emotion(name: str) -> str | None:
    """The emotion a misspelt folder name most likely means (``angery`` -> anger), or None."""
    import difflib

    key = name.strip().lower()
    match = difflib.get_close_matches(key, emo.EMOTIONS, n=1, cutoff=0.75)
    return match[0] if match else None


# --------------------------------------------------------------------------- tapakah68
def _read_metadata(path: Path, report: _Report) -> pd.DataFrame:
    """The tapakah68 metadata, one row per participant, indexed by :func:`metadata.id_key`."""
    table = md.read_csv_table(path, "metadata file")
    id_col = md.find_column(table, md.PARTICIPANT_COLUMNS)
    if id_col is None:
        raise DatasetError(
            f"The metadata file {path} has no set_id column (its columns are: "
            f"{', '.join(map(str, table.columns))}). "
            "Expected the columns set_id, gender, age, country."
        )
    table = table[table[id_col].notna()].copy()
    table["_key"] = table[id_col].map(md.id_key)
    dup = table["_key"].duplicated(keep="first")
    if dup.any():
        ids = sorted(set(table.loc[dup, "_key"]))
        report.warn(
            "duplicate_metadata",
            f"The metadata file lists set(s) {', '.join(ids[:_MAX_LISTED])} more than once; "
            f"the first row of each is used.",
            [path],
        )
        table = table[~dup]
    table = table.set_index("_key")
    table, problems = md.clean_demographics(table, f"the metadata file {path.name}")
    for code, message, _ in problems:
        report.warn(code, message, [path])
    return table.drop(columns=[id_col])


def _load_tapakah68(layout: Layout, metadata: Path | None, report: _Report):
    root = layout.root
    meta_path = metadata or _find_file(root, "emotions.csv")
    meta = None
    extra: list[bytes] = []
    if meta_path is None:
        report.warn(
            "missing_metadata",
            f"No emotions.csv found in {root}: gender, age and country are unknown, so the "
            f"subgroup comparisons (country, age, gender) are not available.",
            [root],
        )
    else:
        meta = _read_metadata(Path(meta_path), report)
        extra.append(Path(meta_path).read_bytes())

    cols: dict[str, list] = defaultdict(list)
    files: list[FileEntry] = []
    sets_found: dict[str, list[str]] = {}  # key -> emotions found
    set_names: dict[str, str] = {}
    dirs, stray_images, others = list_folder(layout.images)
    stray = [i.path for i in stray_images] + [o.path for o in others]
    if stray:
        report.warn(
            "ignored_file",
            f"{len(stray)} file(s) lie directly in {_rel(layout.images, root)}/ instead of in "
            f"a set folder and were left out: {_listing(stray, root)}.",
            stray,
        )
    unknown, ignored, nested, empty = [], [], [], []
    for d in dirs:
        sub_dirs, images, non_images = list_folder(d.path)
        nested += [s.path for s in sub_dirs]
        ignored += [o.path for o in non_images]
        key = md.id_key(d.name)
        set_names[key] = d.name
        found = []
        for img in images:
            entry = file_entry(img)
            files.append(entry)
            label = emotion_from_stem(Path(img.name).stem)
            if label is None:
                unknown.append(img.path)
                continue
            found.append(label)
            cols["path"].append(entry.path)
            cols["participant"].append(d.name)
            cols["emotion"].append(label)
            cols["_key"].append(key)
        if not images:
            empty.append(d.path)
        if found:
            sets_found[key] = found
    if unknown:
        report.warn(
            "unknown_emotion",
            f"{len(unknown)} image(s) are not named after an emotion and were left out: "
            f"{_listing(unknown, root)}. Name them like Anger.jpg, Happy.jpg, Surprised.jpg "
            f"(known emotions: {', '.join(emo.EMOTIONS)}).",
            unknown,
        )
    if ignored:
        report.warn(
            "ignored_file",
            f"{len(ignored)} non-image file(s) were ignored: {_listing(ignored, root)}.",
            ignored,
        )
    if nested:
        report.warn(
            "ignored_file",
            f"{len(nested)} folder(s) inside set folders were ignored: {_listing(nested, root)}.",
            nested,
        )
    if empty:
        report.warn(
            "empty_folder",
            f"{len(empty)} set folder(s) hold no images: {_listing(empty, root)}.",
            empty,
        )

    # Sets missing some of the emotions the other sets have.
    all_labels = {label for found in sets_found.values() for label in found}
    incomplete = {
        k: sorted(all_labels - set(v), key=emo.EMOTIONS.index)
        for k, v in sets_found.items()
        if all_labels - set(v)
    }
    if incomplete:
        parts = [f"set {set_names[k]} lacks {', '.join(v)}" for k, v in sorted(incomplete.items())]
        report.warn(
            "incomplete_set",
            f"{len(incomplete)} set(s) do not have a photo for every emotion (kept): "
            f"{'; '.join(parts[:_MAX_LISTED])}{' ...' if len(parts) > _MAX_LISTED else ''}.",
            [os.path.join(layout.images, set_names[k]) for k in sorted(incomplete)],
        )

    table = pd.DataFrame(cols)
    if meta is not None:
        keys = set(sets_found)
        no_meta = sorted(keys - set(meta.index), key=natural_key)
        if no_meta:
            names = [set_names[k] for k in no_meta]
            report.warn(
                "set_without_metadata",
                f"{len(no_meta)} set(s) have no row in the metadata file, so their gender, age "
                f"and country are unknown (images kept): {', '.join(names[:_MAX_LISTED])}"
                f"{' ...' if len(names) > _MAX_LISTED else ''}.",
                [os.path.join(layout.images, n) for n in names],
            )
        no_images = sorted(set(meta.index) - keys, key=natural_key)
        if no_images:
            report.warn(
                "metadata_without_images",
                f"{len(no_images)} participant(s) in the metadata file have no images: "
                f"set_id {', '.join(no_images[:_MAX_LISTED])}"
                f"{' ...' if len(no_images) > _MAX_LISTED else ''}.",
                [meta_path],
            )
        if len(table):
            table = table.join(meta, on="_key")
    return table.drop(columns=["_key"], errors="ignore"), files, extra


# --------------------------------------------------------------------------- class folders
def _find_manifest(layout: Layout) -> Path | None:
    found = _find_file(layout.root, "manifest.csv")
    if found is None and len(layout.splits) == 1 and layout.splits[0][0] is not None:
        found = _find_file(layout.root.parent, "manifest.csv")
    return found


def _load_class_folders(layout: Layout, metadata: Path | None, report: _Report):
    root = layout.root
    manifest_path = metadata or _find_manifest(layout)
    used = {os.path.normpath(str(manifest_path))} if manifest_path is not None else set()
    cols: dict[str, list] = defaultdict(list)
    files: list[FileEntry] = []
    unknown_dirs, stray, ignored, nested, empty = [], [], [], [], []
    for split, folder in layout.splits:
        dirs, images, others = list_folder(folder)
        stray += [i.path for i in images]
        ignored += [o.path for o in others if os.path.normpath(str(o.path)) not in used]
        n_split = 0
        for d in dirs:
            label = emo.try_normalise(d.name)
            sub_dirs, imgs, non_images = list_folder(d.path)
            nested += [s.path for s in sub_dirs]
            ignored += [o.path for o in non_images]
            if label is None:
                unknown_dirs.append((d.path, len(imgs)))
                files.extend(file_entry(i) for i in imgs)
                continue
            if not imgs:
                empty.append(d.path)
            for img in imgs:
                entry = file_entry(img)
                files.append(entry)
                cols["path"].append(entry.path)
                cols["emotion"].append(label)
                cols["split"].append(split)
            n_split += len(imgs)
        if n_split == 0 and folder != root:
            empty.append(str(folder))
    if unknown_dirs:
        names = [f"{_rel(p, root)}/ ({n} images)" for p, n in unknown_dirs]
        report.warn(
            "unknown_emotion",
            f"{len(unknown_dirs)} folder(s) are not named after an emotion this tool knows, so "
            f"their images were left out: {', '.join(names[:_MAX_LISTED])}. Known emotions: "
            f"{', '.join(emo.EMOTIONS)} (and synonyms such as angry, happiness, surprised).",
            [p for p, _ in unknown_dirs],
        )
    if stray:
        report.warn(
            "ignored_file",
            f"{len(stray)} image(s) are not inside an emotion folder and were left out: "
            f"{_listing(stray, root)}.",
            stray,
        )
    if ignored:
        report.warn(
            "ignored_file",
            f"{len(ignored)} non-image file(s) were ignored: {_listing(ignored, root)}.",
            ignored,
        )
    if nested:
        report.warn(
            "ignored_file",
            f"{len(nested)} folder(s) inside emotion folders were ignored: "
            f"{_listing(nested, root)}.",
            nested,
        )
    if empty:
        report.warn(
            "empty_folder",
            f"{len(empty)} folder(s) hold no images: {_listing(empty, root)}.",
            empty,
        )

    table = pd.DataFrame(cols, columns=["path", "emotion", "split"])
    extra: list[bytes] = []
    known = False
    if manifest_path is not None:
        extra.append(Path(manifest_path).read_bytes())
        table, known = _apply_manifest(table, Path(manifest_path), report)
    if not known:
        table["participant"] = _image_ids(table, root)
    return table, files, extra, known


def _image_ids(table: pd.DataFrame, root: Path) -> pd.Series:
    """``img:<stem>`` per image; the relative path instead where stems collide."""
    stems = pd.Series(
        [p.rsplit(os.sep, 1)[-1].rsplit(".", 1)[0] for p in table["path"]],
        index=table.index,
        dtype=object,
    )
    ids = "img:" + stems
    clash = stems.duplicated(keep=False)
    if clash.any():
        ids[clash] = "img:" + table.loc[clash, "path"].map(
            lambda p: os.path.splitext(_rel(p, root))[0].replace(os.sep, "/")
        )
    if "participant" in table.columns:
        return table["participant"].where(table["participant"].notna(), ids)
    return ids


def _apply_manifest(table: pd.DataFrame, path: Path, report: _Report) -> tuple[pd.DataFrame, bool]:
    """Join a manifest onto the class-folder table; returns (table, all participants known)."""
    man = md.read_csv_table(path, "manifest")
    path_col = md.find_column(man, md.PATH_COLUMNS)
    if path_col is None:
        raise DatasetError(
            f"The manifest {path} has no path column "
            f"(its columns are: {', '.join(map(str, man.columns))}). "
            f"Expected a column 'path' with each image's path relative to {path.parent}."
        )
    base = path.parent.resolve()
    man = man[man[path_col].notna()].copy()
    man["_abs"] = man[path_col].map(
        lambda p: os.path.normpath(os.path.join(base, p.replace("\\", "/")))
    )
    dup = man["_abs"].duplicated(keep="first")
    if dup.any():
        report.warn(
            "duplicate_metadata",
            f"{int(dup.sum())} image(s) appear more than once in the "
            f"manifest; the first row of each is used.",
            [path],
        )
        man = man[~dup]
    pid_col = md.find_column(man, md.PARTICIPANT_COLUMNS)
    man, problems = md.clean_demographics(man, f"the manifest {path.name}")
    for code, message, _ in problems:
        report.warn(code, message, [path])
    man = man.set_index("_abs")
    if pid_col is not None:
        man = man.rename(columns={pid_col: "participant"})
        man["participant"] = man["participant"].astype("string").str.strip().astype(object)
    label_col = md.find_column(man, ("emotion", "label", "expression", "class"))
    drop = [c for c in (path_col, "split") if c in man.columns and c != "participant"]
    man = man.drop(columns=drop)

    in_manifest = table["path"].isin(man.index)
    missing = table.loc[~in_manifest, "path"]
    if len(missing):
        report.warn(
            "image_without_metadata",
            f"{len(missing)} image(s) are not listed in the manifest: their participant and "
            f"demographics are unknown (images kept): {_listing(missing, path.parent)}.",
            list(missing),
        )
    unused = sorted(set(man.index) - set(table["path"]))
    if unused:
        report.warn(
            "metadata_without_images",
            f"{len(unused)} manifest row(s) point to no image found in the dataset: "
            f"{_listing(unused, path.parent)}.",
            unused,
        )
    if label_col is not None:
        given = man[label_col].map(lambda v: emo.try_normalise(v) if v is not None else None)
        joined = table["path"].map(given)
        clash = joined.notna() & (joined != table["emotion"])
        if clash.any():
            report.warn(
                "label_mismatch",
                f"{int(clash.sum())} image(s) have a different emotion in the manifest than "
                f"their folder; the folder's emotion is used: "
                f"{_listing(table.loc[clash, 'path'], path.parent)}.",
                list(table.loc[clash, "path"]),
            )
        man = man.drop(columns=[label_col])
    table = table.join(man, on="path")
    known = (
        pid_col is not None and bool(in_manifest.all()) and bool(table["participant"].notna().all())
    )
    if pid_col is not None and known:
        people = int(table["participant"].nunique())
        report.note("participants_from_manifest",
                    f"Participants taken from {path.name} ({people} "
                    f"{'person' if people == 1 else 'people'}).", [path])
    if pid_col is not None and not known:
        report.warn(
            "image_without_metadata",
            "Not every image has a participant in the manifest, so participants are treated as "
            "unknown: each image without one counts as its own participant.",
            [path],
        )
    return table, known


# --------------------------------------------------------------------------- finishing
def _flag_checks(
    table: pd.DataFrame, files: list[FileEntry], check: str, report: _Report, root: Path
) -> pd.DataFrame:
    """Exclude unreadable images, flag duplicates (``duplicate_group``); warn about both."""
    in_table = set(table["path"])
    result = check_files([f for f in files if f.path in in_table], check)
    if result.unreadable:
        bad = sorted(result.unreadable)
        details = [f"{_rel(p, root)} ({result.unreadable[p]})" for p in bad[:_MAX_LISTED]]
        more = f" and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
        report.warn(
            "corrupt_image",
            f"{len(bad)} image(s) could not be read and were left out: {', '.join(details)}{more}.",
            bad,
        )
        table = table[~table["path"].isin(result.unreadable)]
    group_of: dict[str, str] = {}
    for i, group in enumerate(result.duplicates):
        for p in group:
            if p not in result.unreadable:
                group_of[p] = f"dup{i + 1}"
    table = table.copy()
    table["duplicate_group"] = table["path"].map(group_of).astype(object)
    table.loc[table["duplicate_group"].isna(), "duplicate_group"] = None
    dups = table[table["duplicate_group"].notna()]
    if len(dups):
        n_groups = dups["duplicate_group"].nunique()
        first = [g for g in result.duplicates if all(p in group_of for p in g)][:2]
        example = "; ".join(" = ".join(_rel(p, root) for p in g[:3]) for g in first)
        report.warn(
            "duplicate_file",
            f"{len(dups)} images are byte-identical copies ({n_groups} groups of the same file; "
            f"kept, marked in the duplicate_group column), e.g. {example}.",
            dups["path"].tolist(),
        )
        grouped = dups.groupby("duplicate_group")
        if dups["split"].notna().any():
            across = grouped["split"].nunique()
            across = across[across > 1].index
            if len(across):
                paths = dups.loc[dups["duplicate_group"].isin(across), "path"].tolist()
                report.warn(
                    "duplicate_across_splits",
                    f"{len(across)} image(s) appear in more than one split ({len(paths)} files, "
                    f"e.g. in both train and test), which inflates test results if left in: "
                    f"{_listing(paths, root)}.",
                    paths,
                )
        labels = grouped["emotion"].nunique()
        labels = labels[labels > 1].index
        if len(labels):
            paths = dups.loc[dups["duplicate_group"].isin(labels), "path"].tolist()
            report.warn(
                "conflicting_duplicates",
                f"{len(labels)} image(s) are stored more than once with different emotion labels "
                f"({len(paths)} files; label noise): {_listing(paths, root)}.",
                paths,
            )
    return table


def read_marker(root: str | Path) -> dict | None:
    """Settings of a synthetic dataset from its marker file: None if absent, {} if unreadable."""
    path = Path(root) / MARKER
    if not path.is_file():
        return None
    for line in reversed(path.read_text(errors="replace").splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                break
    return {}


def _dataset_name(layout: Layout, marker: dict | None) -> str:
    """The synthetic data's settings; an uploaded archive's name (``my_faces.zip`` ->
    ``my_faces``); else the folder's name (with its parent's for a single split)."""
    if marker is not None:
        n = marker.get("participants", "?")
        seed = marker.get("seed", "?")
        return f"synthetic demo data ({n} participants, seed {seed})"
    root = layout.root
    split = layout.splits[0][0] if len(layout.splits) == 1 else None
    archive = archive_stem(root)
    if archive is not None:
        return f"{archive}/{split}" if split else archive
    if split:
        return f"{root.parent.name}/{root.name}" if root.name == split else f"{root.name}/{split}"
    return root.name


def load_dataset(
    path: str | Path, *, metadata: str | Path | None = None, check: str = "quick"
) -> Dataset:
    """Load the dataset at ``path`` into a validated :class:`Dataset`.

    ``metadata`` overrides the metadata file (tapakah68: ``emotions.csv``; class folders:
    ``manifest.csv``). ``check`` is ``"quick"`` (header/trailer check, Pillow only for
    doubtful files) or ``"full"`` (decode every image with Pillow); see
    :mod:`fer_engine.data.files`. Raises :class:`DatasetError` on fatal problems; every
    other problem is a warning in ``Dataset.issues``.
    """
    if check not in CHECK_MODES:
        raise ValueError(f"check must be one of {CHECK_MODES}")
    layout = detect_layout(path)
    meta_path = None
    if metadata is not None:
        meta_path = Path(metadata).expanduser()
        if not meta_path.is_file():
            raise DatasetError(f"The metadata file {meta_path} does not exist.")
    report = _Report(layout.root)
    known = True
    if layout.kind == "tapakah68":
        table, files, extra = _load_tapakah68(layout, meta_path, report)
        table["split"] = None
    else:
        table, files, extra, known = _load_class_folders(layout, meta_path, report)
    if not len(table):
        if files:
            raise DatasetError(
                f"None of the {len(files)} images in {layout.root} could be used "
                f"(see the warnings: {'; '.join(str(i) for i in report.issues)})"
            )
        raise DatasetError(f"No images found in {layout.root}. {_EXPECTED}")
    table = _flag_checks(table, files, check, report, layout.root)
    if not len(table):
        raise DatasetError(
            f"None of the images in {layout.root} could be read: they are all damaged "
            f"or not images."
        )

    for col in BASE_COLUMNS:
        if col not in table.columns:
            table[col] = None
    table["gender"] = table["gender"].where(table["gender"].notna(), None)
    table["age"] = pd.to_numeric(table["age"], errors="coerce").astype(float)
    table = md.add_groups(table)
    extras = [c for c in table.columns if c not in BASE_COLUMNS]
    table = table[list(BASE_COLUMNS) + extras].reset_index(drop=True)
    for col in ("participant", "emotion"):
        table[col] = table[col].astype(str)

    labels = emo.subset(table["emotion"].unique())
    if len(labels) < 2:
        report.warn(
            "few_labels",
            f"Only one emotion ({labels[0]}) was found: a classifier needs at "
            f"least two emotions to train or be evaluated.",
            [layout.root],
        )
    marker = read_marker(layout.root)
    if marker is not None:
        extra.append(Path(layout.root, MARKER).read_bytes())
    fp = fingerprint(files, layout.root, [layout.kind.encode()] + extra)
    return Dataset(
        table=table,
        root=layout.root,
        layout=layout.kind,
        labels=labels,
        name=_dataset_name(layout, marker),
        synthetic=marker is not None,
        participants_known=known,
        issues=report.issues,
        fingerprint=fp,
    )
