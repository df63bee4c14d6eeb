"""Recorded-session analysis: the live pipeline over the frames of a video file.

:func:`analyse_video` decodes an MP4, WebM or AVI file with OpenCV, runs
:class:`fer_engine.inference.pipeline.FramePipeline` on every ``frame_step``-th frame (the frames in
between are skipped without decoding) with the frame's *video* time, and returns the
same :class:`fer_engine.inference.timeline.Timeline`, alert episodes and CSV as a live session.

OpenCV reads videos from a path only, so :func:`analyse_video_bytes` writes an upload
to a temporary file, analyses it and deletes the file before returning (also when the
analysis fails or is interrupted). Nothing else of the video is stored.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fer_engine.errors import UserFacingError
from fer_engine.format import every_nth
from fer_engine.inference.alerts import AlertEvent
from fer_engine.inference.pipeline import FramePipeline, LiveConfig
from fer_engine.inference.timeline import Timeline

#: File endings accepted for recorded sessions.
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".webm", ".avi")
#: Frame rate assumed when a file does not declare a usable one.
DEFAULT_FPS = 25.0


class VideoError(UserFacingError):
    """A video file cannot be opened or decoded."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video file declares: ``frames`` (may be an estimate, 0 if unknown),
    ``fps`` frames per second, ``width``/``height`` pixels, ``duration_s`` seconds."""

    frames: int
    fps: float
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps if self.fps > 0 else 0.0


@dataclass
class SessionAnalysis:
    """The result of :func:`analyse_video`.

    ``timeline``: one row per analysed frame (``t_s`` is video time); ``events``: alert
    episodes; ``info``: the file's properties; ``frames_read`` frames decoded,
    ``frames_analysed`` frames run through the pipeline; ``seconds``: processing time;
    ``preview``: an annotated (H, W, 3) uint8 **RGB** frame (the first alert if any, else
    the first frame with a face, else the first frame), for display only;
    ``stage_ms``: mean milliseconds per stage (decode, detect, classify, gradcam, draw).
    """

    timeline: Timeline
    events: list[AlertEvent]
    info: VideoInfo
    frame_step: int
    frames_read: int = 0
    frames_analysed: int = 0
    seconds: float = 0.0
    preview: np.ndarray | None = None
    preview_t: float | None = None
    stage_ms: dict = field(default_factory=dict)

    @property
    def interval_s(self) -> float:
        """Seconds of video between two analysed frames."""
        return self.frame_step / self.info.fps if self.info.fps > 0 else float("nan")

    def step_warning(self, hold_s: float) -> str | None:
        """See :func:`frame_step_warning`."""
        return frame_step_warning(self.frame_step, self.info.fps, hold_s)

    @property
    def fps(self) -> float:
        """Analysed frames per second of processing time."""
        return self.frames_analysed / self.seconds if self.seconds > 0 else float("nan")


def frame_step_warning(frame_step: int, fps: float, hold_s: float) -> str | None:
    """A sentence when analysed frames are too far apart for the alert rule: more than half
    the hold time between them (fewer than two analysed frames while an emotion must stay
    above the threshold), so an episode as long as the hold time can fall between them and
    'No alert' does not mean there was none. ``None`` when the step is fine."""
    if fps <= 0 or hold_s <= 0:
        return None
    interval = frame_step / fps
    if interval <= hold_s / 2:
        return None
    largest = max(1, int(hold_s / 2 * fps))
    return (f"Analysed frames are {interval:.1f} s apart ({every_nth(frame_step)} at "
            f"{fps:.0f} frames per second), more than half the alert time of {hold_s:g} s: an "
            f"expression held that long can fall between them, so an absent alert does not "
            f"mean there was none. Analyse {every_nth(largest)} or more often for this video.")


def _open(path) -> cv2.VideoCapture:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise VideoError(f"The video file {os.path.basename(path)} does not exist.")
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        cap.release()
        raise VideoError(
            f"'{os.path.basename(path)}' is not a video this tool can read "
            f"(supported: MP4, WebM, AVI)."
        )
    return cap


def _info(cap: cv2.VideoCapture) -> VideoInfo:
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    if not np.isfinite(fps) or fps <= 0 or fps > 1000:
        fps = DEFAULT_FPS
    frames = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    frames = int(frames) if np.isfinite(frames) and frames > 0 else 0
    return VideoInfo(frames, fps, int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                     int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))


def probe_video(path) -> VideoInfo:
    """Frame count, frame rate and size of a video file (raises :class:`VideoError`)."""
    cap = _open(path)
    try:
        return _info(cap)
    finally:
        cap.release()


ProgressFn = Callable[[float, int, int], None]


def analyse_video(
    path,
    model,
    *,
    config: LiveConfig | None = None,
    frame_step: int = 1,
    max_frames: int | None = None,
    progress: ProgressFn | None = None,
    on_frame: Callable | None = None,
) -> SessionAnalysis:
    """Run the live pipeline over a video file.

    ``model``: a loaded FER model. ``frame_step``: analyse every n-th frame (1: all).
    ``max_frames``: stop after this many analysed frames (None: the whole file).
    ``progress(fraction, frames_read, frames_total)`` is called about twice a second
    (``fraction`` in [0, 1]; ``frames_total`` 0 when the file does not say).
    ``on_frame(summary)`` receives every analysed frame's
    :class:`~fer_engine.inference.pipeline.FrameSummary` (all its faces, with their tracks).
    Raises :class:`VideoError` when the file cannot be opened or holds no frame.
    """
    if frame_step < 1:
        raise ValueError("frame_step must be 1 or more")
    cap = _open(path)
    t_start = time.perf_counter()
    try:
        info = _info(cap)
        pipeline = FramePipeline(model, config or LiveConfig())
        timeline = Timeline(pipeline.labels)
        result = SessionAnalysis(timeline, [], info, frame_step)
        sums: dict[str, float] = {}
        preview_rank = -1
        index = -1
        last_report = 0.0
        while max_frames is None or result.frames_analysed < max_frames:
            tic = time.perf_counter()
            if (index + 1) % frame_step:
                if not cap.grab():
                    break
                index += 1
                result.frames_read += 1
                continue
            ok, bgr = cap.read()
            if not ok or bgr is None:
                break
            index += 1
            result.frames_read += 1
            if bgr.ndim == 2:
                bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
            decode_ms = (time.perf_counter() - tic) * 1e3
            t = index / info.fps
            out, summary = pipeline.process(np.ascontiguousarray(bgr[:, :, :3]), t=t)
            summary.frame = index
            timeline.add(summary)
            if on_frame is not None:
                on_frame(summary)
            result.frames_analysed += 1
            sums["decode"] = sums.get("decode", 0.0) + decode_ms
            for k, v in summary.timings.items():
                sums[k] = sums.get(k, 0.0) + v
            rank = 2 if summary.fired else (1 if summary.faces else 0)
            if rank > preview_rank:
                preview_rank = rank
                result.preview = cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
                result.preview_t = t
            now = time.perf_counter()
            if progress is not None and now - last_report >= 0.5:
                last_report = now
                total = info.frames
                progress(min(1.0, index / total) if total else 0.0, result.frames_read, total)
        if result.frames_analysed == 0:
            raise VideoError(
                "No frame of this video could be decoded; it may be damaged or use a codec "
                "this computer cannot read (try MP4 with H.264, or WebM)."
            )
        result.events = pipeline.finish()
        result.seconds = time.perf_counter() - t_start
        result.stage_ms = {k: v / result.frames_analysed for k, v in sums.items()}
        if progress is not None:
            progress(1.0, result.frames_read, info.frames)
        return result
    finally:
        cap.release()


def analyse_video_bytes(
    data: bytes,
    filename: str,
    model,
    *,
    tmp_dir=None,
    **kwargs,
) -> SessionAnalysis:
    """:func:`analyse_video` for an upload held in memory.

    The bytes are written to a temporary file (OpenCV reads from paths only) in
    ``tmp_dir`` (default the system's), which is deleted before this returns, whether
    the analysis succeeded or not. ``filename`` only picks the suffix and the messages.
    """
    suffix = Path(filename).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise VideoError(
            f"'{filename}' is not an MP4, WebM or AVI file; those are the formats accepted."
        )
    if not data:
        raise VideoError(f"The file '{filename}' is empty.")
    fd, tmp = tempfile.mkstemp(suffix=suffix, prefix="fer-session-", dir=tmp_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            return analyse_video(tmp, model, **kwargs)
        except VideoError as exc:
            raise VideoError(str(exc).replace(os.path.basename(tmp), filename)) from None
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
