"""Train and Results pages (AppTest): a real one-epoch cnn training on 4 synthetic people from
the UI, its run in the list and on the Results page; busy, cancel half-way, offline ImageNet."""

from __future__ import annotations

import pytest
from pages_support import local_app, run_until, texts

from fer_engine.experiments import jobs
from fer_engine.experiments.runs import list_runs


@pytest.fixture
def app(tmp_path, monkeypatch):
    at = local_app(monkeypatch, tmp_path / "runs")
    # choose data on the Dataset page: 4 synthetic participants
    at.switch_page("pages/1_Dataset.py").run()
    at.number_input[0].set_value(4)
    at.button[0].click().run()
    assert {m.label: m.value for m in at.metric}["Participants"] == "4"
    at.switch_page("pages/2_Train.py").run()
    assert not at.exception, at.exception
    yield at
    jobs.get_manager().shutdown()  # the server-wide manager of this cache folder


def configure(at, model="cnn", protocol="holdout", epochs=1, batch=8):
    at.selectbox(key="train_model").set_value(model)
    at.selectbox(key="train_protocol").set_value(protocol).run()  # the model's own settings
    at.number_input(key="train_epochs").set_value(epochs)
    at.selectbox(key="train_batch").set_value(batch)
    for name in ("rotation", "shift", "zoom", "shear", "horizontal_flip"):
        at.checkbox(key=f"train_aug_{name}").uncheck()
    at.run()
    assert not at.exception, at.exception


def test_train_one_epoch_then_see_it_in_the_run_list_and_on_results(app, tmp_path):
    # the switches start at the engine's default augmentation: flips only
    app.selectbox(key="train_model").set_value("cnn").run()  # transfer's head uses none
    assert app.checkbox(key="train_aug_horizontal_flip").value is True
    assert app.checkbox(key="train_aug_rotation").value is False
    configure(app)
    assert "LEAKY" not in texts(app.error)
    app.button(key="train_start").click().run()
    assert not app.error, texts(app.error)
    assert "cnn / holdout on synthetic demo data (4 participants, seed 0)" in texts(app.markdown)
    run_until(app, lambda a: "Finished: run" in texts(a.success), timeout=240)
    runs = list_runs(tmp_path / "runs")
    assert len(runs) == 1 and runs["model"][0] == "cnn" and runs["protocol"][0] == "holdout"
    table = app.dataframe[0].value
    assert list(table["run_id"]) == [runs["run_id"][0]] and list(table["name"]) == ["cnn / holdout"]
    assert "synthetic" in table["data"][0] and not table["leaky"][0]
    assert app.session_state["active_model"] == runs["path"][0]
    assert app.get("plotly_chart")  # the curves of the finished job

    # zip download and the Results page (200 resamples: quicker, same code path)
    app.session_state["results_n_boot"] = 200
    app.button(key="train_zip").click().run()
    assert app.download_button(key="train_zip_dl").proto.ignore_rerun  # no rerun on click
    app.button(key="train_open").click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Results"
    assert {m.label for m in app.metric} >= {"Accuracy (95% range from resampling people)", "Balanced accuracy",
                                          "F1, average over emotions", "Chance level"}
    assert "Synthetic demo data" in texts(app.warning)
    charts = app.get("plotly_chart")
    assert len(charts) >= 5  # confusion, per class, PPV, subgroups?, participants, calibration
    # one epoch per fold: no curves to draw, and the page says so instead of an empty chart
    assert "Training curves per fold" not in texts(app.markdown)
    assert "Each fold trained for one epoch: there are no curves to draw." in texts(app.caption)
    captions = texts(app.caption)
    assert "Rows: the true emotion" in captions and "Is the model's confidence honest?" in captions
    # the prevalence slider moves the PPV at a chosen prevalence
    app.switch_page("pages/3_Results.py")  # AppTest re-runs the page it was told, not st.switch_page's
    app.slider(key=f"ppv_prev_{runs['run_id'][0]}_anger").set_value(0.05).run()
    assert "if it made up 5.0% of the faces" in texts(app.caption)
    downloads = app.get("download_button")  # predictions CSV, HTML report, metrics JSON
    assert len(downloads) == 3 and all(d.proto.ignore_rerun for d in downloads)

    # delete it from the run list (needs the confirmation tick)
    app.switch_page("pages/2_Train.py").run()
    run_id = runs["run_id"][0]
    assert app.button(key="train_delete").disabled
    app.checkbox(key=f"confirm_delete_{run_id}").check().run()
    app.button(key="train_delete").click().run()
    assert not app.exception, app.exception
    assert len(list_runs(tmp_path / "runs")) == 0 and "No finished runs yet." in texts(app.caption)
    assert app.session_state["active_model"] is None


def test_busy_then_cancel_half_way_leaves_no_run(app, tmp_path):
    # 20 epochs per fold: the training is cancelled after the first, so the length only widens
    # the window in which it can be caught running on a slow, busy machine
    configure(app, protocol="loso", epochs=20)
    app.button(key="train_start").click().run()
    assert not app.error, texts(app.error)
    app.button(key="train_start").click().run()  # a second training while the first runs
    assert "already running" in texts(app.error)

    def half_way(a):  # the first epoch of the first of four folds is done, and drawn
        # (the job's history can grow between the page's last rerun and this check, so the
        # rendered page must show the curves too)
        active = jobs.get_manager().active()
        return (active and len(active[0].history) >= 1 and "Training fold" in texts(a.markdown)
                and len(a.get("plotly_chart")) > 0)

    run_until(app, half_way, timeout=240, poll=0.5)
    assert "Training curves (live)" in str(app.get("plotly_chart")[0].proto.spec)
    cancel = [b for b in app.button if b.key and b.key.startswith("cancel_")]
    assert cancel, "no cancel button while running"
    cancel[0].click().run()
    run_until(app, lambda a: "no run was saved" in texts(a.warning), timeout=120)
    assert len(list_runs(tmp_path / "runs")) == 0
    assert not list((tmp_path / "runs").glob(".*.partial"))
    assert "No finished runs yet." in texts(app.caption)


def test_offline_imagenet_is_a_clear_error(app):
    configure(app, model="resnet50")
    app.radio(key="train_weights").set_value("imagenet").run()
    app.button(key="train_start").click().run()
    run_until(app, lambda a: a.error, timeout=180)
    message = texts(app.error)
    assert "Training failed" in message and "could not be downloaded" in message
    assert not app.exception


def test_the_choices_come_from_the_engine_catalogue(app):
    from fer_engine.experiments.protocols import PROTOCOL_LABELS, protocol_label
    from fer_engine.experiments.spec import ExperimentSpec
    from fer_engine.models import MODEL_LABELS

    assert app.selectbox(key="train_model").options == list(MODEL_LABELS.values())
    # the catalogue's order, less what 4 synthetic people without a split of their own cannot do
    protocols = [protocol_label(p) for p in PROTOCOL_LABELS if p not in ("official", "none")]
    assert app.selectbox(key="train_protocol").options == protocols
    assert app.selectbox(key="train_protocol").value == "loso"
    defaults = ExperimentSpec()
    app.selectbox(key="train_model").set_value("cnn").run()  # a family trained epoch by epoch
    assert app.number_input(key="train_epochs").value == defaults.epochs
    assert app.selectbox(key="train_batch").value == defaults.batch_size
    assert "LEAKY" not in texts(app.error)
    app.selectbox(key="train_protocol").set_value("paper").run()
    assert "LEAKY" in texts(app.error)
    assert app.checkbox(key="train_augment_before_split").value is False
