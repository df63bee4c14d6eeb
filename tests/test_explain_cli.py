"""`python -m fer_engine explain` end to end on a tiny saved CNN and a synthetic photo."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    from fer_engine.models import create

    model = create("cnn", ["anger", "happy", "sad"], input_size=24)
    return model.save(tmp_path_factory.mktemp("model"))  # model.keras + meta.json


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("img") / "face.png"
    Image.fromarray(rgb).save(path)
    return path


@pytest.mark.parametrize("method", ["gradcam", "ig", "filters"])
def test_explain_cli_writes_overlay_and_prints_figures(
    saved_model, photo, tmp_path, capsys, method
):
    from PIL import Image

    from fer_engine.cli import main

    out = tmp_path / f"{method}.png"
    code = main(
        [
            "explain",
            "--model",
            str(saved_model),
            "--method",
            method,
            "--no-detect",
            "--steps",
            "16",
            "--out",
            str(out),
            str(photo),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and out.is_file()
    assert "predicted: " in text and any(
        f"predicted: {e}" in text for e in ("anger", "happy", "sad")
    )
    img = np.asarray(Image.open(out))
    if method == "filters":
        assert img.ndim == 3 and img.shape[2] == 3
        return
    assert img.shape == (90, 120, 3)  # drawn on the full photo
    assert "deletion AUC:" in text and "insertion AUC:" in text and "random map" in text
    if method == "ig":
        assert "IG completeness" in text and "relative error" in text


def test_explain_cli_unknown_target_is_one_line(saved_model, photo, tmp_path, capsys):
    from fer_engine.cli import main

    code = main(
        [
            "explain",
            "--model",
            str(saved_model),
            "--method",
            "saliency",
            "--no-detect",
            "--target",
            "fear",
            "--out",
            str(tmp_path / "x.png"),
            str(photo),
        ]
    )
    assert code == 2
    assert "not one of this model's classes" in capsys.readouterr().err
