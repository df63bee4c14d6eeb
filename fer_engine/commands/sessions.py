"""`python -m fer_engine sessions analyse STUDY --out DIR`: a study of recorded sessions.

Exit status 0 when every video, or some, could be analysed (those that could not are
listed under ``problems`` in ``DIR/study.json`` and printed); 2 when none could.
"""

from __future__ import annotations

import argparse
import os
import sys

from fer_engine.commands import argtypes as at


def add_arguments(p: argparse.ArgumentParser) -> None:
    from fer_engine.preprocess.detectors import DETECTORS
    from fer_engine.sessions.analyse import StudySettings

    d = StudySettings()
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = sub.add_parser("analyse", help="analyse every session video of a study (resumable)",
                       description="Analyse every video of a study folder (or .zip) holding "
                                   "sessions.csv; writes DIR/study.json, DIR/sessions.csv and "
                                   "per-frame tables under DIR/videos. Videos analysed before "
                                   "with the same model and settings are not analysed again.")
    a.add_argument("study", help="study folder, its sessions.csv, or a .zip of the folder")
    a.add_argument("--out", required=True, type=at.output_folder, help="folder for the results")
    a.add_argument("--model", default=d.model,
                   help="pretrained (default: the shipped FER2013 model), a run folder or a model file")
    a.add_argument("--detector", default=d.detector, choices=DETECTORS,
                   help=f"face detector (default: {d.detector})")
    a.add_argument("--step", type=at.positive_int, default=d.step,
                   help=f"analyse every N-th frame (default: {d.step})")
    a.add_argument("--threshold", type=at.float_in(0, 1), default=d.threshold,
                   help="probability an episode needs (default: %(default)s)")
    a.add_argument("--hold", type=at.non_negative_float, default=d.hold_s,
                   help="seconds above the threshold before an episode counts (default: %(default)s)")
    a.add_argument("--workers", type=at.positive_int, default=None,
                   help="videos analysed at once on a local Ray (default: FER_WORKERS or the cores)")
    a.add_argument("--ray-address", default=None,
                   help="analyse on the Ray cluster at this address (default: FER_RAY_ADDRESS)")


class _Progress:
    def __init__(self, stream=None):
        self.stream = stream or sys.stderr

    def __call__(self, ev: dict) -> None:
        if ev.get("kind") == "study":
            self.stream.write(f"Videos analysed: {ev['done']}/{ev['total']}\n")
            self.stream.flush()


def run(args) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from fer_engine.sessions.analyse import StudySettings, analyse_study

    settings = StudySettings(model=args.model, detector=args.detector, step=args.step,
                             threshold=args.threshold, hold_s=args.hold)
    explicit = args.workers is not None or bool(args.ray_address)
    execution = {"workers": args.workers, "address": args.ray_address} if explicit else "auto"
    result = analyse_study(args.study, args.out, settings, execution=execution,
                           progress=_Progress())
    err = sys.stderr
    print(f"{len(result.sessions)} session(s) of "
          f"{len({s.patient for s in result.sessions})} patient(s): {result.analysed} video(s) "
          f"analysed now, {result.reused} taken from earlier analyses.", file=err)
    for p in result.problems:
        print(f"problem: {p.video + ': ' if p.video else ''}{p.message}", file=err)
    for s in result.sessions:
        for flag in s.flags:
            print(f"note: {s.patient} session {s.session}: {flag}", file=err)
    for t in result.trends:
        if t["emotion"] in settings.watched:
            print(t["sentence"], file=err)
    for note in result.notes:
        print(f"note: {note}", file=err)
    print(result.out / "study.json")
    return 0 if result.sessions else 2
