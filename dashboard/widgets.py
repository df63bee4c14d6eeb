"""Small widgets shared by pages: the synthetic-data and LEAKY banners (worded by
:mod:`fer_engine.format`), the error box of a failed action and the sidebar status."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import state
from fer_engine import format as fmt


def synthetic_banner() -> None:
    """The warning that the data are synthetic demo faces."""
    st.warning(fmt.SYNTHETIC_BANNER, icon=":material/science:")


def leaky_banner(text: str | None = None) -> None:
    """The LEAKY evaluation warning: ``text`` (one naming a run, e.g. a report's banner) or
    the general one."""
    st.error(text or fmt.leaky_banner(), icon=":material/warning:")


def error(exc: BaseException, action: str, *, before: str = "", after: str = "",
          icon: str | None = None) -> None:
    """``st.error`` with the sentence the CLI prints when ``action`` (e.g. "Loading the
    dataset") raised ``exc`` (:func:`fer_engine.errors.failure_message`: a
    :class:`~fer_engine.errors.UserFacingError`'s own message, else what failed and the
    file holding the full log; never a traceback), between ``before`` and ``after``; server
    paths hidden as :func:`fer_engine.errors.display_text` says."""
    from fer_engine.errors import display_text, failure_message

    text = " ".join(p for p in (before, failure_message(exc, action), after) if p)
    st.error(display_text(text, hosted=state.settings().hosted_demo), icon=icon)


def active_model() -> tuple[str, str | None]:
    """(description, run folder or ``"pretrained"`` or None) of the model the session uses."""
    run = state.active_model()
    if run and run != state.PRETRAINED and Path(run).is_dir():
        from fer_engine.errors import UserFacingError
        from fer_engine.experiments.runs import load_run

        try:
            loaded = load_run(run)
            return f"{loaded.label}, run {loaded.run_id}", run
        except UserFacingError:
            pass
    from fer_engine.models import pretrained

    try:
        if pretrained.available():
            return "the shipped pretrained model (FER2013)", "pretrained"
    except Exception:  # noqa: BLE001 - a broken shipped model must not break navigation
        pass
    return "none yet: train one on the Train page", None


def active_model_is_leaky() -> bool:
    """True when the active model is a run evaluated under a LEAKY protocol."""
    source = state.active_model()
    if not source or source == state.PRETRAINED:
        return False
    from fer_engine.errors import UserFacingError
    from fer_engine.experiments.runs import load_run

    try:
        return load_run(source).leaky
    except UserFacingError:
        return False


def active_dataset() -> tuple[str, bool]:
    """(name, synthetic?) of the session's active dataset (loaded through the shared cache)."""
    from dashboard import cache
    from fer_engine.errors import UserFacingError

    try:
        ds = cache.dataset(state.dataset_path())
    except UserFacingError:
        return "the chosen dataset cannot be loaded (see the Dataset page)", False
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


def detector_choice(key: str, default: str, *, help: str | None = None) -> str:
    """A select box of the installed face detectors (engine names), opening on ``default``."""
    from fer_engine.preprocess.detectors import DETECTOR_LABELS, available_detectors

    names = available_detectors()
    index = names.index(default) if default in names else 0
    return st.selectbox("Face detector", names, index=index, key=key,
                        format_func=DETECTOR_LABELS.get, help=help)


def bounded_int(label: str, low: int, high: int, value: int, *, key: str | None = None,
                help: str | None = None, container=None) -> int | None:
    """A whole-number input that never silently replaces what was typed.

    The box has no browser-side bounds (a bounded ``st.number_input`` only turns red on a
    value outside them and keeps using the old one), so whatever is typed reaches the page:
    a whole number from ``low`` to ``high`` is returned; anything else gets an error naming
    the allowed range under the box and ``None`` is returned, and the caller refuses or
    disables its action. ``container``: where to draw (a column, the sidebar; default the page).
    """
    box = container if container is not None else st
    # a float input formatted as a whole number: 1e20 or 99999999999 arrive as typed (an int
    # input is capped at JavaScript's safe integers and keeps the old value above them)
    raw = box.number_input(label, value=float(value), step=1.0, format="%.0f", key=key, help=help)
    if raw is not None and float(raw).is_integer() and low <= raw <= high:
        return int(raw)
    typed = "nothing" if raw is None else f"{raw:,.0f}" if float(raw).is_integer() else f"{raw:g}"
    box.error(f"{label} must be a whole number from {low:,} to {high:,}; {typed} is not.")
    return None
