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

import cv2
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


def photo_sets(folder: Path, per_class: int, seed: int) -> dict[str, list]:
    """{"fills the photo": [(name, rgb, emotion)], "pasted in a scene": [...]}."""
    from fer_engine import emotions

    bench = _detectors_benchmark()
    bench.FER = folder
    rng = np.random.default_rng(seed)
    scenes = bench.fer_scenes(rng, per_class)
    tight = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(f for f in sub.iterdir() if f.suffix.lower() in (".png", ".jpg"))
        for i in sorted(rng.choice(len(files), size=min(per_class, len(files)), replace=False)):
            gray = cv2.imread(str(files[i]), cv2.IMREAD_GRAYSCALE)
            side = int(rng.integers(256, 801))
            big = cv2.resize(gray, (side, side), interpolation=cv2.INTER_CUBIC)
            tight.append((f"{sub.name}/{files[i].name}", cv2.cvtColor(big, cv2.COLOR_GRAY2RGB),
                          emotions.normalise(sub.name)))
    return {"fills the photo": tight,
            "pasted in a scene": [(f"scene {i}", c, e) for i, (c, _, e, _, _) in enumerate(scenes)]}


def score(model, data, **options) -> tuple[float, float]:
    """(share of photos with a face found, accuracy with no face = wrong)."""
    from fer_engine.inference.predict import predict_images

    names = [n for n, _, _ in data]
    frame = predict_images(model, [(n, rgb) for n, rgb, _ in data], **options)
    first = frame.drop_duplicates("path").set_index("path").reindex(names)
    found = first["error"].isna().to_numpy()
    right = first["pred"].to_numpy() == np.array([e for *_, e in data], dtype=object)
    return float(found.mean()), float(np.mean(found & right))


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
    sets = photo_sets(folder, args.per_class, args.seed)
    print(f"FER2013 {args.split}, {args.per_class} faces per emotion; shipped model's own "
          f"margin: {model.face_margin}; cores: {os.cpu_count()}, "
          f"load: {os.getloadavg()[0]:.2f}")
    for name, data in sets.items():
        _, whole = score(model, data, detect=False)
        print(f"\n{name}: {len(data)} photos; whole image without detection: {whole:.1%}")
        print("\n| detector | faces found | " + " | ".join(f"margin {m:g}" for m in margins) + " |")
        print("|---|---|" + "---|" * len(margins))
        for d in args.detectors.split(","):
            results = [score(model, data, detector=d, margin=m) for m in margins]
            print(f"| {d} | {results[0][0]:.1%} | "
                  + " | ".join(f"{acc:.1%}" for _, acc in results) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
