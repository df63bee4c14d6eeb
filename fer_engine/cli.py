"""`python -m fer_engine ...`: the same engine the dashboard pages call.

Each sub-command lives in its own module under ``fer_engine/commands/`` and exposes
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when
their command runs, so ``inspect`` does not pay for importing TensorFlow.

No traceback reaches the terminal. Exit status: 0 done; 2 a problem the user can fix
(argparse's usage errors, and :class:`~fer_engine.errors.UserFacingError`, printed as one
``error:`` line); 1 anything else (one line saying what failed and the file under
``<cache>/logs`` that holds the full traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from fer_engine.errors import UserFacingError, failure_message

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
    "sessions": ("sessions", "analyse a study of recorded therapy sessions (shares, episodes, trends)"),
}


class CLIError(UserFacingError):
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
    command = "python -m fer_engine"
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)  # usage errors: argparse's SystemExit(2), as always
        if not args.command:
            parser.print_help()
            return 2
        command = f"The '{args.command}' command"
        return int(_load(args.command).run(args) or 0)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every error ends as one line, never a traceback
        print(f"error: {failure_message(exc, command)}", file=sys.stderr)
        return 2 if isinstance(exc, UserFacingError) else 1
