"""Training folds as Ray tasks, on a real local Ray and a real 2-node cluster on loopback:
the same spec and seed give the same predictions on 1 local worker (folds one after
another) and on a 2-node cluster (two at a time; started as users start one, the training
as a CLI process); a worker killed in
the middle of a fold has the fold retried with the same result; cancel stops within
seconds and leaves no run; the run records where it ran."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from fer_engine import execution  # noqa: E402
from fer_engine.errors import TrainingCancelled  # noqa: E402
from fer_engine.experiments.spec import ExperimentSpec  # noqa: E402
from fer_engine.experiments.training import run_experiment  # noqa: E402
from fer_engine.execution.loopback import LoopbackCluster  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SPEC = ExperimentSpec(model="cnn", protocol="group-kfold", k=3, epochs=3, batch_size=16,
                      val_fraction=0.2)


def unit_pids() -> list[int]:
    """Processes running a unit of work (Ray titles them ``ray::_run_unit``)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"ray::_run_unit" in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def probabilities(run: Path) -> pd.DataFrame:
    frame = pd.read_csv(run / "predictions.csv")
    return frame[["sample_id", "fold", "pred"] + [c for c in frame if c.startswith("p_")]]


@pytest.fixture(scope="module")
def local_ray():
    execution.shutdown()
    yield execution.get_engine(workers=1)
    execution.shutdown()


@pytest.fixture(scope="module")
def reference(local_ray, tmp_path_factory):
    """The spec trained with its 3 folds on 1 local worker (``--workers 1``)."""
    out = tmp_path_factory.mktemp("runs")
    return run_experiment(None, SPEC, out_dir=out, execution=local_ray)


def test_folds_run_as_ray_tasks_and_the_run_says_where(reference, local_ray):
    config = json.loads((reference / "config.json").read_text())
    ex = config["execution"]
    assert ex["engine"] == "ray" and ex["kind"] == "local" and ex["workers"] == 1
    assert ex["address"].startswith("127.")  # a local Ray listens on loopback only
    folds = json.loads((reference / "folds.json").read_text())
    assert [f["fold"] for f in folds] == [0, 1, 2]
    assert {f["node"] for f in folds} == set(ex["nodes"]) <= set(local_ray.where().node_ids)
    assert not (reference / "_work").exists()  # the arrays sent to the units are gone
    assert sorted(p.name for p in (reference / "models").glob("fold_*.keras")) == [
        "fold_0.keras", "fold_1.keras", "fold_2.keras"]
    history = pd.read_csv(reference / "history.csv")
    assert sorted(history["fold"].unique()) == [0, 1, 2]
    # the folds learnt something different from each other (the comparisons below are not trivial)
    p = probabilities(reference)
    assert p.filter(like="p_").std().max() > 1e-3


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_a_worker_killed_mid_fold_is_retried_with_the_same_result(reference, local_ray, tmp_path):
    killed = []

    def kill_a_worker(ev):
        if ev.kind == "epoch_end" and not killed:
            for pid in unit_pids()[:1]:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    run = run_experiment(None, SPEC, out_dir=tmp_path, execution=local_ray,
                         progress=kill_a_worker)
    assert killed, "no fold worker was found to kill"
    pd.testing.assert_frame_equal(probabilities(run), probabilities(reference))


def test_cancel_stops_within_seconds_and_leaves_no_run(local_ray, tmp_path):
    cancel = threading.Event()
    asked = []

    def cancel_once_training(ev):
        if ev.kind == "batch_end" and not asked:
            asked.append(time.monotonic())
            cancel.set()

    spec = ExperimentSpec(**{**SPEC.to_json(), "epochs": 200})
    with pytest.raises(TrainingCancelled):
        run_experiment(None, spec, out_dir=tmp_path, execution=local_ray,
                       progress=cancel_once_training, cancel=cancel)
    assert asked and time.monotonic() - asked[0] < 8
    time.sleep(1)  # a unit that had not yet stopped would write now
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="127.0.0.3 is loopback on Linux")
def test_cli_training_on_a_two_node_cluster_matches_local(reference, tmp_path):
    """`ray start` on two loopback addresses, then `FER_RAY_ADDRESS=... python -m fer_engine
    train` as a process: folds on both nodes at once, predictions as on 1 local worker."""
    with LoopbackCluster(nodes=2, cpus_per_node=1) as cluster:
        cli = subprocess.run(
            [sys.executable, "-m", "fer_engine", "train", "--model", "cnn", "--protocol",
             "group-kfold", "--k", "3", "--epochs", "3", "--batch-size", "16",
             "--val-fraction", "0.2", "--out", str(tmp_path)],
            env={**cluster.env, "FER_RAY_ADDRESS": cluster.address}, cwd=REPO,
            capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0, cli.stderr[-3000:]
    run = Path(cli.stdout.strip().splitlines()[-1])
    ex = json.loads((run / "config.json").read_text())["execution"]
    assert ex["kind"] == "cluster" and ex["address"] == cluster.address
    assert len(set(ex["nodes"])) == 2, ex  # both nodes fitted folds
    folds = json.loads((run / "folds.json").read_text())
    assert {f["node"] for f in folds} == set(ex["nodes"])
    assert f"on the Ray cluster at {cluster.address} (2 CPUs), on 2 nodes" in cli.stderr
    pd.testing.assert_frame_equal(probabilities(run), probabilities(reference))
