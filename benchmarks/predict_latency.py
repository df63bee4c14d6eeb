"""Per-face latency of the model call in ``predict`` for the cnn, at batch 1 and batch 64.

Target: under 5 ms per face at batch 1, excluding face detection. The call measured is
``FERModel.predict_proba`` (normalisation included; a ``tf.function`` with a fixed input
signature, or the model's LiteRT twin when it has one, as the shipped model does:
``--model pretrained``), which is what ``fer_engine.inference.predict.predict_images`` calls per
batch of faces.
For contrast it also times one Keras ``model.predict`` call (never used per face) and
the whole ``predict_images`` pipeline on a real photo (decode + detection + model).

    python benchmarks/predict_latency.py [--model RUN_OR_FILE] [--repeats 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import call_times, median_p90_ms  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a run folder or model file (default: an untrained cnn)")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    import numpy as np

    from fer_engine.emotions import FER2013_EMOTIONS
    from fer_engine.models import create, load_model
    from fer_engine.models.lite import served_by
    from fer_engine.inference.predict import predict_images

    model = load_model(args.model) if args.model else create("cnn", FER2013_EMOTIONS)
    rng = np.random.default_rng(0)
    rows = []
    for batch in (1, 64):
        X = rng.integers(0, 256, (batch, *model.input_spec.shape)).astype(np.uint8)
        repeats = max(20, args.repeats // (1 if batch == 1 else 4))
        t = call_times(lambda: model.predict_proba(X), repeats, warmup=5)  # tracing happens once
        med, p90 = median_p90_ms(t)
        rows.append((f"predict_proba, batch {batch}", f"{med / batch:.2f} ms/face",
                     f"call median {med:.2f} ms, p90 {p90:.2f} ms"))
    lite = getattr(model, "lite", None)
    if lite is not None:  # the same call without the LiteRT twin, for contrast
        X = rng.integers(0, 256, (1, *model.input_spec.shape)).astype(np.uint8)
        model.lite = None
        t = call_times(lambda: model.predict_proba(X), args.repeats, warmup=5)
        model.lite = lite
        rows.append(("tf.function, batch 1 (no twin)", f"{median_p90_ms(t)[0]:.2f} ms/face",
                     "float32 Keras graph, one pass: what a model without a twin takes"))
    if model.keras_model is not None:
        X1 = rng.integers(0, 256, (1, *model.input_spec.shape)).astype(np.float32) / 255.0
        t = call_times(lambda: model.keras_model.predict(X1, verbose=0), 10, warmup=1)
        rows.append(("keras model.predict, batch 1", f"{median_p90_ms(t)[0]:.2f} ms/face",
                     "for contrast only; never used per face"))
    try:
        from PIL import Image
        from skimage import data

        folder = Path(tempfile.mkdtemp(prefix="fer-latency-"))
        photo = folder / "astronaut.jpg"
        Image.fromarray(data.astronaut()).save(photo, quality=90)
        t = call_times(lambda: predict_images(model, [photo]), 10, warmup=1)
        rows.append(("predict_images, 512x512 photo", f"{median_p90_ms(t)[0]:.1f} ms/image",
                     "decode + Haar detection + model, 1 face"))
    except ImportError:  # scikit-image is a dev dependency
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    rows.append(("CPU cores / load average", f"{os.cpu_count()}", f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"model: {model.name} {model.input_spec.shape}, {len(model.labels)} classes (target < 5 ms/face at batch 1)")
    print(f"served by: {served_by(model)}")
    for a, b, c in rows:
        print(f"{a.ljust(w0)}  {b.rjust(w1)}  {c}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
