"""Face-level prediction: a real photo, broken files, folders, --no-detect, batching, the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("keras")

from fer_engine.inference.predict import columns_for, predict_images  # noqa: E402

LABELS = ("anger", "fear", "happy", "neutral")
PROBS = [f"p_{lab}" for lab in LABELS]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A small cnn (random initialisation) saved as this tool saves models."""
    from fer_engine.models import create

    folder = tmp_path_factory.mktemp("model")
    create("cnn", LABELS).save(folder)
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A real face photo, a corrupt JPEG, a text file named .jpg, and a photo without a face."""
    from PIL import Image
    from skimage import data

    root = tmp_path_factory.mktemp("images")
    (root / "nested" / "deeper").mkdir(parents=True)
    astronaut = root / "nested" / "deeper" / "astronaut.jpg"
    Image.fromarray(data.astronaut()).save(astronaut, quality=90)
    corrupt = root / "corrupt.jpg"
    corrupt.write_bytes(astronaut.read_bytes()[:300])
    text = root / "notes.jpg"
    text.write_text("this is not an image\n")
    rng = np.random.default_rng(0)
    blank = root / "no_face.png"
    Image.fromarray(np.full((200, 300, 3), 128, np.uint8) + rng.integers(0, 8, (200, 300, 3)).astype(np.uint8)
                    ).save(blank)
    (root / "readme.txt").write_text("ignored when a folder is searched")
    return {"root": root, "astronaut": astronaut, "corrupt": corrupt, "text": text, "blank": blank}


def test_a_real_photo_gives_one_row_per_face_with_probabilities(model_dir, images):
    frame = predict_images(model_dir, [images["astronaut"]])
    assert list(frame.columns) == columns_for(LABELS)
    assert len(frame) == 1
    row = frame.iloc[0]
    assert pd.isna(row["error"]) and row["face"] == 0
    # the face of the astronaut photo is around x 177..270, y 67..160 (512 x 512 pixels)
    assert 150 <= row["x"] <= 200 and 40 <= row["y"] <= 100 and 70 <= row["w"] <= 130
    probs = row[PROBS].to_numpy(dtype=float)
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert row["pred"] == LABELS[int(np.argmax(probs))] and row["confidence"] == pytest.approx(probs.max())


def test_broken_images_get_a_reason_and_the_rest_goes_on(model_dir, images):
    sources = [images["corrupt"], images["text"], images["astronaut"], images["blank"],
               images["root"] / "missing.jpg"]
    frame = predict_images(model_dir, sources)
    assert list(frame["path"]) == [str(p) for p in sources]
    by_name = frame.set_index(frame["path"].map(lambda p: p.rsplit("/", 1)[-1]))
    for name in ("corrupt.jpg", "notes.jpg", "no_face.png", "missing.jpg"):
        assert isinstance(by_name.loc[name, "error"], str) and by_name.loc[name, "error"]
        assert pd.isna(by_name.loc[name, "pred"]) and pd.isna(by_name.loc[name, PROBS]).all()
    assert "face" in by_name.loc["no_face.png", "error"].lower()
    assert pd.isna(by_name.loc["astronaut.jpg", "error"]) and by_name.loc["astronaut.jpg", "pred"] in LABELS


def test_folders_are_searched_for_image_files(model_dir, images):
    frame = predict_images(model_dir, [images["root"]])
    names = sorted(p.rsplit("/", 1)[-1] for p in frame["path"])
    assert names == ["astronaut.jpg", "corrupt.jpg", "no_face.png", "notes.jpg"]  # not readme.txt


def test_no_detect_takes_the_centre_square_of_each_image(model_dir, images):
    frame = predict_images(model_dir, [images["astronaut"], images["blank"]], detect=False)
    assert frame["error"].isna().all() and len(frame) == 2
    assert frame[["x", "y", "w", "h"]].iloc[0].tolist() == [0, 0, 512, 512]
    assert frame[["x", "y", "w", "h"]].iloc[1].tolist() == [50, 0, 200, 200]


def test_model_calls_are_batched(model_dir, images):
    from fer_engine.models import load_model

    model = load_model(model_dir)
    calls = []
    original = model.predict_proba
    model.predict_proba = lambda X, batch_size=256: calls.append(len(X)) or original(X, batch_size)
    frame = predict_images(model, [images["astronaut"]] * 5 + [images["blank"]], batch_size=4)
    assert frame["pred"].notna().sum() == 5
    assert calls == [4, 1]  # never one model call per face


def test_predict_cli_writes_the_csv(model_dir, images, tmp_path, capsys):
    from fer_engine.cli import main

    out = tmp_path / "faces.csv"
    code = main(["predict", "--model", str(model_dir), "--csv", str(out), str(images["root"])])
    _, err = capsys.readouterr()
    assert code == 0
    frame = pd.read_csv(out)
    assert len(frame) == 4 and frame["pred"].notna().sum() == 1
    assert "4 image(s): 1 face(s) classified, 3 without a prediction" in err


def test_predict_cli_unknown_model_is_one_line(tmp_path, capsys):
    from fer_engine.cli import main

    code = main(["predict", "--model", str(tmp_path / "nothing"), "--csv", str(tmp_path / "x.csv"),
                 str(tmp_path)])
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("error: No model found") and err.count("\n") == 1


def test_faces_are_cut_at_the_models_own_margin_unless_one_is_given(model_dir, images,
                                                                     monkeypatch):
    from fer_engine import preprocess
    from fer_engine.models import load_model

    seen = []
    real = preprocess.prepare_image

    def spy(*args, **kwargs):
        seen.append(kwargs["margin"])
        return real(*args, **kwargs)

    monkeypatch.setattr(preprocess, "prepare_image", spy)
    model = load_model(model_dir)
    assert model.face_margin == 0.2  # saved by this tool with the engine's default
    model.face_margin = 0.05
    wide = predict_images(model, [images["astronaut"]], margin=0.4)
    tight = predict_images(model, [images["astronaut"]])
    assert seen == [0.4, 0.05]
    assert tight["w"].iloc[0] == wide["w"].iloc[0]  # the face box is the same; the crop is not
