"""Webcam-like frames and short clips of a real face (scikit-image's astronaut), for the
live/video tests, the browser tests' fake camera and the benchmarks (not a test module).

The astronaut photo is cropped around her head and shoulders and enlarged to 640x480,
so the face is about 200 pixels wide, as in a webcam image; the crop pans a few pixels
from frame to frame so the clip moves.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT = 640, 480
#: Where the Haar detector finds the face in :func:`webcam_frame` (shift 0), x, y, w, h.
FACE_REGION = (200, 100, 260, 260)


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()  # (512, 512, 3) uint8 RGB


def webcam_frame(shift: int = 0, size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    """(H, W, 3) uint8 RGB: the astronaut's head, panned ``shift`` pixels (source scale)."""
    a = astronaut()
    x0 = int(np.clip(60 + shift, 0, 512 - 320))
    return cv2.resize(a[0:240, x0:x0 + 320], size, interpolation=cv2.INTER_LINEAR)


def clip_frames(n: int, size: tuple[int, int] = (WIDTH, HEIGHT)) -> list[np.ndarray]:
    """``n`` RGB frames panning smoothly left and right (+-12 source pixels)."""
    return [webcam_frame(int(round(12 * np.sin(2 * np.pi * i / 30))), size) for i in range(n)]


def blank_frame(size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    """(H, W, 3) uint8 RGB without a face: a smooth gray gradient."""
    w, h = size
    ramp = np.linspace(60, 190, w, dtype=np.float32)[None, :].repeat(h, axis=0)
    return np.repeat(ramp[:, :, None], 3, axis=2).astype(np.uint8)


def write_video(path: Path, frames: list[np.ndarray], fps: float = 15.0,
                fourcc: str = "MJPG") -> Path:
    """Write RGB ``frames`` with OpenCV (MJPG in .avi, mp4v in .mp4 work offline)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} to {path}")
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return Path(path)


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 15) -> Path:
    """A YUV4MPEG2 (4:2:0) file for Chromium's ``--use-file-for-fake-video-capture``."""
    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return Path(path)


def jpeg_bytes(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def standin_model(labels=None):
    """An untrained model with the shipped model's architecture and input (fervgg, fused,
    48x48 gray, FER2013's seven emotions): what the tests use instead of the pretrained one."""
    from fer_engine import emotions
    from fer_engine.models import create

    return create("fervgg", labels or emotions.FER2013_EMOTIONS, fused=True)


LABELS = ("anger", "disgust", "fear", "happy", "neutral", "sad", "surprise")  # FER2013's


def onehot(label: str, p: float = 1.0) -> np.ndarray:
    """(7,) probabilities: ``p`` on ``label``, the rest shared equally."""
    v = np.full(len(LABELS), (1.0 - p) / (len(LABELS) - 1))
    v[LABELS.index(label)] = p
    return v


class FakeModel:
    """Stands in for a FER model without TensorFlow: every face gets ``schedule(call_index)``;
    ``calls`` records each predict_proba call's batch size."""

    labels = LABELS

    def __init__(self, schedule=lambda i: onehot("happy")):
        from fer_engine.preprocess import GRAY_48

        self.input_spec = GRAY_48
        self.schedule = schedule
        self.calls: list[int] = []

    def predict_proba(self, X, batch_size: int = 256):
        X = np.asarray(X)
        assert X.shape[1:] == (48, 48, 1) and X.dtype == np.uint8
        p = self.schedule(len(self.calls))
        self.calls.append(len(X))
        return np.repeat(np.asarray(p, np.float32)[None], len(X), axis=0)
