"""Live page: webcam through streamlit-webrtc, faces boxed and labelled on the returned video,
a growing timeline, fear/anger alerts, optional Grad-CAM, session CSV.

Frames are processed in streamlit-webrtc's worker thread (``video_frame_callback`` with
``async_processing=True``) by a :class:`fer_engine.inference.live.LiveSession`; summaries come back
through its queue and this script (the Streamlit thread) drains them into the timeline.
No ``st.*`` call happens inside the callback.
"""

from __future__ import annotations

import time

import av
import streamlit as st

from dashboard import camera, model_choice, session_ui, state, webrtc_relay  # first: loads pylibsrtp safely
from streamlit_webrtc import WebRtcMode, webrtc_streamer  # noqa: I001
from fer_engine.explain import warm_up
from fer_engine.inference.live import LiveSession
from fer_engine.inference.timeline import Timeline

#: Seconds between redraws of the status line while streaming.
REFRESH_S = 1.0
#: Seconds between redraws of the timeline chart (building and sending a Plotly figure costs
#: the server and the browser more than the status line does).
CHART_S = 3.0

state.init()
st.title("Live webcam")
st.caption("Classify a webcam stream as it plays, with a timeline of the probabilities and "
           "alerts when fear or anger stays high.")
st.info(
    "**Privacy.** Each video frame is analysed in this server's memory as it arrives and "
    "dropped at once: nothing of the video is recorded or stored. Only the timeline of "
    "probabilities stays in this browser session; download it as CSV after stopping.",
    icon=":material/lock:",
)
settings = state.settings()
# Seconds per run of the redraw loop (a fragment that Streamlit restarts on a timer; default
# 60, FER_LIVE_RUN_S). The browser keeps every chart a run draws until that run *finishes*:
# one unending loop grew the visitor's tab by about 7 MB a minute; with runs of 60 s it stayed
# between 29 and 52 MB over 10 minutes (benchmarks/live_soak.py). Not one fragment run per redraw: each finished run
# makes Streamlit call keras.backend.clear_session() and a full garbage collection, which once
# a second stalled the frame callback (3 instead of 9 analysed frames/s).
RUN_S = settings.live_run_s
model, source, description = model_choice.choose("live_model")
config = session_ui.config_controls("live", model.labels, live=True)
st.page_link("pages/6_Session.py", label="No camera or no connection? Analyse a recorded video.",
             icon=":material/movie:")
cameras = camera.count()  # None until the browser has answered
if cameras is not None and cameras <= 0:
    st.warning(
        "No camera found: use the Session page for a recorded video." if cameras == 0 else
        "This browser gives no access to a camera here (a page from another machine must be "
        "opened over https): use the Session page for a recorded video.",
        icon=":material/videocam_off:")
    st.stop()
if settings.hosted_demo and not settings.ice_servers:
    st.warning("No STUN/TURN server is configured (FER_ICE_SERVERS), so the stream will only "
               "connect when the browser and this server are on the same network.")


@st.cache_resource(max_entries=3, show_spinner="Preparing Grad-CAM...")
def _warm_gradcam(key: str, _model) -> str | None:
    """Trace the fast Grad-CAM once per model so the first live frame does not stall."""
    try:
        warm_up(_model, ("gradcam",), implementation="fast")
    except Exception as exc:  # noqa: BLE001 - shown on the page, the stream runs without it
        return str(exc)
    return None


if config.gradcam_every:
    problem = _warm_gradcam(model_choice.model_key(source), model)
    if problem:
        st.info(f"Grad-CAM is not available for this model: {problem}")

live = state.live()
session: LiveSession | None = live.session
if session is None or session.model is not model:
    if session is not None:
        session.close()
    session = LiveSession(model, config)
    live.session = session
session.set_config(config)


def callback(frame: av.VideoFrame) -> av.VideoFrame:
    """Worker thread: annotate the frame; its summary goes to the session's queue."""
    out = session.process_bgr(frame.to_ndarray(format="bgr24"))
    return av.VideoFrame.from_ndarray(out, format="bgr24")


webrtc_relay.install()  # newest frame only between stages: bounded memory, no growing lag
ctx = webrtc_streamer(
    key=state.LIVE_STREAM,
    mode=WebRtcMode.SENDRECV,
    rtc_configuration=webrtc_relay.rtc_configuration(settings),
    media_stream_constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}},
                              "audio": False},
    video_frame_callback=callback,
    on_video_ended=session.close,
    async_processing=True,
)


def drain() -> Timeline | None:
    """Move queued summaries into this browser session's timeline (a new one per stream)."""
    timeline = live.timeline
    for s in session.drain():
        if timeline is None or s.stream != timeline.stream:
            timeline = Timeline(s.labels, stream=s.stream)
            live.timeline, live.config_used = timeline, config
        timeline.add(s)
        live.last = s
    if timeline is not None:
        timeline.dropped = session.dropped
    return timeline


@st.fragment(run_every=RUN_S)
def streaming_view() -> None:
    """Status line and frame errors redrawn every ``REFRESH_S`` seconds and the chart every
    ``CHART_S`` seconds, for just under ``RUN_S`` seconds; then this fragment run ends and
    Streamlit's timer starts the next one."""
    status, chart, error_box = st.empty(), st.empty(), st.empty()
    redraws, started, charted = 0, time.monotonic(), float("-inf")
    # ctx.state is the component's state at the last full run: STOP reruns the whole script
    while ctx.state.playing and time.monotonic() - started < RUN_S - 2 * REFRESH_S:
        timeline = drain()
        last = live.last
        if timeline is None or last is None or last.stream != session.stream:
            status.markdown("**Streaming:** waiting for the first frames...")
        else:
            faces = len(last.faces)
            what = (f"{last.label} {max(last.primary.smoothed):.0%}" if faces else "no face")
            alert = (f" · :red[**ALERT: {', '.join(last.alerts)}**]" if last.alerts else "")
            status.markdown(
                f"**Streaming:** frames analysed: {len(timeline)} · faces in the last frame: "
                f"{faces} · {what} · {timeline.rate():.1f} frames/s{alert}")
            if time.monotonic() - charted >= CHART_S:
                chart.plotly_chart(
                    session_ui.timeline_figure(timeline.to_frame(max_rows=session_ui.MAX_POINTS),
                                               timeline.labels, config, timeline.alerts_frame()),
                    key=f"live_chart_{redraws}")
                redraws, charted = redraws + 1, time.monotonic()
        if session.error:
            error_box.error(f"A frame could not be processed: {session.error}")
        time.sleep(REFRESH_S)


if ctx.state.playing:
    streaming_view()
else:
    timeline = drain()
    if not ctx.state.signalling:
        session.close()  # the stream is over: release the pipeline and its state
    if timeline is not None and len(timeline):
        st.subheader("Last session", divider="gray")
        if session.dropped:
            st.caption(f"{session.dropped} frame summaries were dropped because the page fell "
                       "behind; the timeline has gaps there.")
        session_ui.session_summary(timeline, live.config_used or config,
                                   key="live", file_name="live_session_timeline.csv")
    else:
        st.caption("Press START and allow the camera. Faces are boxed and labelled on the video "
                   "that comes back; the timeline grows below while you stream.")
