"""`python -m fer_engine ...`: the same engine the dashboard pages call.

Each sub-command lives in its own module under ``fer_engine/commands/`` and exposes
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when
their command runs, so ``inspect`` does not pay for importing TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: command name -> (module under fer_engine.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("synth", "write the synthetic demo dataset (tapakah68 layout)"),
    "inspect": ("inspect", "show a dataset's layout, counts and validation report"),
    "train": ("train", "train a model under an evaluation protocol; writes a run folder"),
    "predict": ("predict", "classify the faces in images with a run, a model file or 'pretrained'"),
    "report": ("report", "metrics, subgroups, PPV and a study report for one or more runs"),
    "explain": ("explain", "saliency / Grad-CAM / IG / occlusion overlay for one image"),
    "train-pretrained": ("train_pretrained", "train the shipped FER2013 model (resumable)"),
    "model-card": ("model_card", "evaluate the shipped model on public_test and write its model card"),
}


class CLIError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def _load(name: str):
    module_name, _ = COMMANDS[name]
    return importlib.import_module(f"fer_engine.commands.{module_name}")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fer_engine",
        description="Facial emotion recognition research engine.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = None
    if argv:
        wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        # Only the command being run is imported (and can add its arguments).
        if name == wanted:
            _load(name).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(_load(args.command).run(args) or 0)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI turns known errors into one line
        from fer_engine.errors import UserFacingError

        if isinstance(exc, (UserFacingError, CLIError)):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise
