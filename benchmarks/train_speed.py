"""Seconds for a full leave-one-subject-out run of the cnn on the 152-image synthetic dataset.

Target: under 3 minutes on 2 CPU cores. Prints a small table: wall seconds, CPU seconds,
folds, epochs actually run (early stopping), pooled accuracy and macro-F1, and the
machine's load average (other processes slow the figure down).

    python benchmarks/train_speed.py [--epochs 30] [--model cnn] [--protocol loso] [--keep]

The run is written to a temporary runs folder and removed unless --keep is given.
Pre-processing is cached on disk; the first run on a machine also generates the
synthetic dataset and pre-processes it (reported separately).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--protocol", default="loso")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the run folder (printed)")
    args = parser.parse_args()

    from fer_engine.data import load_dataset
    from fer_engine.data.synthetic import default_dataset_path
    from fer_engine.models import create
    from fer_engine.preprocess import prepare_dataset
    from fer_engine.experiments.runs import load_run
    from fer_engine.experiments.spec import ExperimentSpec
    from fer_engine.experiments.training import run_experiment

    t0 = time.perf_counter()
    dataset = load_dataset(default_dataset_path())
    spec = create(args.model, dataset.labels, weights="none").input_spec
    prepare_dataset(dataset, spec)  # warm the cache: the benchmark times training, not decoding
    prep_s = time.perf_counter() - t0

    out = Path(tempfile.mkdtemp(prefix="fer-bench-"))
    epochs = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    experiment = ExperimentSpec(args.model, args.protocol, epochs=args.epochs, seed=args.seed,
                                weights="none")
    path = run_experiment(dataset, experiment, out_dir=out,
                          progress=lambda e: epochs.append(e.metrics["epochs_run"]) if e.kind == "fold_end" else None)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    run = load_run(path)
    m = run.metrics
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    rows = [
        ("dataset", f"{run.config['dataset']['name']} ({m['n_samples']} images, {m['n_participants']} participants)"),
        ("model / protocol", f"{args.model} / {args.protocol}, max {args.epochs} epochs"),
        ("data + pre-processing (s)", f"{prep_s:.1f}"),
        ("training wall time (s)", f"{wall:.1f}   (target < 180 on 2 cores)"),
        ("training CPU time (s)", f"{cpu:.1f}"),
        ("folds", f"{len(run.folds)}"),
        ("epochs run per fold", f"mean {sum(epochs) / max(1, len(epochs)):.1f}, min {min(epochs)}, max {max(epochs)}"),
        ("pooled accuracy", f"{m['accuracy']:.3f}   (chance {1 / len(run.labels):.3f})"),
        ("pooled macro-F1", f"{m['macro_f1']:.3f}"),
        ("CPU cores / load average", f"{os.cpu_count()} / {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k.ljust(width)}  {v}")
    if args.keep:
        print(f"run folder: {path}")
    else:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
