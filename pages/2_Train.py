"""Train page: start a background training, follow it live, cancel it, manage finished runs."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import cache, state, train_ui, widgets
from fer_engine import execution
from fer_engine import format as fmt
from fer_engine.analytics.compare import unlike_scoring_note
from fer_engine.errors import display_text
from fer_engine.experiments.jobs import JobSpec, apply_caps
from fer_engine.experiments.protocols import (
    LEAKY_PROTOCOLS,
    PROTOCOL_NAMES,
    default_protocol,
    protocol_label,
    protocol_support,
)
from fer_engine.experiments.runs import delete_run, list_runs, zip_run
from fer_engine.experiments.spec import ExperimentSpec
from fer_engine.models import (
    DEFAULT_AUGMENTATION,
    DEFAULT_WEIGHTS,
    FULL_AUGMENTATION,
    MODEL_LABELS,
    SCORING_MODELS,
    recommended_model,
)

DEFAULTS = ExperimentSpec()
BATCH_SIZES = [8, 16, 32, 64, 128]
LEARNING_RATES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
AUGMENTATIONS = {
    "rotation": "rotation ±10°",
    "shift": "shifts 10%",
    "zoom": "zoom 10%",
    "shear": "shear 10%",
    "horizontal_flip": "horizontal flip",
}

state.init()
settings = state.settings()
manager = state.job_manager()
st.title("Train")
st.caption("Train a model under an evaluation protocol as a background job, follow its "
           "curves, and manage finished runs.")

# -- data ----------------------------------------------------------------------------------
try:
    ds = cache.dataset(state.dataset_path())
except Exception as exc:  # noqa: BLE001 - shown as one sentence
    widgets.error(exc, "Loading the dataset", before="The active dataset cannot be loaded:",
                  after="Choose other data on the Dataset page.")
    st.stop()
st.markdown(
    f"Data: **{ds.name}**: {ds.n_images} images of "
    f"{ds.n_participants if ds.participants_known else 'unknown'} participants "
    "(change it on the Dataset page)."
)
if ds.synthetic:
    widgets.synthetic_banner()
if settings.hosted_demo:
    st.info(
        f"Public demo: at most {settings.demo_max_epochs} epochs and the first "
        f"{settings.demo_max_participants} participants per training; trainings wait in a queue "
        "and run one at a time.",
        icon=":material/public:",
    )

# -- settings ------------------------------------------------------------------------------
state.restore_kept(state.TRAIN_SETTINGS)  # the settings survive a visit to another page
support = protocol_support(ds.table, participants_known=ds.participants_known)
scoring_refused = support.pop("none")  # scoring the shipped model is its own action, below
offered = [name for name, why in support.items() if why is None]
if not offered:
    st.error("No evaluation protocol fits this dataset: " + " ".join(dict.fromkeys(support.values())),
             icon=":material/block:")
    st.stop()
people = ds.n_participants if ds.participants_known else None
suggested = default_protocol(support, people)
state.prepare_protocol_pick(offered, suggested)
suggested_model = recommended_model(ds.n_images)
st.subheader("Train a model")
c1, c2 = st.columns(2)
model = c1.selectbox("Model", list(MODEL_LABELS), format_func=MODEL_LABELS.get, key="train_model",
                     index=list(MODEL_LABELS).index(suggested_model))
protocol = c2.selectbox("Evaluation protocol", offered, format_func=protocol_label,
                        key=state.TRAIN_PROTOCOL)
missing = [why for name, why in support.items() if why]
if missing:
    c2.caption("Not offered for this data: " + " ".join(missing))
most_folds = min(20, ds.n_participants)  # at most one fold per participant
suggested_k = min(DEFAULTS.k, most_folds)
advice = [f"Recommended for {ds.n_images} images"
          + (f" of {fmt.n_people(people)}" if people else "")
          + f": **{MODEL_LABELS[suggested_model].split(':')[0]}** under **"
          + (f"{PROTOCOL_NAMES['group-kfold']} ({suggested_k} folds)" if suggested == "group-kfold"
             else PROTOCOL_NAMES[suggested]) + "**."]
if suggested_model == "transfer":
    advice.append("Transfer reuses the face features the shipped network learned from 28,000 "
                  "faces, which beat a CNN trained from scratch on a posed-face dataset of about "
                  "100 people (87 % vs 83 %) in seconds instead of minutes.")
if suggested == "group-kfold" and "loso" in offered:
    advice.append(f"With {fmt.n_people(people)}, leave-one-subject-out would train "
                  f"{people} models; {suggested_k} grouped folds also test every person on a "
                  "model that never saw them, in a fraction of the time.")
st.caption(" ".join(advice))
augment_before_split = DEFAULTS.augment_before_split
if protocol in LEAKY_PROTOCOLS:
    widgets.leaky_banner()
if protocol == "paper":
    augment_before_split = st.checkbox(
        "Augment before the split, as the first study's notebook did (copies of one photo land "
        "on both sides)", key="train_augment_before_split")
k, test_size = DEFAULTS.k, DEFAULTS.test_size
if protocol == "group-kfold":
    k = widgets.bounded_int("Folds (k)", 2, most_folds, suggested_k, key="train_k",
                            help=f"From 2 to {most_folds}: each fold tests a group of whole "
                                 "people.")
if protocol in ("holdout", "paper"):
    test_size = st.slider("Test share", 0.1, 0.5, DEFAULTS.test_size, 0.05, key="train_test_size",
                          help="Share of the people (hold-out) or of the images (paper) kept for testing.")

weights = "none"
finetune = False
if model == "transfer":
    weights = None
    finetune = st.checkbox(
        "Also fine-tune the network's last convolution block (slower; uses the epochs, learning "
        "rate, augmentation and early stopping)", key="train_finetune")
    st.caption("Starts from the shipped FER2013 network (in the repository: nothing is "
               "downloaded)."
               + ("" if finetune else " " + train_ui.one_step_sentence(model)
                  + " Epochs, batch size, learning rate and augmentation are not used."))
elif DEFAULT_WEIGHTS[model] == "imagenet":  # the ImageNet transfer-learning families
    choice = st.radio(
        "Starting weights",
        ["imagenet", "none"],
        format_func={"imagenet": "ImageNet (downloaded once; needs internet)",
                     "none": "Random initialisation"}.get,
        horizontal=True,
        key="train_weights",
    )
    weights = choice
elif model == "hog_svm":
    st.caption(train_ui.one_step_sentence(model) + " Epochs, batch size, learning rate and "
               "augmentation are not used.")
else:
    st.caption("This model starts from random initialisation.")
one_step = ExperimentSpec(model=model, finetune=finetune).fitted_in_one_step

max_epochs = settings.demo_max_epochs if settings.hosted_demo else 500
epochs, batch_size, learning_rate = DEFAULTS.epochs, DEFAULTS.batch_size, DEFAULTS.learning_rate
augmentation = {}
if one_step:
    seed = widgets.bounded_int("Seed", 0, 1_000_000, DEFAULTS.seed, key="train_seed")
else:
    c1, c2, c3, c4 = st.columns(4)
    epochs = widgets.bounded_int("Epochs (maximum)", 1, max_epochs,
                                 min(DEFAULTS.epochs, max_epochs), key="train_epochs",
                                 help=f"From 1 to {max_epochs}. Early stopping may end a fold "
                                      "sooner.", container=c1)
    batch_size = c2.selectbox("Batch size", BATCH_SIZES,
                              index=BATCH_SIZES.index(DEFAULTS.batch_size), key="train_batch")
    learning_rate = c3.select_slider("Learning rate", LEARNING_RATES, value=DEFAULTS.learning_rate,
                                     format_func=lambda v: f"{v:g}", key="train_lr")
    seed = widgets.bounded_int("Seed", 0, 1_000_000, DEFAULTS.seed, key="train_seed",
                               container=c4)
    st.markdown("Augmentation of training images (never of test images). Default: flips only; "
                "on the small synthetic dataset the geometric set kept the CNN near chance.")
    cols = st.columns(len(AUGMENTATIONS))
    augmentation = {
        name: FULL_AUGMENTATION[name]
        for col, (name, label) in zip(cols, AUGMENTATIONS.items())
        if col.checkbox(label, value=name in DEFAULT_AUGMENTATION, key=f"train_aug_{name}")
    }

with st.expander("Advanced"):
    val_fraction = st.slider(
        "Validation share of each fold's training people (early stopping)", 0.0, 0.4,
        DEFAULTS.val_fraction, 0.05, key="train_val_fraction")
    class_weight = st.checkbox("Balanced class weights", key="train_class_weight")
state.keep(state.TRAIN_SETTINGS)

refused = [name for name, value in (("folds", k), ("epochs", epochs), ("seed", seed))
           if value is None]
if refused:
    st.caption("Start is off until the " + " and ".join(refused) + " are in range.")


def submit(experiment: ExperimentSpec, action: str) -> None:
    spec = JobSpec(experiment, data=state.dataset_path() or cache.dataset_folder(None),
                   dataset_label=ds.name)
    spec, notes = apply_caps(spec, settings)
    try:
        job_id = manager.submit(spec, notes=notes)
    except Exception as exc:  # noqa: BLE001 - shown as one sentence
        widgets.error(exc, action)
    else:
        state.remember_job(job_id)
        state.set_job_was_active(True)


st.caption(execution.describe())
if st.button("Start training", type="primary", key="train_start", disabled=bool(refused)):
    submit(ExperimentSpec(
        model=model, protocol=protocol, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, seed=seed, weights=weights, augment=augmentation or False,
        class_weight=class_weight, k=k, test_size=test_size, val_fraction=val_fraction,
        augment_before_split=augment_before_split, finetune=finetune,
    ), "Starting the training")

st.subheader("Score the shipped model on this data")
if scoring_refused:
    st.caption(f"Not possible for this data: {scoring_refused}")
else:
    st.caption("No training: the shipped FER2013 model answers every image as it is, and the "
               "Results page shows how it does on these people. Emotions it has no answer for "
               "(contempt) are left out of its count, so its accuracy is not like for like with "
               "a model trained here.")
    if st.button("Score the shipped model on this data", key="train_score"):
        submit(ExperimentSpec(model=SCORING_MODELS[0], protocol="none"), "Scoring the data")

# -- progress ------------------------------------------------------------------------------
st.subheader("Progress")
if state.my_job_ids():  # keep this session's job in the address: a browser reload finds it
    st.query_params["job"] = state.my_job_ids()[-1]


def progress_panel() -> None:
    job = state.shown_job()
    if job is None:
        st.caption("No training started yet.")
        return
    mine = job.job_id in state.my_job_ids()
    if not mine:
        st.caption("The server's latest training, started in another browser tab or window.")
    st.markdown(f"**{train_ui.job_line(job)}**")
    for note in job.notes:
        st.caption(note)
    if job.state == "queued":
        st.info(f"Waiting: {job.queue_position - 1} training(s) ahead of yours.")
    if job.state == "running":
        train_ui.progress_bars(job)
    if job.active and (mine or not settings.hosted_demo):
        if st.button("Cancel", key=f"cancel_{job.job_id}", disabled=job.cancel_requested):
            manager.cancel(job.job_id)
            st.rerun()
    train_ui.curves(job)
    picked_now = False
    if job.state == "finished":
        run_name = Path(job.run_path).name
        if mine:  # once per job: the user may pick another model later
            state.activate_finished_job(job.job_id, job.run_path)
        if Path(job.run_path).is_dir():
            if mine or not settings.hosted_demo:
                # once per job: the run list below selects the new run, so its buttons act on it
                picked_now = state.pick_finished_run(job.job_id, run_name)
            active = " It is the active model after training." if mine else ""
            st.success(f"Finished: run `{run_name}`.{active} See it on the Results page, or use "
                       "the buttons under Finished runs, where it is selected.")
        else:
            st.info(f"Finished: run `{run_name}` (deleted since).")
        for note in job.run_notes:  # e.g. images that could not be read
            st.warning(note, icon=":material/block:")
    elif job.state == "failed":
        st.error("Training failed: " + display_text(job.error or "", hosted=settings.hosted_demo))
    elif job.state in ("cancelled", "interrupted"):
        st.warning(job.error or "Training was cancelled; no run was saved.")
    if (state.job_was_active() and not job.active) or picked_now:
        state.set_job_was_active(False)
        st.rerun(scope="app")  # refresh the run list below, with the new run selected
    elif job.active:
        state.set_job_was_active(True)


any_active = bool(manager.active())
st.fragment(progress_panel, run_every=1.0 if any_active else None)()

# -- runs ----------------------------------------------------------------------------------
st.subheader("Finished runs")
runs = list_runs()
if not len(runs):
    st.caption("No finished runs yet.")
    st.stop()
named_synthetic = runs["dataset"].fillna("").str.lower().str.contains("synthetic")
table = runs.assign(
    date=runs["created"].str.replace("T", " "),
    data=runs["dataset"] + (runs["synthetic"] & ~named_synthetic).map({True: " (synthetic)",
                                                                       False: ""}),
    accuracy=runs["accuracy"].map(fmt.pct),
    macro_f1=runs["macro_f1"].map(fmt.pct),
    name=[fmt.run_name(m, p) for m, p in zip(runs["model"], runs["protocol"])],
)[["date", "data", "name", "leaky", "accuracy", "macro_f1", "run_id"]]
st.dataframe(
    table, hide_index=True,
    column_config={
        "macro_f1": st.column_config.TextColumn("macro F1"),
        "leaky": st.column_config.CheckboxColumn("LEAKY"),
        "date": st.column_config.TextColumn("made"),
        "name": st.column_config.TextColumn("model / protocol"),
        "run_id": st.column_config.TextColumn("run"),
    },
)
st.caption("Accuracy on the test people of every fold, pooled. LEAKY runs are not emotion "
           "accuracy: the same people were in training and test.")
if (runs["protocol"] == "none").any() and (runs["protocol"] != "none").any():
    unlike = unlike_scoring_note([cache.eval_run(p) for p in runs["path"]])
    if unlike:
        st.info(unlike, icon=":material/compare_arrows:")
labels = dict(zip(runs["run_id"], table["name"] + " · " + runs["run_id"]))
state.prepare_run_pick(list(runs["run_id"]))
run_id = st.selectbox("Run the buttons below act on", list(runs["run_id"]), format_func=labels.get,
                      key=state.TRAIN_RUN_PICK)
picked = runs.loc[runs["run_id"] == run_id].iloc[0]
path = picked["path"]
st.markdown(f"Selected: **{labels[run_id]}**, made {table.loc[picked.name, 'date']} on "
            f"{table.loc[picked.name, 'data']}. Opening, zipping and deleting act on this run.")
mine_paths = set()
for jid in state.my_job_ids():
    try:
        mine_paths.add(manager.status(jid).run_path)
    except KeyError:
        pass
c1, c2, c3 = st.columns(3)
if c1.button("Use as active model and open Results", key="train_open"):
    state.set_active_model(path)
    state.open_on_results([path])
    st.switch_page("pages/3_Results.py")
if c2.button("Prepare a zip download", key="train_zip"):
    with st.spinner("Zipping the run folder..."):
        state.set_prepared_zip(run_id, str(zip_run(path)))
ready = state.prepared_zip()
if ready and ready[0] == run_id and Path(ready[1]).is_file():
    c2.download_button("Download the zip", data=cache.file_bytes(ready[1]),
                       file_name=Path(ready[1]).name, mime="application/zip", key="train_zip_dl",
                       on_click="ignore")
can_delete = not settings.hosted_demo or path in mine_paths
with c3:
    confirm = st.checkbox("Yes, delete this run", key=f"confirm_delete_{run_id}",
                          disabled=not can_delete)
    if st.button("Delete run", key="train_delete", disabled=not (confirm and can_delete)):
        delete_run(path)
        state.forget_model(path)
        st.rerun()
