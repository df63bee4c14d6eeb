"""Time pre-processing of FER2013 public_test, cold and cached; print images per second.

    .venv/bin/python benchmarks/preprocess_speed.py [--root DIR] [--limit N] [--workers 1 2]

Uses ``fer_engine.data.load_dataset`` when it exists, otherwise globs the class
folders into a :class:`fer_engine.data.Dataset` by hand. Every run uses its own
empty temporary cache folder, so nothing is read from or left in the project's cache.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

from fer_engine.data import Dataset  # noqa: E402
from fer_engine.preprocess import GRAY_48, prepare_dataset  # noqa: E402

DEFAULT_ROOT = REPO.parent / "shared" / "datasets" / "fer2013" / "public_test"


def load(root: Path) -> tuple[Dataset, str, float]:
    """The dataset, how it was loaded, and the seconds it took."""
    start = time.perf_counter()
    try:
        from fer_engine.data import load_dataset  # type: ignore[attr-defined]
    except ImportError:
        load_dataset = None
    if load_dataset is not None:
        ds = load_dataset(root)
        return ds, "fer_engine.data.load_dataset", time.perf_counter() - start
    files = sorted(root.glob("*/*.jpg")) + sorted(root.glob("*/*.png"))
    table = pd.DataFrame(
        {
            "path": [str(f) for f in files],
            "participant": [f"img:{f.stem}" for f in files],
            "emotion": [f.parent.name for f in files],
            "split": root.name,
        }
    )
    ds = Dataset(
        table=table,
        root=root,
        layout="class_folders",
        labels=tuple(sorted(table.emotion.unique())),
        participants_known=False,
    )
    return ds, "glob of class folders (load_dataset not available yet)", time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N images (0: all)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    if not args.root.is_dir():
        print(f"Dataset folder not found: {args.root}")
        return 1

    ds, how, load_seconds = load(args.root)
    if args.limit:
        ds = Dataset(
            table=ds.table.iloc[: args.limit].reset_index(drop=True),
            root=ds.root,
            layout=ds.layout,
            labels=ds.labels,
            fingerprint="",
        )
    n = len(ds.table)
    print(f"{n} images from {args.root} via {how}: loaded in {load_seconds:.2f} s")
    print(f"spec {GRAY_48.to_dict()}, CPUs {os.cpu_count()}\n")

    rows = []
    for detect in (False, True):
        for workers in args.workers:
            with tempfile.TemporaryDirectory() as cache:
                os.environ["FER_CACHE_DIR"] = cache
                start = time.perf_counter()
                cold = prepare_dataset(ds, GRAY_48, detect=detect, workers=workers)
                cold_s = time.perf_counter() - start
                start = time.perf_counter()
                warm = prepare_dataset(ds, GRAY_48, detect=detect, workers=workers)
                warm_s = time.perf_counter() - start
                assert warm.from_cache and not cold.from_cache
                size_mb = cold.cache_file.stat().st_size / 1e6
            counts = cold.counts()
            rows.append(
                {
                    "detect": detect,
                    "workers": workers,
                    "cold img/s": round(n / cold_s),
                    "cold s": round(cold_s, 2),
                    "cached img/s": round(n / warm_s),
                    "cached s": round(warm_s, 3),
                    "cache MB": round(size_mb, 1),
                    "faces found": f"{counts.get('face', 0)}/{n}",
                    "errors": counts.get("error", 0),
                }
            )
            print(rows[-1], flush=True)
    print()
    print(pd.DataFrame(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
