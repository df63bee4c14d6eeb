"""Groups of people in words (fer_engine.format: attribute, group_value, subgroup)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fer_engine import format as fmt


@pytest.mark.parametrize("value, expected", [
    ("31_plus", "31 or older"), ("under_31", "under 31"), ("RU", "RU"), ("female", "female"),
    ("not_given", "not given"), (36.0, "36"), (np.int64(19), "19"), (18.5, "18.5"),
    (None, "unknown"), (float("nan"), "unknown"), (pd.NA, "unknown"), ("nan", "unknown"),
    ("", "unknown"),
])
def test_group_value(value, expected):
    assert fmt.group_value(value) == expected


def test_attribute_and_subgroup():
    assert fmt.attribute("country_group") == "Country" and fmt.attribute("age") == "Age (years)"
    assert fmt.attribute("skin_tone") == "Skin tone"
    assert fmt.subgroup(["country_group", "age_group", "gender"], ["RU", "31_plus", "male"]) == (
        "Country: RU · Age: 31 or older · Gender: male")
    assert fmt.group_value(None, missing="–") == "–"
