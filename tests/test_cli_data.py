"""`python -m fer_engine synth` and `python -m fer_engine inspect`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from data_builders import class_folders, tapakah

from fer_engine.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_synth_writes_a_loadable_dataset(tmp_path, capsys):
    out = tmp_path / "demo"
    assert (
        main(
            [
                "synth",
                "--out",
                str(out),
                "--participants",
                "2",
                "--seed",
                "4",
                "--images-per-emotion",
                "1",
            ]
        )
        == 0
    )
    assert "Wrote 16 synthetic images" in capsys.readouterr().out
    assert sorted(os.listdir(out / "images")) == ["0", "1"]
    assert len(os.listdir(out / "images" / "0")) == 8
    assert '"seed": 4' in (out / "SYNTHETIC.txt").read_text()
    assert main(["inspect", str(out)]) == 0
    report = capsys.readouterr().out
    assert report.startswith("*** Synthetic demo data: procedurally drawn faces")
    assert "synthetic demo data (2 participants, seed 4)" in report


def test_synth_refuses_non_empty_folders_unless_forced(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["synth", "--out", str(out), "--participants", "1"]) == 0
    capsys.readouterr()
    assert main(["synth", "--out", str(out), "--participants", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The folder") and "not empty" in err and err.count("\n") == 1
    assert main(["synth", "--out", str(out), "--participants", "1", "--seed", "2", "--force"]) == 0
    assert '"seed": 2' in (out / "SYNTHETIC.txt").read_text()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.docx").write_text("precious")
    assert main(["synth", "--out", str(mine), "--force"]) == 2
    assert (mine / "thesis.docx").read_text() == "precious"


def test_inspect_tapakah_report(tmp_path, capsys):
    tapakah(
        tmp_path, [("0", "FEMALE", 20, "RU"), ("1", "MALE", 40, "RU"), ("2", "FEMALE", 33, "PH")]
    )
    (tmp_path / "images" / "0" / "Fear.jpg").write_bytes(b"broken")
    assert main(["inspect", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Kaggle tapakah68" in out and "Images:       23" in out and "Participants: 3" in out
    counts = {
        line.split()[0]: line.split()[1:]
        for line in out.splitlines()
        if line.startswith("  ") and len(line.split()) == 2
    }
    assert counts["fear"] == ["2"] and counts["anger"] == ["3"]  # the broken Fear.jpg is left out
    lines = {
        line.split()[0] + " " + line.split()[1]: line
        for line in out.splitlines()
        if line.strip().startswith(("country_group", "gender", "age_group"))
    }
    assert lines["country_group Other"].split()[2:4] == ["1", "8"]  # 1 participant, 8 images
    assert "small n" in lines["country_group Other"]
    assert "[corrupt_image]" in out and "images/0/Fear.jpg" in out
    assert main(["inspect", str(tmp_path), "--strict"]) == 1


def test_inspect_class_folders_per_split(tmp_path, capsys):
    class_folders(tmp_path, {"train": {"angry": 3, "happy": 2}, "test": {"angry": 1, "happy": 1}})
    assert main(["inspect", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "class folders" in out and "Participants: unknown" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("  ")}
    assert rows["anger"] == ["1", "3", "4"]  # test, train, total
    assert "no demographics" in out and "no problems found" in out


def test_inspect_fatal_is_one_clear_line(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "missing")]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: The folder {tmp_path / 'missing'} does not exist.\n"
    assert captured.out == ""


def test_inspect_runs_without_tensorflow_or_streamlit(tmp_path):
    tapakah(tmp_path, sets=("0",), meta_rows=[("0", "FEMALE", 20, "RU")])
    code = (
        "import sys; from fer_engine.cli import main; rc = main(['inspect', sys.argv[1]]); "
        "bad = [m for m in ('tensorflow', 'keras', 'streamlit') if m in sys.modules]; "
        "print('HEAVY', bad); sys.exit(rc)"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout and "Images:       8" in proc.stdout


def test_inspect_counts_a_decompression_bomb_as_unreadable(tmp_path, capsys):
    from test_data_files import png_declaring

    class_folders(tmp_path, {"": {"angry": 2, "happy": 2}})
    (tmp_path / "happy" / "bomb.png").write_bytes(png_declaring(100_000, 100_000))
    assert main(["inspect", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Images:       4" in out  # the bomb is not counted
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("  ")}
    assert rows["happy"] == ["2"]
    assert "[corrupt_image] 1 image(s) could not be read" in out and "happy/bomb.png" in out
    assert "100000 x 100000 pixels" in out
