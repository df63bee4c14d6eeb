"""Evaluation protocols: which images train, validate and test each fold.

:func:`make_plan` turns a dataset table into a :class:`Plan`: a table of samples and a
list of :class:`Fold` (sample indices plus the participants on each side).

=============  ===============================================================================
``loso``       leave-one-subject-out: one fold per participant; every image is tested once,
               by a model that never saw its participant (out-of-fold predictions pooled).
``group-kfold`` k folds grouped by participant (sklearn ``StratifiedGroupKFold``), stratified
               by the participants' demographic combination (country_group x gender x
               age_group, those columns with any known value); every image tested once.
               Without demographics, or when stratifying leaves a fold without test people,
               plain grouped folds (``GroupKFold``, shuffled), said in the plan's notes.
``holdout``    one participant-level split, ~``test_size`` of the participants in test,
               stratified (or grouped) the same way (the first study's design).
``paper``      the first study's notebook: an image-level random split (``test_size``).
               With ``augment_before_split`` each image is first copied ``copies`` times
               with random augmentation and the copies are split, so copies of one photo
               land on both sides. LEAKY: a contrast, never a default.
``official``   the dataset's own ``split`` column: ``train`` (and ``val`` if present) vs
               ``public_test``/``test``.
``none``       no training: one fold whose test side is every image (a trained model, e.g.
               the shipped FER2013 one, scores the data as it is).
=============  ===============================================================================

Validation sets (early stopping, learning-rate reduction) are carved from each fold's
training side only: whole participants when participants are known, else a random
image split of the training images. Never from the test side.

A protocol that cannot apply to the data (too few people or images for it, no participant
ids, no split of its own) or a setting out of range raises a
:class:`~fer_engine.errors.UserFacingError` with one plain sentence. The data rules are in
:func:`refusal` (that sentence, or None), which :func:`make_plan` applies and
:func:`protocol_support` asks for every protocol before any image is prepared, so the CLI
and the Train page can offer or refuse a protocol up front.

Every protocol except ``paper`` asserts, from the sample table itself, that no
participant is on both the training (train + val) and the test side; a violation raises
:class:`LeakageError` (an internal error: it means a bug, not a user mistake).
``paper`` records the overlap instead.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fer_engine.data.dataset import natural_key
from fer_engine.errors import DatasetError, SettingsError

PROTOCOLS: tuple[str, ...] = ("loso", "group-kfold", "holdout", "paper", "official", "none")
LEAKY_PROTOCOLS: frozenset[str] = frozenset({"paper"})
#: What people read for each protocol: leakage-proof ones first, the leaky one last
#: (:func:`protocol_label` marks it).
PROTOCOL_LABELS: dict[str, str] = {
    "loso": "Leave one subject out: each person is tested by a model that never saw them",
    "group-kfold": "Grouped k-fold: folds of whole people",
    "holdout": "Hold-out: a share of the people is kept for testing (one split)",
    "official": "The dataset's own train/test split (e.g. FER2013)",
    "none": "No training: score the shipped FER2013 model on this data",
    "paper": "the first study's image-level split (same people in training and test)",
}
#: How a sentence names each protocol (its reasons for refusing data start with this).
PROTOCOL_NAMES: dict[str, str] = {
    "loso": "Leave-one-subject-out",
    "group-kfold": "Grouped k-fold",
    "holdout": "A participant-level holdout",
    "official": "The dataset's own split",
    "none": "Scoring without training",
    "paper": "The image-level split",
}
#: Protocols that split by participant and so need to know who is in each image.
GROUPED_PROTOCOLS: frozenset[str] = frozenset({"loso", "group-kfold", "holdout"})
#: Demographic columns the participant-level splits stratify by (where known).
STRATA_COLUMNS: tuple[str, ...] = ("country_group", "gender", "age_group")
#: The share of a fold's training people held out for validation is below this.
MAX_VAL_FRACTION: float = 0.5

TRAIN_SPLITS = {"train", "training"}
VAL_SPLITS = {"val", "valid", "validation"}
TEST_SPLITS = {"test", "public_test", "publictest"}


def protocol_label(name: str) -> str:
    """What people read for protocol ``name``; a leaky one is marked "⚠ LEAKY"."""
    label = PROTOCOL_LABELS[name]
    return f"⚠ LEAKY: {label}" if name in LEAKY_PROTOCOLS else label


class LeakageError(AssertionError):
    """A participant is on both sides of a split that promises participant independence.

    Internal error: the protocol code is wrong. Never caught and hidden.
    """


@dataclass
class Fold:
    """One split. ``train``/``val``/``test``: int indices into ``Plan.samples`` (sorted)."""

    index: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    train_participants: list[str]
    val_participants: list[str]
    test_participants: list[str]
    #: participants on both the training side (train + val) and the test side
    overlap: list[str]
    #: source images with a copy on both sides (``paper`` with augmentation before split)
    overlap_images: int = 0
    #: test samples with a byte-identical file on the training side (``duplicate_group``)
    overlap_duplicates: int = 0

    def to_json(self) -> dict:
        """The ``folds.json`` entry (participant ids, plus image counts)."""
        return {
            "fold": self.index,
            "train": self.train_participants,
            "val": self.val_participants,
            "test": self.test_participants,
            "overlap": self.overlap,
            "overlap_images": self.overlap_images,
            "overlap_duplicates": self.overlap_duplicates,
            "n_train": int(len(self.train)),
            "n_val": int(len(self.val)),
            "n_test": int(len(self.test)),
        }


@dataclass
class Plan:
    """A protocol applied to a table.

    ``samples``: one row per sample with ``sample_id`` (the path, or ``path#aug<k>`` for
    an augmented copy), ``row`` (position in the table given to :func:`make_plan`),
    ``copy`` (0 = the original image, k > 0 = k-th augmented copy), ``participant``.
    """

    name: str
    folds: list[Fold]
    samples: pd.DataFrame
    leaky: bool
    participant_independent: bool
    params: dict = field(default_factory=dict)
    validation: str = ""
    notes: list[str] = field(default_factory=list)

    def config(self) -> dict:
        """The ``protocol`` section of ``config.json``."""
        return {
            "name": self.name,
            "leaky": self.leaky,
            "participant_independent": self.participant_independent,
            "n_folds": len(self.folds),
            **self.params,
            "validation": self.validation,
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------- helpers


def _participants(samples: pd.DataFrame, idx: np.ndarray) -> list[str]:
    return sorted(map(str, pd.unique(samples["participant"].to_numpy()[idx])), key=natural_key)


def _make_fold(index: int, samples: pd.DataFrame, train, val, test) -> Fold:
    train, val, test = (np.sort(np.asarray(a, dtype=np.int64)) for a in (train, val, test))
    tr, va, te = (_participants(samples, a) for a in (train, val, test))
    overlap = sorted(set(tr + va) & set(te), key=natural_key)
    rows = samples["row"].to_numpy()
    training = np.concatenate([train, val])
    overlap_images = len(set(rows[training]) & set(rows[test]))
    overlap_duplicates = 0
    if "duplicate_group" in samples.columns:
        dup = samples["duplicate_group"].to_numpy()
        seen = {d for d in dup[training] if isinstance(d, str) and d}
        overlap_duplicates = int(sum(1 for d in dup[test] if isinstance(d, str) and d in seen))
    return Fold(index, train, val, test, tr, va, te, overlap, overlap_images, overlap_duplicates)


def check_no_leakage(samples: pd.DataFrame, folds: list[Fold]) -> None:
    """Raise :class:`LeakageError` if any fold has a participant on both sides.

    Recomputed from the samples' ``participant`` column, not from the folds' own lists.
    Also checks that train, val and test are disjoint sets of samples.
    """
    part = samples["participant"].astype(str).to_numpy()
    for f in folds:
        if len(np.intersect1d(f.train, f.test)) or len(np.intersect1d(f.val, f.test)) or len(
            np.intersect1d(f.train, f.val)
        ):
            raise LeakageError(f"fold {f.index}: the same sample is on two sides of the split")
        training = set(part[f.train]) | set(part[f.val])
        both = sorted(training & set(part[f.test]))
        if both:
            raise LeakageError(
                f"fold {f.index}: participant(s) {', '.join(both[:5])} on both the training and "
                "the test side of a participant-independent protocol"
            )


def check_pooled(samples: pd.DataFrame, folds: list[Fold]) -> None:
    """Raise :class:`LeakageError` unless every sample is in exactly one test fold."""
    counts = np.zeros(len(samples), dtype=np.int64)
    for f in folds:
        np.add.at(counts, f.test, 1)
    if not np.all(counts == 1):
        bad = int(np.sum(counts != 1))
        raise LeakageError(f"{bad} samples are not tested exactly once across the folds")


def _strata(table: pd.DataFrame, columns=STRATA_COLUMNS) -> tuple[np.ndarray | None, list[str]]:
    """Per-row stratum label: the participant's demographic combination, each column's
    first known value of that participant ('?' when the participant has none), over the
    ``columns`` present with at least one known value; ``(None, [])`` when there are none."""
    used = [c for c in columns if c in table.columns and table[c].notna().any()]
    if not used:
        return None, []
    groups = table["participant"].astype(str)
    known = table[used].astype(object).where(table[used].notna(), None)
    per_person = known.groupby(groups.to_numpy(), sort=False).first().fillna("?").astype(str)
    key = per_person.agg("|".join, axis=1)
    return key.reindex(groups.to_numpy()).to_numpy(dtype=object), used


def _grouped_folds(table: pd.DataFrame, n_splits: int, seed: int):
    """``n_splits`` (train, test) index pairs of whole participants, every fold with test
    people: stratified by :func:`_strata` when possible, else plain shuffled grouped folds.
    Returns (splits, the columns stratified by, a note when they are not stratified)."""
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    y, used = _strata(table)
    groups = table["participant"].astype(str).to_numpy()
    x = np.zeros(len(table))
    note = ""
    if used and np.unique(y, return_counts=True)[1].max() < n_splits:
        note = (f"Every group of {', '.join(used)} has fewer images than the {n_splits} folds, "
                "so the folds are plain groups of whole people, not stratified.")
    elif used:
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            # "The least populated class in y has only 1 members": expected with 19 people.
            warnings.simplefilter("ignore", UserWarning)
            splits = list(splitter.split(x, y, groups))
        if all(len(test) for _, test in splits):
            return splits, used, note
        note = (f"Stratifying by {', '.join(used)} left a fold without test people, so the folds "
                "are plain groups of whole people, not stratified.")
    else:
        note = ("No demographic columns to stratify by, so the folds are plain groups of whole "
                "people, not stratified.")
    splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(splitter.split(x, groups=groups)), [], note


def _carve_val(samples: pd.DataFrame, train: np.ndarray, *, by_participant: bool,
               val_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split a fold's training samples into (train, val). Whole participants if ``by_participant``."""
    if val_fraction <= 0 or len(train) == 0:
        return train, np.array([], dtype=np.int64)
    if by_participant:
        part = samples["participant"].astype(str).to_numpy()
        people = np.array(sorted(set(part[train])))
        if len(people) < 3:
            return train, np.array([], dtype=np.int64)
        n_val = min(len(people) - 2, max(1, int(round(val_fraction * len(people)))))
        chosen = set(rng.choice(people, size=n_val, replace=False))
        is_val = np.array([p in chosen for p in part[train]])
    else:
        if len(train) < 10:
            return train, np.array([], dtype=np.int64)
        n_val = max(1, int(round(val_fraction * len(train))))
        is_val = np.zeros(len(train), dtype=bool)
        is_val[rng.choice(len(train), size=n_val, replace=False)] = True
    return train[~is_val], train[is_val]


def _samples(table: pd.DataFrame, copies: int = 0) -> pd.DataFrame:
    n = len(table)
    paths = table["path"].astype(str).to_numpy()
    base = {"row": np.arange(n), "participant": table["participant"].astype(str).to_numpy()}
    if "duplicate_group" in table.columns:
        base["duplicate_group"] = table["duplicate_group"].to_numpy()
    frames = []
    for c in range(max(0, copies) + 1):
        ids = paths if c == 0 else np.array([f"{p}#aug{c}" for p in paths], dtype=object)
        frames.append(pd.DataFrame({"sample_id": ids, "copy": c, **base}))
    return pd.concat(frames, ignore_index=True)[["sample_id", "row", "copy", "participant",
                                                 *(["duplicate_group"] if "duplicate_group" in base else [])]]


# --------------------------------------------------------------------------- what data allows


def _official_split(table: pd.DataFrame) -> pd.Series | None:
    """The table's own ``split`` column, lower case with ``_`` for ``-`` (None without one)."""
    if "split" not in table.columns or table["split"].isna().all():
        return None
    return table["split"].astype(str).str.lower().str.replace("-", "_")


def refusal(table: pd.DataFrame, protocol: str, *, participants_known: bool = True,
            k: int = 5) -> str | None:
    """Why ``protocol`` cannot split ``table`` (one plain sentence), or None when it can.

    The data rules of :func:`make_plan`, which raises them as :class:`DatasetError`; cheap
    (no image is read), so callers ask before preparing any image. ``k``: the folds of
    ``group-kfold``. Settings out of range are :func:`make_plan`'s own checks, not here.
    """
    if protocol not in PROTOCOLS:
        return f"Unknown protocol '{protocol}'. Choose one of: {', '.join(PROTOCOLS)}."
    if len(table) == 0:
        return "The dataset has no usable images to split."
    if protocol in GROUPED_PROTOCOLS and not participants_known:
        return f"{PROTOCOL_NAMES[protocol]} needs participant ids; this dataset has none."
    n_people = int(table["participant"].astype(str).nunique())
    if protocol == "loso" and n_people < 3:
        return ("Leave-one-subject-out needs at least 3 participants; this dataset has "
                f"{n_people}.")
    if protocol == "group-kfold" and n_people < k:
        advice = (f" Choose k of at most {n_people}, or leave-one-subject-out." if n_people >= 3
                  else " Choose k=2." if n_people == 2 else "")
        return (f"group-kfold with k={k} needs at least {k} participants; this dataset has "
                f"{n_people}.{advice}")
    if protocol == "holdout" and n_people < 3:
        return ("A participant-level holdout needs at least 3 participants; this dataset has "
                f"{n_people}.")
    if protocol == "paper" and len(table) < 2:
        return "The image-level split needs at least 2 images; this dataset has 1."
    if protocol == "official":
        split = _official_split(table)
        if split is None:
            return ("The dataset's own split needs train and test folders; this dataset has "
                    "no split of its own.")
        training = split.isin(TRAIN_SPLITS | VAL_SPLITS).to_numpy()
        test = split.isin(TEST_SPLITS).to_numpy()
        if not split.isin(TRAIN_SPLITS).any() or not test.any():
            return ("The dataset's own split needs both a train part and a test part "
                    f"(found: {', '.join(sorted(split.unique()))}).")
        if participants_known:
            part = table["participant"].astype(str).to_numpy()
            both = sorted(set(part[training]) & set(part[test]))
            if both:
                return (f"The dataset's own split puts {len(both)} participant(s) (e.g. {both[0]}) "
                        "in both train and test; use leave-one-subject-out or grouped k-fold instead.")
    return None


def protocol_support(table: pd.DataFrame, *, participants_known: bool = True,
                     k: int = 2) -> dict[str, str | None]:
    """Per protocol, in the order of :data:`PROTOCOL_LABELS` (what people see), None when it
    can split ``table`` or the sentence saying why not (:func:`refusal`; ``k``: the fewest
    folds ``group-kfold`` would use)."""
    return {name: refusal(table, name, participants_known=participants_known, k=k)
            for name in PROTOCOL_LABELS}


#: Up to this many participants leave-one-subject-out is the default protocol; above it,
#: grouped k-fold. LOSO trains one model per person (118 people: 118 trainings), while k
#: grouped folds still test every person on a model that never saw them, in k trainings.
LOSO_MAX_PARTICIPANTS = 30


def default_protocol(support: dict[str, str | None],
                     n_participants: int | None = None) -> str | None:
    """The protocol to offer first: the first one ``support`` (from :func:`protocol_support`)
    allows, in its order (a leakage-proof one whenever the data allow one), except that with
    more than :data:`LOSO_MAX_PARTICIPANTS` participants grouped k-fold replaces
    leave-one-subject-out; None when none applies."""
    allowed = [name for name, why in support.items() if why is None]
    if (n_participants is not None and n_participants > LOSO_MAX_PARTICIPANTS
            and allowed[:1] == ["loso"] and "group-kfold" in allowed):
        return "group-kfold"
    return next(iter(allowed), None)


# --------------------------------------------------------------------------- the protocols


def make_plan(
    table: pd.DataFrame,
    protocol: str,
    *,
    participants_known: bool = True,
    seed: int = 0,
    k: int = 5,
    test_size: float = 0.2,
    val_fraction: float = 0.15,
    augment_before_split: bool = False,
    copies: int = 4,
) -> Plan:
    """Apply ``protocol`` to ``table`` (columns ``path``, ``participant``, ``emotion``, ``split``
    and demographics; rows = usable images). Raises :class:`DatasetError` with the sentence of
    :func:`refusal` when the protocol cannot apply to this data (too few participants, no
    participant ids, no split column).
    """
    if protocol not in PROTOCOLS:
        raise DatasetError(f"Unknown protocol '{protocol}'. Choose one of: {', '.join(PROTOCOLS)}.")
    if not 0 <= val_fraction < MAX_VAL_FRACTION:
        raise SettingsError(f"The validation share must be at least 0 and less than "
                            f"{MAX_VAL_FRACTION:g}; it is {val_fraction:g}.")
    if not 0 < test_size < 1:
        raise SettingsError("The test share must be more than 0 and less than 1; it is "
                            f"{test_size:g}.")
    if protocol == "group-kfold" and k < 2:
        raise SettingsError(f"group-kfold needs k of at least 2; it is {k}.")
    table = table.reset_index(drop=True)
    why = refusal(table, protocol, participants_known=participants_known, k=k)
    if why:
        raise DatasetError(why)
    rng = np.random.default_rng(seed)
    people = sorted(map(str, table["participant"].unique()), key=natural_key)
    params: dict = {}
    notes: list[str] = []
    fixed_val = None
    samples = _samples(table, copies if (protocol == "paper" and augment_before_split) else 0)
    pct = f"{val_fraction:.0%}"
    by_participant = participants_known and protocol != "paper"
    if by_participant:
        validation = (f"{pct} of each fold's training participants (whole participants, chosen at "
                      "random; never a test participant)")
    else:
        why = "image-level protocol" if protocol == "paper" else "participants unknown"
        validation = f"a random {pct} of each fold's training images ({why})"
    if val_fraction <= 0:
        validation = "none (no early stopping or learning-rate reduction)"

    if protocol == "loso":
        part = samples["participant"].to_numpy()
        splits = [(np.flatnonzero(part != p), np.flatnonzero(part == p)) for p in people]
    elif protocol == "group-kfold":
        splits, used, note = _grouped_folds(table, k, seed)
        params.update(k=k, stratified_by=used)
        notes += [note] if note else []
    elif protocol == "holdout":
        # one of n_splits stratified participant groups is the test side (~test_size of them)
        n_splits = max(2, min(int(round(1 / test_size)), len(people)))
        all_splits, used, note = _grouped_folds(table, n_splits, seed)
        splits = [all_splits[0]]
        params.update(test_size=test_size, stratified_by=used)
        notes += [note] if note else []
    elif protocol == "paper":
        n = len(samples)
        order = rng.permutation(n)
        n_test = min(n - 1, max(1, int(round(test_size * n))))
        splits = [(order[n_test:], order[:n_test])]
        params.update(test_size=test_size, split="image-level random split",
                      augment_before_split=bool(augment_before_split),
                      copies=int(copies) if augment_before_split else 0)
        notes.append("LEAKY: images, not people, are split, so the same participants are on both sides "
                     "and the model can recognise identity instead of emotion.")
        if augment_before_split:
            notes.append("Augmented copies of one photo land on both sides of the split, as in the "
                         "first study's notebook.")
    elif protocol == "none":
        splits = [(np.array([], dtype=np.int64), np.arange(len(samples)))]
        validation = "none (no training)"
        notes.append("No training: every image is scored by a model trained elsewhere, which "
                     "never saw these people.")
    else:  # official (refusal() checked that it has train and test parts)
        split = _official_split(table)
        tr = np.flatnonzero(split.isin(TRAIN_SPLITS))
        va = np.flatnonzero(split.isin(VAL_SPLITS))
        te = np.flatnonzero(split.isin(TEST_SPLITS))
        ignored = len(table) - len(tr) - len(va) - len(te)
        if ignored:
            notes.append(f"{ignored} images in other split(s) were not used.")
        params.update(train_splits=sorted(set(split.iloc[tr])), test_splits=sorted(set(split.iloc[te])))
        if not participants_known:
            notes.append("Participants are unknown: the dataset's own split cannot be checked for "
                         "people appearing on both sides.")
        splits = [(tr, te)]
        if len(va):
            fixed_val = va
            validation = "the dataset's own validation split"

    folds = []
    for i, (train, test) in enumerate(splits):
        if fixed_val is not None:
            train, val = np.asarray(train), fixed_val
        else:
            train, val = _carve_val(samples, np.asarray(train), by_participant=by_participant,
                                    val_fraction=val_fraction, rng=rng)
        folds.append(_make_fold(i, samples, train, val, test))

    leaky = protocol in LEAKY_PROTOCOLS
    independent = not leaky and participants_known
    if not leaky:
        check_no_leakage(samples, folds)
    if protocol in ("loso", "group-kfold", "none"):
        check_pooled(samples, folds)
    dups = sum(f.overlap_duplicates for f in folds)
    if dups:
        notes.append(f"{dups} test image(s) have a byte-identical copy on the training side "
                     "(duplicate files in the dataset).")
    params.setdefault("seed", seed)
    params["val_fraction"] = val_fraction
    return Plan(protocol, folds, samples, leaky, independent, params, validation, notes)
