"""Per-image time of every explanation method; print a table against the targets.

    .venv/bin/python benchmarks/explain_speed.py [--repeats 5] [--no-resnet] [--resnet-all]

Models (random weights: speed does not depend on training):
- the study CNN at 48x48 gray (``fer_engine.models.create("cnn")``: Conv 32/64/128 3x3
  ReLU + max-pool each, Flatten, Dense 128, Dropout 0.5, softmax; 7 FER2013 classes);
- ResNet50 (``weights=None``) at 224x224 RGB, built flat with our head.

Each row: the median of ``--repeats`` warm calls (the first call, which builds the
cached tf-keras-vis clone and traces the tf.functions, is shown as ``first``).
Our own implementations sit beside tf-keras-vis where both exist. Targets:
Grad-CAM < 30 ms, IG 32 steps < 300 ms, occlusion stride 4 < 300 ms (48x48),
ResNet50 Grad-CAM < 1.5 s. The CPU may be shared with other jobs: say so with the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np

from fer_engine.emotions import FER2013_EMOTIONS
from fer_engine.explain import deletion_insertion, explain


def study_cnn():
    try:
        from fer_engine.models import create

        return create("cnn", FER2013_EMOTIONS), "fer_engine.models cnn"
    except ImportError:  # before the models package existed
        import keras

        inp = keras.Input((48, 48, 1))
        x = inp
        for f in (32, 64, 128):
            x = keras.layers.Conv2D(f, 3, activation="relu")(x)
            x = keras.layers.MaxPooling2D(2)(x)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(128, activation="relu")(x)
        x = keras.layers.Dropout(0.5)(x)
        out = keras.layers.Dense(7, activation="softmax")(x)
        return keras.Model(inp, out), "own build"


def resnet50():
    from fer_engine.models import create

    return create("resnet50", FER2013_EMOTIONS, weights="none")


def timed(fn, repeats: int) -> tuple[float, float]:
    """(first call, median of the next ``repeats``) in seconds."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return first, statistics.median(times)


def rows_for(model, x, cases, repeats):
    out = []
    for label, method, impl, opts, target in cases:

        def call(method=method, impl=impl, opts=opts):
            if method == "deletion+insertion":
                return deletion_insertion(model, x, np.random.default_rng(0).random(x.shape[:2]))
            return explain(
                model,
                x,
                method,
                implementation="fast" if impl == "fast" else "tf-keras-vis",
                **opts,
            )

        first, med = timed(call, repeats)
        out.append((label, impl, first, med, target))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-resnet", action="store_true")
    ap.add_argument(
        "--resnet-all", action="store_true", help="also IG and occlusion on ResNet50 (slow)"
    )
    args = ap.parse_args()

    import tensorflow as tf

    rng = np.random.default_rng(0)
    cnn, how = study_cnn()
    x48 = rng.random((48, 48, 1), dtype=np.float32)
    v, k = "tf-keras-vis", "fast"
    cases = [
        ("saliency", "saliency", v, {}, None),
        ("saliency", "saliency", k, {}, None),
        ("smoothgrad (20 samples)", "smoothgrad", v, {"samples": 20}, None),
        ("gradcam", "gradcam", v, {}, 0.030),
        ("gradcam", "gradcam", k, {}, 0.030),
        ("gradcam++", "gradcam++", v, {}, None),
        ("scorecam", "scorecam", v, {}, None),
        ("ig (32 steps)", "ig", "own", {"steps": 32}, 0.300),
        ("occlusion (patch 8, stride 4)", "occlusion", "own", {"patch": 8, "stride": 4}, 0.300),
        ("deletion+insertion (50 steps)", "deletion+insertion", "own", {}, None),
    ]
    print(
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores, load average "
        f"{os.getloadavg()[0]:.1f} at start; study CNN: {how}"
    )
    rows = [("cnn 48x48",) + r for r in rows_for(cnn, x48, cases, args.repeats)]

    if not args.no_resnet:
        rn = resnet50()
        x224 = rng.normal(0, 50, (224, 224, 3)).astype(np.float32)  # resnet50-normalised scale
        rcases = [
            ("gradcam", "gradcam", v, {}, 1.5),
            ("gradcam", "gradcam", k, {}, 1.5),
            ("gradcam++", "gradcam++", v, {}, None),
            ("saliency", "saliency", v, {}, None),
            ("saliency", "saliency", k, {}, None),
        ]
        if args.resnet_all:
            rcases += [
                ("ig (32 steps)", "ig", "own", {"steps": 32}, None),
                (
                    "occlusion (patch 32, stride 16)",
                    "occlusion",
                    "own",
                    {"patch": 32, "stride": 16},
                    None,
                ),
            ]
        rows += [
            ("resnet50 224x224",) + r for r in rows_for(rn, x224, rcases, max(2, args.repeats // 2))
        ]

    print()
    print(
        f"{'model':<17} {'method':<31} {'implementation':<13} {'first':>9} {'median':>9} "
        f"{'target':>8}  ok"
    )
    for model, label, impl, first, med, target in rows:
        tgt = f"{target * 1000:.0f} ms" if target else ""
        ok = ("yes" if med < target else "NO") if target else ""
        print(
            f"{model:<17} {label:<31} {impl:<13} {first * 1000:>6.0f} ms {med * 1000:>6.0f} ms "
            f"{tgt:>8}  {ok}"
        )
    print(
        f"\nload average at end {os.getloadavg()[0]:.1f} (2 cores: above 2 means the CPU was shared)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
