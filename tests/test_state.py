"""dashboard.state: the typed accessors of the session keys, on a plain dict as the session."""

from __future__ import annotations

import pytest
import streamlit as st

from dashboard import state


@pytest.fixture
def session(monkeypatch):
    """A fresh session: ``st.session_state`` and ``st.query_params`` are plain dicts."""
    data: dict = {}
    monkeypatch.setattr(st, "session_state", data)
    monkeypatch.setattr(st, "query_params", {})
    monkeypatch.setattr(state, "_startup", lambda cache: True)
    removed = []
    monkeypatch.setattr(state.upload, "remove_upload", removed.append)
    state.init()
    data["_removed"] = removed
    return data


def test_init_sets_every_default_once(session):
    assert state.dataset_path() is None and state.dataset_source() == "synthetic"
    assert state.active_model() is None and state.my_job_ids() == []
    assert not state.job_was_active() and state.prepared_zip() is None
    assert state.results_runs() == [] and state.recorded_session() is None
    state.remember_job("j1")
    state.init()  # a second page: nothing reset
    assert state.my_job_ids() == ["j1"] and st.query_params["job"] == "j1"
    assert set(state.DEFAULTS) <= set(session)


def test_defaults_are_not_shared_between_sessions(session, monkeypatch):
    state.remember_job("j1")
    other: dict = {}
    monkeypatch.setattr(st, "session_state", other)
    monkeypatch.setattr(st, "query_params", {})
    state.init()
    assert state.my_job_ids() == [] and state.DEFAULTS[state.MY_JOBS] == []


def test_dataset_and_upload(session):
    state.set_dataset("/data/up1", "upload")
    assert (state.dataset_path(), state.dataset_source()) == ("/data/up1", "upload")
    state.set_dataset("/data/up2", "upload")  # a new upload replaces and removes the old one
    assert session["_removed"] == ["/data/up1"]
    state.set_dataset(None, "synthetic")
    assert session["_removed"] == ["/data/up1", "/data/up2"] and state.dataset_path() is None
    assert state.is_new_upload("f1") and not state.is_new_upload("f1")
    state.set_upload_error("bad zip")
    assert state.upload_error() == "bad zip"
    assert state.is_new_upload("f2") and state.upload_error() is None


def test_one_active_model_for_every_page(session):
    state.set_active_model(state.PRETRAINED)
    assert state.active_model() == "pretrained"
    assert state.activate_finished_job("job1", "/runs/a")
    assert state.active_model() == "/runs/a"
    state.set_active_model(state.PRETRAINED)  # picked on Classify later
    assert not state.activate_finished_job("job1", "/runs/a")  # once per job
    assert state.active_model() == "pretrained"
    state.set_active_model("/runs/b")
    state.forget_model("/runs/a")
    assert state.active_model() == "/runs/b"
    state.forget_model("/runs/b")
    assert state.active_model() is None


def test_results_pick(session):
    runs = ["/runs/new", "/runs/old", "/runs/paper"]
    state.prepare_results_pick(runs)  # nothing chosen: the newest run
    assert session[state.RESULTS_PICK] == ["/runs/new"]
    session.pop(state.RESULTS_PICK)
    state.set_active_model("/runs/old")  # the active model's run
    state.prepare_results_pick(runs)
    assert session[state.RESULTS_PICK] == ["/runs/old"]
    session.pop(state.RESULTS_PICK)
    state.set_active_model("/runs/paper")  # a LEAKY active model: not opened on by itself
    state.prepare_results_pick(runs, leaky=["/runs/paper"])
    assert session[state.RESULTS_PICK] == ["/runs/new"]
    state.open_on_results(["/runs/paper", "/runs/gone"])  # opened from the Train page
    state.prepare_results_pick(runs)
    assert session[state.RESULTS_PICK] == ["/runs/paper"]
    session[state.RESULTS_PICK] = ["/runs/new", "/runs/paper"]  # the user's pick ...
    state.prepare_results_pick(["/runs/new", "/runs/old"])  # ... less a deleted run
    assert session[state.RESULTS_PICK] == ["/runs/new"]


def test_train_page_flags_and_zip(session):
    state.set_job_was_active(True)
    assert state.job_was_active()
    state.set_prepared_zip("r1", "/tmp/r1.zip")
    assert state.prepared_zip() == ("r1", "/tmp/r1.zip")
    state.forget_model("/runs/r2")  # another run deleted: the zip stays
    assert state.prepared_zip() == ("r1", "/tmp/r1.zip")
    state.forget_model("/runs/r1")  # its run deleted: no zip to offer
    assert state.prepared_zip() is None


def test_a_finished_training_selects_its_run_once(session):
    session[state.TRAIN_RUN_PICK] = "old-run"  # the user's pick before the training
    assert state.pick_finished_run("job1", "new-run")
    assert session[state.TRAIN_RUN_PICK] == "new-run"
    session[state.TRAIN_RUN_PICK] = "old-run"  # picked again by hand afterwards
    assert not state.pick_finished_run("job1", "new-run")  # once per job
    assert session[state.TRAIN_RUN_PICK] == "old-run"
    state.prepare_run_pick(["new-run", "old-run"])
    assert session[state.TRAIN_RUN_PICK] == "old-run"
    state.prepare_run_pick(["new-run"])  # deleted meanwhile: the picker starts afresh
    assert state.TRAIN_RUN_PICK not in session


def test_the_protocol_choice_keeps_to_what_the_data_allow(session):
    state.prepare_protocol_pick(["loso", "holdout", "paper"], "loso")
    assert session[state.TRAIN_PROTOCOL] == "loso"  # the default
    session[state.TRAIN_PROTOCOL] = "holdout"  # the user's choice ...
    state.prepare_protocol_pick(["loso", "holdout", "paper"], "loso")
    assert session[state.TRAIN_PROTOCOL] == "holdout"  # ... kept
    state.prepare_protocol_pick(["official", "none", "paper"], "official")  # other data
    assert session[state.TRAIN_PROTOCOL] == "official"


def test_every_session_sees_the_servers_current_job(session, monkeypatch, tmp_path):
    from fer_engine.experiments import jobs

    manager = jobs.JobManager(tmp_path / "jobs")
    monkeypatch.setattr(state, "job_manager", lambda: manager)
    assert state.shown_job() is None
    job = jobs._Job("j-other", tmp_path / "jobs" / "j-other", jobs.JobSpec(), [])
    job.status.state = "running"
    manager._jobs["j-other"], manager._order = job, ["j-other"]
    assert state.my_job_ids() == [] and state.shown_job().job_id == "j-other"
    monkeypatch.setenv("FER_HOSTED_DEMO", "1")  # the public demo shows it too while it runs
    assert state.shown_job().job_id == "j-other"
    job.status.state = "finished"  # but not another visitor's result
    assert state.shown_job() is None
    monkeypatch.delenv("FER_HOSTED_DEMO")  # on one's own machine: the result too
    assert state.shown_job().state == "finished"


def test_live_and_recorded_session(session):
    live = state.live()
    assert live.session is None and live.timeline is None and live.last is None
    live.config_used = "cfg"
    assert state.live() is live and state.live().config_used == "cfg"
    saved = state.RecordedSession(name="a.mp4", result=None, config=None, model="m")
    state.set_recorded_session(saved)
    assert state.recorded_session() is saved
    state.set_recorded_session(None)
    assert state.recorded_session() is None


def test_every_session_key_is_its_own():
    """Two owners of one key collide: streamlit-webrtc refuses a session value it did not put
    under its component's key (the Live page's stream and its kept state once shared "live")."""
    keys = {name: value for name, value in vars(state).items()
            if name.isupper() and isinstance(value, str) and name != "PRETRAINED"}
    assert {"LIVE", "LIVE_STREAM", "RESULTS_PICK", "ACTIVE_MODEL"} <= set(keys)
    assert len(set(keys.values())) == len(keys), keys
