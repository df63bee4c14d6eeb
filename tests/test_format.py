"""Number formatting and the standing warnings shared by every renderer (fer_engine.format)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fer_engine import format as fmt


@pytest.mark.parametrize(
    "value, digits, expected",
    [(0.4531, 1, "45.3%"), (1.0, 1, "100.0%"), (0.0, 1, "0.0%"), (0.125, 0, "12%"),
     (np.float32(0.5), 2, "50.00%"), ("0.25", 1, "25.0%")],
)
def test_pct(value, digits, expected):
    assert fmt.pct(value, digits) == expected


@pytest.mark.parametrize("missing", [None, float("nan"), np.nan, float("inf"), pd.NA, "n/a", []])
def test_missing_numbers_are_a_dash(missing):
    assert fmt.pct(missing) == "—"
    assert fmt.signed_pct(missing) == "—"
    assert fmt.p_value(missing) == "—"
    assert fmt.ratio(missing) == "—"
    assert fmt.pct(missing, missing="–") == "–"


def test_signed_pct():
    assert fmt.signed_pct(0.05) == "+5.0%"
    assert fmt.signed_pct(-0.1) == "-10.0%"
    assert fmt.signed_pct(0.0) == "+0.0%"


def test_interval():
    assert fmt.interval(0.4, 0.5) == "40.0%–50.0%"
    assert fmt.interval(0.123, 0.9876, digits=0) == "12%–99%"
    assert fmt.interval(None, float("nan")) == "—"
    assert fmt.interval(None, 0.5) == "—–50.0%"


def test_p_value_and_ratio():
    assert fmt.p_value(0.012345) == "0.0123"
    assert fmt.p_value(1.0) == "1"
    assert fmt.p_value(2e-5) == "2e-05"
    assert fmt.ratio(0.8) == "0.80"


def test_banners():
    generic = fmt.leaky_banner()
    assert generic.startswith("LEAKY EVALUATION: the same people appear in training and test.")
    named = fmt.leaky_banner("r1", "paper")
    assert named.startswith("LEAKY EVALUATION: in run r1 (paper) the same people appear")
    assert named.endswith("Use it only as a contrast to a participant-independent run.")
    assert fmt.leaky_banner("r1").startswith("LEAKY EVALUATION: in run r1 the same")
    assert fmt.SYNTHETIC_BANNER.startswith("Synthetic demo data: ")
