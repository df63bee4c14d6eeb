"""`python -m fer_engine train` tells what the data allow: an image pre-processing cannot read
is left out with one line saying so (also recorded in the run), and a protocol the data
cannot support is refused before any image is prepared."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_builders import write_image

from fer_engine.cli import main
from fer_engine.experiments.runs import load_run

LABELS = ("anger", "happy", "sad")


@pytest.fixture(autouse=True)
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path / "runs"))


def damage(path: Path) -> None:
    """Keep a JPEG's first bytes and its end marker, zero the rest: the loader's quick check
    (the file's two ends) passes it, decoding fails in pre-processing."""
    data = path.read_bytes()
    path.write_bytes(data[:20] + b"\x00" * 200 + b"\xff\xd9")


def test_an_unreadable_image_is_left_out_with_one_line_and_recorded(tmp_path, capsys):
    from fer_engine.data import load_dataset
    from fer_engine.data.synthetic import generate

    root = generate(tmp_path / "data", participants=4, emotions=LABELS)
    damage(root / "images" / "0" / "Anger.jpg")
    assert load_dataset(root).n_images == 12  # the loader keeps it: only decoding finds out
    code = main(["train", "--data", str(root), "--model", "hog_svm", "--protocol", "loso",
                 "--val-fraction", "0", "--no-detect", "--out", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code == 0, err
    line = ("1 of 12 images could not be read and were left out (first: images/0/Anger.jpg: "
            "'Anger.jpg' is not an image this tool can read")
    assert err.count("could not be read") == 1
    assert f"\nnote: {line}" in err
    run = load_run(out.strip().splitlines()[-1])
    assert run.metrics["n_samples"] == 11
    assert [n for n in run.metrics["notes"] if n.startswith(line)]
    assert [n for n in run.config["protocol"]["notes"] if n.startswith(line)]
    assert [e["path"] for e in run.config["dataset"]["excluded"]] == [
        str(root / "images" / "0" / "Anger.jpg")]


def test_all_images_readable_means_no_note(tmp_path, capsys):
    from fer_engine.data.synthetic import generate

    root = generate(tmp_path / "data", participants=3, emotions=LABELS)
    code = main(["train", "--data", str(root), "--model", "hog_svm", "--protocol", "holdout",
                 "--no-detect", "--out", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "could not be read" not in err
    assert "notes" not in load_run(out.strip().splitlines()[-1]).metrics


def test_a_protocol_the_data_cannot_support_is_refused_before_preparing(tmp_path, capsys):
    data = tmp_path / "no-ids"  # class folders, no manifest: nobody is known
    for e in ("angry", "happy", "sad"):
        for i in range(4):
            write_image(data / "train" / e / f"{i}.png", size=(48, 48))
            write_image(data / "test" / e / f"{i}.png", size=(48, 48))
    code = main(["train", "--data", str(data), "--model", "hog_svm", "--no-detect",
                 "--out", str(tmp_path / "runs")])  # the default protocol: loso
    _, err = capsys.readouterr()
    assert code == 2
    assert err == "error: Leave-one-subject-out needs participant ids; this dataset has none.\n"
    assert not (tmp_path / "cache" / "preprocessed").exists()  # no image was prepared
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
    code = main(["train", "--data", str(data), "--model", "hog_svm", "--no-detect",
                 "--protocol", "official", "--out", str(tmp_path / "runs")])
    assert code == 0, capsys.readouterr().err
