"""Session state shared by the pages: the only module that reads or writes ``st.session_state``
for the app's own state. Pages and the other ``dashboard`` modules go through the typed
accessors below; every page calls :func:`init` first.

Keys in ``st.session_state``:

======================  ====================================================================
``dataset_path``        folder of the active dataset; None = the default synthetic demo data
``dataset_source``      ``synthetic``, ``folder`` or ``upload``
``upload_dir``          the folder this session's uploaded zip was unpacked to (removed on
                        replacement)
``upload_file_id``      the uploaded file the Dataset page last handled, and
``upload_error``        why it could not be used (None when it could)
``dataset_detector``    the face detector of the Dataset page's thumbnails (its select box's
                        widget key)
``active_model``        the model every page uses: :data:`PRETRAINED`, a run folder, or None
                        (none chosen yet: the shipped model where it exists)
``my_jobs``             training jobs started from this browser session (ids, newest last)
``job_was_active``      the job the Train page follows was running at its last redraw
``activated_jobs``      finished jobs whose run was made the active model once already
``picked_jobs``         finished jobs whose run the Train page's run picker selected once
``train_protocol``      the Train page's protocol choice (its selectbox's widget key)
``train_run_pick``      the run the Train page's buttons act on (its selectbox's widget key)
``train_*``             the Train page's settings (:data:`TRAIN_SETTINGS`: its widgets' keys)
``kept_<key>``          a copy of widget ``key``'s value, so it survives a visit to another
                        page (:func:`keep`, :func:`restore_kept`)
``run_zip``             ``(run id, zip file)`` prepared on the Train page for download
``results_runs``        runs the Results page opens with (set when leaving the Train page)
``results_pick``        the Results page's run selection (its multiselect's widget key)
``ppv_label_<run>``     the Results page's PPV emotion of a run, and
``ppv_prev_<run>_<e>``  its prevalence slider for emotion ``e`` (:func:`ppv_prevalence_key`: one
                        per run and emotion, so the value shown is the value used)
``classify_photos``     the Classify page's uploaded photos, ``[(name, bytes)]`` in memory, so
                        they survive a visit to another page (:func:`classify_photos`)
``live``                the Live page's :class:`LiveState`
``session_result``      the Session page's last :class:`RecordedSession`
======================  ====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from fer_engine.data import upload
from fer_engine.experiments import jobs
from fer_engine.settings import Settings, load_settings

if TYPE_CHECKING:
    from fer_engine.inference.live import LiveSession
    from fer_engine.inference.pipeline import FrameSummary, LiveConfig
    from fer_engine.inference.timeline import Timeline
    from fer_engine.inference.video import SessionAnalysis

#: The shipped pretrained model as a model source (the other sources are run folders).
PRETRAINED = "pretrained"

DATASET_PATH = "dataset_path"
DATASET_SOURCE = "dataset_source"
UPLOAD_DIR = "upload_dir"
UPLOAD_FILE_ID = "upload_file_id"
UPLOAD_ERROR = "upload_error"
DATASET_DETECTOR = "dataset_detector"
ACTIVE_MODEL = "active_model"
MY_JOBS = "my_jobs"
JOB_WAS_ACTIVE = "job_was_active"
ACTIVATED_JOBS = "activated_jobs"
PICKED_JOBS = "picked_jobs"
TRAIN_PROTOCOL = "train_protocol"
TRAIN_RUN_PICK = "train_run_pick"
RUN_ZIP = "run_zip"
#: The Train page's setting widgets (their keys): kept across visits to other pages.
TRAIN_SETTINGS: tuple[str, ...] = (
    "train_model", TRAIN_PROTOCOL, "train_k", "train_test_size", "train_epochs", "train_batch",
    "train_lr", "train_seed", "train_weights", "train_finetune", "train_val_fraction",
    "train_class_weight", "train_augment_before_split",
    *(f"train_aug_{name}" for name in ("rotation", "shift", "zoom", "shear", "horizontal_flip")),
)
KEPT_PREFIX = "kept_"
RESULTS_RUNS = "results_runs"
RESULTS_PICK = "results_pick"
CLASSIFY_PHOTOS = "classify_photos"
LIVE = "live_state"
#: The Live page's WebRTC component (streamlit-webrtc keeps its own context under this key).
LIVE_STREAM = "live"
SESSION_RESULT = "session_result"

DEFAULTS: dict[str, Any] = {
    DATASET_PATH: None,
    DATASET_SOURCE: "synthetic",
    UPLOAD_DIR: None,
    UPLOAD_FILE_ID: None,
    UPLOAD_ERROR: None,
    ACTIVE_MODEL: None,
    MY_JOBS: [],
    JOB_WAS_ACTIVE: False,
    ACTIVATED_JOBS: [],
    PICKED_JOBS: [],
    RUN_ZIP: None,
    RESULTS_RUNS: [],
    SESSION_RESULT: None,
}


@dataclass
class LiveState:
    """What the Live page keeps between reruns: the frame pipeline of this browser session,
    the timeline of the current or last stream, the settings it was recorded with and the
    newest frame summary."""

    session: LiveSession | None = None
    timeline: Timeline | None = None
    config_used: LiveConfig | None = None
    last: FrameSummary | None = None


@dataclass
class RecordedSession:
    """The Session page's last analysis: the video's name, the result, the settings and the
    model description it was made with."""

    name: str
    result: SessionAnalysis
    config: LiveConfig
    model: str


@st.cache_resource
def _startup(cache: str) -> bool:
    """Once per server process and cache folder: remove uploads and job folders left by
    earlier runs of the server (older than a day / a week)."""
    upload.clean_stale_uploads(max_age_hours=24)
    jobs.clean_stale_jobs(max_age_hours=168)
    return True


def init() -> None:
    """Set missing session keys to their defaults (every page calls this first)."""
    from fer_engine.paths import cache_dir

    _startup(str(cache_dir()))
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, list(value) if isinstance(value, list) else value)


def settings() -> Settings:
    """Deployment settings: environment variables overlaid by ``st.secrets`` (if any)."""
    return load_settings(st.secrets)


# -- the active dataset ---------------------------------------------------------------------
def dataset_path() -> str | None:
    """Folder of the active dataset; None for the default synthetic demo data."""
    return st.session_state.get(DATASET_PATH)


def dataset_source() -> str:
    """Where the active dataset came from: ``synthetic``, ``upload`` or ``folder``."""
    return st.session_state.get(DATASET_SOURCE, "synthetic")


def set_dataset(path: str | None, source: str) -> None:
    """Make ``path`` the active dataset; a previous upload of this session is removed."""
    old = st.session_state.get(UPLOAD_DIR)
    if old and (source != "upload" or str(Path(path)) != str(Path(old))):
        upload.remove_upload(old)
        st.session_state[UPLOAD_DIR] = None
    if source == "upload":
        st.session_state[UPLOAD_DIR] = path
    st.session_state[DATASET_PATH] = path
    st.session_state[DATASET_SOURCE] = source


def is_new_upload(file_id: str) -> bool:
    """True the first time the Dataset page sees the uploaded file ``file_id`` (then it
    remembers it and forgets the previous upload's error)."""
    if st.session_state.get(UPLOAD_FILE_ID) == file_id:
        return False
    st.session_state[UPLOAD_FILE_ID] = file_id
    st.session_state[UPLOAD_ERROR] = None
    return True


def upload_error() -> str | None:
    """Why the last uploaded file could not be used (None when it could)."""
    return st.session_state.get(UPLOAD_ERROR)


def set_upload_error(message: str | None) -> None:
    st.session_state[UPLOAD_ERROR] = message


# -- the active model -----------------------------------------------------------------------
def active_model() -> str | None:
    """The model every page uses: :data:`PRETRAINED`, a run folder, or None when none was
    chosen yet (the pages then fall back to the shipped model)."""
    return st.session_state.get(ACTIVE_MODEL)


def set_active_model(source: str | None) -> None:
    """Make ``source`` (:data:`PRETRAINED`, a run folder or None) the active model."""
    st.session_state[ACTIVE_MODEL] = None if source is None else str(source)


def forget_model(run_path: str) -> None:
    """A run folder was deleted: it is no longer the active model, nor the run of the zip
    prepared for download."""
    if active_model() == str(run_path):
        set_active_model(None)
    zipped = prepared_zip()
    if zipped and zipped[0] == Path(str(run_path)).name:
        st.session_state[RUN_ZIP] = None


# -- training jobs --------------------------------------------------------------------------
def job_manager() -> jobs.JobManager:
    """The server-wide training job manager (one job at a time; the hosted demo queues)."""
    s = settings()
    return jobs.get_manager(max_jobs=s.max_jobs, queue=s.hosted_demo)


def remember_job(job_id: str) -> None:
    """Record a job as this session's (also in the URL, so a browser reload finds it)."""
    mine = list(st.session_state.get(MY_JOBS, []))
    mine.append(job_id)
    st.session_state[MY_JOBS] = mine
    st.query_params["job"] = job_id


def my_job_ids() -> list[str]:
    """This session's jobs, plus the one named in the URL (after a browser reload)."""
    mine = list(st.session_state.get(MY_JOBS, []))
    from_url = st.query_params.get("job")
    if from_url and from_url not in mine:
        mine.append(from_url)
    return mine


def shown_job() -> jobs.JobStatus | None:
    """The job the Train page follows (:meth:`~fer_engine.experiments.jobs.JobManager.current`):
    this session's running job, else the server's running training whoever started it (a
    reload, another tab or another browser sees it too), else the last one and its result
    (in the public demo only this session's own)."""
    return job_manager().current(my_job_ids(), others_results=not settings().hosted_demo)


def job_was_active() -> bool:
    """The followed job was queued or running when the Train page last drew it."""
    return bool(st.session_state.get(JOB_WAS_ACTIVE, False))


def set_job_was_active(active: bool) -> None:
    st.session_state[JOB_WAS_ACTIVE] = bool(active)


def activate_finished_job(job_id: str, run_path: str) -> bool:
    """Make a finished job's run the active model, once per job (the user may pick another
    model later); True when it did so now."""
    activated = list(st.session_state.get(ACTIVATED_JOBS, []))
    if job_id in activated:
        return False
    st.session_state[ACTIVATED_JOBS] = activated + [job_id]
    set_active_model(run_path)
    return True


def pick_finished_run(job_id: str, run_id: str) -> bool:
    """Select a finished job's run in the Train page's run picker, once per job (the user may
    pick another run later); True when it did so now."""
    picked = list(st.session_state.get(PICKED_JOBS, []))
    if job_id in picked:
        return False
    st.session_state[PICKED_JOBS] = picked + [job_id]
    st.session_state[TRAIN_RUN_PICK] = str(run_id)
    return True


def prepare_run_pick(available: list[str]) -> None:
    """Before the Train page draws its run picker (widget key :data:`TRAIN_RUN_PICK`): a pick
    of a run deleted meanwhile is dropped (the picker then shows the newest run)."""
    if st.session_state.get(TRAIN_RUN_PICK) not in available:
        st.session_state.pop(TRAIN_RUN_PICK, None)


def restore_kept(keys) -> None:
    """Before a page draws its widgets: give each widget of ``keys`` the value :func:`keep`
    saved, when Streamlit dropped it (it forgets a widget's value once a script run does not
    draw it, e.g. during a visit to another page)."""
    for key in keys:
        if key not in st.session_state and KEPT_PREFIX + key in st.session_state:
            st.session_state[key] = st.session_state[KEPT_PREFIX + key]


def keep(keys) -> None:
    """After a page drew its widgets: save the values of the widgets ``keys`` for
    :func:`restore_kept`."""
    for key in keys:
        if key in st.session_state:
            st.session_state[KEPT_PREFIX + key] = st.session_state[key]


def prepare_protocol_pick(offered: list[str], default: str | None) -> None:
    """Before the Train page draws its protocol choice (widget key :data:`TRAIN_PROTOCOL`):
    ``default`` unless the user chose one of the ``offered`` protocols (another dataset may
    not allow the earlier choice)."""
    if st.session_state.get(TRAIN_PROTOCOL) not in offered:
        st.session_state[TRAIN_PROTOCOL] = default


def prepared_zip() -> tuple[str, str] | None:
    """``(run id, zip file)`` of the run zip prepared for download, if any."""
    return st.session_state.get(RUN_ZIP)


def set_prepared_zip(run_id: str, path: str) -> None:
    st.session_state[RUN_ZIP] = (run_id, str(path))


# -- the Classify page ----------------------------------------------------------------------
def classify_photos() -> list[tuple[str, bytes]]:
    """The photos last uploaded on the Classify page, ``(name, bytes)``, kept in this
    browser session's memory (never on disk) until the user removes them: a file uploader
    forgets its files during a visit to another page."""
    return list(st.session_state.get(CLASSIFY_PHOTOS) or [])


def set_classify_photos(photos: list[tuple[str, bytes]]) -> None:
    st.session_state[CLASSIFY_PHOTOS] = [(str(n), bytes(d)) for n, d in photos]


# -- the Results page -----------------------------------------------------------------------
def results_runs() -> list[str]:
    """Run folders the Results page opens with (chosen on the Train page)."""
    return list(st.session_state.get(RESULTS_RUNS) or [])


def open_on_results(run_paths: list[str]) -> None:
    """Show ``run_paths`` on the Results page (replacing its current selection)."""
    st.session_state[RESULTS_RUNS] = [str(p) for p in run_paths]
    st.session_state.pop(RESULTS_PICK, None)


def prepare_results_pick(available: list[str], leaky=()) -> None:
    """Before the Results page draws its run picker (widget key :data:`RESULTS_PICK`): the
    first time, the runs chosen on the Train page, else the active model's run unless it is
    one of ``leaky``, else the first of ``available``; later, the user's pick without runs
    deleted meanwhile."""
    if RESULTS_PICK in st.session_state:
        st.session_state[RESULTS_PICK] = [
            p for p in st.session_state[RESULTS_PICK] if p in available]
        return
    wanted = [p for p in results_runs() if p in available]
    if not wanted and active_model() in available and active_model() not in set(leaky):
        wanted = [active_model()]
    st.session_state[RESULTS_PICK] = wanted or list(available[:1])


def ppv_label_key(run_id: str) -> str:
    """Widget key of the Results page's PPV emotion of run ``run_id``."""
    return f"ppv_label_{run_id}"


def ppv_prevalence_key(run_id: str, label: str) -> str:
    """Widget key of the Results page's prevalence slider of run ``run_id`` and emotion
    ``label``: one slider per run and emotion, so a slider that opens on a run's own
    prevalence never returns the value another run's slider was left at."""
    return f"ppv_prev_{run_id}_{label}"


# -- the Live and Session pages -------------------------------------------------------------
def live() -> LiveState:
    """The Live page's state of this browser session (created on first use)."""
    if not isinstance(st.session_state.get(LIVE), LiveState):
        st.session_state[LIVE] = LiveState()
    return st.session_state[LIVE]


def recorded_session() -> RecordedSession | None:
    """The Session page's last analysis, if any."""
    return st.session_state.get(SESSION_RESULT)


def set_recorded_session(saved: RecordedSession | None) -> None:
    st.session_state[SESSION_RESULT] = saved
