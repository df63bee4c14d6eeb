"""Run-folder helpers without training: metrics, predictions table, atomic writer, JSON safety."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from fer_engine.experiments.runs import (
    RUN_ID_PATTERN,
    RunWriter,
    list_runs,
    new_run_id,
    predictions_frame,
    summary_metrics,
    write_json,
)


def test_summary_metrics_by_hand():
    pred = pd.DataFrame({"true": ["anger", "anger", "sad", "sad"], "pred": ["anger", "sad", "sad", "sad"],
                         "participant": ["1", "1", "2", "3"]})
    m = summary_metrics(pred, ("anger", "happy", "sad"))
    assert m["accuracy"] == pytest.approx(0.75)
    # anger: P 1, R 1/2, F1 2/3; sad: P 2/3, R 1, F1 4/5; happy never occurs: not averaged
    assert m["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert m["n_samples"] == 4 and m["n_participants"] == 3


def test_predictions_frame_column_order_and_values():
    table = pd.DataFrame({"path": ["/a.jpg", "/b.jpg"], "participant": [7, 8], "emotion": ["Happy", "sad"],
                          "split": [None, None], "gender": ["female", "male"], "age": [30.0, 41.0],
                          "duplicate_group": [None, None], "handedness": ["left", "right"]})
    samples = pd.DataFrame({"sample_id": ["/b.jpg", "/a.jpg#aug1"], "row": [1, 0]})
    frame = predictions_frame(samples, table, np.array([0, 0]), np.array([[0.2, 0.8], [0.9, 0.1]]),
                              ("happy", "sad"))
    assert list(frame.columns) == ["sample_id", "path", "participant", "gender", "age", "handedness", "fold",
                                   "true", "pred", "p_happy", "p_sad"]
    assert frame["path"].tolist() == ["/b.jpg", "/a.jpg"] and frame["participant"].tolist() == ["8", "7"]
    assert frame["true"].tolist() == ["sad", "happy"] and frame["pred"].tolist() == ["sad", "happy"]


def test_run_ids_follow_the_contract():
    rid = new_run_id("hog_svm", "group-kfold")
    assert RUN_ID_PATTERN.match(rid) and re.match(r"^\d{8}-\d{6}-hog_svm-group-kfold-[0-9a-f]{4}$", rid)


def test_writer_commits_atomically_and_aborts_cleanly(tmp_path):
    with RunWriter("20260101-000000-cnn-loso-0001", tmp_path) as w:
        w.write_json("config.json", {"run_id": "x", "created": "2026-01-01T00:00:00", "status": "complete"})
        assert list_runs(tmp_path).empty  # still partial
        with pytest.raises(RuntimeError, match="metrics.json missing"):
            w.commit()
        w.write_json("metrics.json", {"accuracy": 0.5, "macro_f1": float("nan")})
        final = w.commit()
    assert final.name == "20260101-000000-cnn-loso-0001" and not (tmp_path / ".20260101-000000-cnn-loso-0001.partial").exists()
    assert json.loads((final / "metrics.json").read_text())["macro_f1"] is None  # NaN is not valid JSON
    assert len(list_runs(tmp_path)) == 1
    with pytest.raises(KeyboardInterrupt):
        with RunWriter("20260101-000000-cnn-loso-0002", tmp_path) as w:
            w.write_json("config.json", {})
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20260101-000000-cnn-loso-0001"]


def test_json_is_made_safe(tmp_path):
    write_json(tmp_path / "x.json", {"a": np.int64(3), "b": np.array([1.5, np.inf]), "c": (tmp_path,)})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 3, "b": [1.5, None], "c": [str(tmp_path)]}
