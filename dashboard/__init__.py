"""Streamlit-side helpers shared by the pages (the only package besides ``pages/`` that imports
streamlit). The engine stays in ``fer_engine``; these modules are organised by role:

- :mod:`dashboard.state`: every session key, through typed accessors (the active dataset and
  model, training jobs, each page's kept results); deployment settings; the job manager.
- :mod:`dashboard.cache`: cached engine calls (datasets, thumbnails, run reports).
- :mod:`dashboard.widgets`: the synthetic and LEAKY banners, the sidebar status.
- :mod:`dashboard.charts`: Plotly charts of the Dataset and Train pages.
- Page helpers: :mod:`dashboard.model_choice` (the model picker of Classify, Live and Session,
  and its cached model loader), :mod:`dashboard.classify_ui` (Classify),
  :mod:`dashboard.session_ui` (Live and Session), :mod:`dashboard.webrtc_relay` (Live).
- :mod:`dashboard.native_libs`: loads the WebRTC stack's native library safely next to TensorFlow.
"""

from dashboard.native_libs import load_pylibsrtp

# Before anything can import aiortc after TensorFlow (see dashboard.native_libs).
load_pylibsrtp()
