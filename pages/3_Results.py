"""Results page: the analyses of one or several finished runs, written for non-programmers."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import cache, state, train_ui, widgets
from fer_engine import emotions
from fer_engine import format as fmt
from fer_engine.analytics import figures
from fer_engine.analytics.compare import default_run, leaky_partner, unlike_scoring_note
from fer_engine.analytics.report import RunSection, participant_table
from fer_engine.analytics.subgroups import (
    MIN_PARTICIPANTS,
    n_people,
    readable_group,
    readable_grouping,
    single_group_note,
    small_groups_note,
)
from fer_engine.errors import UserFacingError
from fer_engine.experiments.runs import list_runs, load_run

state.init()
settings = state.settings()
st.title("Results")
st.caption("How good a finished run is: accuracy with 95% ranges, metrics per emotion, PPV, "
           "groups of people, calibration, comparisons and the study report.")

runs = list_runs()
if not len(runs):
    st.info("No finished runs yet: start one on the Train page.")
    st.stop()

label_of = {path: f"{fmt.run_name(m, p, leaky)} · {run_id}" for path, m, p, leaky, run_id in
            zip(runs["path"], runs["model"], runs["protocol"], runs["leaky"], runs["run_id"])}
# the run to open on (newest participant-independent) leads the list prepare_results_pick
# falls back on
first = default_run(runs)
state.prepare_results_pick([first] + [p for p in runs["path"] if p != first],
                           leaky=runs.loc[runs["leaky"], "path"])
selected = st.multiselect(
    "Runs to show (pick two that scored the same images to compare them)",
    list(runs["path"]), format_func=label_of.get, key=state.RESULTS_PICK,
)
with st.expander("Settings"):
    n_boot = st.select_slider(
        "Resamples for the 95% ranges (more: steadier ranges, slower)", [200, 500, 1000, 2000],
        value=1000, key="results_n_boot")
if not selected:
    st.info("Pick at least one run.")
    st.stop()

try:
    report = cache.report(tuple(selected), (), int(n_boot))
except Exception as exc:  # noqa: BLE001 - shown as one sentence
    widgets.error(exc, "Analysing the runs", before="These runs cannot be analysed:")
    st.stop()

for banner in report["banners"]:  # one per LEAKY run shown, naming it
    widgets.leaky_banner(banner)


def run_section(s: RunSection, path: str, i: int) -> None:
    if s.synthetic:
        widgets.synthetic_banner()
    run_notes = load_run(path).metrics.get("notes") or []  # e.g. emotions the model cannot answer
    for note in run_notes:
        st.warning(note, icon=":material/block:")
    o = s.overall
    st.markdown(f"**{s.title}**: {o.n_samples} test images of {n_people(o.n_participants)}.")
    most = s.per_class.loc[s.per_class["support"].idxmax()]
    c1, c2, c3, c4 = st.columns([5, 3, 3, 3])
    c1.metric(
        "Accuracy (95% range from resampling people)",
        f"{fmt.pct(o.accuracy)} ({fmt.interval(o.accuracy_boot_low, o.accuracy_boot_high)})",
        help=f"The share of test images the model got right. The range comes from redrawing "
             f"whole people ({o.n_boot} resamples): the honest range when each person has "
             "several images, plausible values for a new group of people, not a guarantee. "
             "Counting each image as if independent gives "
             f"{fmt.interval(o.accuracy_low, o.accuracy_high)}, too narrow.")
    c2.metric("Balanced accuracy", fmt.pct(o.balanced_accuracy),
              help="The average over the emotions of the share of each emotion's images that "
                   "were recognised: every emotion counts the same, however many images it has.")
    c3.metric("F1, average over emotions", fmt.pct(o.macro_f1),
              help="F1 (also called the Dice score) is one number for how well an emotion is "
                   "found: high only when the model both finds most of its images and is "
                   "mostly right when it names it. Here the average over the emotions.")
    c4.metric("Chance level", fmt.pct(o.majority_accuracy),
              help=f"The accuracy of always answering the most frequent emotion "
                   f"({emotions.display_name(most['label'])}: {int(most['support'])} of "
                   f"{o.n_samples} images). A model below this has learnt nothing useful.")
    if s.overall_warning:
        st.warning(s.overall_warning, icon=":material/group:")

    st.markdown("#### Metrics per emotion")
    pc = s.per_class
    st.dataframe(
        pd.DataFrame({
            "Emotion": pc["label"].map(emotions.display_name),
            "Images": pc["support"],
            "Times the model gave it": pc["predicted"],
            "Precision (PPV)": pc["precision"].map(fmt.pct),
            "Precision 95% range": fmt.intervals(pc["precision_low"], pc["precision_high"]),
            "Recall (sensitivity)": pc["recall"].map(fmt.pct),
            "Recall 95% range": fmt.intervals(pc["recall_low"], pc["recall_high"]),
            "Specificity": pc["specificity"].map(fmt.pct),
            "F1 (Dice)": pc["f1"].map(fmt.pct),
        }),
        hide_index=True,
    )
    st.caption("Recall: share of the images of an emotion that were recognised. Precision (PPV): "
               "share of the model's answers of that emotion that were right. F1 (also called "
               "Dice) is high only when both are. The 95% ranges are wide when an emotion has "
               "few images.")
    left, right = st.columns(2)
    with left:
        conf = s.confusion
        st.plotly_chart(figures.confusion_heatmap(conf["counts"], conf["normalised"]),
                        key=f"confusion_{i}")
        st.caption("Rows: the true emotion; columns: what the model answered. Numbers are images; "
                   "colour is the share of the row. A strong diagonal is good; with few images per "
                   "row one image moves a cell a lot.")
    with right:
        st.plotly_chart(figures.per_class_bars(pc), key=f"per_class_{i}")
        st.caption("Precision, recall and F1 per emotion; the whiskers are 95% ranges. "
                   "Overlapping whiskers mean the data cannot tell the emotions apart in quality.")

    st.markdown("#### Positive predictive value (PPV)")
    labels = list(s.labels)
    c1, c2 = st.columns([1, 2])
    label = c1.selectbox("Emotion", labels, format_func=emotions.display_name,
                         key=state.ppv_label_key(s.run_id))
    data_prev = float(s.ppv.set_index("label").loc[label, "prevalence"])
    prevalence = c2.slider(
        "How common is this emotion where the model would be used? (prevalence, share of faces)",
        0.005, 0.5, value=float(min(max(round(data_prev, 3), 0.005), 0.5)), step=0.005,
        format="percent", key=state.ppv_prevalence_key(s.run_id, label))
    at = cache.ppv_at(path, label, float(prevalence), int(n_boot))
    st.plotly_chart(figures.ppv_chart(s.ppv, at), key=f"ppv_{i}")
    row = at.iloc[0]
    st.caption(
        f"Bars: when the model says an emotion, how often it is right in this data (whiskers: 95% "
        f"range). Red diamond: the PPV of {emotions.display_name(label)} if it made up "
        f"{fmt.pct(prevalence)} of the faces: {fmt.pct(row['ppv'])} (95% range "
        f"{fmt.interval(row['ppv_low'], row['ppv_high'])}, resampling people). Rare emotions give "
        "low PPV even for a good model."
    )
    if isinstance(row["note"], str) and row["note"]:
        st.warning(row["note"])

    st.markdown("#### Subgroups")
    groups = s.subgroups["groups"]
    if len(groups):
        st.plotly_chart(figures.subgroup_bars(groups), key=f"subgroups_{i}", width="stretch")
        st.caption("Accuracy per group of people with 95% ranges from resampling people; the "
                   "label of each bar gives its people and images. Grey bars marked ⚠ have too "
                   "few people to say anything.")
        st.dataframe(
            pd.DataFrame({
                "Grouped by": groups["grouping"].map(readable_grouping),
                "Group": [readable_group(g, v) for g, v in zip(groups["grouping"],
                                                               groups["group"])],
                "People": groups["n_participants"], "Images": groups["n_images"],
                "Accuracy": groups["accuracy"].map(fmt.pct),
                "95% range (resampling people)": fmt.intervals(groups["accuracy_boot_low"],
                                                               groups["accuracy_boot_high"]),
                "Difference from the reference group (percentage points)": [
                    "reference" if r else fmt.points(d, unit="")
                    for r, d in zip(groups["is_reference"], groups["accuracy_diff"])],
                "p-value": groups["p_value"].map(fmt.p_value),
                "Warning": groups["warning"].fillna(""),
            }),
            hide_index=True,
        )
        st.caption("The reference group of each grouping is its most accurate group of at least "
                   f"{MIN_PARTICIPANTS} people. The p-value is the chance of a gap this large if "
                   "groups did not matter (not adjusted for the many comparisons).")
        small_note, single_note = small_groups_note(groups), single_group_note(groups)
        if small_note:
            st.warning(small_note, icon=":material/group:")
        if single_note:
            st.caption(single_note)
    else:
        st.info("No information on who is in which group (country, age, gender) in this run: "
                "no subgroup analysis.")

    st.markdown("#### Per participant")
    pp = s.per_participant
    st.plotly_chart(figures.participant_dots(pp), key=f"participants_{i}")
    images = pp["n_images"]
    per_person = (f"{int(images.min())} images each" if images.min() == images.max()
                  else f"{int(images.min())} to {int(images.max())} images each")
    st.caption(f"One dot per person with a 95% range ({per_person}): with a handful of images "
               "per person each range is wide, so single people cannot be ranked. The table "
               "below names every person.")
    st.dataframe(participant_table(pp), hide_index=True)

    st.markdown("#### Calibration")
    cal = s.calibration["overall"]
    if cal is None:
        st.info("This run has no probabilities: calibration cannot be shown.")
    else:
        by = s.calibration["bins_by_group"]
        groupings = sorted(by["grouping"].unique()) if len(by) else []
        grouping = st.selectbox(
            "One line per group of", ["(none)"] + groupings, key=f"cal_group_{i}",
            format_func=lambda g: "no split: all images" if g == "(none)" else readable_grouping(g))
        st.plotly_chart(
            figures.reliability_diagram(cal.bins, by if grouping != "(none)" else None,
                                        grouping if grouping != "(none)" else None),
            key=f"calibration_{i}")
        st.caption("Is the model's confidence honest? Points on the dashed diagonal mean a "
                   "confidence of 70% is right 70% of the time; bigger points hold more images, "
                   "small ones are noisy. On average the model's confidence is "
                   f"{fmt.pct(cal.ece)} away from how often it is right (0% is perfect; "
                   "statisticians call this the expected calibration error).")

    history = s.history
    if history is not None and len(history) and not figures.has_curves(history):
        st.markdown("#### Training")
        st.caption(train_ui.one_step_sentence(s.model) if s.model in ("transfer", "hog_svm")
                   else "Each fold trained for one epoch: there are no curves to draw.")
    elif history is not None and len(history):
        st.markdown("#### Training curves per fold")
        each = st.toggle("Show each fold", key=f"history_folds_{i}")
        st.plotly_chart(figures.training_curves(history, show_folds=each), key=f"history_{i}",
                        width="stretch")
        st.caption("Loss per epoch (solid: training images, dotted: validation people). The line "
                   "is the middle fold (median) and the shaded band runs from the lowest to the "
                   "highest fold. A validation line rising while training falls means "
                   "over-fitting.")
    for note in dict.fromkeys(s.notes):  # each note once
        if note not in run_notes:
            st.caption(f"Note: {note}")
    with st.expander("Methods (for a paper's methods section)"):
        for paragraph in s.methods["paragraphs"]:
            st.markdown(paragraph)
    if load_run(path).predictions_path.is_file():
        st.download_button("Predictions (CSV, folds numbered from 1)",
                           cache.predictions_csv(path), file_name=f"{s.run_id}-predictions.csv",
                           mime="text/csv", key=f"dl_pred_{i}", on_click="ignore")


sections = report["runs"]
unlike = unlike_scoring_note([cache.eval_run(p) for p in selected]) if len(selected) > 1 else None
if unlike:
    st.info(unlike, icon=":material/compare_arrows:")
if len(sections) == 1:
    run_section(sections[0], selected[0], 0)
else:
    tabs = st.tabs([fmt.run_name(s.model, s.protocol, s.leaky) for s in sections])
    for i, (tab, s, path) in enumerate(zip(tabs, sections, selected)):
        with tab:
            run_section(s, path, i)

# -- comparisons ---------------------------------------------------------------------------
comparisons = report["comparisons"]
contrasts = list(comparisons["leakage"])
no_contrast = []  # why a run has no like-for-like leaky run to be set beside
for s, path in zip(sections, selected):  # a LEAKY run of the same model and data not picked
    if s.leaky or any(c.independent_run == s.run_id for c in contrasts):
        continue
    partner = leaky_partner(runs, cache.eval_run(path), exclude=selected, load=cache.eval_run)
    if partner.path is None:
        no_contrast += [partner.reason] if partner.reason else []
        continue
    try:
        contrasts.append(cache.leakage(path, partner.path, int(n_boot)))
    except UserFacingError as exc:
        no_contrast.append(str(exc))
if comparisons["paired"] or contrasts or comparisons["notes"] or no_contrast:
    st.subheader("Comparisons")
for reason in no_contrast:
    st.info(reason, icon=":material/compare_arrows:")
for p in comparisons["paired"]:
    st.markdown(f"**{p.name_a}** vs **{p.name_b}**")
    st.markdown(p.sentence)
    st.caption("The difference is in percentage points of accuracy; its 95% range comes from "
               "resampling people. A range that includes 0 means the data do not show which "
               "model is better.")
for c in contrasts:
    st.markdown(f"**Leakage contrast: {c.model}**")
    st.plotly_chart(figures.accuracy_comparison(c.table),
                    key=f"leak_{c.leaky_run}_{c.independent_run}")
    st.markdown(c.sentence)
    st.caption("The red bar is LEAKY: the same people were in its training and test images. The "
               "gap between the bars is how much the first study's evaluation flattered the model.")
    for note in c.notes:
        st.caption(note)
for note in comparisons["notes"]:
    st.info(note, icon=":material/compare_arrows:")

# -- downloads -----------------------------------------------------------------------------
st.subheader("Downloads")
st.caption("The study report holds every table and chart of this page, with methods and a "
           "checklist, in one HTML file that opens in any browser.")
key = (tuple(selected), (), int(n_boot))
c1, c2 = st.columns(2)
c1.download_button("Study report (HTML)", cache.report_file(*key, "html"),
                   file_name="fer-study-report.html", mime="text/html", key="dl_html",
                   on_click="ignore")
c2.download_button("Metrics (JSON)", cache.report_file(*key, "json"),
                   file_name="fer-metrics.json", mime="application/json", key="dl_json",
                   on_click="ignore")
