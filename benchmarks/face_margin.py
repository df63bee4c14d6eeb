"""The margin around a detected face at which the shipped model sees faces as it was
trained: accuracy of ``predict_images`` (detection, alignment, crop) over crop margins.

    .venv/bin/python benchmarks/face_margin.py [--split train] [--per-class 30]
        [--margins 0,0.05,0.1,0.15,0.2,0.3] [--detectors mtcnn,haar]

The shipped model learnt from FER2013's own crops, which are framed more tightly than a
detected face box plus the engine's default margin of 0.2 (crop side = 1.4 x the box).
Two kinds of photo are made from ``--per-class`` faces per emotion of ``--split``: each
48x48 face upscaled to 256-800 px (a face that fills the photo, as in many web face
photos) and pasted into a 640x480 textured scene (120-200 px, half rotated 15-25
degrees; see ``benchmarks/detectors.py``). Per detector and margin: faces found and
accuracy (a photo with no face found counts as wrong). Choose on ``train`` (the faces the
model learnt from: how it expects faces framed); ``public_test`` shows what the choice
gives on faces it never saw.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FER_ROOT = ROOT.parent / "shared" / "datasets" / "fer2013"


def _detectors_benchmark():
    spec = importlib.util.spec_from_file_location("detectors_benchmark",
                                                  ROOT / "benchmarks" / "detectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def photo_sets(bench, folder: Path, per_class: int, seed: int) -> dict[str, list]:
    """{"fills the photo": [(name, rgb, emotion)], "pasted in a scene": [...]}."""
    bench.FER = folder
    rng = np.random.default_rng(seed)
    scenes = bench.fer_scenes(rng, per_class)
    return {"fills the photo": bench.filling_photos(folder, rng, per_class),
            "pasted in a scene": [(f"scene {i}", c, e) for i, (c, _, e, _, _) in enumerate(scenes)]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="train")
    ap.add_argument("--per-class", type=int, default=30)
    ap.add_argument("--margins", default="0,0.05,0.1,0.15,0.2,0.3")
    ap.add_argument("--detectors", default="mtcnn,haar")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    folder = FER_ROOT / args.split
    if not folder.is_dir():
        print(f"{folder} not found.")
        return 1
    from fer_engine.models import load_model

    model = load_model("pretrained")
    margins = [float(m) for m in args.margins.split(",")]
    bench = _detectors_benchmark()
    sets = photo_sets(bench, folder, args.per_class, args.seed)
    print(f"FER2013 {args.split}, {args.per_class} faces per emotion; shipped model's own "
          f"margin: {model.face_margin}; cores: {os.cpu_count()}, "
          f"load: {os.getloadavg()[0]:.2f}")
    for name, data in sets.items():
        _, whole = bench.score(model, data, detect=False)
        print(f"\n{name}: {len(data)} photos; whole image without detection: {whole:.1%}")
        print("\n| detector | faces found | " + " | ".join(f"margin {m:g}" for m in margins) + " |")
        print("|---|---|" + "---|" * len(margins))
        for d in args.detectors.split(","):
            results = [bench.score(model, data, detector=d, margin=m) for m in margins]
            print(f"| {d} | {results[0][0]:.1%} | "
                  + " | ".join(f"{acc:.1%}" for _, acc in results) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
