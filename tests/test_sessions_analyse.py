"""A study of session videos analysed as users run it: ``python -m fer_engine sessions
analyse STUDY --out DIR`` as a process, on videos of a real face (scikit-image's astronaut,
the shipped model) where a second, larger face enters part of the time, with a broken and a
missing file. The patient's track is the one seen longest, not the largest; bad files are
one sentence each; a killed analysis resumes without redoing finished videos; trends find
a fall's sign and claim none where there is none."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from live_clips import astronaut, webcam_frame, write_video

REPO = Path(__file__).resolve().parents[1]
FPS = 15
N_FRAMES = 120
SECOND_FACE_FROM = 72  # the larger face is in frame for the last 40 %


def session_frames(second_face: bool, phase: int = 0) -> list[np.ndarray]:
    """640x480 RGB frames: the patient (smaller, left, always there, panning) and, from
    ``SECOND_FACE_FROM`` on, a larger face nearer the camera on the right. ``phase`` shifts
    the panning (videos of equal content would share one analysis)."""
    big = cv2.resize(astronaut()[20:220, 140:340], (300, 300))
    frames = []
    for i in range(N_FRAMES):
        canvas = np.full((480, 640, 3), 120, np.uint8)
        shift = int(round(12 * np.sin(2 * np.pi * (i + phase) / 30)))
        canvas[120:360, 0:320] = cv2.resize(webcam_frame(shift), (320, 240))
        if second_face and i >= SECOND_FACE_FROM:
            canvas[90:390, 330:630] = big
        frames.append(canvas)
    return frames


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("study")
    write_video(folder / "p1_s1.avi", session_frames(second_face=True), fps=FPS)
    write_video(folder / "p1_s2.avi", session_frames(second_face=False), fps=FPS)
    write_video(folder / "p1_s3.avi", session_frames(second_face=True, phase=7), fps=FPS)
    (folder / "broken.avi").write_bytes(b"this is not a video")
    (folder / "p1_s2_coding.csv").write_text("start_s,end_s,emotion\n0,6,happy\n6,8,neutral\n")
    (folder / "p1_s3_coding.txt").write_text("not a coding file\n")
    (folder / "sessions.csv").write_text(
        "path,patient,session,coding\n"
        "p1_s1.avi,P1,1,\np1_s2.avi,P1,2,p1_s2_coding.csv\np1_s3.avi,P1,3,p1_s3_coding.txt\n"
        "broken.avi,P2,1,\nmissing.avi,P2,2,\n")
    return folder


def analyse(study: Path, out: Path, *extra: str, wait: bool = True):
    cmd = [sys.executable, "-m", "fer_engine", "sessions", "analyse", str(study), "--out",
           str(out), "--step", "3", *extra]
    env = dict(os.environ)
    if not wait:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def analysed(study, tmp_path_factory):
    """The study analysed once after an analysis killed when its first video was done."""
    out = tmp_path_factory.mktemp("out")
    proc = analyse(study, out, "--workers", "1", wait=False)
    deadline = time.monotonic() + 300
    try:
        while not list((out / "videos").glob("*.json")):
            assert proc.poll() is None, "the analysis ended before it could be killed"
            assert time.monotonic() < deadline, "no video was finished in time"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    first = {p.name: p.stat().st_mtime_ns for p in (out / "videos").iterdir()
             if not p.name.startswith(".")}
    cli = analyse(study, out)
    return out, cli, first


def test_the_study_json_contract_and_one_sentence_per_bad_file(analysed):
    out, cli, _ = analysed
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert cli.stdout.strip().splitlines()[-1] == str(out / "study.json")
    doc = json.loads((out / "study.json").read_text())
    assert [(s["patient"], s["session"]) for s in doc["sessions"]] == [("P1", 1), ("P1", 2),
                                                                      ("P1", 3)]
    problems = {p["video"]: p["message"] for p in doc["problems"]}
    assert set(problems) == {"broken.avi", "missing.avi", "p1_s3.avi"}
    assert "Line 1 of p1_s3_coding.txt" in problems.pop("p1_s3.avi")  # analysed without it
    assert "not a video this tool can read" in problems["broken.avi"]
    assert "does not exist" in problems["missing.avi"]
    for message in problems.values():
        assert message.count(". ") == 0 and message.endswith(".")  # one sentence each
        assert f"problem: " in cli.stderr and message in cli.stderr
    s = doc["sessions"][0]
    assert {"patient", "session", "video", "seconds", "coverage", "shares",
            "episodes"} <= set(s)
    assert s["seconds"] == pytest.approx(N_FRAMES / FPS, abs=0.2)
    assert set(s["shares"]["happy"]) == {"share", "low", "high", "adjusted", "adjusted_low",
                                         "adjusted_high"}
    assert set(s["episodes"]) == {"fear", "anger"}
    assert set(s["episodes"]["fear"]) == {"count", "total_s", "longest_s", "peak"}
    assert (out / "sessions.csv").is_file()
    assert len(list((out / "videos").glob("*.csv.gz"))) == 3


def test_the_patient_is_the_face_seen_longest_not_the_largest(analysed):
    out, _, _ = analysed
    for s in json.loads((out / "study.json").read_text())["sessions"]:
        tracks = {t["track"]: t for t in s["tracks"]}
        patient = tracks[s["track"]]
        assert patient["first_s"] == 0.0  # there from the start
        if s["session"] in (1, 3):  # the second face came later and is larger
            others = [t for k, t in tracks.items() if k != s["track"]]
            assert others and max(t["area"] for t in others) > 1.5 * patient["area"]
            assert min(t["first_s"] for t in others) >= SECOND_FACE_FROM / FPS - 0.5
        # the astronaut smiles in every frame: the shipped model calls her happy
        assert s["shares"]["happy"]["share"] > 0.9
        assert s["shares"]["happy"]["low"] <= s["shares"]["happy"]["share"] <= s["shares"]["happy"]["high"]


def test_a_killed_analysis_resumes_without_redoing_finished_videos(analysed, study):
    out, cli, first = analysed
    done_before = len([n for n in first if n.endswith(".json")])
    assert done_before >= 1
    counts = re.search(r"(\d+) video\(s\) analysed now, (\d+) taken from earlier", cli.stderr)
    now_n, taken = int(counts[1]), int(counts[2])
    # a unit that outlived the kill may have finished one more video meanwhile
    assert now_n + taken == 3 and taken >= done_before
    now = {p.name: p.stat().st_mtime_ns for p in (out / "videos").iterdir()}
    assert all(now[name] == stamp for name, stamp in first.items())  # never rewritten
    assert not [p for p in (out / "videos").iterdir() if p.name.startswith(".")]  # no partials
    again = analyse(study, out)
    assert again.returncode == 0 and "0 video(s) analysed now, 3 taken" in again.stderr


def test_a_chosen_patient_track_is_kept_with_the_study(analysed, study):
    from fer_engine.sessions.analyse import save_choice

    out, _, _ = analysed
    doc = json.loads((out / "study.json").read_text())
    s1 = doc["sessions"][0]
    other = next(t["track"] for t in s1["tracks"] if t["track"] != s1["track"])
    save_choice(out, "p1_s1.avi", other)
    try:
        again = analyse(study, out)
        assert again.returncode == 0 and "0 video(s) analysed now" in again.stderr
        s1_now = json.loads((out / "study.json").read_text())["sessions"][0]
        assert s1_now["track"] == other and s1_now["coverage"] < s1["coverage"]
    finally:
        (out / "choices.json").unlink()


def test_exit_2_when_no_video_can_be_read(tmp_path):
    (tmp_path / "broken.avi").write_bytes(b"nope")
    (tmp_path / "sessions.csv").write_text("path,patient,session\nbroken.avi,P1,1\n")
    cli = analyse(tmp_path, tmp_path / "out")
    assert cli.returncode == 2
    assert cli.stderr.strip().startswith("error: No session of the study can be analysed.")
    assert "Traceback" not in cli.stderr


def test_trends_find_a_fall_and_claim_none_without_one():
    from fer_engine.sessions.analyse import trend

    rng = np.random.default_rng(0)
    sessions = [1, 2, 3, 4, 5, 6]
    falling = np.array([0.31, 0.25, 0.2, 0.14, 0.1, 0.06])
    draws = [np.clip(v + rng.normal(0, 0.03, 1000), 0, 1) for v in falling]
    slope, low, high = trend(sessions, falling, draws)
    assert slope == pytest.approx(-0.05, abs=0.005) and low < slope < high < 0
    flat = np.array([0.2, 0.22, 0.19, 0.21, 0.2, 0.2])
    draws = [np.clip(v + rng.normal(0, 0.03, 1000), 0, 1) for v in flat]
    slope, low, high = trend(sessions, flat, draws)
    assert low < 0 < high


def test_one_session_gets_shares_but_no_trend():
    from fer_engine.sessions.analyse import SessionResult, study_trends
    from fer_engine.sessions.shares import session_shares

    shares = session_shares(np.array([0, 1, 1, 0, 1] * 20), ("fear", "neutral"), rate_hz=5)
    only = SessionResult("P7", 1, "v.avi", None, 20.0, 1.0, 0, [], shares, {})
    trends, notes = study_trends([only])
    assert trends == [] and notes == ["P7: one analysed session, so no trend across sessions."]


def test_agreement_with_the_human_coder(analysed):
    out, _, _ = analysed
    doc = json.loads((out / "study.json").read_text())
    by_session = {s["session"]: s for s in doc["sessions"]}
    assert "coding" not in by_session[1] and "coding" not in by_session[3]
    c = by_session[2]["coding"]
    # the coder says happy for 6 s, then neutral for 2 s; the smiling face is called happy
    frames = c["frames"]
    assert frames["n"] > 0 and frames["agreement"] == pytest.approx(0.75, abs=0.1)
    assert frames["per_emotion"]["happy"]["recall"] > 0.9
    assert frames["per_emotion"]["happy"]["ppv"] == pytest.approx(0.75, abs=0.1)
    assert c["seconds"]["n"] == 8
    assert c["coder_shares"]["happy"] == pytest.approx(0.75)
    assert doc["coding_agreement"]["happy"]["sessions"] == 1
