"""Load pylibsrtp (aiortc's SRTP binding, used by streamlit-webrtc) safely next to TensorFlow.

pylibsrtp 1.0.0 and 0.12.0 link OpenSSL statically and export its symbols. TensorFlow loads
its own libraries with ``RTLD_GLOBAL``; when TensorFlow is imported first, pylibsrtp's
references resolve to TensorFlow's copies and ``srtp_init()`` crashes the whole process
(a segmentation fault, measured here with ``import tensorflow; import pylibsrtp``).
Loading the binding with ``RTLD_DEEPBIND`` makes it use its own symbols whatever was loaded
before. :func:`load_pylibsrtp` runs when :mod:`dashboard` is imported, so every page and
test that goes through ``dashboard`` is safe in any import order.
"""

from __future__ import annotations

import os
import sys


def load_pylibsrtp() -> bool:
    """Import pylibsrtp with its own symbols first; False when it is not installed."""
    if "pylibsrtp" in sys.modules:
        return True
    flags = sys.getdlopenflags()
    deepbind = getattr(os, "RTLD_DEEPBIND", 0)  # Linux/glibc only; elsewhere nothing to do
    sys.setdlopenflags(flags | deepbind)
    try:
        import pylibsrtp  # noqa: F401
    except ImportError:
        return False
    finally:
        sys.setdlopenflags(flags)
    return True
