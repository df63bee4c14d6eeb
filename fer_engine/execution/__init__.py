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
    get_engine,
    shutdown,
)

__all__ = ["ENV_ADDRESS", "ENV_WORKERS", "JOB_RESOURCE", "Engine", "ExecutionError", "Reporter",
           "Where", "current_node", "get_engine", "run_units", "shutdown"]


def run_units(fn, units, *, progress=None, cancel=None, workers=None, address=None,
              num_cpus: float = 1, max_retries: int = 3) -> list:
    """``fn(unit, report)`` for every unit on the process's engine (started on first use with
    ``workers``/``address``); results in the units' order. See :meth:`Engine.run_units`."""
    engine = get_engine(workers=workers, address=address)
    return engine.run_units(fn, units, num_cpus=num_cpus, progress=progress, cancel=cancel,
                            max_retries=max_retries)
