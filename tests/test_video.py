"""Recorded-session analysis over real clips written with OpenCV (astronaut frames)."""

from __future__ import annotations

import numpy as np
import pytest
from live_clips import FakeModel, blank_frame, clip_frames, onehot, write_video

from fer_engine.inference.pipeline import BOX_COLOUR, LiveConfig
from fer_engine.inference.video import VideoError, analyse_video, analyse_video_bytes, probe_video

FPS = 10.0


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return clip_frames(20)


@pytest.fixture(scope="module")
def avi(tmp_path_factory, frames):
    return write_video(tmp_path_factory.mktemp("clips") / "session.avi", frames, FPS, "MJPG")


@pytest.mark.parametrize("fourcc,suffix", [("MJPG", ".avi"), ("mp4v", ".mp4"), ("VP80", ".webm")])
def test_each_container_is_read_with_video_time(tmp_path, fourcc, suffix):
    path = write_video(tmp_path / f"clip{suffix}", clip_frames(6), FPS, fourcc)
    info = probe_video(path)
    assert (info.width, info.height, info.fps) == (640, 480, FPS)
    res = analyse_video(path, FakeModel())
    assert res.frames_analysed == 6
    df = res.timeline.to_frame()
    assert list(df["t_s"]) == pytest.approx([i / FPS for i in range(6)])
    assert (df["faces"] == 1).all() and (df["emotion"] == "happy").all()


def test_frame_step_skips_frames_and_keeps_video_time(avi):
    calls = []
    res = analyse_video(avi, FakeModel(), frame_step=3,
                        progress=lambda f, done, total: calls.append((f, done, total)))
    df = res.timeline.to_frame()
    assert list(df["frame"]) == [0, 3, 6, 9, 12, 15, 18]
    assert list(df["t_s"]) == pytest.approx([0.0, 0.3, 0.6, 0.9, 1.2, 1.5, 1.8])
    assert res.frames_read == 20 and res.frames_analysed == 7
    assert calls[-1] == (1.0, 20, 20)
    assert all(0.0 <= f <= 1.0 for f, _, _ in calls)
    assert set(res.stage_ms) >= {"decode", "detect", "classify", "draw"}
    assert res.fps > 0


def test_alerts_use_video_time_and_the_preview_shows_the_alert(avi):
    # fear from the 5th analysed frame on: smoothed over 0.2 s, held for 0.5 s
    model = FakeModel(lambda i: onehot("neutral") if i < 4 else onehot("fear"))
    cfg = LiveConfig(smoothing_s=0.2, threshold=0.6, hold_s=0.5)
    res = analyse_video(avi, model, config=cfg)
    [ev] = res.events
    # smoothed fear after k frames of 0.1 s: 1 - exp(-k/2) >= 0.6 from k = 2 (t = 0.5 s)
    assert ev.emotion == "fear" and ev.above_since == pytest.approx(0.5)
    assert ev.start == pytest.approx(1.0)  # 0.5 s later
    assert ev.end == pytest.approx(1.9)  # the last frame: ended with the recording
    assert res.preview_t == pytest.approx(1.0)
    assert res.preview.shape == (480, 640, 3)
    alert_rows = res.timeline.to_frame()["alert"]
    assert (alert_rows.iloc[10:] == "fear").all() and (alert_rows.iloc[:10] == "").all()


def test_upload_is_analysed_and_the_temporary_file_deleted(avi, tmp_path):
    data = avi.read_bytes()
    res = analyse_video_bytes(data, "therapy session.AVI", FakeModel(), tmp_dir=tmp_path,
                              frame_step=5)
    assert res.frames_analysed == 4 and list(tmp_path.iterdir()) == []
    preview = res.preview  # RGB: the green box of the BGR frame is green here too
    assert (np.abs(preview.astype(int) - BOX_COLOUR[::-1]).sum(axis=2) == 0).sum() > 500


def test_broken_uploads_give_clear_errors_and_leave_no_file(tmp_path):
    with pytest.raises(VideoError, match="not a video|No frame"):
        analyse_video_bytes(b"this is not a video at all" * 100, "clip.mp4", FakeModel(),
                            tmp_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(VideoError, match="MP4, WebM or AVI"):
        analyse_video_bytes(b"data", "notes.txt", FakeModel(), tmp_dir=tmp_path)
    with pytest.raises(VideoError, match="empty"):
        analyse_video_bytes(b"", "clip.webm", FakeModel(), tmp_dir=tmp_path)
    with pytest.raises(VideoError, match="does not exist"):
        analyse_video(tmp_path / "nothing.avi", FakeModel())
    assert list(tmp_path.iterdir()) == []


def test_truncated_file_analyses_what_it_can(avi, tmp_path):
    data = avi.read_bytes()
    res = analyse_video_bytes(data[: len(data) // 2], "cut.avi", FakeModel(), tmp_dir=tmp_path)
    assert 0 < res.frames_analysed < 20
    assert list(tmp_path.iterdir()) == []


def test_a_video_without_faces(tmp_path):
    path = write_video(tmp_path / "empty.avi", [blank_frame()] * 4, FPS)
    model = FakeModel()
    res = analyse_video(path, model)
    assert res.frames_analysed == 4 and model.calls == []
    assert res.timeline.stats()["face_share"] == 0.0 and res.events == []


def test_lines_break_where_nothing_was_analysed_and_coarse_steps_are_named():
    import pandas as pd

    from fer_engine.inference.timeline import break_at_gaps
    from fer_engine.inference.video import frame_step_warning

    df = pd.DataFrame({"t_s": [0.0, 0.2, 0.4, 12.4, 12.6], "p_fear": [0.1, 0.2, 0.3, 0.9, 0.8]})
    out = break_at_gaps(df, 1.0)
    assert list(out["t_s"]) == [0.0, 0.2, 0.4, 6.4, 12.4, 12.6]
    assert out["p_fear"].isna().tolist() == [False, False, False, True, False, False]
    assert break_at_gaps(df.iloc[:3], 1.0).equals(df.iloc[:3])
    assert frame_step_warning(5, 25.0, 3.0) is None  # 0.2 s apart
    text = frame_step_warning(300, 25.0, 3.0)
    assert "12.0 s apart" in text and "every 37th frame or more often" in text
    assert frame_step_warning(300, 25.0, 0.0) is None  # every analysed frame can alert


def test_ordinals_read_as_words():
    from fer_engine.format import every_nth, ordinal

    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]
    assert every_nth(1) == "every frame" and every_nth(5) == "every 5th frame"
