"""A session study's table and its honest shares: every problem of sessions.csv is one
sentence and the other videos stay in; the block bootstrap widens the range for frames that
are not independent; the adjusted share undoes a known confusion."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from fer_engine.sessions import manifest as mf
from fer_engine.sessions import shares as sh


def write_video(path, frames=6):
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for i in range(frames):
        out.write(np.full((48, 64, 3), 20 * i, np.uint8))
    out.release()


@pytest.fixture
def study_folder(tmp_path):
    for name in ("p1s1.avi", "p1s2.avi", "p2s1.avi"):
        write_video(tmp_path / name)
    (tmp_path / "broken.avi").write_bytes(b"not a video at all")
    (tmp_path / "sessions.csv").write_text(
        "Path;Patient;Session;Room\n"
        "p1s2.avi;P1;2;a\n"
        "p1s1.avi;P1;1;a\n"
        "p2s1.avi;P2;1;b\n"
        "again.avi;P2;1;b\n"
        "missing.avi;P3;1;c\n"
        "broken.avi;P4;1;c\n"
        "p2s1.avi;P5;two;c\n"
        "../outside.avi;P6;1;c\n")
    return tmp_path


def test_each_problem_is_one_sentence_and_the_rest_is_analysed(study_folder):
    study = mf.read_study(study_folder)
    assert [(s.patient, s.session) for s in study.sessions] == [("P1", 1), ("P1", 2), ("P2", 1)]
    text = {p.video: p.message for p in study.problems}
    assert "column 'room'" in text[""].lower()
    assert re.search(r"second row for patient P2, session\W+1 ", text["again.avi"])
    assert "does not exist" in text["missing.avi"]
    assert "broken.avi" in text["broken.avi"] and "other sessions are analysed" in text["broken.avi"]
    assert "not a whole number" in text["p2s1.avi"]
    assert "leaves the study folder" in text["../outside.avi"]
    assert all(m.count(". ") <= 1 for m in text.values())


def test_no_required_column_or_no_usable_row_is_refused(tmp_path):
    (tmp_path / "sessions.csv").write_text("path,patient\nx.avi,P1\n")
    with pytest.raises(mf.StudyError, match="no session column"):
        mf.read_study(tmp_path)
    (tmp_path / "sessions.csv").write_text("path,patient,session\nx.avi,P1,1\n")
    with pytest.raises(mf.StudyError, match="No session of the study can be analysed"):
        mf.read_study(tmp_path)


def test_block_bootstrap_range_is_wider_for_dependent_frames():
    rng = np.random.default_rng(1)
    # 10 minutes at 5 frames/s of 20-second runs of one emotion: about 30 independent runs
    runs = rng.integers(0, 2, size=30)
    labels = np.repeat(runs, 100)
    blocked = sh.session_shares(labels, ["fear", "neutral"], rate_hz=5.0, n_boot=400)
    single = sh.session_shares(labels, ["fear", "neutral"], rate_hz=5.0, block_s=0.2, n_boot=400)
    width = blocked.high[0] - blocked.low[0]
    assert width > 3 * (single.high[0] - single.low[0])
    assert blocked.low[0] <= blocked.share[0] <= blocked.high[0]
    assert blocked.share.sum() == pytest.approx(1.0)


def test_adjusted_share_undoes_a_known_confusion():
    # a model that calls 30 % of fearful faces sad; the session is really 50 % fear, 50 % sad
    confusion = np.array([[700, 300], [0, 1000]])
    observed = np.array([0.35, 0.65])  # 0.5 * 0.7 fear answers, 0.5 * 0.3 + 0.5 sad answers
    assert sh.adjusted_classify_and_count(observed, confusion) == pytest.approx([0.5, 0.5])
    labels = np.array([0] * 350 + [1] * 650)
    rng = np.random.default_rng(0)
    out = sh.session_shares(rng.permutation(labels), ["fear", "sad"], rate_hz=5.0,
                            confusion=confusion, n_boot=300)
    assert out.share[0] == pytest.approx(0.35)
    assert out.adjusted[0] == pytest.approx(0.5)
    assert out.adjusted_low[0] < 0.5 < out.adjusted_high[0]
    d = out.to_dict()["fear"]
    assert set(d) == {"share", "low", "high", "adjusted", "adjusted_low", "adjusted_high"}
