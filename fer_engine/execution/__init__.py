"""Where work runs: units of work (training folds, session-video parts) as Ray tasks, on a
local Ray by default or on a lab's cluster by one setting (``FER_RAY_ADDRESS``).

See :mod:`fer_engine.execution.engine` and docs/scaling.md.
"""

from __future__ import annotations

from fer_engine.execution.engine import (
    ENV_ADDRESS,
    ENV_WORKERS,
    JOB_RESOURCE,
    Engine,
    ExecutionError,
    Reporter,
    Where,
    current_node,
    default_workers,
    get_engine,
    shutdown,
)

__all__ = ["ENV_ADDRESS", "ENV_WORKERS", "JOB_RESOURCE", "Engine", "ExecutionError", "Reporter",
           "Where", "current_node", "describe", "engine_for", "ran_sentence", "get_engine", "run_units", "shutdown"]


def run_units(fn, units, *, progress=None, cancel=None, workers=None, address=None,
              num_cpus: float = 1, max_retries: int = 3) -> list:
    """``fn(unit, report)`` for every unit on the process's engine (started on first use with
    ``workers``/``address``); results in the units' order. See :meth:`Engine.run_units`."""
    engine = get_engine(workers=workers, address=address)
    return engine.run_units(fn, units, num_cpus=num_cpus, progress=progress, cancel=cancel,
                            max_retries=max_retries)


def engine_for(setting, n_units: int):
    """The engine that runs ``n_units`` units, or None to run them in this process.

    ``setting``: None (this process), an :class:`Engine`, ``"auto"`` (Ray when
    ``FER_RAY_ADDRESS`` names a cluster, or when there are several units and the machine
    has several cores (``FER_WORKERS``); otherwise this process: one unit gains nothing from
    Ray's start-up), or ``{"workers": N, "address": A}`` (Ray, as asked; either may be None)."""
    import os

    if setting is None or isinstance(setting, Engine):
        return setting
    if setting == "auto":
        if os.environ.get(ENV_ADDRESS) or (n_units > 1 and default_workers() > 1):
            return get_engine()
        return None
    if isinstance(setting, dict):
        return get_engine(workers=setting.get("workers"), address=setting.get("address"))
    raise ValueError(f"unknown execution setting {setting!r}")


def describe() -> str:
    """Where a training's folds will run, in one sentence, without starting or reaching Ray."""
    import os

    address = os.environ.get(ENV_ADDRESS)
    if address:
        return (f"Folds run on the Ray cluster at {address} ({ENV_ADDRESS}); the run records "
                "the nodes that fitted them.")
    try:
        n = default_workers()
    except ExecutionError as exc:
        return str(exc)
    if n == 1:
        return f"Folds run one after another on this machine ({ENV_WORKERS}=1)."
    return (f"Folds run on this machine, up to {n} at a time, on a local Ray with {n} workers "
            f"({ENV_WORKERS} sets how many; a run of one fold runs on its own).")


def ran_sentence(execution: dict | None) -> str:
    """Where a run's folds ran, from its config.json ``execution`` ("" for a run that did not
    record it)."""
    if not execution:
        return ""
    if execution.get("engine") != "ray":
        return "Folds ran one after another in the training's own process."
    nodes = execution.get("nodes") or []
    where = ("a local Ray on this machine" if execution.get("kind") == "local"
             else f"the Ray cluster at {execution.get('address')}")
    return (f"Folds ran on {where} ({execution.get('workers')} CPUs), on {len(nodes)} "
            f"node{'s' if len(nodes) != 1 else ''}.")
