"""`python -m fer_engine synth --out DIR`: write the synthetic demo dataset (tapakah68 layout)."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from fer_engine.commands import argtypes as at


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=at.output_folder,
                        help="folder to write (must be new or empty)")
    parser.add_argument(
        "--participants",
        type=at.positive_int,
        default=19,
        help="number of participants (default 19: the real tapakah68 demographics; "
        "more get seeded plausible demographics)",
    )
    parser.add_argument("--seed", type=at.non_negative_int, default=0,
                        help="random seed (default 0)")
    parser.add_argument(
        "--images-per-emotion",
        type=at.positive_int,
        default=1,
        help="photos per participant and emotion (default 1, as in tapakah68)",
    )
    parser.add_argument(
        "--difficulty",
        type=at.non_negative_float,
        default=1.0,
        help="nuisance and expression variability, 0 = clean, 1 = default",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace a synthetic dataset already in --out (never other folders)",
    )


def run(args: argparse.Namespace) -> int:
    from fer_engine.cli import CLIError
    from fer_engine.data import synthetic

    out = Path(args.out).expanduser()
    if out.is_dir() and any(out.iterdir()):
        if not args.force:
            raise CLIError(
                f"The folder {out} is not empty; choose a new or empty folder "
                f"(or --force to replace a synthetic dataset written there earlier)."
            )
        if not (out / synthetic.MARKER).is_file():
            raise CLIError(
                f"The folder {out} is not empty and holds no synthetic dataset; "
                f"--force only replaces synthetic datasets. Choose another folder."
            )
        shutil.rmtree(out)
    start = time.perf_counter()
    synthetic.generate(
        out,
        participants=args.participants,
        images_per_emotion=args.images_per_emotion,
        seed=args.seed,
        difficulty=args.difficulty,
    )
    n = args.participants * args.images_per_emotion * len(synthetic.KAGGLE_NAMES)
    print(
        f"Wrote {n} synthetic images ({args.participants} participants x 8 emotions x "
        f"{args.images_per_emotion}) to {out} in {time.perf_counter() - start:.1f} s."
    )
    print("These are drawn faces for demonstration, not photographs of real people.")
    return 0
