"""How many cameras the visitor's browser has, asked before the Live page offers a stream.

A tiny component (``camera_probe/index.html``, no library, nothing fetched) counts the
browser's video inputs with ``enumerateDevices``: no video is opened and no permission is
asked. Without it a browser with no camera only shows the stream component's raw
``NotFoundError`` after START.
"""

from __future__ import annotations

from pathlib import Path

import streamlit.components.v1 as components

_probe = components.declare_component("camera_probe", path=str(Path(__file__).parent / "camera_probe"))


def count(key: str = "camera_probe") -> int | None:
    """Cameras in this browser: a number, -1 when the browser has no media API, None until
    the browser has answered (the first run of the page; under AppTest always None)."""
    value = _probe(key=key, default=None)
    return None if value is None else int(value)
