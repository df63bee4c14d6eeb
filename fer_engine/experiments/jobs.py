"""Background training jobs for the dashboard (no Streamlit here).

A :class:`JobManager` lives in the server process (one per runs folder, from
:func:`get_manager`), so a job survives page changes and browser reloads: any page, in any
browser tab, asks the manager for the job's :class:`JobStatus`, and
:meth:`JobManager.current` says which job a page shows (the same running training for every
browser session).

Each job runs :func:`fer_engine.experiments.training.run_experiment` in a **subprocess**
(``python -m fer_engine.experiments.jobs <job folder>``), not in a thread of the server:

- TensorFlow state (graphs, memory, thread pools) never accumulates in the web server;
  memory is returned to the system when a training ends;
- cancelling is robust: the worker checks a cancel file after every batch (the engine's
  cancel token), and a worker that does not stop within ``cancel_grace`` seconds is killed;
  either way no complete run folder is left (the run is built in a hidden ``.partial``
  folder and renamed only when complete);
- a crash (out of memory, a native error) fails the job, never the dashboard.

The cost is one TensorFlow import per job (seconds), small against any real training.

Job folder ``<cache>/jobs/<job_id>/``: ``spec.json`` (what to train), ``events.jsonl`` (one
JSON progress event per line, appended by the worker), ``cancel`` (created to ask the worker
to stop), ``result.json`` (``status``, ``run_path`` or ``error``) and ``worker.log``.

Concurrency: at most ``max_jobs`` run at once. When all slots are busy, :meth:`JobManager.submit`
raises :class:`JobBusyError` (local use: one job at a time, with a clear message), or, with
``queue=True`` (the hosted demo), queues the job; queued jobs start in order as slots free.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path

import pandas as pd

from fer_engine.data.dataset import natural_key
from fer_engine.errors import UserFacingError
from fer_engine.experiments.runs import HISTORY_COLUMNS, load_run
from fer_engine.experiments.spec import ExperimentSpec

STATES = ("queued", "running", "finished", "failed", "cancelled", "interrupted")
#: what a job that a stopped server left unfinished says (see :meth:`JobManager.recover`)
INTERRUPTED = ("The server stopped before this training ended; nothing was saved. Start it "
               "again on the Train page.")
ACTIVE_STATES = ("queued", "running")
_THROTTLE_S = 0.5  # batch/prepare events are written at most this often


class JobBusyError(UserFacingError):
    """The server already runs as many trainings as it allows (or its queue is full)."""


# --------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class JobSpec:
    """A background training: what to train (``experiment``) on which data, and where to.

    ``data``: a dataset folder (None: the default synthetic demo dataset). ``max_participants``:
    train on the first N participants only (the hosted demo's cap; None: all).
    ``dataset_label``: how the pages name the data. ``out_dir``: the runs folder (None:
    ``fer_engine.paths.runs_dir()``).
    """

    experiment: ExperimentSpec = field(default_factory=ExperimentSpec)
    data: str | None = None
    max_participants: int | None = None
    dataset_label: str = ""
    out_dir: str | None = None

    def to_json(self) -> dict:
        return {**asdict(self), "experiment": self.experiment.to_json()}

    @classmethod
    def from_json(cls, d: dict) -> JobSpec:
        return cls(**{**d, "experiment": ExperimentSpec.from_json(d.get("experiment") or {})})


def apply_caps(spec: JobSpec, settings) -> tuple[JobSpec, list[str]]:
    """The spec within the hosted demo's caps (``settings``: :class:`fer_engine.settings.Settings`).

    Returns the (possibly) capped spec and one sentence per change. Local use: unchanged.
    """
    if not settings.hosted_demo:
        return spec, []
    notes = []
    changes = {}
    if spec.experiment.epochs > settings.demo_max_epochs:
        changes["experiment"] = replace(spec.experiment, epochs=settings.demo_max_epochs)
        notes.append(f"Epochs capped at {settings.demo_max_epochs} on this public demo.")
    cap = settings.demo_max_participants
    if spec.max_participants is None or spec.max_participants > cap:
        changes["max_participants"] = cap
    return replace(spec, **changes), notes


def limit_participants(dataset, n: int):
    """The dataset restricted to its first ``n`` participants (natural order of the ids).

    Returns the dataset itself when it has at most ``n``. The subset gets its own
    fingerprint (so pre-processing caches never mix) and a name that says it is a subset.
    """
    import hashlib

    ids = sorted(dataset.table["participant"].astype(str).unique(), key=natural_key)
    if n is None or len(ids) <= int(n):
        return dataset
    keep = set(ids[: int(n)])
    rows = dataset.table["participant"].astype(str).isin(keep)
    table = dataset.table[rows].reset_index(drop=True)
    key = dataset.fingerprint + "|" + ",".join(sorted(keep))
    digest = hashlib.sha256(key.encode()).hexdigest()
    return replace(
        dataset,
        table=table,
        name=f"{dataset.name} (first {n} of {len(ids)} participants)",
        fingerprint=digest,
    )


# --------------------------------------------------------------------------- status


@dataclass
class JobStatus:
    """A snapshot of one job. ``fold`` is 0-based of ``n_folds``; ``epoch`` 1-based of
    ``n_epochs``; ``batch`` 1-based of ``n_batches``; ``prepare_done`` of ``prepare_total``
    images pre-processed. ``history``: one row per finished epoch (columns
    :data:`HISTORY_COLUMNS`); ``fold_accuracy``: test accuracy per finished fold.
    ``fraction``: overall progress in [0, 1]. ``queue_position``: 1 = next to start.
    ``notes``: sentences about the job's settings (e.g. the hosted demo's caps);
    ``run_notes``: once finished, what the run says about its data (its ``metrics.json``
    notes, e.g. images that could not be read)."""

    job_id: str
    spec: JobSpec
    state: str
    created: str
    started: str | None = None
    ended: str | None = None
    phase: str = ""
    prepare_done: int = 0
    prepare_total: int = 0
    fold: int = 0
    n_folds: int = 0
    epoch: int = 0
    n_epochs: int = 0
    batch: int = 0
    n_batches: int = 0
    last_metrics: dict = field(default_factory=dict)
    fold_accuracy: dict = field(default_factory=dict)
    history: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=HISTORY_COLUMNS))
    run_path: str | None = None
    error: str | None = None
    notes: list = field(default_factory=list)
    run_notes: list = field(default_factory=list)
    cancel_requested: bool = False
    queue_position: int | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def epoch_fraction(self) -> float:
        """Progress within the current fold's planned epochs, in [0, 1]."""
        if not self.n_epochs:
            return 0.0
        done = max(self.epoch - 1, 0) + self.batch / max(self.n_batches, 1)
        return float(min(1.0, done / self.n_epochs))

    @property
    def fraction(self) -> float:
        """Overall progress in [0, 1] (folds are taken as equally long)."""
        if self.state == "finished":
            return 1.0
        if not self.n_folds:
            return 0.0
        return float(min(1.0, (self.fold + self.epoch_fraction) / self.n_folds))

    @property
    def summary(self) -> str:
        """One line for people: what runs, where it is."""
        s = self.spec
        what = (f"{s.experiment.model} / {s.experiment.protocol} on "
                f"{s.dataset_label or s.data or 'synthetic demo data'}")
        if self.state == "queued":
            return f"Queued (position {self.queue_position}): {what}"
        if self.state == "running":
            if self.cancel_requested:
                return f"Cancelling: {what}"
            if not self.phase:
                return f"Starting (loading the data and model libraries): {what}"
            if self.phase == "prepare" or not self.n_folds:
                return f"Preparing images ({self.prepare_done}/{self.prepare_total}): {what}"
            return (f"Training fold {self.fold + 1}/{self.n_folds}, epoch "
                    f"{max(self.epoch, 1)}/{self.n_epochs}: {what}")
        return f"{self.state.capitalize()}: {what}"


class _Job:
    """The manager's record of one job (mutable; guarded by the manager's lock)."""

    def __init__(self, job_id: str, folder: Path, spec: JobSpec, notes: list[str]):
        self.status = JobStatus(job_id, spec, "queued", _now(), notes=list(notes))
        self.folder = folder
        self.proc: subprocess.Popen | None = None
        self.offset = 0
        self.history_rows: list[dict] = []
        self.started_at = 0.0

    def read_events(self) -> None:
        path = self.folder / "events.jsonl"
        if not path.is_file():
            return
        with open(path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n")
        if end < 0:
            return
        self.offset += end + 1
        for line in data[: end + 1].splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            self._apply(ev)

    def _apply(self, ev: dict) -> None:
        st = self.status
        kind = ev.get("kind")
        m = ev.get("metrics") or {}
        if kind == "prepare":
            st.phase = "prepare"
            st.prepare_done, st.prepare_total = ev.get("batch", 0), ev.get("n_batches", 0)
            return
        st.phase = "train"
        st.fold, st.n_folds = ev.get("fold", 0), ev.get("n_folds", 0)
        if kind == "fold_start":
            st.n_epochs, st.epoch, st.batch = ev.get("n_epochs", 0), 0, 0
        elif kind == "batch_end":
            st.epoch, st.n_epochs = ev.get("epoch", 0), ev.get("n_epochs", st.n_epochs)
            st.batch, st.n_batches = ev.get("batch", 0), ev.get("n_batches", 0)
            st.last_metrics = m
        elif kind == "epoch_end":
            st.epoch, st.n_epochs = ev.get("epoch", 0), ev.get("n_epochs", st.n_epochs)
            st.batch = st.n_batches = max(st.n_batches, 1)
            st.last_metrics = m
            self.history_rows.append({"fold": st.fold, "epoch": st.epoch,
                                      **{c: m.get(c) for c in HISTORY_COLUMNS[2:]}})
            st.history = pd.DataFrame(self.history_rows, columns=list(HISTORY_COLUMNS))
        elif kind == "fold_end":
            st.fold_accuracy = {**st.fold_accuracy, int(st.fold): m.get("accuracy")}


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


# --------------------------------------------------------------------------- manager


class JobManager:
    """Runs training jobs in subprocesses; see the module docstring.

    ``root``: where job folders go (default ``<cache>/jobs``). ``max_jobs``: concurrent
    trainings. ``queue``: queue instead of refusing when busy (``max_queue`` waiting at most).
    ``cancel_grace``: seconds a cancelled worker gets before it is killed.
    """

    def __init__(self, root=None, max_jobs: int = 1, queue: bool = False, max_queue: int = 20,
                 cancel_grace: float = 30.0, python: str | None = None):
        from fer_engine.paths import cache_dir

        self.root = Path(root) if root is not None else cache_dir() / "jobs"
        self.max_jobs = max(1, int(max_jobs))
        self.queue = bool(queue)
        self.max_queue = int(max_queue)
        self.cancel_grace = float(cancel_grace)
        self.python = python or sys.executable
        self._lock = threading.RLock()
        self._jobs: dict[str, _Job] = {}
        self._order: list[str] = []
        self.recover()

    def recover(self) -> list[str]:
        """Jobs in ``root`` that a server which has stopped left unfinished: each becomes
        ``interrupted`` (its worker, if it outlived the server, is stopped; its half-written
        run folder removed) and is listed, so the page says what happened. Jobs of another
        server that still runs are left alone. Returns their ids."""
        found = []
        if not self.root.is_dir():
            return found
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if (folder / "result.json").exists() or not (folder / "spec.json").is_file():
                continue
            owner = _read_pid(folder / "manager.pid")
            if owner is not None and _alive(owner):
                continue  # a running server's job (another manager's, or this process's)
            try:
                spec = JobSpec.from_json(json.loads((folder / "spec.json").read_text()))
            except (OSError, ValueError, TypeError, KeyError):
                continue
            worker = _read_pid(folder / "worker.pid")
            if worker is not None and _alive(worker) and str(folder) in _cmdline(worker):
                os.kill(worker, signal.SIGKILL)
            job = _Job(folder.name, folder, spec, [])
            job.started_at = (folder / "spec.json").stat().st_mtime
            _remove_partials(job)
            job.status.state = "interrupted"
            job.status.ended = _now()
            job.status.error = INTERRUPTED
            (folder / "result.json").write_text(json.dumps({"status": "interrupted",
                                                            "error": INTERRUPTED}))
            self._jobs[job.status.job_id] = job
            self._order.append(job.status.job_id)
            found.append(job.status.job_id)
        return found

    # -- public ------------------------------------------------------------------------
    def submit(self, spec: JobSpec, notes=()) -> str:
        """Queue or start a job; returns its id. Raises :class:`JobBusyError` when full."""
        with self._lock:
            running = [j for j in self._jobs.values() if j.status.state == "running"]
            queued = [j for j in self._jobs.values() if j.status.state == "queued"]
            if len(running) >= self.max_jobs and not self.queue:
                busy = running[0].status
                raise JobBusyError(
                    "A training is already running on this server "
                    f"({busy.summary}, {busy.fraction:.0%} done). Only {self.max_jobs} training "
                    "may run at a time: wait until it ends or cancel it on the Train page."
                )
            if self.queue and len(queued) >= self.max_queue:
                raise JobBusyError(
                    f"The training queue is full ({len(queued)} waiting). Please try again later."
                )
            job_id = f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
            folder = self.root / job_id
            folder.mkdir(parents=True, exist_ok=False)
            if spec.out_dir is None:
                from fer_engine.paths import runs_dir

                spec = replace(spec, out_dir=str(runs_dir()))
            (folder / "spec.json").write_text(json.dumps(spec.to_json(), indent=1))
            (folder / "manager.pid").write_text(str(os.getpid()))
            job = _Job(job_id, folder, spec, list(notes))
            self._jobs[job_id] = job
            self._order.append(job_id)
            self._schedule()
            return job_id

    def status(self, job_id: str) -> JobStatus:
        """A snapshot of the job (KeyError for an unknown id)."""
        with self._lock:
            job = self._jobs[job_id]
            if job.status.state == "running":
                job.read_events()
            st = replace(job.status, history=job.status.history.copy(),
                         fold_accuracy=dict(job.status.fold_accuracy), notes=list(job.status.notes),
                         run_notes=list(job.status.run_notes))
            if st.state == "queued":
                waiting = [i for i in self._order if self._jobs[i].status.state == "queued"]
                st.queue_position = waiting.index(job_id) + 1
            return st

    def jobs(self) -> list[JobStatus]:
        """Every job this manager knows, newest first."""
        with self._lock:
            ids = list(reversed(self._order))
        return [self.status(i) for i in ids]

    def active(self) -> list[JobStatus]:
        """Queued and running jobs, oldest first."""
        return [s for s in reversed(self.jobs()) if s.active]

    def current(self, preferred=(), *, others_results: bool = True) -> JobStatus | None:
        """The job a page shows: of the jobs in ``preferred`` (a browser session's own), the
        newest running or queued one; else the server's running (or next queued) training,
        whoever started it; else the newest of ``preferred``; else, with ``others_results``,
        the server's newest job, with its result (a public demo passes False: one visitor's
        finished or failed training is not shown to another). None before any such job."""
        everything = self.jobs()  # newest first
        preferred = set(preferred)
        mine = [s for s in everything if s.job_id in preferred]
        running = [s for s in everything if s.state == "running"]
        queued = [s for s in reversed(everything) if s.state == "queued"]  # next to start first
        for candidates in ([s for s in mine if s.active], running, queued, mine,
                           everything if others_results else []):
            if candidates:
                return candidates[0]
        return None

    def cancel(self, job_id: str) -> JobStatus:
        """Stop a job: a queued one never starts; a running one stops after its current batch
        (killed after ``cancel_grace`` s). No complete run is left either way."""
        with self._lock:
            job = self._jobs[job_id]
            if job.status.state == "queued":
                job.status.state = "cancelled"
                job.status.ended = _now()
                job.status.error = "Cancelled before it started."
            elif job.status.state == "running" and not job.status.cancel_requested:
                job.status.cancel_requested = True
                (job.folder / "cancel").touch()
                threading.Thread(target=self._kill_later, args=(job,), daemon=True).start()
        return self.status(job_id)

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 0.2) -> JobStatus:
        """Block until the job ends (or ``timeout`` s pass); returns its status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            st = self.status(job_id)
            if not st.active or (deadline is not None and time.monotonic() > deadline):
                return st
            time.sleep(poll)

    def shutdown(self) -> None:
        """Cancel everything (used by tests and at server exit)."""
        for st in self.active():
            self.cancel(st.job_id)
        for st in self.active():
            self.wait(st.job_id, timeout=self.cancel_grace + 5)

    # -- internals ---------------------------------------------------------------------
    def _schedule(self) -> None:
        """Start queued jobs while slots are free (caller holds the lock)."""
        running = sum(1 for j in self._jobs.values() if j.status.state == "running")
        for job_id in self._order:
            if running >= self.max_jobs:
                return
            job = self._jobs[job_id]
            if job.status.state == "queued":
                self._start(job)
                running += 1

    def _start(self, job: _Job) -> None:
        from fer_engine.paths import REPO_ROOT

        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
        job.status.state = "running"
        job.status.started = _now()
        job.started_at = time.time()
        try:
            with open(job.folder / "worker.log", "wb") as log:
                job.proc = subprocess.Popen(
                    [self.python, "-m", "fer_engine.experiments.jobs", str(job.folder)],
                    cwd=str(REPO_ROOT), env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT,
                )
        except OSError as exc:
            job.status.state = "failed"
            job.status.ended = _now()
            job.status.error = f"The training process could not be started ({exc})."
            return
        (job.folder / "worker.pid").write_text(str(job.proc.pid))
        threading.Thread(target=self._watch, args=(job,), daemon=True).start()

    def _watch(self, job: _Job) -> None:
        code = job.proc.wait()
        with self._lock:
            job.read_events()
            self._finish(job, code)
            self._schedule()

    def _finish(self, job: _Job, code: int) -> None:
        st = job.status
        st.ended = _now()
        result = {}
        try:
            result = json.loads((job.folder / "result.json").read_text())
        except (OSError, ValueError):
            pass
        state = result.get("status")
        if state == "finished" and result.get("run_path"):
            st.state, st.run_path = "finished", result["run_path"]
            try:
                st.run_notes = list(load_run(st.run_path).metrics.get("notes") or [])
            except UserFacingError:  # deleted or damaged meanwhile: the run says nothing
                st.run_notes = []
        elif state == "cancelled" or st.cancel_requested:
            st.state = "cancelled"
            st.error = "Training was cancelled; no run was saved."
            _remove_partials(job)
        else:
            st.state = "failed"
            st.error = result.get("error") or (
                f"The training process ended unexpectedly (exit status {code}). "
                f"Last lines of its log:\n{_tail(job.folder / 'worker.log')}"
            )
            _remove_partials(job)

    def _kill_later(self, job: _Job) -> None:
        proc = job.proc
        if proc is None:
            return
        try:
            proc.wait(timeout=self.cancel_grace)
        except subprocess.TimeoutExpired:
            proc.kill()


def _remove_partials(job: _Job) -> None:
    """Remove ``.partial`` run folders this job's worker left (only after a kill; the engine
    removes its own on cancellation and errors)."""
    spec = job.status.spec
    root = Path(spec.out_dir) if spec.out_dir else None
    if root is None or not root.is_dir():
        return
    tag = f"-{spec.experiment.model}-{spec.experiment.protocol}-"
    for p in root.glob(".*.partial"):
        try:
            if tag in p.name and p.stat().st_mtime >= job.started_at - 1:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            continue


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _tail(path: Path, n: int = 8) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


def clean_stale_jobs(root=None, max_age_hours: float = 168.0) -> int:
    """Remove job folders (under ``root``, default ``<cache>/jobs``) whose last change is older
    than ``max_age_hours``; returns how many. Runs are not touched (they live elsewhere)."""
    from fer_engine.paths import cache_dir

    base = Path(root) if root is not None else cache_dir() / "jobs"
    if not base.is_dir():
        return 0
    cutoff = time.time() - max_age_hours * 3600
    removed = 0
    for folder in base.iterdir():
        try:
            newest = max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.iterdir()])
        except OSError:
            continue
        if folder.is_dir() and newest < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


_MANAGERS: dict[str, JobManager] = {}
_MANAGERS_LOCK = threading.Lock()


def get_manager(max_jobs: int = 1, queue: bool = False, root=None) -> JobManager:
    """The process-wide manager for ``root`` (default ``<cache>/jobs``); its limits are
    updated to the arguments. The dashboard calls this on every page run."""
    from fer_engine.paths import cache_dir

    key = str((Path(root) if root is not None else cache_dir() / "jobs").resolve())
    with _MANAGERS_LOCK:
        manager = _MANAGERS.get(key)
        if manager is None:
            manager = _MANAGERS[key] = JobManager(key, max_jobs=max_jobs, queue=queue)
        manager.max_jobs, manager.queue = max(1, int(max_jobs)), bool(queue)
        return manager


# --------------------------------------------------------------------------- worker


class _CancelToken:
    """Set when the cancel file exists or the server that started us has gone."""

    def __init__(self, folder: Path):
        self.file = folder / "cancel"
        self.parent = os.getppid() if hasattr(os, "getppid") else None

    def is_set(self) -> bool:
        if self.file.exists():
            return True
        return self.parent is not None and os.name == "posix" and os.getppid() != self.parent


class _EventWriter:
    """Appends progress events as JSON lines (batch and prepare events throttled)."""

    def __init__(self, path: Path, cancel: _CancelToken):
        self.f = open(path, "a", buffering=1)
        self.cancel = cancel
        self.last = 0.0

    def __call__(self, ev) -> None:
        from fer_engine.models.base import check_cancel

        d = asdict(ev)
        now = time.monotonic()
        throttled = ev.kind == "batch_end" or (ev.kind == "prepare" and ev.batch < ev.n_batches)
        if not throttled or now - self.last >= _THROTTLE_S:
            self.f.write(json.dumps(d, default=float) + "\n")
            self.last = now
        if ev.kind == "prepare":
            check_cancel(self.cancel)  # pre-processing has no cancel check of its own


def run_worker(folder) -> int:
    """Run the job in ``folder`` (the subprocess's main); writes ``result.json``.

    Exit status 0 finished, 2 failed with a user-facing message, 3 cancelled, 1 crashed.
    """
    folder = Path(folder)
    spec = JobSpec.from_json(json.loads((folder / "spec.json").read_text()))
    cancel = _CancelToken(folder)
    events = _EventWriter(folder / "events.jsonl", cancel)

    def result(obj: dict, code: int) -> int:
        tmp = folder / "result.json.tmp"
        tmp.write_text(json.dumps(obj))
        os.replace(tmp, folder / "result.json")
        return code

    from fer_engine.errors import TrainingCancelled

    try:
        from fer_engine.experiments.training import resolve_dataset, run_experiment

        dataset = resolve_dataset(spec.data)
        if spec.max_participants:
            dataset = limit_participants(dataset, spec.max_participants)
        path = run_experiment(dataset, spec.experiment, out_dir=spec.out_dir, progress=events,
                              cancel=cancel, execution="auto")
    except TrainingCancelled as exc:
        return result({"status": "cancelled", "error": str(exc)}, 3)
    except UserFacingError as exc:
        return result({"status": "failed", "error": str(exc)}, 2)
    except Exception as exc:  # noqa: BLE001 - reported to the page, with the log for details
        import traceback

        traceback.print_exc()
        return result({"status": "failed",
                       "error": f"Training failed with an internal error ({type(exc).__name__}: "
                                f"{exc}). Details: {folder / 'worker.log'}"}, 1)
    finally:
        events.f.close()
    return result({"status": "finished", "run_path": str(path)}, 0)


if __name__ == "__main__":  # pragma: no cover - exercised through JobManager in tests
    sys.exit(run_worker(sys.argv[1]))
