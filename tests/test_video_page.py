"""Recorded-session page under AppTest: upload a clip, analyse it, timeline/alerts/CSV; the
temporary copy is deleted; a broken video gives a message and the page stays usable."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from live_clips import clip_frames, standin_model, write_video
from pages_support import open_page, texts
from streamlit.testing.v1 import AppTest

PAGE = "pages/6_Session.py"


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("artifacts")
    standin_model().save(root / "pretrained", stem="model")
    (root / "runs").mkdir()
    return root


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("clip") / "session.avi"
    return write_video(path, clip_frames(20), 10.0, "MJPG").read_bytes()


@pytest.fixture
def temp_files(monkeypatch) -> list[Path]:
    """Every temporary file the video module creates during the test."""
    made: list[Path] = []
    original = tempfile.mkstemp

    def recording(*args, **kwargs):
        fd, path = original(*args, **kwargs)
        made.append(Path(path))
        return fd, path

    monkeypatch.setattr("fer_engine.inference.video.tempfile.mkstemp", recording)
    return made


@pytest.fixture
def app(artifacts, monkeypatch) -> AppTest:
    return open_page(PAGE, artifacts, monkeypatch)


def analyse(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="session_file").set_value((name, data, "video/x-msvideo"))
    at.run()
    at.button(key="session_go").click().run()
    assert not at.exception, at.exception
    return at


def test_clip_is_analysed_with_a_frame_step_and_deleted(app, clip, temp_files):
    assert "deleted as soon as it ends" in texts(app.info)
    app.number_input(key="session_step").set_value(5)
    analyse(app, "therapy.avi", clip)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Frames analysed"] == "4" and metrics["Frames with a face"] == "100%"
    assert metrics["Seconds covered"] == "1.5"  # frames 0, 5, 10, 15 at 10 fps
    assert len(app.get("plotly_chart")) == 1
    assert "No alert in this session." in texts(app.success)
    assert "4 of 20 frames analysed (every 5th frame)" in texts(app.caption)
    [csv_button] = app.get("download_button")
    assert csv_button.proto.ignore_rerun and csv_button.proto.deferred_file_id  # on click only
    [copy] = temp_files  # one temporary copy was made, and it is gone
    assert copy.name.startswith("fer-session-") and not copy.exists()
    csv = app.session_state["session_result"].result.timeline.to_csv()
    df = pd.read_csv(io.BytesIO(csv))
    assert list(df["frame"]) == [0, 5, 10, 15] and (df["faces"] == 1).all()
    assert df.filter(like="p_").sum(axis=1).round(3).eq(1.0).all()


def test_alerts_appear_in_the_table_and_the_chart(app, clip, temp_files):
    # the untrained network gives every class ~1/7: a low threshold makes both watched
    # emotions alert once they have stayed above it for 0.5 s of video time
    app.slider(key="session_threshold").set_value(0.05)
    app.slider(key="session_hold").set_value(0.5)
    app.number_input(key="session_step").set_value(2)
    analyse(app, "therapy.avi", clip)
    assert "2 alert episodes" in texts(app.warning)
    table = app.dataframe[0].value
    assert sorted(table["emotion"]) == ["anger", "fear"]
    assert (table["alert at (s)"] == 0.6).all()  # frames at 0, .2, .4, .6 s: held 0.5 s at .6
    assert {m.label: m.value for m in app.metric}["Alerts"] == "2"
    assert temp_files and not any(p.exists() for p in temp_files)


def test_broken_video_gives_a_message_and_the_page_stays_usable(app, clip, temp_files):
    analyse(app, "broken.mp4", b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 500)
    assert "broken.mp4" in texts(app.error) and not app.metric
    assert len(temp_files) == 1 and not temp_files[0].exists()
    analyse(app, "therapy.avi", clip)  # a good one right after works
    assert not app.error and {m.label: m.value for m in app.metric}["Frames analysed"] == "4"


def test_a_step_too_coarse_for_the_alert_time_is_warned_about(app, clip, temp_files):
    app.slider(key="session_hold").set_value(1.0)
    app.number_input(key="session_step").set_value(8)  # 0.8 s apart at 10 fps > 1.0 s / 2
    analyse(app, "therapy.avi", clip)
    [warning] = [w for w in texts(app.warning).split("\n") if "apart" in w] or [""]
    assert "0.8 s apart" in warning and "Analyse every 5th frame or more often" in warning
    app.number_input(key="session_step").set_value(5)
    analyse(app, "therapy.avi", clip)
    assert "apart" not in texts(app.warning)


def test_a_step_out_of_range_is_refused_and_a_failed_upload_keeps_the_last_result(
        app, clip, temp_files):
    analyse(app, "therapy.avi", clip)
    app.number_input(key="session_step").set_value(99999999)
    app.run()
    assert "from 1 to 300; 99,999,999 is not" in texts(app.error)
    assert app.button(key="session_go").disabled
    app.number_input(key="session_step").set_value(5)
    analyse(app, "broken.mp4", b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 500)
    assert "broken.mp4" in texts(app.error)
    assert "The previous analysis (therapy.avi) is still shown below." in texts(app.caption)
    assert {m.label: m.value for m in app.metric}["Frames analysed"] == "4"


def test_the_settings_survive_a_visit_to_another_page(app):
    app.run()
    app.number_input(key="session_step").set_value(3)
    app.selectbox(key="session_detector").set_value("mtcnn")
    app.slider(key="session_hold").set_value(2.0)
    app.run()
    app.switch_page("pages/1_Dataset.py").run()
    app.switch_page(PAGE).run()
    assert not app.exception, app.exception
    assert app.number_input(key="session_step").value == 3
    assert app.selectbox(key="session_detector").value == "mtcnn"
    assert app.slider(key="session_hold").value == 2.0
