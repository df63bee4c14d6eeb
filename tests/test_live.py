"""The live frame pipeline: EMA maths, alert timing (fake clock), tracking, drawing, timeline,
the callback/UI bridge. A fake model (fixed probabilities, counted calls) keeps these fast;
one test runs the real stand-in network for Grad-CAM."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from live_clips import LABELS, FakeModel, blank_frame, clip_frames, onehot, webcam_frame

from fer_engine.inference.alerts import AlertMonitor
from fer_engine.inference.live import LiveSession
from fer_engine.inference.pipeline import (
    ALERT_COLOUR,
    BOX_COLOUR,
    FaceResult,
    FramePipeline,
    FrameSummary,
    LiveConfig,
)
from fer_engine.inference.timeline import Timeline
from fer_engine.inference.tracking import EMA, ema_weight


class Clock:
    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def bgr(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module")
def face_bgr() -> np.ndarray:
    return bgr(webcam_frame())


# ----------------------------------------------------------------------------- EMA


def test_ema_weight_is_time_based():
    assert ema_weight(1.0, 1.0) == pytest.approx(1 - math.exp(-1))
    assert ema_weight(0.3, 0.0) == 1.0  # no smoothing
    assert ema_weight(-1.0, 1.0) == 0.0  # time never runs backwards
    # Ten frames 0.1 s apart weigh the same as one frame after 1 s: the smoothing does not
    # depend on the frame rate.
    a, b = EMA(0.5), EMA(0.5)
    a.update([1.0, 0.0], 0.0)
    b.update([1.0, 0.0], 0.0)
    for k in range(1, 11):
        a.update([0.0, 1.0], k * 0.1)
    b.update([0.0, 1.0], 1.0)
    assert a.value == pytest.approx(b.value)
    assert a.value[1] == pytest.approx(1 - math.exp(-1.0 / 0.5))
    assert a.value.sum() == pytest.approx(1.0)


def test_ema_step_response_and_first_value():
    e = EMA(2.0)
    assert list(e.update([0.2, 0.8], 5.0)) == [0.2, 0.8]  # first observation taken as is
    v = e.update([1.0, 0.0], 7.0)  # one time constant later: 63 % of the step
    assert v[0] == pytest.approx(0.2 + 0.8 * (1 - math.exp(-1)))


# ----------------------------------------------------------------------------- alerts


def test_alert_fires_after_the_hold_time_and_ends_below_threshold():
    m = AlertMonitor(("fear", "anger"), threshold=0.5, hold=2.0, ttl=1.0)
    assert m.update(0.0, {"fear": 0.4, "anger": 0.1}) == []
    assert m.update(1.0, {"fear": 0.6, "anger": 0.1}) == []  # above since t=1
    assert m.update(2.9, {"fear": 0.7, "anger": 0.1}) == [] and m.active == ()
    fired = m.update(3.0, {"fear": 0.8, "anger": 0.1})
    assert [e.emotion for e in fired] == ["fear"] and m.active == ("fear",)
    ev = fired[0]
    assert (ev.above_since, ev.start, ev.end) == (1.0, 3.0, None)
    assert m.update(3.5, {"fear": 0.9, "anger": 0.1}) == []  # fires once per episode
    m.update(4.0, {"fear": 0.3, "anger": 0.1})
    assert m.active == () and ev.end == 4.0 and ev.peak == pytest.approx(0.9)
    assert ev.duration == pytest.approx(1.0)


def test_alert_dip_below_threshold_restarts_the_hold():
    m = AlertMonitor(("anger",), threshold=0.5, hold=2.0)
    m.update(0.0, {"anger": 0.9})
    m.update(1.5, {"anger": 0.49})  # dips: the hold starts again
    m.update(2.0, {"anger": 0.9})
    assert m.update(3.9, {"anger": 0.9}) == []
    assert len(m.update(4.0, {"anger": 0.9})) == 1


def test_alert_survives_a_short_loss_of_the_face_but_not_a_long_one():
    m = AlertMonitor(("fear",), threshold=0.5, hold=0.0, ttl=1.0)
    [ev] = m.update(0.0, {"fear": 0.9})
    m.update(0.5, None)  # detector missed a frame: nothing changes
    assert m.active == ("fear",)
    m.update(0.8, {"fear": 0.9})
    m.update(1.5, None)
    assert m.active == ("fear",)
    m.update(2.5, None)  # gone for 1.7 s > ttl: the episode ends where the face was last seen
    assert m.active == () and ev.end == 0.8


# ----------------------------------------------------------------------------- pipeline


def test_pipeline_draws_the_box_around_the_detected_face(face_bgr):
    p = FramePipeline(FakeModel(), LiveConfig(), clock=Clock())
    out, s = p.process(face_bgr)
    assert len(s.faces) == 1 and s.label == "happy"
    b = s.faces[0].box
    # The detected box covers the astronaut's face (FACE_REGION is roughly 200..460 x 100..360).
    assert 180 < b.x < 260 and 90 < b.y < 160 and 150 < b.w < 280
    edge = out[b.y + b.h // 2, b.x]  # middle of the left edge
    assert tuple(int(v) for v in edge) == BOX_COLOUR
    assert tuple(int(v) for v in out[b.y2 - 1, b.x + b.w // 2]) == BOX_COLOUR  # bottom edge
    inside = (slice(b.y + 20, b.y2 - 20), slice(b.x + 20, b.x2 - 20))
    assert np.array_equal(out[inside], face_bgr[inside])  # the face itself is untouched
    assert np.array_equal(out[:, : max(0, b.x - 5)], face_bgr[:, : max(0, b.x - 5)])
    # the label sits above the box, on a filled strip of the box colour
    def green_share(img):
        strip = img[b.y - 20 : b.y, b.x : b.x + 60].reshape(-1, 3).astype(int)
        return (np.abs(strip - BOX_COLOUR).sum(axis=1) == 0).mean()

    assert green_share(out) > 0.25 and green_share(face_bgr) == 0
    assert not np.array_equal(out, face_bgr) and out is not face_bgr


def test_pipeline_uses_the_chosen_detector(face_bgr):
    from fer_engine.errors import UserFacingError
    from fer_engine.preprocess.detectors import LIVE_DETECTOR

    assert LiveConfig().detector == LIVE_DETECTOR == "haar"
    haar = FramePipeline(FakeModel(), LiveConfig(), clock=Clock()).detect(face_bgr)
    mtcnn = FramePipeline(FakeModel(), LiveConfig(detector="mtcnn"), clock=Clock()).detect(face_bgr)
    [h], [m] = haar, mtcnn
    assert h.landmarks is None and m.landmarks is not None  # MTCNN ran, in frame pixels
    assert 180 < m.x < 280 and 80 < m.y < 180 and 100 < m.w < 280
    assert m.iou(h) > 0.4
    with pytest.raises(UserFacingError, match="Unknown face detector"):
        LiveConfig(detector="nope")


def test_pipeline_batches_faces_into_one_model_call_per_frame():
    two = np.full((480, 640, 3), 120, np.uint8)
    one = webcam_frame(size=(320, 240))
    two[120:360, 0:320] = one
    two[120:360, 320:640] = webcam_frame(shift=-8, size=(320, 240))
    model = FakeModel()
    p = FramePipeline(model, LiveConfig(detect_max_side=640, min_face=0.1), clock=Clock())
    for _ in range(3):
        _, s = p.process(bgr(two))
        assert len(s.faces) == 2
    assert model.calls == [2, 2, 2]  # one call per frame with both faces
    assert s.faces[0].track != s.faces[1].track  # each face keeps its own track
    assert sorted(f.track for f in s.faces) == [0, 1]
    # no face: no model call at all
    p.process(bgr(blank_frame()))
    assert model.calls == [2, 2, 2]


def test_tracking_and_smoothing_follow_the_face_over_a_moving_clip():
    labels_over_time = [onehot("neutral")] * 5 + [onehot("fear")] * 20
    model = FakeModel(lambda i: labels_over_time[min(i, len(labels_over_time) - 1)])
    clock = Clock()
    cfg = LiveConfig(smoothing_s=0.5, threshold=0.6, hold_s=0.5)
    p = FramePipeline(model, cfg, clock=clock)
    timeline = Timeline(p.labels)
    summaries = []
    for i, frame in enumerate(clip_frames(25)):
        clock.t = 100.0 + i / 10  # 10 frames per second
        _, s = p.process(bgr(frame))
        timeline.add(s)
        summaries.append(s)
    assert all(len(s.faces) == 1 for s in summaries)
    assert {s.faces[0].track for s in summaries} == {0}  # one face, one track, all along
    fear = [float(s.faces[0].smoothed[LABELS.index("fear")]) for s in summaries]
    # 0 before the change, then 1 - exp(-k * 0.1 / 0.5) after k frames of fear
    assert fear[4] == pytest.approx(0.0, abs=1e-9)
    for k in (1, 3, 10):
        assert fear[4 + k] == pytest.approx(1 - math.exp(-k * 0.2), abs=1e-6)
    # smoothed fear crosses 0.6 after 5 frames (1 - e^-1 = .63), alert 0.5 s later
    first_above = next(i for i, v in enumerate(fear) if v >= 0.6)
    fired = [i for i, s in enumerate(summaries) if s.fired]
    assert first_above == 9 and fired == [first_above + 5]
    assert summaries[fired[0]].alerts == ("fear",)
    assert summaries[fired[0]].t == pytest.approx(1.4)  # relative to the first frame
    # timeline: one row per frame, alert column and event list
    df = timeline.to_frame()
    assert len(df) == 25 and list(df["frame"]) == list(range(25))
    assert df["alert"].iloc[-1] == "fear" and df["alert"].iloc[fired[0] - 1] == ""
    assert df["p_fear"].iloc[14] == pytest.approx(fear[14], abs=1e-4)
    assert df["raw_fear"].iloc[14] == pytest.approx(1.0, abs=1e-4)
    assert len(timeline.alerts_frame()) == 1
    csv = timeline.to_csv().decode()
    assert csv.splitlines()[0].startswith("t_s,frame,faces,track,emotion,p_anger")
    assert len(csv.splitlines()) == 26


def test_alert_turns_the_primary_box_red_and_draws_a_banner(face_bgr):
    clock = Clock()
    p = FramePipeline(FakeModel(lambda i: onehot("anger", 0.9)),
                      LiveConfig(threshold=0.5, hold_s=1.0), clock=clock)
    out, s = p.process(face_bgr)
    assert s.alerts == ()
    clock.t += 1.0
    out, s = p.process(face_bgr)
    assert s.alerts == ("anger",) and len(s.fired) == 1
    b = s.faces[0].box
    assert tuple(int(v) for v in out[b.y + b.h // 2, b.x]) == ALERT_COLOUR
    assert tuple(int(v) for v in out[2, 2]) == ALERT_COLOUR  # the banner at the top left


def test_frames_without_a_face_are_recorded_as_such():
    p = FramePipeline(FakeModel(), LiveConfig(), clock=Clock())
    t = Timeline(p.labels)
    for _ in range(3):
        out, s = p.process(bgr(blank_frame()))
        t.add(s)
        assert s.faces == [] and s.label is None
    df = t.to_frame()
    assert list(df["faces"]) == [0, 0, 0] and df["p_happy"].isna().all()
    assert df["track"].isna().all()
    assert t.stats()["face_share"] == 0.0


def test_detector_runs_every_nth_frame_and_boxes_are_reused_between(face_bgr):
    p = FramePipeline(FakeModel(), LiveConfig(detect_every=3), clock=Clock())
    ran = []
    for _ in range(7):
        _, s = p.process(face_bgr)
        ran.append(s.detected)
        assert len(s.faces) == 1
    assert ran == [True, False, False, True, False, False, True]


def test_config_validation_and_unknown_emotions():
    with pytest.raises(ValueError):
        LiveConfig(threshold=1.5)
    with pytest.raises(ValueError):
        LiveConfig(detect_every=0)
    assert LiveConfig(alert_emotions=("Angry", "scared")).alert_emotions == ("anger", "fear")
    # a model without fear watches anger only
    class NoFear(FakeModel):
        labels = ("anger", "happy", "sad")
    p = FramePipeline(NoFear(lambda i: np.array([0.2, 0.7, 0.1])), LiveConfig(), clock=Clock())
    assert p.alerts.emotions == ("anger",)


def test_changing_settings_mid_stream_keeps_smoothing_and_history(face_bgr):
    clock = Clock()
    p = FramePipeline(FakeModel(lambda i: onehot("fear", 0.8)),
                      LiveConfig(threshold=0.5, hold_s=0.0), clock=clock)
    _, s = p.process(face_bgr)
    assert s.alerts == ("fear",)
    p.set_config(LiveConfig(threshold=0.9, hold_s=0.0, smoothing_s=2.0))
    clock.t += 0.1
    _, s = p.process(face_bgr)
    assert s.alerts == () and len(p.alerts.events) == 1 and p.alerts.events[0].end is not None
    assert p.tracker.tracks[0].ema.tau == 2.0


# ----------------------------------------------------------------------------- session bridge


def test_session_queue_bounds_memory_and_counts_dropped_summaries(face_bgr):
    clock = Clock()
    session = LiveSession(FakeModel(), LiveConfig(), maxsize=3, clock=clock)
    for i in range(5):
        clock.t += 0.1
        out = session.process_bgr(face_bgr)
        assert out.shape == face_bgr.shape
    got = session.drain()
    assert [s.frame for s in got] == [2, 3, 4] and session.dropped == 2
    assert session.drain() == [] and session.frames == 5


def test_session_close_releases_the_pipeline_and_starts_a_new_stream(face_bgr):
    clock = Clock()
    session = LiveSession(FakeModel(lambda i: onehot("fear", 0.9)),
                          LiveConfig(threshold=0.5, hold_s=0.0), clock=clock)
    session.process_bgr(face_bgr)
    [s1] = session.drain()
    assert session.running and s1.stream == 1 and s1.fired
    session.close()
    assert not session.running
    assert s1.fired[0].end is not None  # the ongoing alert was ended with the stream
    clock.t += 5
    session.process_bgr(face_bgr)
    [s2] = session.drain()
    assert s2.stream == 2 and s2.frame == 0 and s2.t == 0.0  # fresh state


def test_session_survives_a_failing_model(face_bgr):
    def boom(i):
        raise RuntimeError("model exploded")

    session = LiveSession(FakeModel(boom), LiveConfig(), clock=Clock())
    out = session.process_bgr(face_bgr)
    assert out is face_bgr and "model exploded" in session.error
    assert session.drain() == []


# ----------------------------------------------------------------------------- Grad-CAM


@pytest.mark.slow
def test_gradcam_every_nth_frame_with_the_real_network(face_bgr):
    from live_clips import standin_model

    model = standin_model()
    p = FramePipeline(model, LiveConfig(gradcam_every=3, gradcam_alpha=0.5), clock=Clock())
    plain = FramePipeline(model, LiveConfig(), clock=Clock())
    ms = []
    for _ in range(4):
        out, s = p.process(face_bgr)
        ms.append(s.timings["gradcam"])
    ref, s_ref = plain.process(face_bgr)
    assert ms[0] > 0 and ms[3] > 0 and ms[1] == ms[2] == 0.0  # computed on frames 0 and 3
    assert p.gradcam_error is None
    b = s.faces[0].box
    centre = (slice(b.y + 30, b.y2 - 30), slice(b.x + 30, b.x2 - 30))
    assert np.abs(out[centre].astype(int) - ref[centre].astype(int)).mean() > 5  # map painted
    assert np.array_equal(out[:, :40], ref[:, :40])  # outside the face's crop: untouched
    assert s.faces[0].raw.sum() == pytest.approx(1.0, abs=1e-4)


def test_timeline_rate_counts_recent_frames():
    p = FramePipeline(FakeModel(), LiveConfig(), clock=Clock())
    t = Timeline(p.labels)
    assert math.isnan(t.rate())
    for i in range(30):
        _, s = p.process(bgr(blank_frame()), t=i * 0.1 if i < 20 else 2.0 + (i - 20) * 0.05)
        t.add(s)
    # frames every 0.1 s up to 1.9 s, then every 0.05 s from 2.0 to 2.45 s
    assert t.rate(0.5) == pytest.approx(20.0)
    # last 2 s (from 0.45 s): 15 frames at 0.5..1.9 s and 10 at 2.0..2.45 s, 24 intervals
    assert t.rate(2.0) == pytest.approx(24 / 1.95)


def long_timeline(n: int) -> Timeline:
    """``n`` frames at 15 frames/s, a face with random probabilities in 9 of 10, fear alerts
    in the second half."""
    rng = np.random.default_rng(0)
    t = Timeline(LABELS)
    for i in range(n):
        p = rng.dirichlet(np.ones(len(LABELS))).astype(np.float32)
        faces = [] if i % 10 == 9 else [FaceResult(box=None, track=i // 1000, raw=p, smoothed=p)]
        t.add(FrameSummary(t=i / 15, frame=i, labels=LABELS, faces=faces,
                           alerts=("fear",) if i >= n // 2 else ()))
    return t


def test_timeline_keeps_long_sessions_in_little_memory():
    import tracemalloc

    n = 15 * 60 * 20  # 20 minutes at 15 frames/s
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        t = long_timeline(n)
        per_row = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert per_row < 150  # bytes per frame: an hour at 15 frames/s stays under 8 MB
    assert len(t) == n and t.stats() == {"frames": n, "seconds": pytest.approx((n - 1) / 15),
                                         "face_share": pytest.approx(0.9)}
    assert t.rate(2.0) == pytest.approx(15.0)


def test_timeline_thinned_frame_is_every_kth_row_of_the_full_one():
    t = long_timeline(4000)
    full = t.to_frame()
    thin = t.to_frame(max_rows=1500)
    assert len(full) == 4000 and len(thin) == 1334  # every 3rd row: 0, 3, ..., 3999
    expected = full.iloc[::3].reset_index(drop=True)
    assert thin.equals(expected)
    assert list(full["alert"].iloc[[0, 1999, 2000]]) == ["", "", "fear"]
    assert full["track"].isna().sum() == 400 and full["track"].iloc[1500] == 1
    assert full["p_fear"].iloc[0] == pytest.approx(round(float(full["p_fear"].iloc[0]), 4))
    assert t.to_frame(max_rows=5000).equals(full)


def test_pipeline_cuts_faces_at_the_models_own_margin_unless_told(face_bgr, monkeypatch):
    from fer_engine.inference import pipeline as pipeline_module
    from fer_engine.preprocess.crop import DEFAULT_MARGIN

    margins = []
    real = pipeline_module.crop_box

    def spy(box, shape, margin=DEFAULT_MARGIN):
        margins.append(margin)
        return real(box, shape, margin)

    monkeypatch.setattr(pipeline_module, "crop_box", spy)
    model = FakeModel()
    assert FramePipeline(model, LiveConfig(), clock=Clock()).margin == DEFAULT_MARGIN
    model.face_margin = 0.05  # a model trained on tightly framed faces
    FramePipeline(model, LiveConfig(), clock=Clock()).process(face_bgr)
    FramePipeline(model, LiveConfig(margin=0.3), clock=Clock()).process(face_bgr)
    assert margins == [0.05, 0.3]
