"""How good a model is, in words for someone who does not read model cards: the paragraph
under the model picker of the Classify, Live and Session pages, the same for the shipped
model (from its card, :func:`fer_engine.pretrained.card.plain_summary`) and for a model
trained here (from its run's out-of-fold predictions, :func:`run_summary`)."""

from __future__ import annotations

from fer_engine import emotions

#: What every paragraph ends with.
HINT = "read the probabilities as a hint, not a diagnosis."


def pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def quality(where: str, accuracy: float, low: float, high: float, per_class: list[dict],
            n_scored: int, *, interval_note: str = "") -> str:
    """``How good is it? <where> it named the right emotion for ...``: accuracy with its
    95 % interval (``interval_note`` inside the brackets, e.g. how it was resampled), the
    score of always answering the commonest emotion, the best and worst recognised
    emotion and how often its answers of the clinically watched emotions are right.
    ``per_class``: dicts with ``label``, ``recall``, ``precision`` (None: never answered),
    ``support``."""
    by_recall = sorted(per_class, key=lambda c: c["recall"])
    worst, best = by_recall[0], by_recall[-1]
    common = max(per_class, key=lambda c: c["support"])
    said = [(c["label"], pct(c["precision"])) for lab in emotions.CLINICAL_EMOTIONS
            for c in per_class if c["label"] == lab and c.get("precision") is not None
            and c["precision"] == c["precision"]]
    ppv = ""
    if said:
        (label, share), rest = said[0], said[1:]
        ppv = (f"When it answers '{label}' it is right {share} of the time"
               + "".join(f"; when it answers '{lab}', {p}" for lab, p in rest) + ". ")
    return (
        f"How good is it? {where} it named the right emotion for {pct(accuracy)} (95 % "
        f"interval {pct(low)} to {pct(high)}{interval_note}; always answering "
        f"'{common['label']}' would score {pct(common['support'] / n_scored)}). "
        f"It recognises {best['label']} best ({pct(best['recall'])} of those faces) and "
        f"{worst['label']} worst ({pct(worst['recall'])}). {ppv}"
    )


def run_summary(run) -> str | None:
    """The paragraph for a model trained here: ``run`` is a run folder, a
    :class:`~fer_engine.experiments.runs.Run` or an :class:`~fer_engine.analytics.EvalRun`.
    The figures are its out-of-fold predictions (each face scored by a fold's model that
    never saw that person, unless the protocol is LEAKY), the interval resamples people; it
    says what faces the model learnt from. ``None`` when the run has no predictions."""
    from fer_engine.analytics.inputs import as_eval_run
    from fer_engine.analytics.metrics import overall_metrics, per_class_metrics

    ev = as_eval_run(run)
    table = ev.predictions
    if table is None or not len(table):
        return None
    overall = overall_metrics(table, ev.labels, n_boot=500)
    per = per_class_metrics(table, ev.labels)
    per_class = [{"label": r.label, "recall": float(r.recall), "support": int(r.support),
                  "precision": None if r.precision != r.precision else float(r.precision)}
                 for r in per.itertuples() if r.support > 0]
    if not per_class:
        return None
    ds = ev.config.get("dataset") or {}
    name = ds.get("name") or "its dataset"
    people = overall.n_participants
    where = (f"On {overall.n_samples:,} faces of {people:,} "
             f"{'person' if people == 1 else 'people'} of '{name}'")
    if ev.leaky:
        where += (" (scored under the first study's image-level split: the same people were "
                  "in training, so this figure is inflated and says little about new people)")
    else:
        where += ", each scored by a model that had not seen that person,"
    learnt = (f"It learnt from faces of {ds.get('n_participants', people):,} people of "
              f"'{name}'" + (" (synthetic drawn faces: it says nothing about real ones)"
                             if ev.synthetic else ""))
    return (quality(where, overall.accuracy, overall.accuracy_boot_low,
                    overall.accuracy_boot_high, per_class, overall.n_samples,
                    interval_note=", people resampled")
            + f"{learnt}. Photos unlike those faces (other ages, skin tones, lighting, "
            f"cameras) may fare worse: {HINT}")
