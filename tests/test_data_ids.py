"""Participant ids in natural order: numbers inside an id compare as numbers."""

from __future__ import annotations

import random

from fer_engine.data.dataset import natural_key


def test_numeric_ids_sort_as_numbers():
    ids = [str(i) for i in range(25)]
    shuffled = random.Random(0).sample(ids, len(ids))
    assert sorted(shuffled, key=natural_key) == ids
    assert sorted(["10", "2", "1"], key=natural_key) == ["1", "2", "10"]


def test_numbers_inside_ids_sort_as_numbers_and_digits_come_first():
    ids = ["p10", "a", "10", "p2", "2", "p1", "s1_img10", "s1_img9", "img:face2"]
    assert sorted(ids, key=natural_key) == [
        "2", "10", "a", "img:face2", "p1", "p2", "p10", "s1_img9", "s1_img10"]


def test_any_mix_of_ids_sorts_without_error_and_leading_zeros_tie():
    ids = ["2a", "a2", "2", "a", "", "007", "7"]
    assert sorted(ids, key=natural_key) == ["", "2", "2a", "007", "7", "a", "a2"]
    assert natural_key("01") == natural_key("1")  # equal: they keep their order
    assert sorted(["01", "1", "001"], key=natural_key) == ["01", "1", "001"]
    assert natural_key(7) == natural_key("7") == ("", 7, "")
