"""Comparing runs: two models on the same images, and the leakage contrast.

- :func:`paired_comparison`: two runs joined on ``sample_id`` (only the images both
  scored). Exact McNemar test: among the discordant images (one run right, the other
  wrong), the count where A is right is Binomial(b + c, 1/2) under "equally accurate";
  two-sided p from :func:`scipy.stats.binomtest`. Plus a paired participant-level
  bootstrap interval of the accuracy difference A - B (participants drawn with
  replacement, both runs' counts taken from the same drawn people).
- :func:`leakage_contrast`: the same model under a participant-independent protocol and
  under the leaky ``paper`` protocol. The two usually score different images, so both
  accuracies are shown side by side with their own intervals and the gap; when they do
  share images a paired comparison on those is added. :func:`leaky_partner` finds the
  leaky run to set beside a participant-independent one in a listing of runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import binomtest

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
        interval = "no interval: resampling one person gives none"
        verdict = "one person's images do not show which is more accurate for people in general"
    else:
        interval = f"95% interval {r.diff_low:+.1%} to {r.diff_high:+.1%}"
        verdict = (
            "the interval includes 0, so these images do not show which is more accurate"
            if not (r.diff_low > 0 or r.diff_high < 0) or not np.isfinite(r.diff_low)
            else f"{r.name_a if r.diff > 0 else r.name_b} is more accurate on these images"
        )
    few = (f" With only {r.n_participants} people the interval is rough."
           if 2 <= r.n_participants < MIN_PARTICIPANTS else "")
    return (
        f"On the {r.n_shared} images of {n_people(r.n_participants)} both runs scored, "
        f"{r.name_a} is right on {r.accuracy_a:.1%} and {r.name_b} on {r.accuracy_b:.1%} "
        f"(difference {r.diff:+.1%}, {interval}, McNemar p = {r.mcnemar_p:.3g}); {verdict}.{few}"
    )


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

    Raises :class:`PredictionsError` if ``independent`` is itself leaky or ``leaky`` is not.
    """
    if independent.leaky:
        raise PredictionsError(
            f"Run {independent.run_id} is leaky; it cannot be the honest side of the contrast."
        )
    if not leaky.leaky:
        raise PredictionsError(f"Run {leaky.run_id} is not leaky; there is no leakage to contrast.")
    notes = []
    if independent.model_name != leaky.model_name:
        notes.append(
            f"The two runs use different models ({independent.model_name} vs {leaky.model_name}); "
            "the gap mixes the model and the leakage."
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
        f"people appear in training and test: a gap of {gap:+.1%}. The leaky number measures how "
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


def leaky_partner(runs: pd.DataFrame, model: str, exclude=()) -> str | None:
    """The leaky run to contrast with a participant-independent run of ``model``.

    ``runs``: a listing of runs with ``model``, ``leaky`` and ``path`` columns, as
    :func:`fer_engine.experiments.runs.list_runs` gives it (newest first); ``exclude``:
    paths not to pick (runs already shown). Returns the ``path`` of the first leaky run of
    the same model that is not excluded, or None when there is none.
    """
    found = runs[(runs["model"] == model) & runs["leaky"] & ~runs["path"].isin(list(exclude))]
    return found["path"].iloc[0] if len(found) else None
