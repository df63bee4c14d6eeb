"""`python -m fer_engine predict`: classify each face in images; one CSV row per face."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from fer_engine.commands import argtypes as at
from fer_engine.commands.detection_options import add_detection_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="a run folder, a model file (.keras/.joblib saved by this tool) or 'pretrained'")
    p.add_argument("--fold", default=None,
                   help="which fold's model of a run: a number, or 'all' for their average (default: last)")
    p.add_argument("--no-detect", action="store_true",
                   help="the images already are face crops: classify each whole image")
    p.add_argument("--margin", type=at.non_negative_float, default=None,
                   help="margin around a detected face, as a fraction of its size (default: "
                        "the model's own, the margin its training faces were cut at)")
    add_detection_arguments(p)
    p.add_argument("--batch-size", type=at.positive_int, default=64)
    p.add_argument("--csv", required=True, type=at.output_file, help="output CSV file")
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files or folders (searched recursively)")


def run(args) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # TensorFlow's "N out of the last N calls ... triggered tf.function retracing" warning fires
    # when a run holds one traced function per fold model; it is expected, not a problem.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from fer_engine.experiments.runs import load_trained_model
    from fer_engine.inference.predict import predict_images, summarise

    fold = args.fold
    if fold is not None and fold != "all":
        try:
            fold = int(fold)
        except ValueError:
            from fer_engine.cli import CLIError

            raise CLIError("--fold must be a number or 'all'.") from None
    model = load_trained_model(args.model, fold=fold)
    frame = predict_images(model, args.images, detect=not args.no_detect, margin=args.margin,
                           batch_size=args.batch_size, detector=args.detector, align=args.align)
    if not len(frame):
        from fer_engine.cli import CLIError

        raise CLIError(f"No images found in {', '.join(args.images)}; nothing was written.")
    frame.to_csv(args.csv, index=False)
    s = summarise(frame)
    print(f"{s['images']} image(s): {s['faces']} face(s) classified, {s['errors']} without a prediction "
          f"(see the error column). Wrote {args.csv}", file=sys.stderr)
    for _, row in frame[frame["error"].notna()].head(10).iterrows():
        print(f"  {row['path']}: {row['error']}", file=sys.stderr)
    return 0 if s["faces"] else 1
