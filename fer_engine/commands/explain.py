"""`python -m fer_engine explain`: an explanation overlay for one image, and how far to trust it.

MODEL is anything :func:`fer_engine.experiments.runs.load_trained_model` accepts: a run
folder or run id (last fold), a model folder, a ``.keras`` file saved by this tool (with its
``meta.json`` beside it: labels and input spec) or ``pretrained``. The largest face in
IMAGE is explained (``--no-detect``: the image is taken as a face crop, its centre
square is used). The overlay is drawn on the full original photo through the face's
crop box. Printed: the predicted label, the explained target, and the faithfulness
figures: deletion / insertion areas of the map next to those of a random map (a
faithful map deletes faster, i.e. lower deletion area, and inserts faster), and for
``ig`` the completeness error. ``filters`` writes the first convolution layer's
filters and their activations for the face instead of an overlay.

``--regions`` (MODEL is then a run): explain every image of the run's ``predictions.csv``
with the model of its own fold (the one that never saw that person under ``loso`` /
``group-kfold``) and print the mean share of attribution on brows, eyes, nose, mouth and
the rest of the face per emotion and, with ``--by``, per subgroup, with the number of
images and people per row and a one-line warning for groups of fewer than 5 people
(see :func:`fer_engine.explain.regions.run_region_attribution`). No IMAGE or ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fer_engine.commands import argtypes as at
from fer_engine.commands.detection_options import add_detection_arguments

REGION_GROUPS = ("emotion", "country_group", "age_group", "gender")
CLI_METHODS = (
    "saliency",
    "smoothgrad",
    "gradcam",
    "gradcam++",
    "scorecam",
    "ig",
    "occlusion",
    "filters",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(_parser=parser)
    parser.add_argument(
        "image", metavar="IMAGE", nargs="?", help="photo or face crop (JPEG, PNG, ...)"
    )
    parser.add_argument(
        "--model",
        required=True,
        help="run folder or id, model folder, .keras file (with meta.json), or 'pretrained'",
    )
    parser.add_argument(
        "--method", default=None, choices=CLI_METHODS, help="(with --regions: default gradcam)"
    )
    parser.add_argument("--out", type=at.output_file, default=None, help="output image file (PNG)")
    parser.add_argument(
        "--target",
        default=None,
        help="emotion to explain (default: the predicted one); with --regions: 'pred' "
        "(default) or 'true'",
    )
    regions = parser.add_argument_group("region attribution over a run (--regions)")
    regions.add_argument(
        "--regions",
        action="store_true",
        help="share of attribution on brows, eyes, nose, mouth and the rest, over the run's "
        "images, per emotion (and per --by group); MODEL must be a run",
    )
    regions.add_argument(
        "--by", default=None, choices=REGION_GROUPS, help="also per this subgroup column"
    )
    regions.add_argument(
        "--max-images", type=at.positive_int, default=None,
        help="explain a random sample of N images",
    )
    regions.add_argument("--seed", type=at.non_negative_int, default=0,
                         help="seed of the --max-images sample")
    regions.add_argument("--csv", type=at.output_file, default=None,
                         help="write the per-image shares to this CSV")
    parser.add_argument(
        "--no-detect",
        action="store_true",
        help="skip face detection: the image already is a face crop",
    )
    add_detection_arguments(parser)
    parser.add_argument("--fold", default=None, help="fold of a run folder (default: the last)")
    parser.add_argument("--layer", default=None, help="convolution layer for the CAM methods")
    parser.add_argument(
        "--cmap", default="jet", help="colour map (jet, turbo, inferno, viridis, ...)"
    )
    parser.add_argument("--alpha", type=at.fraction, default=0.45, help="overlay opacity 0..1")
    parser.add_argument("--steps", type=at.positive_int, default=32, help="IG interpolation steps")
    parser.add_argument(
        "--baseline",
        default="black",
        choices=("black", "blur", "mean"),
        help="IG baseline ('mean': the face's mean colour)",
    )
    parser.add_argument("--patch", type=at.positive_int, default=None,
                        help="occlusion patch side (pixels)")
    parser.add_argument("--stride", type=at.positive_int, default=None,
                        help="occlusion stride (< patch)")
    parser.add_argument(
        "--fill", default="mean", choices=("mean", "blur", "zero"), help="occlusion fill"
    )
    parser.add_argument("--samples", type=at.positive_int, default=20, help="SmoothGrad samples")


def _options(args) -> dict:
    if args.method == "ig":
        return {"steps": args.steps, "baseline": args.baseline}
    if args.method == "occlusion":
        return {"patch": args.patch, "stride": args.stride, "fill": args.fill}
    if args.method == "smoothgrad":
        return {"samples": args.samples}
    return {}


def _save(path: Path, rgb: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(rgb)).save(path)


def _filters_figure(model, x) -> np.ndarray:
    """Filters grid and activations grid side by side, enlarged, RGB uint8."""
    import cv2

    from fer_engine.explain import first_conv_activations, first_conv_filters

    def big(grid: np.ndarray, height: int) -> np.ndarray:
        g = np.clip(grid * 255, 0, 255).astype(np.uint8)
        scale = max(1, height // g.shape[0])
        g = cv2.resize(g, (g.shape[1] * scale, g.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
        return np.repeat(g[..., None], 3, axis=2) if g.ndim == 2 else g

    f = big(first_conv_filters(model)["grid"], 256)
    a = big(first_conv_activations(model, x)["grid"], 256)
    h = max(f.shape[0], a.shape[0])
    canvas = np.full((h + 16, f.shape[1] + a.shape[1] + 24, 3), 255, np.uint8)
    canvas[8 : 8 + f.shape[0], 8 : 8 + f.shape[1]] = f
    canvas[8 : 8 + a.shape[0], 16 + f.shape[1] : 16 + f.shape[1] + a.shape[1]] = a
    return canvas


def _check_usage(args) -> None:
    """Which arguments go with which mode; argparse errors (exit 2) otherwise."""
    parser = args._parser
    if args.regions:
        wrong = [
            name
            for name, given in (
                ("IMAGE", args.image is not None),
                ("--out", args.out is not None),
                ("--fold", args.fold is not None),
                ("--no-detect", args.no_detect),
            )
            if given
        ]
        if wrong:
            parser.error(
                f"--regions explains the run's own images with each image's fold model and the "
                f"run's pre-processing: drop {', '.join(wrong)}"
            )
        if args.method == "filters":
            parser.error("--regions needs an attribution method, not 'filters'")
        if args.target not in (None, "pred", "true"):
            parser.error("with --regions, --target is 'pred' or 'true'")
        return
    missing = [
        name
        for name, value in (("IMAGE", args.image), ("--method", args.method), ("--out", args.out))
        if value is None
    ]
    if missing:
        parser.error(
            "the following arguments are required: " + ", ".join(missing)
            + " (or use --regions with a run)"
        )
    extra = [
        name
        for name, given in (
            ("--by", args.by is not None),
            ("--max-images", args.max_images is not None),
            ("--csv", args.csv is not None),
        )
        if given
    ]
    if extra:
        parser.error(f"{', '.join(extra)} only apply with --regions")


def _print_table(table, by: str) -> None:
    from fer_engine.explain import REGION_NAMES

    shown = table[[by, "n_images", "n_participants"]].copy()
    for r in REGION_NAMES:  # mean share [95 % participant-bootstrap interval]
        shown[r] = [f"{m:.3f} [{lo:.3f}-{hi:.3f}]"
                    for m, lo, hi in zip(table[r], table[f"{r}_low"], table[f"{r}_high"])]
    print(shown.to_string(index=False))


def _run_regions(args) -> int:
    from fer_engine.explain import REGION_NAMES
    from fer_engine.explain.regions import run_region_attribution

    method = args.method or "gradcam"
    result = run_region_attribution(
        args.model,
        method=method,
        target=args.target or "pred",
        max_images=args.max_images,
        seed=args.seed,
        layer=args.layer,
        **_options(argparse.Namespace(**{**vars(args), "method": method})),
    )
    what = "predicted" if result.target == "pred" else "true"
    print(
        f"Region attribution of run {result.run_id}: {method} maps of the {what} emotion on "
        f"{result.n_images} image(s), each explained by the model of its own fold"
        + (" (which never saw that person)." if result.participant_independent else ".")
    )
    print(
        "Mean share of attribution per region (each row sums to 1) with its 95 % interval from "
        "resampling people; a uniform map would give "
        + ", ".join(f"{r} {result.areas[r]:.3f}" for r in REGION_NAMES)
        + "."
    )
    groupings = ["emotion"] + ([args.by] if args.by and args.by != "emotion" else [])
    for by in groupings:
        print(f"\nBy {by}:")
        _print_table(result.table(by), by)
        note = result.small_groups_note(by)
        if note:
            print(note)
    if result.notes:
        print()
        for note in result.notes:
            print(note)
    if args.csv:
        out = Path(args.csv)
        out.parent.mkdir(parents=True, exist_ok=True)
        result.per_image.to_csv(out, index=False)
        print(f"wrote the per-image shares of {len(result.per_image)} image(s) to {out}")
    return 0


def run(args) -> int:
    _check_usage(args)
    if args.regions:
        return _run_regions(args)
    from fer_engine.explain import deletion_insertion, explain, overlay
    from fer_engine.experiments.runs import load_trained_model
    from fer_engine.models.base import face_margin
    from fer_engine.preprocess import prepare_image

    fold = args.fold
    if fold is not None and fold != "all":
        fold = int(fold)
    model = load_trained_model(args.model, fold=fold)
    prepared = prepare_image(
        args.image, model.input_spec, detect=not args.no_detect, fallback="centre",
        margin=face_margin(model), detector=args.detector, align=args.align,
    )
    print(prepared.message)
    x, crop = prepared.inputs[0], prepared.crops[0]
    out = Path(args.out)
    if args.method == "filters":
        from fer_engine.explain import predict_proba, resolve

        res = resolve(model)
        probs = predict_proba(res.keras_model, x[None])[0]
        _save(out, _filters_figure(model, x))
        print(f"predicted: {res.labels[int(np.argmax(probs))]} (p={probs.max():.3f})")
        print(f"wrote first-layer filters (left) and their activations (right) to {out}")
        return 0

    ex = explain(model, x, args.method, target=args.target, layer=args.layer, **_options(args))
    _save(out, overlay(prepared.rgb, ex.map, crop, cmap=args.cmap, alpha=args.alpha))
    print(f"predicted: {ex.predicted_label} (p={ex.probabilities[ex.predicted]:.3f})")
    print(
        f"explained: {ex.target_label} (p={ex.target_probability:.3f}) with {args.method}"
        + (f" on layer {ex.layer}" if ex.layer else "")
        + f" in {ex.timings['total'] * 1000:.0f} ms"
    )
    curves = deletion_insertion(model, x, ex.map, target=ex.target)
    rand_map = np.random.default_rng(0).random(ex.map.shape)
    ref = deletion_insertion(model, x, rand_map, target=ex.target)
    print(
        f"deletion AUC:  {curves.deletion_auc:.3f} (random map {ref.deletion_auc:.3f}; lower is better)"
    )
    print(
        f"insertion AUC: {curves.insertion_auc:.3f} (random map {ref.insertion_auc:.3f}; higher is better)"
    )
    if args.method == "ig":
        i = ex.info
        print(
            f"IG completeness: sum of attributions {i['sum_attributions']:.4f} vs "
            f"f(x) - f(baseline) {i['delta']:.4f}; relative error {i['rel_error']:.3%} "
            f"({i['steps']} steps, {i['baseline']} baseline)"
        )
    print(f"wrote {out}")
    return 0
