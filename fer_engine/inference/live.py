"""The bridge between a live video callback thread and the page, for one browser session.

No Streamlit here: the Live page hands frames from streamlit-webrtc's callback thread to a
:class:`LiveSession`, which runs a :class:`fer_engine.inference.pipeline.FramePipeline` on
them and queues each frame's summary for the page to drain into a
:class:`fer_engine.inference.timeline.Timeline`. Nothing of the video itself is kept.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from fer_engine.inference.pipeline import FramePipeline, FrameSummary, LiveConfig


class LiveSession:
    """Bridge between a video callback thread and the UI thread, for one browser session.

    The callback thread calls :meth:`process_bgr` per frame: it runs the
    :class:`FramePipeline` (built on the first frame of each stream) and puts the
    :class:`FrameSummary` on a bounded queue (the oldest is dropped when the UI falls
    behind; :attr:`dropped` counts them). The UI thread calls :meth:`drain`.
    :meth:`close` (stream ended) drops the pipeline and its state; the next frame starts
    a new stream (``FrameSummary.stream`` increases). Settings are swapped atomically
    with :meth:`set_config`. Nothing of the frames is kept.
    """

    def __init__(self, model, config: LiveConfig | None = None, *, maxsize: int = 2000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.model = model
        self.config = config or LiveConfig()
        self.clock = clock
        self.queue: queue.Queue[FrameSummary] = queue.Queue(maxsize=maxsize)
        self._lock = threading.Lock()
        self._pipeline: FramePipeline | None = None
        self.stream = 0
        self.dropped = 0
        self.frames = 0
        self.error: str | None = None

    @property
    def running(self) -> bool:
        return self._pipeline is not None

    def set_config(self, config: LiveConfig) -> None:
        with self._lock:
            self.config = config
            if self._pipeline is not None and self._pipeline.config != config:
                self._pipeline.set_config(config)

    def process_bgr(self, bgr: np.ndarray) -> np.ndarray:
        """Callback thread: annotate one frame and queue its summary."""
        with self._lock:
            if self._pipeline is None:
                self.stream += 1
                self._pipeline = FramePipeline(self.model, self.config, clock=self.clock)
            pipeline, stream = self._pipeline, self.stream
            try:
                out, summary = pipeline.process(bgr)
            except Exception as exc:  # noqa: BLE001 - a frame must never kill the stream
                self.error = f"{type(exc).__name__}: {exc}"
                return bgr
            self.frames += 1
        summary.stream = stream
        self._put(summary)
        return out

    def _put(self, summary: FrameSummary) -> None:
        while True:
            try:
                self.queue.put_nowait(summary)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def drain(self, limit: int | None = None) -> list[FrameSummary]:
        """UI thread: every queued summary, oldest first."""
        out = []
        while limit is None or len(out) < limit:
            try:
                out.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return out

    @property
    def gradcam_error(self) -> str | None:
        p = self._pipeline
        return None if p is None else p.gradcam_error

    def close(self) -> None:
        """The stream ended: end ongoing alerts, release the pipeline (tracks, maps, state)."""
        with self._lock:
            if self._pipeline is not None:
                self._pipeline.finish()
            self._pipeline = None
