"""`python -m fer_engine model-card`: (re)write the shipped model's card from its files.

Evaluates ``<model-dir>/model.keras`` on ``<data>/public_test`` exactly as
``predict --model pretrained --no-detect`` does and writes ``model_card.json`` and
``MODEL_CARD.md`` next to the model.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from fer_engine.paths import pretrained_dir
    from fer_engine.pretrained.training import PretrainConfig

    p.add_argument("--data", default=PretrainConfig().data,
                   help="FER2013 class-folder root holding public_test/ "
                        "(and train/ for the data counts)")
    p.add_argument("--model-dir", default=str(pretrained_dir()),
                   help="folder with model.keras, meta.json and training_state.json")
    p.add_argument("--split", default="public_test", help="the split folder to evaluate on")
    p.add_argument("--benchmark", default=None, metavar="FILE",
                   help="JSON written by benchmarks/pretrained_vs_fer.py --json "
                        "(default: <model-dir>/benchmark.json if present)")
    p.add_argument("--no-flip-tta", action="store_true",
                   help="skip the horizontal-flip test-time-augmentation figure")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from fer_engine.cli import CLIError
    from fer_engine.pretrained.card import write_card

    benchmark = None
    if args.benchmark:
        path = Path(args.benchmark)
        if not path.is_file():
            raise CLIError(f"The benchmark file {path} does not exist.")
        try:
            benchmark = json.loads(path.read_text())
        except ValueError as exc:
            raise CLIError(f"{path} is not valid JSON ({exc}).") from None
    json_path, md_path = write_card(args.model_dir, args.data, args.split, benchmark,
                                    flip_tta=not args.no_flip_tta)
    ev = json.loads(json_path.read_text())["evaluation"]
    print(f"{ev['split']}: accuracy {ev['accuracy']:.4f} ({ev['n_correct']}/{ev['n_scored']}), "
          f"macro-F1 {ev['macro_f1']:.4f}. Wrote {json_path} and {md_path}")
    return 0
