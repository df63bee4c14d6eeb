"""Frames per second of the live pipeline on a recorded 640x480 clip of a real face.

Runs :func:`fer_engine.inference.video.analyse_video` (decode with OpenCV, then the same
:class:`fer_engine.inference.pipeline.FramePipeline` the Live page uses: detection on a shrunk copy,
one batched model call per frame, smoothing, alerts, drawing) over a clip made from
scikit-image's astronaut photo, and prints frames per second and mean milliseconds per
stage for a few settings, with the Live default detector (Haar) and with MTCNN. Target: at
least 30 analysed frames per second at 640x480 on two CPU cores with the default detector,
detection and classification on every frame.

The model is the shipped one when ``artifacts/pretrained/model.keras`` exists, else an
untrained network of the same architecture and input (speed does not depend on the
weights). The first ``--warmup`` frames (tracing, cascade loading) are not timed.

    python benchmarks/live_fps.py [--frames 300] [--model pretrained|<run folder>]

The CPU of a shared machine gives lower figures than a quiet one: the script prints the
load average next to the results.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from live_clips import clip_frames, standin_model, write_video  # noqa: E402

from fer_engine.inference.pipeline import LiveConfig  # noqa: E402
from fer_engine.inference.video import analyse_video  # noqa: E402

VARIANTS = [
    ("detect + classify every frame", LiveConfig()),
    ("detect every 2nd frame", LiveConfig(detect_every=2)),
    ("+ Grad-CAM every 5th frame", LiveConfig(gradcam_every=5)),
    ("MTCNN, detect + classify", LiveConfig(detector="mtcnn")),
    ("MTCNN, detect every 3rd frame", LiveConfig(detector="mtcnn", detect_every=3)),
]


def load(source: str):
    from fer_engine.models import load_model, pretrained

    if source == "pretrained" and not pretrained.available():
        print("(artifacts/pretrained/model.keras is missing: timing an untrained network of the "
              "same architecture, fervgg 48x48 gray)")
        return standin_model()
    return load_model(source)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300, help="frames in the clip (15 fps)")
    ap.add_argument("--warmup", type=int, default=15, help="frames run first, not timed")
    ap.add_argument("--model", default="pretrained")
    args = ap.parse_args()

    model = load(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_video(Path(tmp) / "clip.avi", clip_frames(args.frames), 15.0, "MJPG")
        warm = write_video(Path(tmp) / "warm.avi", clip_frames(args.warmup), 15.0, "MJPG")
        print(f"clip: {args.frames} frames, 640x480 MJPG; model: {model.name} "
              f"{model.input_spec.shape}; {os.cpu_count()} CPUs; load average before: "
              f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}")
        header = (f"{'setting':32s} {'fps':>6s} {'cpu fps':>8s} {'decode':>7s} {'detect':>7s} "
                  f"{'classify':>8s} {'gradcam':>8s} {'draw':>6s} {'faces':>6s}")
        print(header)
        print("-" * len(header))
        for name, cfg in VARIANTS:
            analyse_video(warm, model, config=cfg)  # trace and load everything once
            cpu0 = time.process_time()
            res = analyse_video(clip, model, config=cfg)
            cpu = time.process_time() - cpu0
            ms = res.stage_ms
            share = res.timeline.stats()["face_share"]
            print(f"{name:32s} {res.fps:6.1f} {res.frames_analysed / cpu:8.1f} "
                  f"{ms['decode']:7.1f} {ms['detect']:7.1f} {ms['classify']:8.1f} "
                  f"{ms['gradcam']:8.1f} {ms['draw']:6.1f} {share:6.0%}")
    print("fps: analysed frames per wall-clock second (decode included); cpu fps: per second of "
          "this process's CPU time (less sensitive to other jobs, but TensorFlow may use both "
          "cores at once); stage columns: mean milliseconds per frame.")
    print(f"load average after: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
