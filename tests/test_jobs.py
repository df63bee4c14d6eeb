"""fer_engine.experiments.jobs: background training in a subprocess, without Streamlit.

Real trainings (cnn, random init, 4 synthetic participants, 1-2 epochs): each pays one
TensorFlow import in its subprocess.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fer_engine.experiments import jobs
from fer_engine.data import load_dataset, synthetic
from fer_engine.experiments.jobs import JobBusyError, JobManager, JobSpec
from fer_engine.experiments.spec import ExperimentSpec
from fer_engine.experiments.runs import list_runs, load_run
from fer_engine.settings import load_settings


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FER_CACHE_DIR", str(root / "cache"))
        mp.setenv("FER_RUNS_DIR", str(root / "runs"))
        mp.setenv("FER_WORKERS", "2")  # a job of several folds runs them on a local Ray
        data = synthetic.default_dataset_path(participants=4, seed=0)
        yield {"root": root, "data": str(data), "runs": root / "runs"}


def spec(env, data=None, **kw) -> JobSpec:
    settings = dict(model="cnn", protocol="holdout", epochs=1, batch_size=8, augment=False,
                    val_fraction=0.0)
    settings.update(kw)
    return JobSpec(ExperimentSpec(**settings), data=data or env["data"], out_dir=str(env["runs"]),
                   dataset_label="4 people")


def wait_until(predicate, timeout=120.0, poll=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError("condition not reached in time")


def test_a_job_trains_to_a_complete_run_with_progress_and_history(env):
    manager = JobManager(env["root"] / "j1")
    job_id = manager.submit(spec(env))
    first = manager.status(job_id)
    assert first.state == "running" and first.spec.experiment.model == "cnn"
    done = manager.wait(job_id, timeout=180)
    assert done.state == "finished", done.error
    assert done.fraction == 1.0 and done.n_folds == 1 and done.epoch == 1
    assert list(done.history.columns) == list(jobs.HISTORY_COLUMNS)
    assert len(done.history) == 1 and done.history["loss"].iloc[0] > 0
    assert set(done.fold_accuracy) == {0}
    run = load_run(done.run_path)
    assert run.config["model"]["name"] == "cnn" and run.config["protocol"]["name"] == "holdout"
    assert run.config["dataset"]["n_participants"] == 4
    # the live history equals what the run folder saved
    assert run.history["loss"].iloc[0] == pytest.approx(done.history["loss"].iloc[0], rel=1e-5)
    assert done.run_path in set(list_runs(env["runs"])["path"])


def test_busy_queue_and_cancel_half_way(env):
    runs = env["runs"]
    before = set(list_runs(runs)["run_id"])
    manager = JobManager(env["root"] / "j2", max_jobs=1, queue=False, cancel_grace=60)
    long_id = manager.submit(spec(env, protocol="loso", epochs=3))
    with pytest.raises(JobBusyError, match="already running"):
        manager.submit(spec(env))
    manager.queue = True  # the hosted demo's behaviour
    bad_id = manager.submit(spec(env, data=str(env["root"] / "no-such-folder")))
    later_id = manager.submit(spec(env))
    assert manager.status(bad_id).state == "queued" and manager.status(bad_id).queue_position == 1
    assert manager.status(later_id).queue_position == 2
    assert manager.cancel(later_id).state == "cancelled"  # never starts
    # half-way: after the first epoch of the first of four folds
    wait_until(lambda: len(manager.status(long_id).history) >= 1, timeout=180)
    mid = manager.status(long_id)
    assert mid.state == "running" and mid.n_folds == 4 and 0 < mid.fraction < 1
    assert manager.cancel(long_id).cancel_requested
    end = manager.wait(long_id, timeout=90)
    assert end.state == "cancelled" and "no run was saved" in end.error
    assert set(list_runs(runs)["run_id"]) == before
    assert not list(Path(runs).glob(".*.partial"))
    # the queued job starts once the slot is free, and fails with the reader's message
    failed = manager.wait(bad_id, timeout=60)
    assert failed.state == "failed" and "does not exist" in failed.error
    assert manager.status(later_id).state == "cancelled" and manager.status(later_id).started is None


def test_demo_caps_and_participant_limit(env, monkeypatch):
    monkeypatch.setenv("FER_HOSTED_DEMO", "1")
    monkeypatch.setenv("FER_DEMO_MAX_EPOCHS", "2")
    monkeypatch.setenv("FER_DEMO_MAX_PARTICIPANTS", "3")
    capped, notes = jobs.apply_caps(spec(env, epochs=10), load_settings())
    assert capped.experiment.epochs == 2 and capped.max_participants == 3
    assert "capped at 2" in notes[0]
    assert capped.experiment.batch_size == 8  # only the epochs change
    monkeypatch.setenv("FER_HOSTED_DEMO", "0")
    same, notes = jobs.apply_caps(spec(env, epochs=10), load_settings())
    assert same.experiment.epochs == 10 and same.max_participants is None and notes == []
    ds = load_dataset(env["data"])
    sub = jobs.limit_participants(ds, 3)
    assert sub.n_participants == 3 and sub.n_images == 24 and ds.n_images == 32
    assert sorted(sub.table["participant"].unique()) == ["0", "1", "2"]
    assert sub.fingerprint != ds.fingerprint and "first 3 of 4" in sub.name
    assert jobs.limit_participants(ds, 4) is ds


def test_get_manager_is_one_per_folder(tmp_path):
    a = jobs.get_manager(1, False, root=tmp_path / "m")
    b = jobs.get_manager(2, True, root=tmp_path / "m")
    assert a is b and b.max_jobs == 2 and b.queue
    assert jobs.get_manager(root=tmp_path / "other") is not a


def test_clean_stale_jobs(tmp_path):
    import os

    old, new = tmp_path / "old", tmp_path / "new"
    for folder in (old, new):
        folder.mkdir()
        (folder / "spec.json").write_text("{}")
    for p in (old, old / "spec.json"):
        os.utime(p, (1, 1))
    assert jobs.clean_stale_jobs(tmp_path, max_age_hours=1) == 1
    assert not old.exists() and new.exists()


def test_progress_fractions_and_summary():
    demo = JobSpec(ExperimentSpec("cnn", "loso"), dataset_label="demo")
    st = jobs.JobStatus("j", demo, "running", "now", phase="train", fold=1, n_folds=4, epoch=2,
                        n_epochs=4, batch=2, n_batches=4)
    assert st.epoch_fraction == pytest.approx(1.5 / 4)
    assert st.fraction == pytest.approx((1 + 1.5 / 4) / 4)
    assert st.summary == "Training fold 2/4, epoch 2/4: cnn / loso on demo"
    assert jobs.JobStatus("j", JobSpec(), "running", "now").summary.startswith("Starting")
    assert jobs.JobStatus("j", JobSpec(), "finished", "now").fraction == 1.0


def _record(manager: JobManager, job_id: str, state: str) -> None:
    """A job the manager knows, in ``state``, with no worker (what ``current`` chooses from)."""
    job = jobs._Job(job_id, manager.root / job_id, JobSpec(), [])
    job.status.state = state
    manager._jobs[job_id] = job
    manager._order.append(job_id)


def test_every_session_is_shown_the_servers_current_job(tmp_path):
    manager = JobManager(tmp_path / "j")
    assert manager.current() is None and manager.current(["unknown"]) is None
    _record(manager, "a", "finished")
    # a new browser session (no jobs of its own) sees the server's last job and its result
    assert manager.current().job_id == "a" and manager.current([]).state == "finished"
    _record(manager, "b", "running")
    _record(manager, "c", "queued")
    assert manager.current().job_id == "b"  # the running training, not the newer queued one
    assert manager.current(["a"]).job_id == "b"  # one's own finished job yields to a running one
    assert manager.current(["c"]).job_id == "c"  # one's own waiting job: its queue position
    manager._jobs["b"].status.state = "finished"
    assert manager.current().job_id == "c" and manager.current(["a"]).job_id == "c"
    manager._jobs["c"].status.state = "cancelled"
    assert manager.current(["a"]).job_id == "a"  # nothing runs: one's own last job
    assert manager.current(["x"]).job_id == "c"  # else the server's newest, whatever its end
    # a public demo: another visitor's ended training is not shown; a running one still is
    assert manager.current(["x"], others_results=False) is None
    assert manager.current(["a"], others_results=False).job_id == "a"
    manager._jobs["c"].status.state = "running"
    assert manager.current(["x"], others_results=False).job_id == "c"


def test_a_finished_job_carries_what_its_run_says_about_unreadable_images(env, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(env["data"], data)
    bad = data / "images" / "0" / "Anger.jpg"
    bad.write_bytes(bad.read_bytes()[:20] + b"\x00" * 200 + b"\xff\xd9")  # decoding fails
    manager = JobManager(env["root"] / "j-notes")
    job_id = manager.submit(spec(env, data=str(data), model="hog_svm", detect=False))
    done = manager.wait(job_id, timeout=180)
    assert done.state == "finished", done.error
    assert [n for n in done.run_notes
            if n.startswith("1 of 32 images could not be read and were left out (first: "
                            "images/0/Anger.jpg")]
    assert done.run_notes == load_run(done.run_path).metrics["notes"]


SERVER = """
import sys, time
from fer_engine.experiments.jobs import JobManager, JobSpec
from fer_engine.experiments.spec import ExperimentSpec
manager = JobManager(sys.argv[1])
job = manager.submit(JobSpec(ExperimentSpec(model="cnn", protocol="holdout", epochs=200,
                                            batch_size=8, augment=False, val_fraction=0.0),
                             data=sys.argv[2], out_dir=sys.argv[3], dataset_label="4 people"))
while not manager.status(job).history.shape[0]:
    time.sleep(0.2)
print(job, flush=True)
time.sleep(600)
"""


def test_a_job_left_by_a_server_that_died_shows_as_interrupted_and_leaves_no_run(env, tmp_path):
    import subprocess
    import sys

    root, runs = tmp_path / "jobs", tmp_path / "runs"
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(root), env["data"], str(runs)],
                              stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    try:
        job_id = server.stdout.readline().strip()  # once the training has finished an epoch
        assert job_id, "the server process printed no job"
        worker = int((root / job_id / "worker.pid").read_text())
        assert list(runs.glob(".*.partial"))  # a run half-written
    finally:
        server.kill()  # the server dies; its training process does not
        server.wait()
    manager = JobManager(root)
    st = manager.status(job_id)
    assert st.state == "interrupted" and not st.active
    assert st.error == jobs.INTERRUPTED
    assert manager.current() is not None and manager.current().job_id == job_id
    wait_until(lambda: not Path(f"/proc/{worker}").exists() or
               "zombie" in Path(f"/proc/{worker}/status").read_text().lower(), timeout=10)
    assert list(runs.iterdir()) == []  # no run, complete or half-written
