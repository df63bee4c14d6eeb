"""Subgroup analysis with honest uncertainty: accuracy, macro-F1 and per-emotion recall by
country group, age group, gender and their intersections.

The disaggregation itself is fairlearn's :class:`~fairlearn.metrics.MetricFrame` (one
table in, one row per group out). On top of it, for every group:

- a Wilson 95 % interval on the images (treats images as independent: too narrow), and
- a participant-level cluster bootstrap interval: the group's participants are drawn with
  replacement ``n_boot`` times (seeded) and the pooled accuracy / macro-F1 recomputed. A
  group of one person gives a degenerate interval (every resample is that person): that
  is not certainty, it is the absence of information, hence the warning below.
- the difference and ratio of accuracy against a reference group ("best" by default, or
  "largest", or a named group) and a permutation-test p-value obtained by permuting the
  group labels over *participants* (not images) within the two groups; exact enumeration
  when the number of relabelings is small (2 vs 17 people: 171 of them).
- a plain-language warning when the group has fewer than ``min_participants`` people.

Rows whose group value is unknown form an explicit ``unknown`` group, never dropped.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, count

from fer_engine import format as fmt
from fer_engine.format import n_people
from fer_engine.analytics.inputs import (
    PredictionsError,
    has_probabilities,
    known_or_unknown,
)
from fer_engine.analytics.metrics import (
    N_BOOT,
    accuracy_from_confusion,
    calibration_from_arrays,
    class_counts,
    confidence_of_prediction,
    label_codes,
    macro_f1_from_confusion,
    participant_confusion,
)
from fer_engine.analytics.stats import (
    CONFIDENCE,
    bootstrap_weights,
    percentile_interval,
    permutation_test_means,
    wilson_interval,
)

#: The first study's subgroup columns and their intersections, in report order.
DEFAULT_GROUPINGS: tuple[tuple[str, ...], ...] = (
    ("country_group",),
    ("age_group",),
    ("gender",),
    ("country_group", "age_group"),
    ("country_group", "gender"),
    ("age_group", "gender"),
    ("country_group", "age_group", "gender"),
)
#: Below this many participants a group's numbers come with a warning.
MIN_PARTICIPANTS: int = 5
SEPARATOR: str = " · "


def small_sample_warning(n_participants: int, min_participants: int = MIN_PARTICIPANTS) -> str:
    """A sentence for a non-programmer, or "" when the group is large enough."""
    if n_participants >= min_participants:
        return ""
    if n_participants == 1:
        return (
            "Only 1 person: this number describes one individual, not a group; do not compare it."
        )
    return f"Only {n_participants} people: this number can swing widely; do not compare it."


def overall_people_warning(n_participants: int, min_participants: int = MIN_PARTICIPANTS) -> str:
    """A sentence for a non-programmer about a whole test set of few people, or ""."""
    if n_participants >= min_participants:
        return ""
    advice = " Test on more people: leave-one-subject-out tests everyone."
    if n_participants == 1:
        return ("All test images come from 1 person: the accuracy describes one individual, and "
                "resampling people cannot measure its uncertainty (every resample is that "
                "person, so that interval has no width)." + advice)
    return (f"The test images come from only {n_participants} people: the accuracy can swing "
            f"widely with who was tested, and an interval from resampling {n_participants} "
            "people is itself rough." + advice)


#: Between the columns of a grouping's name (``country_group × age_group``).
GROUPING_SEPARATOR: str = " × "


def grouping_name(columns) -> str:
    return GROUPING_SEPARATOR.join(columns)


def grouping_columns(grouping: str) -> list[str]:
    """The columns of a grouping name: ``"country_group × age_group" -> [...]``."""
    return grouping.split(GROUPING_SEPARATOR)


def readable_grouping(grouping: str) -> str:
    """A grouping in words: ``"country_group × age_group" -> "Country × Age"``."""
    return GROUPING_SEPARATOR.join(fmt.attribute(c) for c in grouping_columns(grouping))


def readable_group(grouping: str, group: str) -> str:
    """A group in words: ``("country_group × age_group", "RU · 31_plus")`` ->
    ``"Country: RU · Age: 31 or older"``."""
    return fmt.subgroup(grouping_columns(grouping), str(group).split(SEPARATOR), SEPARATOR)


def group_labels(table: pd.DataFrame, columns) -> pd.Series:
    """Per-row group label, e.g. ``"RU · under_31"``; missing values become ``unknown``."""
    parts = [known_or_unknown(table[c]) for c in columns]
    out = parts[0]
    for part in parts[1:]:
        out = out + SEPARATOR + part
    return out


def _n_unique(y_true, y_pred, participant):
    return int(np.unique(participant).size)


def _accuracy(y_true, y_pred):
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def _confusion_of_codes(y_true, y_pred, k):
    codes = np.asarray(y_true, dtype=np.int64) * k + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(codes, minlength=k * k).reshape(k, k)


def _macro_f1_of_codes(y_true, y_pred, k):
    return float(macro_f1_from_confusion(_confusion_of_codes(y_true, y_pred, k)))


def metric_frame(table: pd.DataFrame, labels, columns) -> MetricFrame:
    """fairlearn MetricFrame over ``columns`` with image and participant counts, accuracy,
    macro-F1 and the (K, K) confusion counts (from which per-emotion recall is read).
    ``by_group`` has one row per group (MultiIndex of the columns).

    Labels and participants are passed to fairlearn as integer codes (index in
    ``labels`` / participant number), which keeps the per-group metric calls cheap.
    """
    labels = list(labels)
    k = len(labels)
    metrics = {
        "n_images": count,
        "n_participants": _n_unique,
        "accuracy": _accuracy,
        "macro_f1": partial(_macro_f1_of_codes, k=k),
        "confusion": partial(_confusion_of_codes, k=k),
    }
    sensitive = pd.DataFrame(
        {
            c: known_or_unknown(table[c]).to_numpy()
            for c in columns
        }
    )
    participant_codes = pd.factorize(table["participant"])[0]
    return MetricFrame(
        metrics=metrics,
        y_true=label_codes(table["true"], labels),
        y_pred=label_codes(table["pred"], labels),
        sensitive_features=sensitive,
        sample_params={"n_participants": {"participant": participant_codes}},
    )


@dataclass
class SubgroupResult:
    """One grouping (e.g. ``country_group × age_group``).

    ``groups``: one row per group with columns ``grouping, group, <column values>,
    n_participants, n_images, n_correct, accuracy, accuracy_low, accuracy_high (Wilson),
    accuracy_boot_low, accuracy_boot_high, macro_f1, macro_f1_boot_low, macro_f1_boot_high,
    is_reference, accuracy_diff, accuracy_ratio, p_value, p_method, small_sample, warning``.
    ``recall``: tidy per-emotion recall: ``grouping, group, label, support, recall,
    recall_low, recall_high, small_sample``. ``difference``/``ratio``: fairlearn's
    between-group spread (max - min, min / max) of accuracy and macro-F1.
    """

    grouping: str
    columns: list[str]
    reference: str
    groups: pd.DataFrame
    recall: pd.DataFrame
    difference: dict
    ratio: dict
    notes: list[str] = field(default_factory=list)


def _rng(seed: int, *keys: str) -> np.random.Generator:
    return np.random.default_rng([int(seed)] + [zlib.crc32(k.encode()) for k in keys])


def _choose_reference(groups: pd.DataFrame, reference: str, min_participants: int) -> str:
    names = groups["group"].tolist()
    if reference in names:
        return reference
    if reference == "largest":
        return str(
            groups.sort_values(["n_participants", "n_images"], ascending=False)["group"].iloc[0]
        )
    if reference != "best":
        raise PredictionsError(
            f"There is no group '{reference}' to compare against; groups are {', '.join(names)}."
        )
    pool = groups[groups["n_participants"] >= min_participants]
    pool = pool if len(pool) else groups
    return str(pool.sort_values(["accuracy", "n_participants"], ascending=False)["group"].iloc[0])


def subgroup_metrics(
    table: pd.DataFrame,
    labels,
    columns,
    reference: str = "best",
    n_boot: int = N_BOOT,
    n_perm: int = 1000,
    seed: int = 0,
    min_participants: int = MIN_PARTICIPANTS,
    confidence: float = CONFIDENCE,
) -> SubgroupResult:
    """Metrics for each group of ``columns`` (one column or an intersection).

    ``reference``: ``"best"`` (the most accurate group among those with at least
    ``min_participants`` people, or among all if none is that large), ``"largest"``, or
    a group label such as ``"RU"`` or ``"RU · under_31"``. Picking the best group after
    looking makes its differences look larger; a pre-chosen reference avoids that.
    """
    columns = list(columns)
    labels = list(labels)
    name = grouping_name(columns)
    mf = metric_frame(table, labels, columns)
    by = mf.by_group.reset_index()
    by.insert(
        0, "group", [SEPARATOR.join(str(row[c]) for c in columns) for _, row in by.iterrows()]
    )
    by = by[by["n_images"] > 0].reset_index(drop=True)

    row_group = group_labels(table, columns)
    participants, tensor = participant_confusion(table, labels)
    part_group = (
        pd.Series(row_group.to_numpy(), index=table["participant"].to_numpy())
        .groupby(level=0)
        .first()
        .reindex(participants)
        .to_numpy()
    )
    correct = np.trace(tensor, axis1=1, axis2=2).astype(float)
    total = tensor.sum(axis=(1, 2)).astype(float)

    rows = []
    for _, g in by.iterrows():
        mask = part_group == g["group"]
        rng = _rng(seed, name, g["group"])
        w = bootstrap_weights(int(mask.sum()), n_boot, rng)
        conf_b = np.einsum("bp,pij->bij", w, tensor[mask])
        acc_low, acc_high = percentile_interval(accuracy_from_confusion(conf_b), confidence)
        f1_low, f1_high = percentile_interval(macro_f1_from_confusion(conf_b), confidence)
        n_correct = int(np.trace(g["confusion"]))
        w_low, w_high = wilson_interval(n_correct, int(g["n_images"]), confidence)
        n_part = int(g["n_participants"])
        rows.append(
            {
                "grouping": name,
                "group": g["group"],
                **{c: g[c] for c in columns},
                "n_participants": n_part,
                "n_images": int(g["n_images"]),
                "n_correct": n_correct,
                "accuracy": float(g["accuracy"]),
                "accuracy_low": w_low,
                "accuracy_high": w_high,
                "accuracy_boot_low": acc_low,
                "accuracy_boot_high": acc_high,
                "macro_f1": float(g["macro_f1"]),
                "macro_f1_boot_low": f1_low,
                "macro_f1_boot_high": f1_high,
                "small_sample": n_part < min_participants,
                "warning": small_sample_warning(n_part, min_participants),
            }
        )
    groups = pd.DataFrame(rows)
    ref = _choose_reference(groups, reference, min_participants)
    ref_acc = float(groups.loc[groups["group"] == ref, "accuracy"].iloc[0])
    groups["is_reference"] = groups["group"] == ref
    groups["accuracy_diff"] = groups["accuracy"] - ref_acc
    groups["accuracy_ratio"] = groups["accuracy"] / ref_acc if ref_acc > 0 else np.nan
    p_values, methods = [], []
    for _, g in groups.iterrows():
        if g["group"] == ref:
            p_values.append(np.nan)
            methods.append("reference")
            continue
        both = (part_group == g["group"]) | (part_group == ref)
        p, method, _ = permutation_test_means(
            correct[both],
            total[both],
            (part_group == g["group"])[both],
            n_perm,
            _rng(seed, name, g["group"], "perm"),
        )
        p_values.append(p)
        methods.append(method)
    groups["p_value"] = p_values
    groups["p_method"] = methods
    order = [
        "grouping",
        "group",
        *columns,
        "n_participants",
        "n_images",
        "n_correct",
        "accuracy",
        "accuracy_low",
        "accuracy_high",
        "accuracy_boot_low",
        "accuracy_boot_high",
        "macro_f1",
        "macro_f1_boot_low",
        "macro_f1_boot_high",
        "is_reference",
        "accuracy_diff",
        "accuracy_ratio",
        "p_value",
        "p_method",
        "small_sample",
        "warning",
    ]
    groups = groups[order]

    recall_rows = []
    for _, g in by.iterrows():
        small = int(g["n_participants"]) < min_participants
        counts = class_counts(g["confusion"])
        low, high = wilson_interval(counts["tp"], counts["support"], confidence)
        for k, label in enumerate(labels):
            support = int(counts["support"][k])
            recall_rows.append(
                {
                    "grouping": name,
                    "group": g["group"],
                    "label": label,
                    "support": support,
                    "recall": float(counts["tp"][k] / support) if support else float("nan"),
                    "recall_low": float(low[k]),
                    "recall_high": float(high[k]),
                    "small_sample": small,
                }
            )
    recall = pd.DataFrame(recall_rows)

    notes = []
    if len(groups) < 2:
        notes.append(f"Only one group for {name}: nothing to compare.")
    small = groups.loc[groups["small_sample"], "group"].tolist()
    if small:
        notes.append(f"{name}: fewer than {min_participants} people in " + ", ".join(small) + ".")
    # fairlearn's between_groups difference / ratio (max - min, min / max) of by_group,
    # taken directly from the table (mf.difference() would also try the confusion column).
    spread = by[["accuracy", "macro_f1"]].astype(float)
    return SubgroupResult(
        grouping=name,
        columns=columns,
        reference=ref,
        groups=groups,
        recall=recall,
        difference={k: float(spread[k].max() - spread[k].min()) for k in spread},
        ratio={
            k: float(spread[k].min() / spread[k].max()) if spread[k].max() > 0 else float("nan")
            for k in spread
        },
        notes=notes,
    )


def available_groupings(table: pd.DataFrame, groupings=DEFAULT_GROUPINGS) -> tuple[list, list[str]]:
    """The groupings whose columns exist and are not all unknown; and one note on the
    others (none when every grouping is available)."""
    keep, skipped, missing = [], 0, []
    for cols in groupings:
        absent = [c for c in cols if c not in table.columns or table[c].isna().all()]
        if absent:
            skipped += 1
            missing += [c for c in absent if c not in missing]
        else:
            keep.append(tuple(cols))
    if not skipped:
        return keep, []
    names = [fmt.attribute(c).lower() for c in missing]
    what = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    it = "it" if len(names) == 1 else "them"
    views = (f"the subgroup view that needs {it} is" if skipped == 1
             else f"the {skipped} subgroup views that need {it} are")
    return keep, [f"No {what} information in this run: {views} left out."]


def small_groups_note(groups: pd.DataFrame, min_participants: int = MIN_PARTICIPANTS) -> str:
    """One plain sentence naming, in words, every group of a combined groups table
    (:func:`combine`) with fewer than ``min_participants`` people; "" when there is none."""
    if not len(groups):
        return ""
    small = groups[groups["n_participants"] < min_participants]
    if not len(small):
        return ""
    listed = "; ".join(
        f"{readable_group(r.grouping, r.group)} ({n_people(int(r.n_participants))})"
        for r in small.itertuples()
    )
    return (f"Groups of fewer than {min_participants} people: {listed}. Their accuracy and any "
            "gap involving them are very uncertain; do not compare them.")


def single_group_note(groups: pd.DataFrame) -> str:
    """One plain sentence naming the groupings of a combined groups table that hold one group
    only (nothing to compare); "" when there is none."""
    if not len(groups):
        return ""
    sizes = groups.groupby("grouping", sort=False)["group"].size()
    single = [readable_grouping(g) for g, n in sizes.items() if n < 2]
    if not single:
        return ""
    return "Only one group, so nothing to compare, by: " + ", ".join(single) + "."


def subgroup_analysis(
    table: pd.DataFrame,
    labels,
    groupings=DEFAULT_GROUPINGS,
    reference: str = "best",
    n_boot: int = N_BOOT,
    n_perm: int = 1000,
    seed: int = 0,
    min_participants: int = MIN_PARTICIPANTS,
    confidence: float = CONFIDENCE,
) -> list[SubgroupResult]:
    """:func:`subgroup_metrics` for every available grouping (see :func:`available_groupings`).

    ``reference`` applies to the groupings that contain it (a named group) and falls back
    to ``"best"`` for the others. Use :func:`combine` for one tidy table of all groupings.
    """
    keep, _ = available_groupings(table, groupings)
    names = {cols: set(group_labels(table, cols)) for cols in keep}
    if reference not in ("best", "largest") and not any(reference in n for n in names.values()):
        known = sorted(set().union(*names.values())) if names else []
        raise PredictionsError(
            f"There is no group '{reference}' to compare against; groups are {', '.join(known)}."
        )
    out = []
    for cols in keep:
        ref = reference
        if reference not in ("best", "largest"):
            ref = reference if reference in names[cols] else "best"
        out.append(
            subgroup_metrics(
                table, labels, cols, ref, n_boot, n_perm, seed, min_participants, confidence
            )
        )
    return out


def combine(results: list[SubgroupResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All groupings in two tidy tables: ``(groups, recall)``; value columns of the grouping
    attributes are kept (NaN where a grouping does not use that attribute)."""
    if not results:
        return pd.DataFrame(), pd.DataFrame()
    return (
        pd.concat([r.groups for r in results], ignore_index=True),
        pd.concat([r.recall for r in results], ignore_index=True),
    )


# -- calibration by group ----------------------------------------------------------------
def calibration_by_group(
    table: pd.DataFrame,
    labels,
    groupings=DEFAULT_GROUPINGS[:3],
    n_bins: int = 10,
    min_participants: int = MIN_PARTICIPANTS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ECE per group and reliability data per group.

    Returns ``(summary, bins)``: ``summary`` has ``grouping, group, n_participants,
    n_images, ece, mce, small_sample, warning``; ``bins`` has ``grouping, group`` plus the
    columns of :class:`fer_engine.analytics.metrics.Calibration.bins`. Empty frames when the
    table has no probability columns or no demographic column to group by.
    """
    if not has_probabilities(table, labels):
        return pd.DataFrame(), pd.DataFrame()
    keep, _ = available_groupings(table, groupings)
    conf = confidence_of_prediction(table, labels)
    correct = table["correct"].to_numpy(dtype=float)
    summary, bins = [], []
    for cols in keep:
        name = grouping_name(cols)
        labels_row = group_labels(table, cols).to_numpy()
        for group in sorted(pd.unique(labels_row)):
            mask = labels_row == group
            cal = calibration_from_arrays(conf[mask], correct[mask], n_bins)
            n_part = int(table.loc[mask, "participant"].nunique())
            summary.append(
                {
                    "grouping": name,
                    "group": group,
                    "n_participants": n_part,
                    "n_images": int(mask.sum()),
                    "ece": cal.ece,
                    "mce": cal.mce,
                    "small_sample": n_part < min_participants,
                    "warning": small_sample_warning(n_part, min_participants),
                }
            )
            b = cal.bins.copy()
            b.insert(0, "group", group)
            b.insert(0, "grouping", name)
            bins.append(b)
    return pd.DataFrame(summary), (pd.concat(bins, ignore_index=True) if bins else pd.DataFrame())
