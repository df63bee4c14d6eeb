"""Streamlit-side helpers shared by the pages (the only package besides ``pages/`` that imports
streamlit). The engine stays in ``fer_engine``; these modules hold session state, settings from
``st.secrets``, cached loaders and small widgets.

- :mod:`dashboard.state`: deployment settings, the active dataset and model, the job manager.
- :mod:`dashboard.loaders`: cached dataset loading, thumbnails, run reports.
- :mod:`dashboard.widgets`: banners and small reusable widgets.
"""

from dashboard.native_libs import load_pylibsrtp

# Before anything can import aiortc after TensorFlow (see dashboard.native_libs).
load_pylibsrtp()
