"""How a model does on ordinary photos, measured on proxies built from FER2013 faces it never
learnt from: through ``predict_images`` with face detection and on the whole image.

    nice .venv/bin/python benchmarks/photo_proxies.py [--model pretrained] [--n 600]
        [--per-class 30] [--detector mtcnn] [--seed 11] [--json FILE]

Proxies, all from ``public_test`` (read only; kept apart from ``train``, which models learn
and margins are chosen on):

- **48x48 crops**: ``--n`` faces drawn at random (seed ``--seed``), as FER2013 gives them,
  no detection: the reference.
- **degraded photos**: the same faces made to look like ordinary photos: turned by 3-12
  degrees either way (about the face's centre, border reflected), upscaled to a 256-800 px
  photo the face fills, relit (gamma exp(u), u uniform in [-0.5, 0.5], times a light falloff
  across the photo of up to ±35 % in a random direction) and saved as JPEG at quality 30-90.
- **faces filling photos** and **faces in scenes**: ``--per-class`` faces per emotion,
  upscaled to 256-800 px photos they fill, and pasted at 120-200 px into 640x480 textured
  scenes, half turned 15-25 degrees (``benchmarks/face_margin.py``'s ``photo_sets`` from
  ``benchmarks/detectors.py``'s builders; the same photos as those benchmarks).

Each photo is classified by ``predict_images`` with ``--detector`` (the face cut at the model's
own margin; a photo where no face is found counts as wrong) and with ``detect=False`` (the
whole photo's centre square taken as the face). On the scenes the whole image is a small face
in a large picture, shown for completeness. A model file or run folder is given with
``--model`` (default: the shipped model).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FER_ROOT = ROOT.parent / "shared" / "datasets" / "fer2013"


def _benchmark(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark",
                                                  ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample_faces(folder: Path, n: int, rng) -> list[tuple[str, np.ndarray, str]]:
    """(name, 48x48 gray, emotion) of ``n`` faces drawn at random from ``folder``'s classes."""
    from fer_engine import emotions

    files = sorted(f for sub in folder.iterdir() if sub.is_dir() for f in sub.iterdir()
                   if f.suffix.lower() in (".png", ".jpg"))
    pick = np.sort(rng.choice(len(files), size=min(n, len(files)), replace=False))
    return [(f"{files[i].parent.name}/{files[i].name}",
             cv2.imread(str(files[i]), cv2.IMREAD_GRAYSCALE),
             emotions.normalise(files[i].parent.name)) for i in pick]


def degrade(gray: np.ndarray, rng) -> np.ndarray:
    """A 48x48 face as an ordinary photo (RGB): turned, upscaled, relit, JPEG re-compressed."""
    angle = float(rng.uniform(3, 12) * rng.choice([-1, 1]))
    m = cv2.getRotationMatrix2D((23.5, 23.5), angle, 1.0)
    turned = cv2.warpAffine(gray, m, (48, 48), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT_101)
    side = int(rng.integers(256, 801))
    big = cv2.resize(turned, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    big = big ** np.exp(rng.uniform(-0.5, 0.5))
    direction = rng.uniform(0, 2 * np.pi)
    yy, xx = (np.mgrid[0:side, 0:side] / (side - 1)) - 0.5
    ramp = 1.0 + rng.uniform(0, 0.35) * 2 * (np.cos(direction) * xx + np.sin(direction) * yy)
    lit = np.clip(big * ramp * 255, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", lit, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 91))])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2RGB)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="pretrained", help="'pretrained', a model file or run folder")
    ap.add_argument("--data", default=str(FER_ROOT))
    ap.add_argument("--split", default="public_test")
    ap.add_argument("--n", type=int, default=600, help="faces for the crops and degraded photos")
    ap.add_argument("--per-class", type=int, default=30,
                    help="faces per emotion for the filling-photos and scenes proxies")
    ap.add_argument("--detector", default=None, help="default: the engine's (mtcnn)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--json", default=None, metavar="FILE")
    args = ap.parse_args(argv)
    folder = Path(args.data) / args.split
    if not folder.is_dir():
        print(f"{folder} not found.")
        return 1
    from fer_engine.models import load_model
    from fer_engine.preprocess.detectors import DEFAULT_DETECTOR

    detector = args.detector or DEFAULT_DETECTOR
    model = load_model(args.model)
    margins = _benchmark("face_margin")
    scorer = margins._detectors_benchmark()  # benchmarks/detectors.py
    rng = np.random.default_rng(args.seed)
    faces = sample_faces(folder, args.n, rng)
    crops = [(n, cv2.cvtColor(g, cv2.COLOR_GRAY2RGB), e) for n, g, e in faces]
    degraded = [(n, degrade(g, rng), e) for n, g, e in faces]
    sets = {"48x48 crops (reference)": crops, "degraded photos": degraded}
    built = margins.photo_sets(scorer, folder, args.per_class, args.seed)
    sets["faces filling photos"] = built["fills the photo"]
    sets["faces in scenes"] = built["pasted in a scene"]

    rows = []
    t0 = time.time()
    for name, data in sets.items():
        _, whole = scorer.score(model, data, detect=False)
        found = acc = None
        if name != "48x48 crops (reference)":
            found, acc = scorer.score(model, data, detector=detector)
        rows.append({"proxy": name, "photos": len(data), "faces_found": found,
                     "accuracy_detection": acc, "accuracy_whole_image": whole})
        print(f"[{name}: {len(data)} photos done, {time.time() - t0:.0f} s]", flush=True)

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f} %"

    print(f"\nModel {args.model}; FER2013 {args.split}; detector {detector}, faces cut at the "
          f"model's margin {model.face_margin:g}; cores: {os.cpu_count()}, load: "
          f"{os.getloadavg()[0]:.2f}; {time.time() - t0:.0f} s\n")
    print(f"| proxy | photos | faces found | accuracy, detection ({detector}) "
          "| accuracy, whole image | detection - whole |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        gap = (None if r["accuracy_detection"] is None
               else f"{100 * (r['accuracy_detection'] - r['accuracy_whole_image']):+.1f}")
        print(f"| {r['proxy']} | {r['photos']} | {pct(r['faces_found'])} "
              f"| {pct(r['accuracy_detection'])} | {pct(r['accuracy_whole_image'])} "
              f"| {gap or '-'} |")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "benchmark": "photo_proxies", "model": args.model, "split": args.split,
            "detector": detector, "seed": args.seed, "n": args.n, "per_class": args.per_class,
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": {"cpu_count": os.cpu_count(), "load_average_end": round(os.getloadavg()[0], 2),
                        "platform": platform.platform()},
            "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
