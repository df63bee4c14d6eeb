"""`python -m fer_engine inspect PATH`: layout, counts and the validation report of a dataset.

Imports no TensorFlow: it only lists files and reads metadata.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="dataset folder (tapakah68 or class-folder layout)")
    parser.add_argument(
        "--metadata", help="metadata CSV to use instead of emotions.csv / manifest.csv"
    )
    parser.add_argument(
        "--full-check",
        action="store_true",
        help="decode every image with Pillow (slow) instead of the quick check",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 1 when there are validation warnings",
    )


def run(args: argparse.Namespace) -> int:
    from fer_engine.data import load_dataset
    from fer_engine.data.summary import format_report

    ds = load_dataset(
        args.path, metadata=args.metadata, check="full" if args.full_check else "quick"
    )
    print(format_report(ds))
    return 1 if (args.strict and ds.warnings) else 0
