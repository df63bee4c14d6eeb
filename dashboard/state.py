"""Session state shared by the pages: settings, the active dataset and model, training jobs.

Keys in ``st.session_state`` (other pages may read them):

==================  ==========================================================================
``dataset_path``    folder of the active dataset; None = the default synthetic demo data
``dataset_source``  ``synthetic``, ``folder`` or ``upload``
``dataset_label``   how the active dataset is named on every page
``dataset_synthetic`` True when the active dataset is synthetic demo data
``upload_dir``      the folder this session's uploaded zip was unpacked to (removed on replacement)
``active_run``      run folder of the active model (set on Train/Results; None = none chosen)
``my_jobs``         training jobs started from this browser session (ids, newest last)
==================  ==========================================================================
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from fer_engine.data import upload
from fer_engine.experiments import jobs
from fer_engine.settings import Settings, load_settings

DEFAULTS = {
    "dataset_path": None,
    "dataset_source": "synthetic",
    "upload_dir": None,
    "active_run": None,
    "my_jobs": [],
}


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


def set_dataset(path: str | None, source: str) -> None:
    """Make ``path`` the active dataset; a previous upload of this session is removed."""
    old = st.session_state.get("upload_dir")
    if old and (source != "upload" or str(Path(path)) != str(Path(old))):
        upload.remove_upload(old)
        st.session_state["upload_dir"] = None
    if source == "upload":
        st.session_state["upload_dir"] = path
    st.session_state["dataset_path"] = path
    st.session_state["dataset_source"] = source


def job_manager() -> jobs.JobManager:
    """The server-wide training job manager (one job at a time; the hosted demo queues)."""
    s = settings()
    return jobs.get_manager(max_jobs=s.max_jobs, queue=s.hosted_demo)


def remember_job(job_id: str) -> None:
    """Record a job as this session's (also in the URL, so a browser reload finds it)."""
    mine = list(st.session_state.get("my_jobs", []))
    mine.append(job_id)
    st.session_state["my_jobs"] = mine
    st.query_params["job"] = job_id


def my_job_ids() -> list[str]:
    """This session's jobs, plus the one named in the URL (after a browser reload)."""
    mine = list(st.session_state.get("my_jobs", []))
    from_url = st.query_params.get("job")
    if from_url and from_url not in mine:
        mine.append(from_url)
    return mine


def shown_job() -> jobs.JobStatus | None:
    """The job the Train page follows: this session's newest job, else (local use only) the
    newest active job on the server, so a reload or another tab still sees a running training."""
    manager = job_manager()
    for job_id in reversed(my_job_ids()):
        try:
            return manager.status(job_id)
        except KeyError:
            continue
    if not settings().hosted_demo:
        active = manager.active()
        if active:
            return active[-1]
    return None
