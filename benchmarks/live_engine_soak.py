"""Memory of the engine's live path alone: no Streamlit, no WebRTC, no browser.

Feeds a 640x480 clip of a real face (scikit-image's astronaut) frame after frame, as fast as
the machine goes, through the same :class:`fer_engine.inference.live.LiveSession` the Live page
uses, drains its summaries into a :class:`fer_engine.inference.timeline.Timeline` and builds the
thinned table the page charts (``to_frame(max_rows=1500)``) every 1,500 frames, printing this
process's resident memory. Compared with ``live_soak.py`` (the whole server with a browser) it
tells whether memory growth there comes from the engine or from the web stack around it.

    python benchmarks/live_engine_soak.py [--frames 15000]

The model is the shipped one when ``artifacts/pretrained/model.keras`` exists, else an
untrained network of the same architecture.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
from live_soak import rss_mb  # noqa: E402  (this folder is on the path when run as a script)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=15_000)
    ap.add_argument("--every", type=int, default=1_500, help="frames between samples")
    args = ap.parse_args()
    import cv2
    from live_clips import clip_frames, standin_model

    from fer_engine.inference.live import LiveSession
    from fer_engine.inference.timeline import Timeline
    from fer_engine.models import pretrained

    model = pretrained.load_pretrained() if pretrained.available() else standin_model()
    frames = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in clip_frames(30)]
    session, timeline = LiveSession(model), None
    print(f"{'frames':>7s} {'RSS MB':>7s} {'fps':>6s}  (load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())})")
    first = None
    t0 = time.monotonic()
    for n in range(1, args.frames + 1):
        session.process_bgr(frames[n % len(frames)])
        for s in session.drain():
            if timeline is None:
                timeline = Timeline(s.labels, stream=s.stream)
            timeline.add(s)
        if n % args.every == 0:
            timeline.to_frame(max_rows=1_500)
            rss = rss_mb(os.getpid())
            first = first or rss
            print(f"{n:7d} {rss:7.0f} {n / (time.monotonic() - t0):6.1f}", flush=True)
    print(f"RSS first -> last sample: {(rss - first) / first:+.1%} ({first:.0f} -> {rss:.0f} MB); "
          f"timeline {len(timeline)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
