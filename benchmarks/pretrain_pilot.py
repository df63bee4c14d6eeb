"""Short pilot trainings of the shipped model's recipe variants on a fixed FER2013 subset.

Each variant trains from scratch with its own complete (short) cosine schedule on the same
stratified subset of FER2013 ``train`` and is scored on all of ``public_test`` with the
mirror image averaged in, as the served model is. What a pilot can tell: which variants
learn faster and how far training accuracy runs ahead of test accuracy (the gap). What it
cannot: the ranking after hundreds of epochs, where stronger regularisation usually pays
off later; read the table with that in mind.

    nice python benchmarks/pretrain_pilot.py [--n-train 6000] [--epochs 8] [--only NAME ...]

Prints a table: test accuracy (mirror averaged), last-epoch training accuracy (augmented
batches), seconds per epoch, and the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: name: settings that differ from PretrainConfig's defaults.
VARIANTS = {
    "default recipe": {},
    "milder augmentation": {"rotation_deg": 10.0, "zoom": 0.1, "erasing": 0.25, "dropout": 0.3},
    "milder, wider (48-384)": {"rotation_deg": 10.0, "zoom": 0.1, "erasing": 0.25,
                               "dropout": 0.3, "widths": (48, 96, 192, 384)},
}


def subset(y, n: int, seed: int = 0):
    """Indices of a class-stratified random subset of ``n`` samples (fixed by ``seed``)."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    if n >= len(y):
        return idx
    keep, _ = train_test_split(idx, train_size=n, stratify=y, random_state=seed)
    return np.sort(keep)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "fer2013"))
    ap.add_argument("--n-train", type=int, default=6000)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--only", nargs="*", choices=sorted(VARIANTS), default=None)
    args = ap.parse_args(argv)

    from fer_engine.pretrained import training as pt

    base = pt.PretrainConfig(data=args.data, epochs=args.epochs, repo_checkpoint="")
    X, y, Xv, yv, _ = pt.load_fer2013(base, log=lambda _: None)
    keep = subset(y, args.n_train)
    X, y = X[keep], y[keep]
    rows = []
    for name in args.only or VARIANTS:
        with tempfile.TemporaryDirectory() as work:
            cfg = replace(base, work_dir=work, **VARIANTS[name])
            t0 = time.time()
            _, state = pt.train(cfg, X, y, Xv, yv, log=lambda m, n=name: print(f"[{n}] {m}",
                                                                               flush=True))
            last = state["history"][-1]
            rows.append((name, last["val_accuracy_flip_tta"], last["accuracy"],
                         (time.time() - t0) / cfg.epochs, os.getloadavg()[0]))
    print(f"\nPilot: {len(X)} training images (stratified, seed 0), {args.epochs} epochs "
          f"each (cosine to zero), scored on {len(Xv)} public_test images, mirror averaged\n")
    print("| variant | public_test acc | train acc (augmented) | gap | s/epoch | load |")
    print("|---|---|---|---|---|---|")
    for name, val, tr, sec, load in rows:
        print(f"| {name} | {val:.2%} | {tr:.2%} | {tr - val:+.2%} | {sec:.0f} | {load:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
