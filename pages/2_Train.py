"""Train page: start a background training, follow it live, cancel it, manage finished runs."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import cache, charts, state, widgets
from fer_engine import format as fmt
from fer_engine.errors import display_text
from fer_engine.experiments.jobs import JobSpec, apply_caps
from fer_engine.experiments.protocols import (
    LEAKY_PROTOCOLS,
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
    TRANSFER_RECOMMENDED_BELOW,
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
support = protocol_support(ds.table, participants_known=ds.participants_known)
offered = [name for name, why in support.items() if why is None]
if not offered:
    st.error("No evaluation protocol fits this dataset: " + " ".join(dict.fromkeys(support.values())),
             icon=":material/block:")
    st.stop()
state.prepare_protocol_pick(offered, default_protocol(support))
c1, c2 = st.columns(2)
model = c1.selectbox("Model", list(MODEL_LABELS), format_func=MODEL_LABELS.get, key="train_model",
                     index=list(MODEL_LABELS).index(recommended_model(ds.n_images)))
protocol = c2.selectbox("Evaluation protocol", offered, format_func=protocol_label,
                        key=state.TRAIN_PROTOCOL)
missing = [why for why in support.values() if why]
if missing:
    c2.caption("Not offered for this data: " + " ".join(missing))
if ds.n_images < TRANSFER_RECOMMENDED_BELOW and protocol != "none":
    st.caption(f"Recommended for {ds.n_images} images: **Transfer**. It reuses the face "
               "features the shipped network learned from 28,000 faces, which beat a CNN trained "
               "from scratch on a posed-face dataset of about 100 people (87 % vs 83 %) in "
               "seconds instead of minutes.")
scoring = protocol == "none"
if scoring:
    model = SCORING_MODELS[0]
    st.info("No training: the shipped FER2013 model scores every image as it is, so the Results "
            "page shows how it does on these people. Emotions it has no class for (contempt) "
            "are left out, with a note. The model, epochs, batch size, learning rate and "
            "augmentation settings are not used.", icon=":material/bolt:")
augment_before_split = DEFAULTS.augment_before_split
if protocol in LEAKY_PROTOCOLS:
    widgets.leaky_banner()
if protocol == "paper":
    augment_before_split = st.checkbox(
        "Augment before the split, as the first study's notebook did (copies of one photo land "
        "on both sides)", key="train_augment_before_split")
k, test_size = DEFAULTS.k, DEFAULTS.test_size
if protocol == "group-kfold":  # at most one fold per participant
    most = min(20, ds.n_participants)
    k = st.number_input("Folds (k)", min_value=2, max_value=most, value=min(DEFAULTS.k, most),
                        key="train_k")
if protocol in ("holdout", "paper"):
    test_size = st.slider("Test share", 0.1, 0.5, DEFAULTS.test_size, 0.05, key="train_test_size",
                          help="Share of the people (hold-out) or of the images (paper) kept for testing.")

c1, c2, c3, c4 = st.columns(4)
max_epochs = settings.demo_max_epochs if settings.hosted_demo else 500
epochs = c1.number_input("Epochs (maximum)", min_value=1, max_value=max_epochs,
                         value=min(DEFAULTS.epochs, max_epochs), key="train_epochs",
                         help="Early stopping may end a fold sooner.")
batch_size = c2.selectbox("Batch size", BATCH_SIZES, index=BATCH_SIZES.index(DEFAULTS.batch_size),
                          key="train_batch")
learning_rate = c3.select_slider("Learning rate", LEARNING_RATES, value=DEFAULTS.learning_rate,
                                 format_func=lambda v: f"{v:g}", key="train_lr")
seed = c4.number_input("Seed", min_value=0, max_value=1_000_000, value=DEFAULTS.seed,
                       key="train_seed")

st.markdown("Augmentation of training images (never of test images). Default: flips only; "
            "on the small synthetic dataset the geometric set kept the CNN near chance.")
cols = st.columns(len(AUGMENTATIONS))
augmentation = {
    name: FULL_AUGMENTATION[name]
    for col, (name, label) in zip(cols, AUGMENTATIONS.items())
    if col.checkbox(label, value=name in DEFAULT_AUGMENTATION, key=f"train_aug_{name}")
}

weights = "none"
finetune = False
if model == "transfer":
    weights = None
    st.caption("Starts from the shipped FER2013 network (in the repository: nothing is "
               "downloaded). Default: its features are frozen and a logistic-regression head is "
               "fitted per fold (epochs, batch size, learning rate and augmentation not used).")
    finetune = st.checkbox(
        "Also fine-tune the network's last convolution block (slower; uses the epochs, learning "
        "rate, augmentation and early stopping)", key="train_finetune")
elif scoring:
    weights = None
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
else:
    st.caption("This model starts from random initialisation.")

with st.expander("Advanced"):
    val_fraction = st.slider(
        "Validation share of each fold's training people (early stopping)", 0.0, 0.4,
        DEFAULTS.val_fraction, 0.05, key="train_val_fraction")
    class_weight = st.checkbox("Balanced class weights", key="train_class_weight")

if st.button("Start training", type="primary", key="train_start"):
    experiment = ExperimentSpec(
        model=model, protocol=protocol, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, seed=seed, weights=weights, augment=augmentation or False,
        class_weight=class_weight, k=k, test_size=test_size, val_fraction=val_fraction,
        augment_before_split=augment_before_split, finetune=finetune,
    )
    spec = JobSpec(experiment, data=state.dataset_path() or cache.dataset_folder(None),
                   dataset_label=ds.name)
    spec, notes = apply_caps(spec, settings)
    try:
        job_id = manager.submit(spec, notes=notes)
    except Exception as exc:  # noqa: BLE001 - shown as one sentence
        widgets.error(exc, "Starting the training")
    else:
        state.remember_job(job_id)
        state.set_job_was_active(True)

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
    st.markdown(f"**{job.summary}**")
    for note in job.notes:
        st.caption(note)
    if job.state == "queued":
        st.info(f"Waiting: {job.queue_position - 1} training(s) ahead of yours.")
    if job.state == "running":
        if not job.phase:
            st.progress(0.0, text="Starting...")
        elif job.phase == "prepare" or not job.n_folds:
            st.progress(job.prepare_done / max(job.prepare_total, 1),
                        text=f"Preparing images: {job.prepare_done}/{job.prepare_total}")
        else:
            st.progress(job.fraction, text=f"Overall: {job.fraction:.0%}")
            st.progress(min(1.0, job.fold / max(job.n_folds, 1)),
                        text=f"Fold {job.fold + 1} of {job.n_folds}")
            st.progress(job.epoch_fraction,
                        text=f"Epoch {max(job.epoch, 1)} of {job.n_epochs} "
                        f"(batch {job.batch}/{job.n_batches})")
            m = job.last_metrics
            if m:
                c1, c2 = st.columns(2)
                c1.metric("Training loss", f"{m.get('loss', float('nan')):.3f}")
                c2.metric("Training accuracy", fmt.pct(m.get("accuracy")))
    if job.active and (mine or not settings.hosted_demo):
        if st.button("Cancel training", key=f"cancel_{job.job_id}", disabled=job.cancel_requested):
            manager.cancel(job.job_id)
            st.rerun()
    if len(job.history):
        st.plotly_chart(charts.live_curves(job.history), key=f"live_{job.job_id}")
        st.caption("Loss (lower is better) and accuracy on the training images per epoch; dotted: "
                   "the validation people. Training accuracy is optimistic: the test results are "
                   "on the Results page.")
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
    elif job.state == "cancelled":
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
)[["date", "data", "model", "protocol", "leaky", "accuracy", "macro_f1", "run_id"]]
st.dataframe(
    table, hide_index=True,
    column_config={
        "macro_f1": st.column_config.TextColumn("macro F1"),
        "leaky": st.column_config.CheckboxColumn("LEAKY"),
        "date": st.column_config.TextColumn("trained"),
        "run_id": st.column_config.TextColumn("run"),
    },
)
st.caption("Accuracy on the test people of every fold, pooled. LEAKY runs are not emotion "
           "accuracy: the same people were in training and test.")
labels = dict(zip(runs["run_id"], runs["model"] + " / " + runs["protocol"] + " · " + runs["run_id"]))
state.prepare_run_pick(list(runs["run_id"]))
run_id = st.selectbox("Run the buttons below act on", list(runs["run_id"]), format_func=labels.get,
                      key=state.TRAIN_RUN_PICK)
picked = runs.loc[runs["run_id"] == run_id].iloc[0]
path = picked["path"]
st.markdown(f"Selected: **{labels[run_id]}**, trained {table.loc[picked.name, 'date']} on "
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
