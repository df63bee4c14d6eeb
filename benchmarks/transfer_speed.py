"""Seconds and accuracy of ``train --model transfer`` beside the study ``cnn`` on two datasets.

1. The default synthetic dataset (152 images, 19 people), leave-one-subject-out.
   Target for transfer: under 60 s on 2 CPU cores.
2. About 1,000 FER2013 ``public_test`` faces (never seen by the shipped network, which trained
   on ``train``) in class folders, with a ``manifest.csv`` giving them ~100 synthetic participant
   ids (10 images each, assigned at random: FER2013 does not say who is who), grouped 5-fold.
   Target for transfer: under 30 s. The folders hold symbolic links to the read-only dataset,
   in a temporary folder that is removed afterwards.

Each row is one ``python -m fer_engine train`` process, timed from start to exit (importing
TensorFlow and loading models included); pre-processing is cached beforehand (timed
separately), as in ``benchmarks/train_speed.py``. Prints one table and the machine's load.

    python benchmarks/transfer_speed.py [--fer2013 ../shared/datasets/fer2013] [--images 1000]
        [--people 100] [--cnn-epochs 30] [--skip-cnn]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def fer2013_subset(src: Path, out: Path, n_images: int, n_people: int, seed: int = 0) -> Path:
    """``out/<emotion>/<file>`` links to ``n_images`` ``public_test`` faces (classes as balanced
    as the data allow) and ``out/manifest.csv`` with ``n_people`` random participant ids."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folders = sorted(p for p in (src / "public_test").iterdir() if p.is_dir())
    files = {f.name: sorted(f.iterdir()) for f in folders}
    share = n_images // len(files)
    take = {k: min(len(v), share) for k, v in files.items()}
    spare = n_images - sum(take.values())
    for k in sorted(files, key=lambda k: -len(files[k])):  # the rest from the larger classes
        extra = min(spare, len(files[k]) - take[k])
        take[k] += extra
        spare -= extra
    rows = []
    for name, paths in files.items():
        chosen = rng.choice(len(paths), take[name], replace=False)
        (out / name).mkdir(parents=True, exist_ok=True)
        for i in sorted(chosen):
            link = out / name / paths[i].name
            link.symlink_to(paths[i].resolve())
            rows.append(f"{name}/{paths[i].name}")
    people = np.resize(np.arange(n_people), len(rows))
    rng.shuffle(people)
    lines = ["path,participant"] + [f"{r},p{p}" for r, p in zip(rows, people)]
    (out / "manifest.csv").write_text("\n".join(lines) + "\n")
    return out


def train(data: str | None, model: str, protocol: str, runs: Path, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "fer_engine", "train", "--model", model, "--protocol", protocol,
           "--out", str(runs), *extra]
    if data:
        cmd += ["--data", data]
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall, c1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    path = Path(done.stdout.strip().splitlines()[-1])
    metrics = json.loads((path / "metrics.json").read_text())
    size = sum(f.stat().st_size for f in (path / "models").iterdir())
    return {"wall": wall, "cpu": cpu, "metrics": metrics, "models_mb": size / 2**20}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fer2013", default=str(REPO.parent / "shared" / "datasets" / "fer2013"))
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--cnn-epochs", type=int, default=30)
    parser.add_argument("--skip-cnn", action="store_true", help="time transfer only")
    args = parser.parse_args()

    from fer_engine.data import load_dataset
    from fer_engine.data.synthetic import default_dataset_path
    from fer_engine.preprocess import InputSpec, prepare_dataset

    tmp = Path(tempfile.mkdtemp(prefix="fer-transfer-bench-"))
    runs = tmp / "runs"
    spec = InputSpec(48, 1, "unit")  # transfer and cnn take the same input: one cache each
    cases = []
    t0 = time.perf_counter()
    synthetic = load_dataset(default_dataset_path())
    prepare_dataset(synthetic, spec)
    cases.append(("synthetic (152 img, 19 people)", None, "loso", [], time.perf_counter() - t0))
    fer = Path(args.fer2013)
    if (fer / "public_test").is_dir():
        t0 = time.perf_counter()
        root = fer2013_subset(fer, tmp / "fer2013-subset", args.images, args.people)
        subset = load_dataset(root)
        prepare_dataset(subset, spec, detect=False)
        cases.append((f"FER2013 public_test ({subset.n_images} img, {subset.n_participants} "
                      "synthetic people)", str(root), "group-kfold", ["--no-detect"],
                      time.perf_counter() - t0))
    else:
        print(f"FER2013 not found at {fer}: the second dataset is skipped.")

    rows = []
    try:
        for label, data, protocol, extra, prep_s in cases:
            models = [("transfer", [])] if args.skip_cnn else [
                ("transfer", []), ("cnn", ["--epochs", str(args.cnn_epochs)])]
            for model, more in models:
                r = train(data, model, protocol, runs, extra + more)
                m = r["metrics"]
                rows.append((label, f"{model} / {protocol}", f"{prep_s:.1f}", f"{r['wall']:.1f}",
                             f"{r['cpu']:.1f}",
                             f"{m['accuracy']:.3f}", f"{m['macro_f1']:.3f}",
                             f"{r['models_mb']:.0f}"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    head = ("dataset", "model / protocol", "prep s (cached)", "train s (wall)", "CPU s", "accuracy",
            "macro-F1", "models MB")
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)))
    load = os.getloadavg()
    print(f"\ntargets (transfer, 2 cores): synthetic loso < 60 s; FER2013 ~1,000 images "
          f"group-kfold < 30 s.  CPU cores {os.cpu_count()}, load average "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; {time.strftime('%Y-%m-%d %H:%M')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
