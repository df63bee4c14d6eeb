"""Timing of repeated calls, shared by the benchmark scripts (``from benchmarks.timing import ...``)."""

from __future__ import annotations

import time

import numpy as np


def call_times(fn, repeats: int, warmup: int = 10) -> np.ndarray:
    """Seconds taken by each of ``repeats`` calls of ``fn()``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = np.empty(repeats)
    for i in range(repeats):
        t = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t
    return out


def median_p90_ms(times, per: int = 1) -> tuple[float, float]:
    """Median and 90th percentile of ``times`` (seconds) in milliseconds, divided by ``per``
    (e.g. the faces in one call)."""
    times = np.asarray(times, float)
    return float(np.median(times)) * 1e3 / per, float(np.percentile(times, 90)) * 1e3 / per
