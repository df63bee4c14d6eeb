"""Recorded session: the live pipeline over an uploaded video (timeline, alerts, CSV)."""

from __future__ import annotations

import streamlit as st

from dashboard import model_choice, session_ui, state, widgets
from fer_engine import format as fmt
from fer_engine.inference.video import analyse_video_bytes

#: The page's settings, kept across visits to other pages.
SETTINGS = (*session_ui.setting_keys("session"), "session_step")

state.init()
state.restore_kept(SETTINGS)
st.title("Recorded session")
st.caption("Analyse a recorded video frame by frame: the Live page's timeline, alerts and "
           "CSV for a video file.")
st.markdown(
    "Analyse a video recorded in a session (MP4, WebM or AVI) with the same pipeline as the "
    "Live page: faces found and classified frame by frame, probabilities smoothed over time, "
    "alerts when fear or anger stays high, and the timeline as CSV. Use it when the live "
    "stream cannot connect. A whole study (many sessions of many patients, the patient's face "
    "only, shares of time with ranges and the change across sessions) is analysed from the "
    "command line: `python -m fer_engine sessions analyse STUDY --out DIR` (docs/sessions.md)."
)
st.info(
    "**Privacy.** OpenCV can only read videos from a file, so the upload is written to a "
    "temporary file for the duration of the analysis and **deleted as soon as it ends** "
    "(also when it fails). Nothing of the video is kept; only the timeline of numbers stays "
    "in this browser session.",
    icon=":material/lock:",
)
settings = state.settings()
model, source, description = model_choice.choose("session_model")
config = session_ui.config_controls("session", model.labels, live=False)
step = widgets.bounded_int(
    "Analyse every N-th frame", 1, 300, 5, key="session_step",
    help="1 analyses every frame (slowest). At 25 frames per second, 5 means 5 analysed frames "
    "per second of video, plenty for expressions that last a second or more.")
state.keep(SETTINGS)
upload = st.file_uploader("Video (MP4, WebM or AVI)", type=["mp4", "webm", "avi"],
                          key="session_file", max_upload_size=settings.max_upload_mb)

if upload is not None and st.button("Analyse the video", key="session_go", type="primary",
                                    disabled=step is None):
    data = upload.getvalue()
    if len(data) > settings.max_upload_bytes:
        st.error(f"'{upload.name}' is {len(data) / 1024 / 1024:.0f} MB; this server accepts "
                 f"videos up to {settings.max_upload_mb} MB.")
    else:
        bar = st.progress(0.0, text="Starting...")

        def progress(fraction: float, done: int, total: int) -> None:
            of = f" of {total}" if total else ""
            bar.progress(fraction, text=f"Frame {done}{of}")

        try:
            result = analyse_video_bytes(data, upload.name, model, config=config,
                                         frame_step=int(step), progress=progress)
        except Exception as exc:  # noqa: BLE001 - shown as one sentence
            bar.empty()
            widgets.error(exc, f"Analysing {upload.name}", icon=":material/videocam_off:")
            if state.recorded_session() is not None:
                st.caption(f"The previous analysis ({state.recorded_session().name}) is still "
                           "shown below.")
        else:
            bar.empty()
            state.set_recorded_session(state.RecordedSession(
                name=upload.name, result=result, config=config, model=description))

saved = state.recorded_session()
if saved is not None:
    res = saved.result
    st.subheader(f"Session: {saved.name}", divider="gray")
    info = res.info
    st.caption(
        f"{info.width} x {info.height} pixels at {info.fps:.0f} frames per second; "
        f"{res.frames_analysed} of {res.frames_read} frames analysed ("
        f"{fmt.every_nth(res.frame_step)}), {res.fps:.1f} frames analysed per second of processing. Model: {saved.model}. "
        "The temporary copy of the video has been deleted.")
    if saved.config != config:
        st.info("The settings have changed since this analysis; press 'Analyse the video' again "
                "to apply them.")
    coarse = res.step_warning(saved.config.hold_s)
    if coarse:
        st.warning(coarse, icon=":material/warning:")
    session_ui.session_summary(res.timeline, saved.config, key="session",
                               file_name=f"{saved.name.rsplit('.', 1)[0]}_timeline.csv",
                               interval_s=res.interval_s)
    if res.preview is not None:
        st.image(res.preview, width=480,
                 caption=f"Frame at {res.preview_t:.1f} s as the pipeline drew it"
                 + (" (the first alert)" if res.events else ""))
