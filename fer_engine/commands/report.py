"""`python -m fer_engine report RUN [RUN ...]`: metrics, subgroups, PPV and the study report."""

from __future__ import annotations

import argparse
import sys

from fer_engine.commands import argtypes as at


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="run folder or run id (under the runs folder); several runs are compared",
    )
    parser.add_argument(
        "--prevalence",
        nargs="+",
        default=[],
        metavar="EMOTION=P",
        help="base rate(s) for PPV at a clinic's prevalence, e.g. fear=0.05 anger=0.1",
    )
    parser.add_argument(
        "--bootstrap",
        type=at.positive_int,
        default=1000,
        metavar="N",
        help="participant bootstrap resamples and permutations (default 1000)",
    )
    parser.add_argument(
        "--seed", type=at.non_negative_int, default=0,
        help="random seed of bootstrap and permutations",
    )
    parser.add_argument(
        "--reference",
        default="best",
        help="subgroup reference: best (default), largest, or a group such as RU",
    )
    parser.add_argument("--bins", type=at.positive_int, default=10,
                        help="calibration bins (default 10)")
    parser.add_argument(
        "--probe",
        action="store_true",
        help="also run the identity-shortcut probe on the run's own models "
        "(needs the run's images; loads TensorFlow)",
    )
    parser.add_argument("--format", choices=("text", "json", "html"), default="text")
    parser.add_argument(
        "--out",
        type=at.output_file,
        default=None,
        metavar="FILE",
        help="write to FILE instead of printing (HTML is best written to a file)",
    )


def run(args: argparse.Namespace) -> int:
    from fer_engine.analytics.metrics import parse_prevalence
    from fer_engine.analytics.report import build_report, render
    from fer_engine.cli import CLIError

    try:
        prevalence = parse_prevalence(args.prevalence)
    except ValueError as exc:  # includes an unknown emotion name
        raise CLIError(str(exc)) from None
    report = build_report(
        args.runs,
        prevalence=prevalence,
        n_boot=args.bootstrap,
        seed=args.seed,
        reference=args.reference,
        n_bins=args.bins,
        probe=args.probe,
    )
    text = render(report, args.format)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"Report written to {args.out}")
        for banner in report["banners"]:
            print("WARNING: " + banner, file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
