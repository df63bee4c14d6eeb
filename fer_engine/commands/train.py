"""`python -m fer_engine train`: train a model under an evaluation protocol; prints the run folder."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import fields

from fer_engine.commands import argtypes as at
from fer_engine.commands.detection_options import add_detection_arguments
from fer_engine.experiments.protocols import LEAKY_PROTOCOLS, MAX_VAL_FRACTION, PROTOCOLS
from fer_engine.experiments.spec import ExperimentSpec
from fer_engine.models import MODEL_NAMES

#: The settings a bare ``train`` uses: every flag's default comes from here.
DEFAULTS = ExperimentSpec()


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``train`` flags; those named like an :class:`ExperimentSpec` field fill it."""
    d = DEFAULTS
    p.add_argument("--data", default=None,
                   help="dataset folder (tapakah68 or class-folder layout); default: the synthetic demo dataset")
    p.add_argument("--model", choices=MODEL_NAMES, default=d.model,
                   help="transfer: the shipped FER2013 network's features + a new head (best for "
                        "small datasets); pretrained (with --protocol none): score the shipped "
                        "model as it is, no training")
    p.add_argument("--protocol", choices=PROTOCOLS, default=d.protocol,
                   help="loso, group-kfold and holdout keep every participant on one side; "
                        "paper is the first study's LEAKY image-level split (a contrast only); "
                        "official uses the dataset's own train/test split; none: no training "
                        "(with --model pretrained)")
    p.add_argument("--epochs", type=at.positive_int, default=d.epochs,
                   help="maximum epochs per fold (early stopping may end sooner)")
    p.add_argument("--batch-size", type=at.positive_int, default=d.batch_size)
    p.add_argument("--learning-rate", type=at.positive_float, default=d.learning_rate)
    p.add_argument("--seed", type=at.non_negative_int, default=d.seed)
    p.add_argument("--weights", default=d.weights,
                   help="imagenet | none | FILE (default: imagenet for resnet50/vgg16, none otherwise)")
    p.add_argument("--out", type=at.output_folder, default=None,
                   help="folder that receives the run folder (default: artifacts/runs)")
    p.add_argument("--k", type=at.int_at_least(2), default=d.k, help="folds of group-kfold")
    p.add_argument("--test-size", type=at.open_fraction, default=d.test_size,
                   help="test share for holdout (participants) and paper (images)")
    p.add_argument("--val-fraction", type=at.float_in(0, MAX_VAL_FRACTION, high_open=True),
                   default=d.val_fraction,
                   help="share of each fold's training participants used for early stopping (0: none)")
    p.add_argument("--patience", dest="early_stopping_patience", metavar="PATIENCE",
                   type=at.non_negative_int, default=d.early_stopping_patience,
                   help="early-stopping patience in epochs")
    p.add_argument("--augment", choices=["flip", "full", "none"], default=d.augment,
                   help="augmentation of training batches: flip (default), full (+ rotation, shifts, "
                        "zoom, shear), none")
    p.add_argument("--no-augment", action="store_true", help="same as --augment none")
    p.add_argument("--class-weight", action="store_true", help="balanced class weights")
    p.add_argument("--augment-before-split", action="store_true",
                   help="paper protocol only: augment copies before the split, as the notebook did (leaks)")
    p.add_argument("--copies", type=at.positive_int, default=d.copies,
                   help="augmented copies per image with --augment-before-split")
    p.add_argument("--no-detect", dest="detect", action="store_false",
                   help="images already are face crops: no face detection")
    p.add_argument("--margin", type=at.non_negative_float, default=d.margin,
                   help="margin around a detected face, as a fraction of its size (default: "
                        "0.2; with --model pretrained, the shipped model's own)")
    add_detection_arguments(p)
    p.add_argument("--unfreeze", choices=["conv5"], default=None, help="resnet50: also train the last block")
    p.add_argument("--finetune", action="store_true",
                   help="transfer: also train the shipped network's last convolution block and a "
                        "Keras head (early stopping on validation people), not only a "
                        "logistic-regression head")
    p.add_argument("--workers", type=at.positive_int, default=None,
                   help="folds run as Ray tasks on a local Ray with this many workers (default: "
                        "FER_WORKERS or the machine's cores; a run of one fold on one machine "
                        "runs in this process)")
    p.add_argument("--ray-address", default=None,
                   help="run the folds on the Ray cluster at this address (head node's GCS "
                        "port, e.g. 10.0.0.5:6379; default: FER_RAY_ADDRESS); see docs/scaling.md")
    p.add_argument("--input-size", type=at.int_at_least(8), default=None,
                   help=argparse.SUPPRESS)  # tests only


def spec_from_args(args) -> ExperimentSpec:
    """The :class:`ExperimentSpec` the parsed ``train`` flags ask for."""
    settings = {f.name: getattr(args, f.name) for f in fields(ExperimentSpec)
                if hasattr(args, f.name)}
    if args.no_augment:
        settings["augment"] = "none"
    settings["model_options"] = {name: getattr(args, name) for name in ("unfreeze", "input_size")
                                 if getattr(args, name)}
    return ExperimentSpec(**settings)


class TextProgress:
    """A plain-text progress bar on a stream (one updating line on a terminal, else a line per fold)."""

    def __init__(self, stream=None, width: int = 24):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = width

    def _bar(self, done: float) -> str:
        n = int(round(max(0.0, min(1.0, done)) * self.width))
        return "[" + "#" * n + "-" * (self.width - n) + "]"

    def _line(self, text: str, final: bool = False) -> None:
        if self.tty:
            self.stream.write("\r" + text.ljust(100)[:120] + ("\n" if final else ""))
        elif final:
            self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, ev) -> None:
        m = ev.metrics
        if ev.kind == "prepare":
            self._line(f"Preparing images {self._bar(ev.batch / max(1, ev.n_batches))} "
                       f"{ev.batch}/{ev.n_batches}", final=ev.batch >= ev.n_batches)
        elif ev.kind == "fold_start":
            self._line(f"Fold {ev.fold + 1}/{ev.n_folds}: {m.get('n_train', '?')} train, "
                       f"{m.get('n_val', '?')} validation, {m.get('n_test', '?')} test images")
        elif ev.kind == "batch_end" and self.tty:
            done = ((ev.epoch - 1) + ev.batch / max(1, ev.n_batches)) / max(1, ev.n_epochs)
            self._line(f"Fold {ev.fold + 1}/{ev.n_folds} {self._bar(done)} epoch {ev.epoch}/{ev.n_epochs} "
                       f"loss {m.get('loss', float('nan')):.3f} acc {m.get('accuracy', float('nan')):.2f}")
        elif ev.kind == "fold_end":
            self._line(f"Fold {ev.fold + 1}/{ev.n_folds} done: test accuracy {m.get('accuracy', float('nan')):.3f} "
                       f"on {m.get('n_test')} images after {m.get('epochs_run')} epoch(s)", final=True)


def run(args) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # TensorFlow's "N out of the last N calls ... triggered tf.function retracing" warning fires
    # when a run holds one traced function per fold model; it is expected, not a problem.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from fer_engine.execution import ran_sentence
    from fer_engine.experiments.runs import load_run
    from fer_engine.experiments.training import run_experiment

    spec = spec_from_args(args)
    if spec.protocol in LEAKY_PROTOCOLS:
        print(f"WARNING: the '{spec.protocol}' protocol is LEAKY (images, not people, are split). "
              "Its numbers are a contrast, not emotion accuracy.", file=sys.stderr)
    explicit = args.workers is not None or bool(args.ray_address)
    execution = {"workers": args.workers, "address": args.ray_address} if explicit else "auto"
    path = run_experiment(args.data, spec, out_dir=args.out, progress=TextProgress(),
                          execution=execution)
    run_ = load_run(path)
    m = run_.metrics
    ds = run_.config["dataset"]
    label = " [SYNTHETIC data]" if ds.get("synthetic") else ""
    people = (f"{m['n_participants']} participant(s)" if ds.get("participants_known", True)
              else "participants unknown")
    print(f"{run_.config['model']['name']} / {args.protocol} on {ds.get('name')}{label}: "
          f"accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f} "
          f"({m['n_samples']} images, {people})", file=sys.stderr)
    print(ran_sentence(run_.config.get("execution")), file=sys.stderr)
    for note in run_.config["protocol"].get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    if m.get("leaky"):
        print(m.get("warning") or "LEAKY protocol.", file=sys.stderr)
    print(path)
    return 0
