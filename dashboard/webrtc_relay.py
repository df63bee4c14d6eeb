"""streamlit-webrtc glue: plain ICE configuration, and a relay that keeps only the newest
video frame between stages (bounded memory).

:func:`rtc_configuration`: ``st.secrets`` hands tables over as read-only mappings, which
streamlit-webrtc 0.79 silently ignores as ICE servers (it accepts ``dict`` only); they are
turned into plain dicts and lists here.

streamlit-webrtc 0.79 connects the incoming camera track to the frame processor, and the
processed track to the outgoing connection, through aiortc's ``MediaRelay`` with
``buffered=True``: an unbounded queue per consumer. When the server cannot encode the
returned video as fast as the camera sends frames (a busy CPU, two cores), that queue
grows by every frame not yet consumed - measured here at about 50 MB a minute of decoded
640x480 frames - and the video it shows falls further and further behind.

For a live view only the newest frame matters, so :func:`install` replaces the library's
process-wide relay by one that subscribes every consumer *unbuffered* (aiortc keeps the
latest frame and drops older ones). It relies on how streamlit-webrtc 0.79 stores its
relay (pinned in requirements.txt); with another layout it does nothing and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiortc.contrib.media import MediaRelay

LOGGER = logging.getLogger(__name__)


def _plain(value):
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def rtc_configuration(settings) -> dict:
    """``{"iceServers": [...]}`` from :class:`fer_engine.settings.Settings`, as plain JSON
    types (an empty list: no STUN/TURN, enough on localhost)."""
    return _plain(settings.rtc_configuration())


class LatestFrameRelay(MediaRelay):
    """A ``MediaRelay`` whose subscribers always get the newest frame (no queue)."""

    def subscribe(self, track, buffered: bool = True):
        return super().subscribe(track, buffered=False)


def install() -> bool:
    """Make :class:`LatestFrameRelay` streamlit-webrtc's global relay (idempotent).

    Streams already running keep the relay they were created with. Returns True when the
    relay in place is ours.
    """
    try:
        from streamlit.runtime.runtime import Runtime
        from streamlit_webrtc import relay as webrtc_relay
        from streamlit_webrtc.eventloop import get_global_event_loop, loop_context

        attr = webrtc_relay._SERVER_GLOBAL_RELAY_ATTR_NAME_
        runtime = Runtime.instance()
    except (ImportError, AttributeError, RuntimeError) as exc:
        LOGGER.warning("streamlit-webrtc's relay could not be replaced (%s); frames may "
                       "queue up when the server is slow", exc)
        return False
    if isinstance(getattr(runtime, attr, None), LatestFrameRelay):
        return True
    loop = get_global_event_loop()
    with loop_context(loop):  # the relay must belong to streamlit-webrtc's event loop
        setattr(runtime, attr, LatestFrameRelay())
    return True
