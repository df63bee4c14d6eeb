"""How numbers and the standing warnings are written, for every renderer: the text, HTML and
JSON reports, the command line and the dashboard pages.

Shares (0.453) are written as percentages with one decimal (``45.3%``); a missing value
(None, NaN, infinity, text that is not a number) as :data:`MISSING`. An interval is written
``40.0%–50.0%``. The warnings for leaky evaluations and synthetic data are worded here once;
each renderer only frames them (a red box, ``!!`` lines, ``st.error``).
"""

from __future__ import annotations

import math
from typing import Any

#: How a missing number is written.
MISSING = "—"

SYNTHETIC_BANNER = (
    "Synthetic demo data: procedurally drawn faces, not photographs of real people. "
    "Results on it say nothing about real emotion recognition."
)

_LEAKY_SENTENCE = (
    "the same people appear in training and test. Its numbers measure how well the model "
    "recognises people it has already seen, not how it does on a new person. Use it only as a "
    "contrast to a participant-independent run."
)


def leaky_banner(run_id: str | None = None, protocol: str | None = None) -> str:
    """The warning for a leaky evaluation; names the run (and its protocol) when given."""
    if run_id is None:
        where = ""
    elif protocol:
        where = f"in run {run_id} ({protocol}) "
    else:
        where = f"in run {run_id} "
    return f"LEAKY EVALUATION: {where}{_LEAKY_SENTENCE}"


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None (None, NaN, infinity, not a number)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def pct(value: Any, digits: int = 1, missing: str = MISSING) -> str:
    """A share as a percentage: ``0.4531 -> "45.3%"`` (``digits`` decimals)."""
    number = _number(value)
    return missing if number is None else f"{number:.{digits}%}"


def signed_pct(value: Any, digits: int = 1, missing: str = MISSING) -> str:
    """A difference of shares with its sign: ``0.05 -> "+5.0%"``, ``-0.1 -> "-10.0%"``."""
    number = _number(value)
    return missing if number is None else f"{number:+.{digits}%}"


def interval(low: Any, high: Any, digits: int = 1, missing: str = MISSING) -> str:
    """A confidence interval of shares: ``(0.4, 0.5) -> "40.0%–50.0%"``; :data:`MISSING`
    when both ends are missing."""
    if _number(low) is None and _number(high) is None:
        return missing
    return f"{pct(low, digits, missing)}–{pct(high, digits, missing)}"


def intervals(lows: Any, highs: Any, digits: int = 1) -> list[str]:
    """:func:`interval` of each pair of ends (two columns of a table)."""
    return [interval(low, high, digits) for low, high in zip(lows, highs)]


def p_value(value: Any, missing: str = MISSING) -> str:
    """A p-value with three significant digits: ``0.012345 -> "0.0123"``."""
    number = _number(value)
    return missing if number is None else f"{number:.3g}"


def ratio(value: Any, missing: str = MISSING) -> str:
    """A ratio with two decimals: ``0.8 -> "0.80"``."""
    number = _number(value)
    return missing if number is None else f"{number:.2f}"
