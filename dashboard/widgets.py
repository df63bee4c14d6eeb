"""Small widgets shared by pages: banners and the sidebar status."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from fer_engine.data.summary import SYNTHETIC_NOTE

from dashboard import state

LEAKY_NOTE = (
    "LEAKY protocol: the same people are in training and test, so its numbers measure how well "
    "the model recognises people it has already seen, not emotions of a new person. Use it only "
    "as a contrast to a participant-independent run."
)


def synthetic_banner() -> None:
    st.warning(f"**Synthetic demo data.** {SYNTHETIC_NOTE}", icon=":material/science:")


def leaky_banner() -> None:
    st.error(LEAKY_NOTE, icon=":material/warning:")


def active_model() -> tuple[str, str | None]:
    """(description, run folder or ``"pretrained"`` or None) of the model the session uses."""
    run = st.session_state.get("active_run")
    if run and Path(run).is_dir():
        import json

        try:
            cfg = json.loads((Path(run) / "config.json").read_text())
            leaky = " (LEAKY)" if cfg.get("protocol", {}).get("leaky") else ""
            return (f"{cfg['model']['name']} / {cfg['protocol']['name']}{leaky}, run "
                    f"{cfg.get('run_id', Path(run).name)}", run)
        except (OSError, ValueError, KeyError):
            pass
    from fer_engine.models import pretrained

    try:
        if pretrained.available():
            return "the shipped pretrained model (FER2013)", "pretrained"
    except Exception:  # noqa: BLE001 - a broken shipped model must not break navigation
        pass
    return "none yet: train one on the Train page", None


def active_dataset() -> tuple[str, bool]:
    """(name, synthetic?) of the session's active dataset (loaded through the shared cache)."""
    from dashboard import loaders
    from fer_engine.errors import UserFacingError

    try:
        ds = loaders.dataset(st.session_state.get("dataset_path"))
    except UserFacingError:
        return "the chosen dataset cannot be loaded (see the Dataset page)", False
    st.session_state["dataset_label"] = ds.name
    st.session_state["dataset_synthetic"] = ds.synthetic
    return ds.name, ds.synthetic


def sidebar_status() -> None:
    """Active dataset, active model and the server's running training, in the sidebar."""
    with st.sidebar:
        label, synthetic = active_dataset()
        st.caption(f"Active dataset: **{label}**")
        if synthetic:
            st.caption(":orange-badge[Synthetic demo data]")
        st.caption(f"Active model: **{active_model()[0]}**")
        try:
            running = state.job_manager().active()
        except Exception:  # noqa: BLE001 - status display only
            running = []
        for job in running[:3]:
            st.caption(f":blue-badge[Training] {job.summary} ({job.fraction:.0%})")
        if state.settings().hosted_demo:
            st.caption(":violet-badge[Public demo] server folders off, training capped and queued")
