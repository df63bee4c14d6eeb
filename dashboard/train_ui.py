"""The Train page's progress panel in words: what a job does and where it is, worded for the
three kinds of job (trained epoch by epoch, fitted in one step per fold, the shipped model
scoring the data), with folds numbered from 1. Reads :class:`~fer_engine.experiments.jobs.
JobStatus` as it is and draws with Streamlit; no maths."""

from __future__ import annotations

import streamlit as st

from dashboard import charts
from fer_engine import format as fmt
from fer_engine.experiments.jobs import JobStatus


def what(job: JobStatus) -> str:
    """``"cnn / loso on <data>"``, or the scoring run's name on the data."""
    e = job.spec.experiment
    data = job.spec.dataset_label or job.spec.data or "synthetic demo data"
    return f"{fmt.run_name(e.model, e.protocol)} on {data}"


def job_line(job: JobStatus) -> str:
    """One line for people: what the job does and where it is."""
    e = job.spec.experiment
    name = what(job)
    if job.state == "queued":
        return f"Queued (position {job.queue_position}): {name}"
    if job.state != "running":
        return f"{job.state.capitalize()}: {name}"
    if job.cancel_requested:
        return f"Cancelling: {name}"
    if not job.phase:
        return f"Starting (loading the data and model libraries): {name}"
    if job.phase == "prepare" or not job.n_folds:
        return f"Preparing images ({job.prepare_done}/{job.prepare_total}): {name}"
    if e.scoring:
        return f"Scoring the images: {name}"
    fold = f"fold {job.fold + 1} of {job.n_folds}"
    if e.fitted_in_one_step:
        return f"Fitting {fold} (in one step, no epochs): {name}"
    return f"Training {fold}, epoch {max(job.epoch, 1)} of {job.n_epochs}: {name}"


def one_step_sentence(model: str) -> str:
    """What a model fitted in one step does instead of epochs."""
    if model == "transfer":
        return ("The head is fitted in one step per fold (a logistic regression on the shipped "
                "network's features): there are no epochs and no training curves.")
    return ("The model is fitted in one step per fold: there are no epochs and no training "
            "curves.")


def progress_bars(job: JobStatus) -> None:
    """The bars and figures of a running job."""
    e = job.spec.experiment
    if not job.phase:
        st.progress(0.0, text="Starting...")
        return
    if job.phase == "prepare" or not job.n_folds:
        st.progress(job.prepare_done / max(job.prepare_total, 1),
                    text=f"Preparing images: {job.prepare_done}/{job.prepare_total}")
        return
    if e.scoring:
        st.progress(job.fraction, text=f"Scoring: {job.fraction:.0%}")
        return
    st.progress(job.fraction, text=f"Overall: {job.fraction:.0%}")
    if e.fitted_in_one_step:
        st.progress(min(1.0, job.fold / max(job.n_folds, 1)),
                    text=f"Folds fitted: {job.fold} of {job.n_folds} (one step each)")
        return
    st.progress(min(1.0, job.fold / max(job.n_folds, 1)),
                text=f"Fold {job.fold + 1} of {job.n_folds}")
    st.progress(job.epoch_fraction,
                text=f"Epoch {max(job.epoch, 1)} of {job.n_epochs} "
                f"(batch {job.batch} of {job.n_batches})")
    m = job.last_metrics
    if m:
        c1, c2 = st.columns(2)
        c1.metric("Training loss", f"{m.get('loss', float('nan')):.3f}")
        c2.metric("Training accuracy", fmt.pct(m.get("accuracy")))


def fold_results(job: JobStatus) -> str | None:
    """The test accuracy of each finished fold, folds numbered from 1 (None before any)."""
    done = job.fold_accuracy or {}
    if not done:
        return None
    parts = [f"fold {int(f) + 1}: {fmt.pct(a)}" for f, a in sorted(done.items(),
                                                                    key=lambda kv: int(kv[0]))]
    return "Test accuracy of the folds done: " + ", ".join(parts) + "."


def curves(job: JobStatus) -> None:
    """The live training curves, or for a job without epochs the sentence saying why none."""
    e = job.spec.experiment
    if e.scoring:
        return
    if e.fitted_in_one_step:
        st.caption(one_step_sentence(e.model))
        results = fold_results(job)
        if results:
            st.caption(results)
        return
    history = job.history
    if not len(history):
        return
    st.plotly_chart(charts.live_curves(history), key=f"live_{job.job_id}")
    validation = ("; dotted: the validation people" if history["val_loss"].notna().any()
                  else "")
    st.caption(f"Loss (lower is better) and accuracy on the training images per epoch"
               f"{validation}. Training accuracy is optimistic: the test results are on the "
               "Results page.")
