"""Comparing runs: two models on the same images, and the leakage contrast.

- :func:`paired_comparison`: two runs joined on ``sample_id`` (only the images both
  scored). Exact McNemar test: among the discordant images (one run right, the other
  wrong), the count where A is right is Binomial(b + c, 1/2) under "equally accurate";
  two-sided p from :func:`scipy.stats.binomtest`. Plus a paired participant-level
  bootstrap interval of the accuracy difference A - B (participants drawn with
  replacement, both runs' counts taken from the same drawn people).
- :func:`leakage_contrast`: the same model under a participant-independent protocol and
  under the leaky ``paper`` protocol, on the same dataset. Both accuracies are shown side
  by side with their own intervals and the gap; when they share images a paired
  comparison on those is added. :func:`leaky_partner` finds the leaky run to set beside a
  participant-independent one in a listing of runs.
- :func:`contrast_obstacle` is the one rule for a like-for-like leakage contrast: both runs
  record the same dataset fingerprint, and the images one run tested are all among those
  the other tested (``predictions.csv`` lists every image a run tested; augmented copies
  count as their source image). A leave-one-subject-out run tests every image; a ``paper``
  run tests a random share of the same images, so it qualifies. Runs of different datasets,
  or of one dataset but different images, are never set side by side.
"""

from __future__ import annotations

import os

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from fer_engine import format as fmt

from fer_engine.analytics.inputs import EvalRun, PredictionsError
from fer_engine.analytics.metrics import N_BOOT
from fer_engine.analytics.stats import (
    CONFIDENCE,
    bootstrap_weights,
    cluster_bootstrap_accuracy,
    percentile_interval,
    ratio,
    wilson_interval,
)
from fer_engine.analytics.subgroups import MIN_PARTICIPANTS, n_people


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts.

    ``b``: images A got right and B wrong; ``c``: A wrong, B right. With no discordant
    image there is no evidence of a difference: p = 1.
    """
    b, c = int(b), int(c)
    if b + c == 0:
        return 1.0
    return float(binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)


@dataclass
class PairedComparison:
    """Run A vs run B on the images both scored. Accuracies in [0, 1].

    ``a_only_correct`` (b) and ``b_only_correct`` (c) are McNemar's discordant counts;
    ``diff`` = accuracy A - accuracy B with a paired participant-bootstrap 95 % interval
    ``diff_low/diff_high`` (``n_boot`` resamples, ``seed``). ``sentence`` says it in words.
    """

    name_a: str
    name_b: str
    n_shared: int
    n_only_a: int
    n_only_b: int
    n_participants: int
    accuracy_a: float
    accuracy_b: float
    both_correct: int
    a_only_correct: int
    b_only_correct: int
    both_wrong: int
    mcnemar_p: float
    diff: float
    diff_low: float
    diff_high: float
    n_boot: int
    seed: int
    sentence: str = ""


def paired_comparison(
    a: pd.DataFrame,
    b: pd.DataFrame,
    name_a: str = "A",
    name_b: str = "B",
    n_boot: int = N_BOOT,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> PairedComparison:
    """Compare two validated predictions tables on their shared ``sample_id`` values.

    Raises :class:`PredictionsError` when they share no image, or when a shared image has
    different true labels or participants in the two tables (then they are not the same data).
    """
    cols = ["sample_id", "participant", "true", "correct"]
    joined = a[cols].merge(b[cols], on="sample_id", suffixes=("_a", "_b"), how="inner")
    if joined.empty:
        raise PredictionsError(
            f"{name_a} and {name_b} share no image (no common sample_id), so they cannot be "
            "compared image by image."
        )
    if (joined["true_a"] != joined["true_b"]).any() or (
        joined["participant_a"] != joined["participant_b"]
    ).any():
        raise PredictionsError(
            f"{name_a} and {name_b} disagree on the true label or participant of some images; they "
            "were not run on the same data."
        )
    ca = joined["correct_a"].to_numpy(dtype=bool)
    cb = joined["correct_b"].to_numpy(dtype=bool)
    n = len(joined)
    b_count = int((ca & ~cb).sum())
    c_count = int((~ca & cb).sum())
    per = (
        pd.DataFrame({"p": joined["participant_a"], "a": ca, "b": cb})
        .groupby("p")
        .agg(a=("a", "sum"), b=("b", "sum"), n=("a", "size"))
    )
    rng = np.random.default_rng(seed)
    w = bootstrap_weights(len(per), n_boot, rng)
    tot = w @ per["n"].to_numpy(dtype=float)
    diffs = ratio(w @ per["a"].to_numpy(dtype=float) - w @ per["b"].to_numpy(dtype=float), tot)
    low, high = percentile_interval(diffs, confidence)
    acc_a, acc_b = float(ca.mean()), float(cb.mean())
    p = mcnemar_exact(b_count, c_count)
    result = PairedComparison(
        name_a=name_a,
        name_b=name_b,
        n_shared=n,
        n_only_a=int(len(a) - n),
        n_only_b=int(len(b) - n),
        n_participants=len(per),
        accuracy_a=acc_a,
        accuracy_b=acc_b,
        both_correct=int((ca & cb).sum()),
        a_only_correct=b_count,
        b_only_correct=c_count,
        both_wrong=int((~ca & ~cb).sum()),
        mcnemar_p=p,
        diff=acc_a - acc_b,
        diff_low=low,
        diff_high=high,
        n_boot=int(n_boot),
        seed=int(seed),
    )
    result.sentence = _paired_sentence(result)
    return result


def _paired_sentence(r: PairedComparison) -> str:
    if r.n_participants < 2:  # every resample is that person: an interval with no width
        interval = "no 95% range: resampling one person gives none"
        verdict = "one person's images do not show which is more accurate for people in general"
    else:
        interval = (f"95% range {fmt.points(r.diff_low, unit='')} to "
                    f"{fmt.points(r.diff_high)} from resampling people")
        verdict = (
            "the range includes 0, so these images do not show which is more accurate"
            if not (r.diff_low > 0 or r.diff_high < 0) or not np.isfinite(r.diff_low)
            else f"{r.name_a if r.diff > 0 else r.name_b} is more accurate on these images"
        )
    few = (f" With only {r.n_participants} people the range is rough."
           if 2 <= r.n_participants < MIN_PARTICIPANTS else "")
    return (
        f"On the {r.n_shared} images of {n_people(r.n_participants)} both runs scored, "
        f"{r.name_a} is right on {r.accuracy_a:.1%} and {r.name_b} on {r.accuracy_b:.1%}: a "
        f"difference of {fmt.points(r.diff)} ({interval}); {verdict}. Among the images exactly "
        "one of them got right, a split this uneven would happen by chance alone with "
        f"{fmt.plain_p(r.mcnemar_p)} if both were equally accurate (McNemar's test).{few}"
    )


def dataset_fingerprint(run: EvalRun) -> str:
    """The fingerprint of the dataset a run was tested on (``config.json`` ``dataset.
    fingerprint``), or "" when the run does not record one."""
    return str((run.config.get("dataset") or {}).get("fingerprint") or "")


def _dataset_name(run: EvalRun) -> str:
    dataset = run.config.get("dataset") or {}
    return str(dataset.get("name") or dataset.get("root") or "an unnamed dataset")


def images_tested(predictions: pd.DataFrame, root: str | None = None) -> set[str]:
    """The source images a predictions table tested: its ``path`` column (``sample_id``
    when there is none), an augmented copy (``<image>#aug<k>``) counted as its image.
    ``root``: the dataset's folder; paths under it are taken relative to it, as the dataset
    fingerprint takes them, so a dataset moved between two runs is still the same images."""
    column = predictions["path"] if "path" in predictions.columns else predictions["sample_id"]
    paths = column.astype(str).str.replace(r"#aug\d+$", "", regex=True)
    if root:
        prefix = str(root).rstrip("/\\") + os.sep
        inside = paths.str.startswith(prefix)
        paths = paths.where(~inside, paths.str.slice(len(prefix)))
    return set(paths)


def _images_tested(run: EvalRun) -> set[str]:
    return images_tested(run.predictions, (run.config.get("dataset") or {}).get("root"))


def contrast_obstacle(independent: EvalRun, leaky: EvalRun) -> str:
    """Why ``independent`` and ``leaky`` are not a like-for-like leakage contrast, as a
    clause for a sentence ("they were tested on different datasets ..."); "" when they are.

    Like for like: both runs record the same dataset fingerprint, and the images one of
    them tested are all among the images the other tested.
    """
    fp_i, fp_l = dataset_fingerprint(independent), dataset_fingerprint(leaky)
    a, b = _images_tested(independent), _images_tested(leaky)
    if not fp_i or not fp_l:
        which = independent.run_id if not fp_i else leaky.run_id
        return (f"run {which} does not record which dataset it was tested on, so the two "
                "cannot be shown to be the same data")
    if fp_i != fp_l:
        return (f"they were tested on different datasets ({_dataset_name(independent)}, "
                f"{len(a)} images tested, and {_dataset_name(leaky)}, {len(b)} images tested), "
                "so the gap would mix the datasets with the leakage")
    if not (a <= b or b <= a):
        return (f"they tested different images of the same dataset ({len(a & b)} in common; "
                f"{len(a - b)} tested only by the participant-independent run and {len(b - a)} "
                "only by the leaky one), so the gap would mix the images with the leakage")
    return ""


def no_contrast_sentence(independent: EvalRun, leaky: EvalRun, obstacle: str) -> str:
    """The plain sentence shown when ``leaky`` cannot be set beside ``independent``."""
    return (f"No like-for-like leakage contrast for {independent.title}: the LEAKY run "
            f"{leaky.run_id} of {leaky.model_name} is not comparable because {obstacle}.")


@dataclass
class LeakageContrast:
    """The same model evaluated without and with participant leakage.

    ``table``: one row per run with ``run_id, protocol, leaky, n_images, n_participants,
    accuracy, accuracy_low, accuracy_high (Wilson), accuracy_boot_low, accuracy_boot_high
    (participant bootstrap)``. ``gap`` = leaky accuracy - independent accuracy.
    ``paired``: a :class:`PairedComparison` on shared images, when there are any.
    """

    model: str
    independent_run: str
    leaky_run: str
    table: pd.DataFrame
    gap: float
    paired: PairedComparison | None = None
    sentence: str = ""
    notes: list[str] = field(default_factory=list)


def _run_row(run: EvalRun, n_boot: int, seed: int, confidence: float) -> dict:
    t = run.predictions
    n, k = len(t), int(t["correct"].sum())
    low, high = wilson_interval(k, n, confidence)
    pc = t.groupby("participant")["correct"].agg(["sum", "size"])
    b_low, b_high, _ = cluster_bootstrap_accuracy(
        pc["sum"].to_numpy(), pc["size"].to_numpy(), n_boot, np.random.default_rng(seed), confidence
    )
    return {
        "run_id": run.run_id,
        "protocol": run.protocol_name,
        "leaky": run.leaky,
        "n_images": n,
        "n_participants": int(t["participant"].nunique()),
        "accuracy": k / n,
        "accuracy_low": low,
        "accuracy_high": high,
        "accuracy_boot_low": b_low,
        "accuracy_boot_high": b_high,
    }


def leakage_contrast(
    independent: EvalRun,
    leaky: EvalRun,
    n_boot: int = N_BOOT,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> LeakageContrast:
    """Side-by-side accuracy of a participant-independent run and a leaky run of one model.

    Raises :class:`PredictionsError` if ``independent`` is itself leaky or ``leaky`` is not,
    or when the two are not like for like (:func:`contrast_obstacle`: another dataset or
    other images); its message says why in one sentence.
    """
    if independent.leaky:
        raise PredictionsError(
            f"Run {independent.run_id} is leaky; it cannot be the honest side of the contrast."
        )
    if not leaky.leaky:
        raise PredictionsError(f"Run {leaky.run_id} is not leaky; there is no leakage to contrast.")
    obstacle = contrast_obstacle(independent, leaky)
    if obstacle:
        raise PredictionsError(no_contrast_sentence(independent, leaky, obstacle))
    notes = []
    if independent.model_name != leaky.model_name:
        notes.append(
            f"The two runs use different models ({independent.model_name} vs {leaky.model_name}); "
            "the gap mixes the model and the leakage."
        )
    epochs_i = (independent.config.get("training") or {}).get("epochs")
    epochs_l = (leaky.config.get("training") or {}).get("epochs")
    if epochs_i and epochs_l and epochs_i != epochs_l:
        notes.append(
            f"The two runs trained for different numbers of epochs ({epochs_i} participant-"
            f"independent, {epochs_l} leaky); part of the gap may come from training length, "
            "not leakage."
        )
    images_i = _images_tested(independent)
    images_l = _images_tested(leaky)
    if images_l != images_i:
        fewer, more = ("leaky", "participant-independent") if images_l < images_i else (
            "participant-independent", "leaky")
        notes.append(
            f"The {fewer} run tested {min(len(images_l), len(images_i))} of the "
            f"{max(len(images_l), len(images_i))} images the {more} run tested; both come from "
            "the same dataset."
        )
    rows = [
        _run_row(independent, n_boot, seed, confidence),
        _run_row(leaky, n_boot, seed, confidence),
    ]
    table = pd.DataFrame(rows)
    gap = float(rows[1]["accuracy"] - rows[0]["accuracy"])
    paired = None
    shared = set(independent.predictions["sample_id"]) & set(leaky.predictions["sample_id"])
    if shared:
        try:
            paired = paired_comparison(
                leaky.predictions,
                independent.predictions,
                f"{leaky.protocol_name} (leaky)",
                independent.protocol_name,
                n_boot,
                seed,
                confidence,
            )
        except PredictionsError as exc:
            notes.append(str(exc))
    sentence = (
        f"The same model ({independent.model_name}) scores {rows[0]['accuracy']:.1%} when every "
        f"test person is unseen in training ({independent.protocol_name}) and "
        f"{rows[1]['accuracy']:.1%} under the leaky {leaky.protocol_name} protocol, where the same "
        f"people appear in training and test: a gap of {fmt.points(gap)}. The leaky number measures how "
        "well the model recognises people it has already seen, not how it would do on a new person."
    )
    return LeakageContrast(
        model=independent.model_name,
        independent_run=independent.run_id,
        leaky_run=leaky.run_id,
        table=table,
        gap=gap,
        paired=paired,
        sentence=sentence,
        notes=notes,
    )


def compare_runs(runs: list[EvalRun], n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """Every pairwise comparison that makes sense among ``runs``.

    Returns ``{"paired": [PairedComparison...], "leakage": [LeakageContrast...], "notes":
    [str...]}``: a leakage contrast for each pair of one leaky and one participant-
    independent run of the same model, and a paired comparison for each pair of runs that
    are both leaky or both independent and share images. Other pairs get a note.
    """
    from fer_engine.errors import UserFacingError

    paired, leakage, notes = [], [], []
    for i, a in enumerate(runs):
        for b in runs[i + 1 :]:
            try:
                if a.leaky != b.leaky and a.model_name != b.model_name:
                    notes.append(
                        f"{a.title} and {b.title}: one is leaky and the models differ, so the gap "
                        "would mix model and leakage; not compared."
                    )
                elif a.leaky != b.leaky:
                    ind, lk = (a, b) if b.leaky else (b, a)
                    leakage.append(leakage_contrast(ind, lk, n_boot, seed))
                elif set(a.predictions["sample_id"]) & set(b.predictions["sample_id"]):
                    paired.append(
                        paired_comparison(
                            a.predictions, b.predictions, a.title, b.title, n_boot, seed
                        )
                    )
                else:
                    notes.append(f"{a.title} and {b.title} share no image: not compared.")
            except UserFacingError as exc:
                notes.append(str(exc))
    return {"paired": paired, "leakage": leakage, "notes": notes}


@dataclass
class LeakyPartner:
    """What :func:`leaky_partner` found: the ``path`` of a like-for-like leaky run, or None
    with ``reason``, a plain sentence on why no like-for-like contrast exists ("" when the
    listing holds no leaky run of the model at all)."""

    path: str | None
    reason: str = ""


def leaky_partner(runs: pd.DataFrame, independent: EvalRun, exclude=(), load=None) -> LeakyPartner:
    """The leaky run to contrast with the participant-independent run ``independent``.

    ``runs``: a listing of runs with ``model``, ``leaky``, ``fingerprint`` and ``path``
    columns, as :func:`fer_engine.experiments.runs.list_runs` gives it (newest first);
    ``exclude``: paths not to pick (runs already shown); ``load``: path -> :class:`EvalRun`
    (default :func:`~fer_engine.analytics.inputs.as_eval_run`; the pages pass a cached one).
    The partner is the newest leaky run of the same model that is like for like
    (:func:`contrast_obstacle`: same dataset fingerprint, same images); only runs of the
    same dataset are loaded.
    """
    if load is None:
        from fer_engine.analytics.inputs import as_eval_run as load
    model = runs[(runs["model"] == independent.model_name) & runs["leaky"].astype(bool)
                 & ~runs["path"].isin(list(exclude))]
    if not len(model):
        return LeakyPartner(None)
    fingerprint = dataset_fingerprint(independent)
    fingerprints = model["fingerprint"] if "fingerprint" in model else pd.Series("", model.index)
    same_data = model[fingerprints.fillna("").astype(str) == fingerprint] if fingerprint else model
    if not len(same_data):
        newest = load(model["path"].iloc[0])
        return LeakyPartner(None, no_contrast_sentence(
            independent, newest, contrast_obstacle(independent, newest)))
    first_reason = ""
    for path in same_data["path"]:
        leaky = load(path)
        obstacle = contrast_obstacle(independent, leaky)
        if not obstacle:
            return LeakyPartner(str(path))
        first_reason = first_reason or no_contrast_sentence(independent, leaky, obstacle)
    return LeakyPartner(None, first_reason)


def default_run(runs: pd.DataFrame) -> str | None:
    """The run a results view opens on: the newest participant-independent run of a
    listing (newest first, ``leaky`` and ``path`` columns), else the newest run; None for
    an empty listing."""
    if not len(runs):
        return None
    honest = runs[~runs["leaky"].astype(bool)]
    return str((honest if len(honest) else runs)["path"].iloc[0])


def unlike_scoring_note(runs) -> str | None:
    """A sentence for where the accuracy of a run of the shipped model scored as it is
    (protocol ``none``) stands beside a trained run's that scored other emotions or another
    number of images (the shipped model cannot answer some emotions: their images are left
    out of its count), or None when every such pair scored the same. ``runs``: EvalRun-like
    objects (``protocol_name``, ``predictions`` with a ``true`` column, ``title``)."""
    def emotions_of(run) -> set:
        return set(run.predictions["true"].astype(str))

    scored = [r for r in runs if r.protocol_name == "none"]
    trained = [r for r in runs if r.protocol_name != "none"]
    for s in scored:
        for t in trained:
            if emotions_of(s) == emotions_of(t) and len(s.predictions) == len(t.predictions):
                continue
            missing = sorted(emotions_of(t) - emotions_of(s))
            why = (f" ({', '.join(missing)}: the shipped model has no answer for "
                   f"{'it' if len(missing) == 1 else 'them'}, so those images are not counted)"
                   if missing else "")
            return (f"Not like for like: the shipped model's accuracy counts "
                    f"{len(emotions_of(s))} emotions on {len(s.predictions):,} images{why}; "
                    f"{t.title} counts {len(emotions_of(t))} emotions on "
                    f"{len(t.predictions):,} images. Compare them on the images both scored "
                    "(Comparisons on the Results page), not by their accuracies.")
    return None
