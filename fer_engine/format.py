"""How numbers and the standing warnings are written, for every renderer: the text, HTML and
JSON reports, the command line and the dashboard pages.

Shares (0.453) are written as percentages with one decimal (``45.3%``); a missing value
(None, NaN, infinity, text that is not a number) as :data:`MISSING`. An interval is written
``40.0%–50.0%``. The warnings for leaky evaluations and synthetic data are worded here once;
each renderer only frames them (a red box, ``!!`` lines, ``st.error``). Groups of people read
in words (``Country: RU · Age: 31 or older``), never as column names.
"""

from __future__ import annotations

import math
import re
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


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``, ``22nd``."""
    n = int(n)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def every_nth(n: int, what: str = "frame") -> str:
    """``"every frame"``, ``"every 5th frame"``."""
    return f"every {what}" if int(n) == 1 else f"every {ordinal(n)} {what}"


def n_people(n: int) -> str:
    """``"1 person"``, ``"3 people"``."""
    return f"{n} person" if n == 1 else f"{n} people"


def pct(value: Any, digits: int = 1, missing: str = MISSING) -> str:
    """A share as a percentage: ``0.4531 -> "45.3%"`` (``digits`` decimals)."""
    number = _number(value)
    return missing if number is None else f"{number:.{digits}%}"


def signed_pct(value: Any, digits: int = 1, missing: str = MISSING) -> str:
    """A difference of shares with its sign: ``0.05 -> "+5.0%"``, ``-0.1 -> "-10.0%"``."""
    number = _number(value)
    return missing if number is None else f"{number:+.{digits}%}"


def points(value: Any, digits: int = 1, missing: str = MISSING, unit: str = "percentage points") -> str:
    """A difference of two shares in percentage points, with its sign: ``0.087 ->
    "+8.7 percentage points"`` (``unit=""``: the number alone, e.g. in a table whose header
    names the unit)."""
    number = _number(value)
    if number is None:
        return missing
    return f"{100 * number:+.{digits}f}" + (f" {unit}" if unit else "")


def plain_p(value: Any, missing: str = MISSING) -> str:
    """A p-value as a clinician reads it: ``"p = 0.012"``, ``"p < 0.001"`` below 0.001."""
    number = _number(value)
    if number is None:
        return missing
    return "p < 0.001" if number < 0.001 else f"p = {number:.2g}"


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


# -- names of runs ------------------------------------------------------------------------
#: How a run of the shipped model scored as it is (protocol ``none``: no training) is named.
SCORED_RUN = "Shipped model scored on this data (no training)"


def run_name(model: Any, protocol: Any, leaky: bool = False) -> str:
    """How people name a run in lists, tabs and reports: ``"cnn / loso"``, with
    ``" (LEAKY)"`` for a leaky one; a run that trained nothing (protocol ``none``) is
    :data:`SCORED_RUN`."""
    if protocol == "none":
        return SCORED_RUN
    return f"{model} / {protocol}{' (LEAKY)' if leaky else ''}"


# -- words for people's groups -------------------------------------------------------------
#: How a demographic column reads in tables and charts.
ATTRIBUTE_NAMES: dict[str, str] = {
    "participant": "Person",
    "country_group": "Country",
    "country": "Country of origin",
    "age_group": "Age",
    "age": "Age (years)",
    "gender": "Gender",
}
_PLUS = re.compile(r"^(\d+)_plus$")
_UNDER = re.compile(r"^under_(\d+)$")


def attribute(name: Any) -> str:
    """A demographic column as people name it: ``"age_group" -> "Age"``; a column not in
    :data:`ATTRIBUTE_NAMES` with its underscores as spaces, capitalised."""
    name = str(name)
    return ATTRIBUTE_NAMES.get(name, name.replace("_", " ").capitalize())


def group_value(value: Any, missing: str = "unknown") -> str:
    """A group's value in words: ``"31_plus" -> "31 or older"``, ``"under_31" -> "under 31"``,
    a missing value -> ``missing`` (the analytics' word for it), a whole number without
    decimals (an age of ``36.0`` -> ``"36"``), other text with its underscores as spaces."""
    if not isinstance(value, (str, bool)):  # a number, or a missing one (None, NaN, NA)
        number = _number(value)
        if number is None:
            return missing
        return str(int(number)) if number.is_integer() else f"{number:g}"
    text = str(value).strip()
    if text.lower() in ("", "nan", "none", "<na>"):
        return missing
    if m := _PLUS.match(text):
        return f"{m.group(1)} or older"
    if m := _UNDER.match(text):
        return f"under {m.group(1)}"
    return text.replace("_", " ")


def subgroup(columns, values, separator: str = " · ") -> str:
    """One group of people in words: ``(["country_group", "age_group"], ["RU", "31_plus"])``
    -> ``"Country: RU · Age: 31 or older"``."""
    return separator.join(f"{attribute(c)}: {group_value(v)}" for c, v in zip(columns, values))
