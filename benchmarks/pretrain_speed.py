"""Training throughput of the shipped model's network (images/s) with and without XLA.

Why `train-pretrained` compiles with ``jit_compile=False``: Keras' default ("auto")
turns XLA on, and on this CPU XLA's kernels were slower than TensorFlow's own, which
use oneDNN (and its bfloat16 instructions). Each setting runs in a fresh process: the
shipped recipe's network, optimiser, loss, batch size and augmentation pipeline
(``fer_engine.pretrained.training``), on random 48x48 pixels (speed does not depend on
the pictures), one warm-up pass of 10 batches, then ``--batches`` timed batches.

    python benchmarks/pretrain_speed.py [--batches 150] [--rounds 2]

The settings take turns, round after round, so a slow spell of the machine (its speed
varies by up to 2x here) falls on all of them. Prints a table: images/s of each round,
the seconds one FER2013 training epoch (28,358 images) would take at the best round,
and the load average (other processes slow every figure down).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FER2013_TRAIN = 28358  # training images after leaving out copies of public_test ones
SETTINGS = {  # name: (mixed precision policy, XLA)
    "bf16, XLA (Keras' default)": ("mixed_bfloat16", True),
    "bf16, no XLA (used)": ("mixed_bfloat16", False),
    "float32, no XLA": ("float32", False),
}


def measure(policy: str, jit: bool, batches: int) -> float:
    """Images per second of ``model.fit`` over ``batches`` augmented batches."""
    import keras
    import numpy as np

    from fer_engine.models import fervgg
    from fer_engine.pretrained.training import (
        PretrainConfig,
        _augmenter,
        _dataset,
        compile_for_training,
    )

    keras.mixed_precision.set_global_policy(policy)
    cfg = PretrainConfig()
    rng = np.random.default_rng(0)
    n = cfg.batch_size * batches
    X = rng.integers(0, 256, (n, 48, 48, 1), dtype=np.uint8)
    y = rng.integers(0, len(cfg.labels), n)
    keras.utils.set_random_seed(0)
    model = fervgg.build(len(cfg.labels), **cfg.arch())
    compile_for_training(model, cfg, cfg.learning_rate, xla=jit)
    augment = _augmenter(cfg, 0)
    warm = cfg.batch_size * 10
    model.fit(_dataset(cfg, X[:warm], y[:warm], 0, augment), verbose=0)
    t0 = time.perf_counter()
    model.fit(_dataset(cfg, X, y, 1, augment), verbose=0)
    return n / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=150, help="timed batches of 64 per setting")
    parser.add_argument("--rounds", type=int, default=2, help="measurements per setting")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one setting
    args = parser.parse_args()
    if args.one:
        policy, jit = SETTINGS[args.one]
        print(json.dumps({"images_per_s": measure(policy, jit, args.batches)}))
        return 0

    speeds: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for _ in range(args.rounds):  # interleaved, so a slow spell of the machine hits all
        for name in SETTINGS:
            out = subprocess.run(
                [sys.executable, __file__, "--one", name, "--batches", str(args.batches)],
                capture_output=True, text=True, cwd=ROOT,
            )
            if out.returncode != 0:
                print(f"{name}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
                return 1
            speeds[name].append(json.loads(out.stdout.strip().splitlines()[-1])["images_per_s"])
    print(f"{'setting':30s} {'images/s (each round)':>24s} {'s per FER2013 epoch':>20s}")
    for name, ips in speeds.items():
        each = ", ".join(f"{x:.0f}" for x in ips)
        print(f"{name:30s} {each:>24s} {FER2013_TRAIN / max(ips):20.0f}")
    print(f"CPU cores / load average: {os.cpu_count()} / "
          + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
