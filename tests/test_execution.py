"""The execution layer on a real local Ray (one per module, 2 workers, loopback only): units
come back in order, progress reaches the caller, a unit's own error is raised as itself,
cancel stops running units within seconds, and the engine says where work ran."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

ray = pytest.importorskip("ray")
from ray import cloudpickle  # noqa: E402  (Ray's own copy pickles the tasks)

from fer_engine import execution  # noqa: E402
from fer_engine.errors import TrainingCancelled, UserFacingError  # noqa: E402

# the workers cannot import this test module: send its unit functions by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def square(unit, report):
    report({"unit": unit["i"], "stage": "working"})
    time.sleep(unit.get("sleep", 0))
    return {"i": unit["i"], "value": unit["i"] ** 2, "node": execution.current_node(),
            "pid": os.getpid(), "threads": os.environ.get("TF_NUM_INTRAOP_THREADS")}


def refuse(unit, report):
    if unit["i"] == 2:
        raise UserFacingError("Unit 2 cannot read its video.")
    return unit["i"]


@pytest.fixture(scope="module")
def engine():
    started = time.monotonic()
    eng = execution.get_engine(workers=2)
    eng.start_s = time.monotonic() - started
    yield eng
    execution.shutdown()


def test_results_in_order_with_progress_on_two_workers(engine):
    events = []
    units = [{"i": i, "sleep": 0.3 * (5 - i)} for i in range(5)]  # later units finish first
    out = execution.run_units(square, units, progress=events.append)
    assert [r["value"] for r in out] == [0, 1, 4, 9, 16]
    assert len({r["pid"] for r in out}) == 2  # both workers took units
    assert {r["threads"] for r in out} == {"1"}  # TensorFlow pools sized to the unit's CPUs
    assert sorted(e["unit"] for e in events) == [0, 1, 2, 3, 4]
    where = engine.where()
    assert where.kind == "local" and where.workers == 2 and where.nodes == 1
    assert where.address.startswith("127.")  # loopback only
    assert {r["node"] for r in out} <= set(where.node_ids)
    assert where.sentence == "Work runs on this machine: a local Ray with 2 workers."
    assert where.to_json()["engine"] == "ray"


def test_a_units_own_error_is_raised_as_itself(engine):
    with pytest.raises(UserFacingError, match="Unit 2 cannot read its video"):
        execution.run_units(refuse, [{"i": i} for i in range(4)])


def test_cancel_stops_running_units_within_seconds(engine):
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(TrainingCancelled):
        execution.run_units(square, [{"i": i, "sleep": 60} for i in range(3)], cancel=cancel)
    assert time.monotonic() - started < 6
