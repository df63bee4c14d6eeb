"""streamlit-webrtc glue of the Live page (no browser): ICE servers from st.secrets-like
mappings become plain dicts that streamlit-webrtc accepts; the newest-frame relay."""

from __future__ import annotations

import json
import os

from dashboard import webrtc_relay  # first: loads pylibsrtp safely next to TensorFlow
from streamlit.runtime.secrets import AttrDict  # noqa: I001
from streamlit_webrtc.config import compile_rtc_configuration
from fer_engine.settings import load_settings

SECRETS = {
    "ice_servers": [
        AttrDict({"urls": ["stun:stun.example.org:3478"]}),
        AttrDict({"urls": ["turns:turn.example.org:443?transport=tcp"], "username": "demo",
                  "credential": "secret"}),
    ]
}


def test_secrets_tables_become_plain_ice_servers():
    settings = load_settings(SECRETS)
    raw = settings.rtc_configuration()
    # what st.secrets gives is not a dict, so streamlit-webrtc would drop every server ...
    assert len(compile_rtc_configuration(raw).iceServers) == 0
    plain = webrtc_relay.rtc_configuration(settings)
    # ... the page passes plain JSON instead: both servers arrive, credentials included
    servers = compile_rtc_configuration(plain).iceServers
    assert [s.urls for s in servers] == [["stun:stun.example.org:3478"],
                                         ["turns:turn.example.org:443?transport=tcp"]]
    assert servers[1].username == "demo" and servers[1].credential == "secret"
    assert json.loads(json.dumps(plain)) == plain


def test_no_ice_servers_by_default(monkeypatch):
    monkeypatch.delenv("FER_ICE_SERVERS", raising=False)
    assert webrtc_relay.rtc_configuration(load_settings({})) == {"iceServers": []}
    monkeypatch.setenv("FER_ICE_SERVERS", '[{"urls": ["stun:stun.l.google.com:19302"]}]')
    assert webrtc_relay.rtc_configuration(load_settings({}))["iceServers"][0]["urls"] == [
        "stun:stun.l.google.com:19302"]


def test_relay_subscribes_unbuffered():
    class Track:
        kind = "video"

    relay = webrtc_relay.LatestFrameRelay()
    proxy = relay.subscribe(Track(), buffered=True)
    assert proxy._buffered is False and proxy._queue is None  # no queue that can grow


def test_webrtc_stack_survives_tensorflow_imported_first():
    """pylibsrtp crashed the process (SIGSEGV) when imported after TensorFlow; a page that
    imports dashboard first must load the WebRTC stack and encrypt an RTP packet."""
    import subprocess
    import sys

    code = (
        "import tensorflow\n"
        "import dashboard\n"
        "import streamlit_webrtc, aiortc\n"
        "from pylibsrtp import Policy, Session\n"
        "policy = Policy(key=bytes(range(30)), ssrc_type=Policy.SSRC_ANY_OUTBOUND)\n"
        "rtp = bytes([0x80, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]) + b'x' * 20\n"
        "print(len(Session(policy=policy).protect(rtp)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "42"  # 32-byte packet + 10-byte authentication tag
