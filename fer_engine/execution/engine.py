"""Where work runs: Ray, on a local instance started on first use or on a lab's cluster.

One :class:`Engine` per process (:func:`get_engine`). Without an address it starts a local
Ray sized by ``workers`` (``--workers`` / ``FER_WORKERS``; default: the machine's cores), its
dashboard off, its object store capped, listening on a loopback address only. With
``address`` (``--ray-address`` / ``FER_RAY_ADDRESS``) it connects to an existing cluster and
starts nothing.

A unit of work is a plain module-level function ``fn(unit, report) -> result`` and a small
dict of paths and settings (never models or image arrays in bulk). :meth:`Engine.run_units`
sends each unit as a Ray task (``num_cpus`` each; Ray queues what does not fit, retries a
unit whose worker process or node died, ``max_retries`` times) and returns the results in
the units' order. ``report(event_dict)`` sends progress back to the caller through a small
actor; ``cancel`` (anything with ``is_set()``) cancels every unit within a second.

TensorFlow in a task uses ``num_cpus`` intra-op threads (``TF_NUM_INTRAOP_THREADS`` in the
task's runtime environment; Ray's ``OMP_NUM_THREADS`` does not reach TensorFlow's pools), so
units running side by side do not fight over cores, and a unit computes the same numbers
whether it runs alone, beside another or on another node.

Facts this relies on (Ray 2.60, measured 2026-12-07 on a 2-core box): a local
``ray.init`` takes 2.5-5 s and about 620 MiB; its processes die with the *thread* that
started them, so from a short-lived thread (a Streamlit script run) it is started in a
long-lived daemon owner thread; Ray replaces 127.0.0.1 by the machine's network address but
keeps 127.0.0.2.
"""

from __future__ import annotations

import os
import platform
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from fer_engine.errors import TrainingCancelled, UserFacingError

ENV_ADDRESS = "FER_RAY_ADDRESS"
ENV_WORKERS = "FER_WORKERS"
ENV_OBJECT_STORE_MB = "FER_RAY_OBJECT_STORE_MB"
#: A custom resource of the local Ray: one per training the server runs at once. A cluster
#: may declare it too (``ray start --resources '{"fer_trainings": 2}'``) to cap trainings.
JOB_RESOURCE = "fer_trainings"
#: Environment variables of the caller that units see (where caches, runs and models live).
FORWARDED_ENV = ("FER_CACHE_DIR", "FER_ARTIFACTS_DIR", "FER_RUNS_DIR", "XDG_CACHE_HOME",
                 "FER_PRETRAIN_DIR", "FER_HOSTED_DEMO")
_THROTTLE_S = 0.5


class ExecutionError(UserFacingError):
    """Ray could not be started or reached, or a unit of work could not run."""


def local_ip() -> str:
    """The loopback address a local Ray listens on: 127.0.0.2 on Linux (Ray would replace
    127.0.0.1 by the machine's network address), 127.0.0.1 elsewhere."""
    return "127.0.0.2" if sys.platform.startswith("linux") else "127.0.0.1"


def default_workers() -> int:
    value = os.environ.get(ENV_WORKERS, "").strip()
    if value:
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            raise ExecutionError(f"{ENV_WORKERS}={value!r} is not a whole number of at least 1.")
        return n
    return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------- progress


class _Sink:
    """Collects progress events from units (a Ray actor; see :meth:`Engine.new_sink`)."""

    def __init__(self):
        self.events: list[dict] = []

    def push(self, event: dict) -> None:
        self.events.append(event)

    def drain(self) -> list[dict]:
        out, self.events = self.events, []
        return out


class Reporter:
    """``report(event)`` inside a unit: sends the dict to the caller's sink. Events with
    ``"throttle": True`` (per-batch progress) are sent at most every 0.5 s per process."""

    def __init__(self, sink=None):
        self.sink = sink
        self._last = 0.0

    def __call__(self, event: dict) -> None:
        if self.sink is None:
            return
        if event.get("throttle"):
            now = time.monotonic()
            if now - self._last < _THROTTLE_S:
                return
            self._last = now
        self.sink.push.remote(event)

    def __reduce__(self):
        return (Reporter, (self.sink,))


def _run_unit(fn, unit: dict, env: dict, sink):
    """The Ray task around every unit: the caller's paths, a readable-path check, the unit."""
    os.environ.update(env)
    for path in unit.get("paths") or ():
        if path and not Path(path).exists():
            import ray

            node = ray.util.get_node_ip_address()
            raise ExecutionError(
                f"The Ray node at {node} cannot read {path}. On a cluster, datasets, videos and "
                "run folders must be on storage every node sees, at the same path.")
    return fn(unit, Reporter(sink))


def current_node() -> str:
    """The Ray node id of the process running a unit ("local" outside Ray)."""
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - only a label
        pass
    return "local"


# --------------------------------------------------------------------------- engine


@dataclass
class Where:
    """Where work runs: ``kind`` "local" (this machine) or "cluster"; ``workers``: CPUs Ray
    may use; ``nodes``: alive nodes."""

    kind: str
    address: str
    workers: int
    nodes: int
    node_ids: list = field(default_factory=list)

    def to_json(self) -> dict:
        return {"engine": "ray", "address": self.address, "kind": self.kind,
                "workers": self.workers, "nodes": self.nodes}

    @property
    def sentence(self) -> str:
        if self.kind == "local":
            return (f"Work runs on this machine: a local Ray with {self.workers} worker"
                    f"{'s' if self.workers != 1 else ''}.")
        return (f"Work runs on the Ray cluster at {self.address}: {self.nodes} node"
                f"{'s' if self.nodes != 1 else ''}, {self.workers} CPUs.")


class Engine:
    """The process's connection to Ray; see the module docstring."""

    def __init__(self, workers: int | None = None, address: str | None = None,
                 job_slots: int = 1):
        self.address = address or os.environ.get(ENV_ADDRESS) or None
        self.requested_workers = workers
        self.job_slots = max(1, int(job_slots))
        self._lock = threading.Lock()
        self._started = False
        self._remote = None
        self._sink_cls = None

    # -- start ---------------------------------------------------------------------------
    def start(self) -> "Engine":
        with self._lock:
            if self._started:
                return self
            import ray

            if not ray.is_initialized():
                if self.address:
                    self._connect(ray)
                else:
                    self._start_local(ray)
            self._remote = ray.remote(_run_unit)
            self._sink_cls = ray.remote(num_cpus=0)(_Sink)
            self._started = True
            return self

    def _init_kwargs(self) -> dict:
        return {"ignore_reinit_error": True, "log_to_driver": False, "logging_level": "warning",
                "runtime_env": {"env_vars": _worker_env()}}

    def _connect(self, ray) -> None:
        # the cluster's nodes decide their CPUs (ray.init(num_cpus=...) would raise here)
        try:
            ray.init(address=self.address, **self._init_kwargs())
        except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError...
            raise ExecutionError(
                f"Could not connect to the Ray cluster at {self.address} ({type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no details'}). "
                f"Check the address (the head node's GCS port, e.g. 10.0.0.5:6379), that the "
                f"cluster runs Ray {_ray_version()} on Python {platform.python_version()} as this "
                "machine does, and its token authentication (RAY_AUTH_MODE=token with the "
                "cluster's token in RAY_AUTH_TOKEN or ~/.ray/auth_token).") from None

    def _start_local(self, ray) -> None:
        workers = self.requested_workers or default_workers()
        store_mb = int(os.environ.get(ENV_OBJECT_STORE_MB, "256"))
        # address "local": a new instance even when another Ray runs on this machine (without
        # it ray.init joins any local cluster it finds)
        kwargs = dict(self._init_kwargs(), address="local", num_cpus=int(workers),
                      include_dashboard=False,
                      object_store_memory=store_mb * 2**20, _node_ip_address=local_ip(),
                      resources={JOB_RESOURCE: self.job_slots})
        errors: list[BaseException] = []
        if threading.current_thread() is threading.main_thread():
            try:
                ray.init(**kwargs)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
        else:  # Ray's processes die with the thread that started them: give them one that stays
            ready = threading.Event()

            def owner():
                try:
                    ray.init(**kwargs)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    errors.append(exc)
                ready.set()
                threading.Event().wait()

            threading.Thread(target=owner, name="ray-owner", daemon=True).start()
            ready.wait()
        if errors:
            raise ExecutionError(f"A local Ray could not be started ({errors[0]}).") from None

    # -- what and where ------------------------------------------------------------------
    def where(self) -> Where:
        import ray

        self.start()
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        cpus = int(sum(n.get("Resources", {}).get("CPU", 0) for n in nodes))
        address = ray.get_runtime_context().gcs_address
        return Where("cluster" if self.address else "local", address, cpus, len(nodes),
                     [n["NodeID"] for n in nodes])

    def has_resource(self, name: str) -> bool:
        import ray

        self.start()
        return ray.cluster_resources().get(name, 0) > 0

    def new_sink(self):
        self.start()
        return self._sink_cls.remote()

    # -- work ----------------------------------------------------------------------------
    def submit(self, fn, unit: dict, *, num_cpus: float = 1, max_retries: int = 3,
               resources: dict | None = None, sink=None):
        """Send one unit; returns its Ray ObjectRef."""
        self.start()
        threads = str(max(1, int(round(num_cpus))))
        options = {"num_cpus": num_cpus, "max_retries": max_retries,
                   "runtime_env": {"env_vars": {**_worker_env(), "TF_NUM_INTRAOP_THREADS": threads}}}
        if resources:
            options["resources"] = resources
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        return self._remote.options(**options).remote(fn, unit, env, sink)

    def run_units(self, fn, units, *, num_cpus: float = 1, progress=None, cancel=None,
                  max_retries: int = 3) -> list:
        """Run ``fn(unit, report)`` for every unit on Ray; the results in the units' order.

        ``progress(event_dict)`` receives what units report (or ``progress`` is a unit's own
        :class:`Reporter`, whose events then go straight to its caller). A unit that raises a
        :class:`UserFacingError` raises it here; a worker process or node that dies has its
        unit retried ``max_retries`` times. ``cancel.is_set()`` cancels every unit and
        raises :class:`TrainingCancelled`."""
        import ray

        self.start()
        units = list(units)
        own_sink = None
        if isinstance(progress, Reporter):
            sink = progress.sink
        else:
            sink = own_sink = self.new_sink() if progress is not None else None
        refs = [self.submit(fn, u, num_cpus=num_cpus, max_retries=max_retries, sink=sink)
                for u in units]

        def drain():
            if own_sink is not None:
                for ev in ray.get(own_sink.drain.remote()):
                    progress(ev)

        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=len(pending), timeout=0.3)
                for ref in done:
                    _get(ref)  # a failed unit stops the others at once
                drain()
                if cancel is not None and cancel.is_set():
                    raise TrainingCancelled("Cancelled; nothing was saved.")
            results = [_get(r) for r in refs]
            drain()
            return results
        except BaseException:
            for ref in pending:
                ray.cancel(ref, recursive=True)
            # a cancelled unit stops at its next Python step; wait (briefly) so none writes
            # into a folder the caller is about to remove
            ray.wait(pending, num_returns=len(pending), timeout=3)
            raise
        finally:
            if own_sink is not None:
                ray.kill(own_sink)


def _get(ref):
    """``ray.get`` with Ray's wrappers taken off: a unit's own error as itself."""
    import ray
    from ray import exceptions as rx

    try:
        return ray.get(ref)
    except rx.TaskCancelledError:
        raise TrainingCancelled("Cancelled; nothing was saved.") from None
    except rx.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, (UserFacingError, KeyboardInterrupt)):
            raise cause from None
        if isinstance(cause, BaseException):
            raise cause
        raise
    except (rx.WorkerCrashedError, rx.NodeDiedError, rx.OutOfMemoryError) as exc:
        raise ExecutionError(
            f"A unit of work failed on every try: its worker process or node died "
            f"({type(exc).__name__}). Out of memory is the usual cause: use fewer workers.") from None


def _worker_env() -> dict:
    from fer_engine.paths import REPO_ROOT

    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, "TF_NUM_INTEROP_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2"}


def _ray_version() -> str:
    try:
        from importlib import metadata

        return metadata.version("ray")
    except Exception:  # noqa: BLE001
        return "?"


_ENGINE: Engine | None = None
_ENGINE_LOCK = threading.Lock()


def get_engine(workers: int | None = None, address: str | None = None,
               job_slots: int = 1) -> Engine:
    """The process's engine, started on first use. A process connects to one Ray only: asking
    for another address than the one in use raises :class:`ExecutionError`."""
    global _ENGINE
    with _ENGINE_LOCK:
        wanted = address or os.environ.get(ENV_ADDRESS) or None
        if _ENGINE is None:
            _ENGINE = Engine(workers=workers, address=wanted, job_slots=job_slots)
        elif wanted and wanted != _ENGINE.address and not _inside_ray_worker():
            raise ExecutionError(
                f"This process already uses Ray at {_ENGINE.address or 'a local instance'}; "
                f"it cannot also use {wanted}. Restart it with {ENV_ADDRESS}={wanted}.")
        engine = _ENGINE
    return engine.start()


def _inside_ray_worker() -> bool:
    try:
        import ray

        return ray.is_initialized() and ray.get_runtime_context().worker.mode == ray.WORKER_MODE
    except Exception:  # noqa: BLE001
        return False


def shutdown() -> None:
    """Disconnect (and stop a local Ray this process started)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is not None:
            import ray

            ray.shutdown()
            _ENGINE = None
