"""Agreement with a human coder: the coding file's two formats, frame- and second-level
kappa, PPV and recall on a case worked by hand, shares agreement across sessions."""

from __future__ import annotations

import numpy as np
import pytest

from fer_engine.sessions import coding


def test_csv_and_elan_coding_files_give_the_same_intervals(tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text("start_s;end_s;emotion\n0;5;Fear\n5;10.5;neutral\n")
    elan = tmp_path / "c.txt"
    elan.write_text("Emotion\tcoder1\t00:00:00.000\t00:00:05.000\t5.0\tfear\n"
                    "Emotion\tcoder1\t00:00:05.000\t00:00:10.500\t5.5\tNeutral\n")
    want = [coding.Interval(0.0, 5.0, "fear"), coding.Interval(5.0, 10.5, "neutral")]
    assert coding.read_coding(csv) == want
    assert coding.read_coding(elan) == want


def test_a_bad_line_is_named(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("Emotion\tonly words here\n")
    with pytest.raises(coding.CodingError, match="Line 1 of bad.txt is neither"):
        coding.read_coding(bad)
    back = tmp_path / "back.csv"
    back.write_text("start_s,end_s,emotion\n3,1,fear\n")
    with pytest.raises(coding.CodingError, match="Line 2 of back.csv"):
        coding.read_coding(back)


def test_frame_and_second_agreement_worked_by_hand():
    intervals = [coding.Interval(0, 5, "fear"), coding.Interval(5, 10, "neutral")]
    t = np.round(np.arange(50) * 0.2, 3)
    answers = np.where(t < 4, "fear", "neutral").astype(object)
    out = coding.agreement(intervals, t, answers, ("fear", "neutral"))
    f = out["frames"]
    assert f["n"] == 50 and f["agreement"] == pytest.approx(0.9)
    assert f["kappa"] == pytest.approx(0.8)  # p_o 0.9, p_e 0.4 * 0.5 + 0.6 * 0.5 = 0.5
    assert f["per_emotion"]["fear"] == {"ppv": 1.0, "recall": 0.8, "coded": 25}
    assert f["per_emotion"]["neutral"]["ppv"] == pytest.approx(25 / 30)
    s = out["seconds"]
    assert s["n"] == 10 and s["agreement"] == pytest.approx(0.9)  # second 4 is wrong


def test_uncoded_time_is_left_out_and_shares_agree_across_sessions():
    intervals = [coding.Interval(2, 4, "fear")]
    t = np.arange(0, 6, 0.5)
    out = coding.agreement(intervals, t, np.full(len(t), "fear", dtype=object), ("fear",))
    assert out["frames"]["n"] == 4 and out["frames"]["agreement"] == 1.0
    assert coding.coded_shares([coding.Interval(0, 3, "fear"), coding.Interval(3, 4, "sad")],
                               ("fear", "sad"), 10.0) == {"fear": 0.75, "sad": 0.25}
    a = coding.share_agreement([0.1, 0.2, 0.3, 0.4, 0.5], [0.12, 0.18, 0.33, 0.41, 0.52])
    assert a["sessions"] == 5 and a["r"] > 0.95 and a["low"] < a["r"] < a["high"] <= 1
    assert coding.share_agreement([0.1, 0.2], [0.1, 0.3])["r"] is None  # too few sessions
