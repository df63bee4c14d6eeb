"""Argument types of the sub-commands: numbers in range and places that can be written.

Each is an ``argparse`` ``type=``: a bad value ends in argparse's usage line and a plain
sentence (``argument --epochs: must be a whole number of at least 1, not 0``), exit
status 2, before any slow work starts.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path


def _number(kind, text: str):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        what = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"must be {what}, not '{text}'") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not '{text}'")
    return value


def int_at_least(low: int):
    """A whole number >= ``low``."""

    def parse(text: str) -> int:
        value = _number(int, text)
        if value < low:
            raise argparse.ArgumentTypeError(
                f"must be a whole number of at least {low}, not {value}")
        return value

    parse.__name__ = f"int_at_least_{low}"
    return parse


def float_in(low: float, high: float | None = None, *, low_open: bool = False,
             high_open: bool = False):
    """A finite number between ``low`` and ``high`` (``None``: no upper bound); ``*_open``
    excludes that end."""

    def parse(text: str) -> float:
        value = _number(float, text)
        too_low = value <= low if low_open else value < low
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            lo = f"more than {low:g}" if low_open else f"at least {low:g}"
            if high is None:
                raise argparse.ArgumentTypeError(f"must be {lo}, not {text}")
            hi = f"less than {high:g}" if high_open else f"at most {high:g}"
            raise argparse.ArgumentTypeError(f"must be {lo} and {hi}, not {text}")
        return value

    parse.__name__ = "number_in_range"
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)
positive_float = float_in(0, low_open=True)
non_negative_float = float_in(0)
#: A share strictly between 0 and 1 (a test size).
open_fraction = float_in(0, 1, low_open=True, high_open=True)
#: A share from 0 to 1 (an opacity).
fraction = float_in(0, 1)


def _can_write_in(folder: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def output_folder(text: str) -> Path:
    """A folder to write into: an existing writable folder, or a new one whose nearest
    existing parent folder is writable (it is created when the command writes)."""
    path = Path(text).expanduser()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{existing} is a file, not a folder; choose a folder")
    if not (os.access(existing, os.W_OK) and _can_write_in(existing)):
        raise argparse.ArgumentTypeError(f"cannot write in the folder {existing}; choose another")
    return path


def output_file(text: str) -> Path:
    """A file to write: its folder must exist and be writable; it must not be a folder."""
    path = Path(text).expanduser()
    folder = path.parent
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder; give a file name")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(
            f"the folder {folder} does not exist; create it first or choose another place")
    if not (os.access(folder, os.W_OK) and _can_write_in(folder)):
        raise argparse.ArgumentTypeError(f"cannot write in the folder {folder}; choose another")
    return path
