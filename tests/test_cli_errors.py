"""No traceback reaches a user of `python -m fer_engine`: every command, given bad arguments
or bad data, ends with one sentence and a non-zero exit status (2: argparse's usage errors
and problems the user can fix; 1: an internal error, with the file that holds its log)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from data_builders import KAGGLE, tapakah, write_image

from fer_engine import cli
from fer_engine.analytics.synthetic import (
    loso_folds,
    synthetic_config,
    synthetic_predictions,
    write_run_folder,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path / "runs"))


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> dict[str, Path]:
    """Bad and awkward inputs: an empty folder, a text file named like an image, a CSV with
    wrong columns, a run whose predictions have wrong columns, a dataset of 2 people."""
    root = tmp_path_factory.mktemp("bad")
    (root / "empty").mkdir()
    (root / "notimage.jpg").write_text("this is not a picture\n")
    (root / "wrong.csv").write_text("a,b\n1,2\n")
    (root / "afile").write_text("a file where a folder is expected\n")
    table = synthetic_predictions(seed=0)
    run = write_run_folder(root / "badrun", table, synthetic_config(run_id="badrun"),
                           loso_folds(table))
    (run / "predictions.csv").write_text("a,b\n1,2\n")
    two = root / "two"
    for person in ("0", "1"):
        for e in KAGGLE[:3]:
            write_image(two / "images" / person / f"{e}.jpg", size=(48, 48))
    (two / "emotions.csv").write_text("set_id;gender;age;country\n0;FEMALE;20;RU\n1;MALE;30;PH\n")
    return {"root": root, "empty": root / "empty", "image": root / "notimage.jpg",
            "csv": root / "wrong.csv", "file": root / "afile", "run": run, "two": two,
            "tap": tapakah(root / "tap")}


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``cli.main(argv)``, argparse's SystemExit included."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


#: (argv with {placeholders} from the ``bad`` fixture, exit status, words of the message)
CASES = [
    # synth
    ("synth --out {file}", 2, "argument --out: {file} is a file, not a folder"),
    ("synth --out {file}/sub", 2, "is a file, not a folder"),
    ("synth --out {root}/s --participants 0", 2, "--participants: must be a whole number of at least 1, not 0"),
    ("synth --out {root}/s --images-per-emotion -1", 2, "at least 1, not -1"),
    ("synth --out {root}/s --difficulty -1", 2, "--difficulty: must be at least 0, not -1"),
    ("synth --out {root}/s --seed x", 2, "--seed: must be a whole number, not 'x'"),
    ("synth --out {tap}", 2, "is not empty"),
    ("synth --out /proc/fer-synth", 2, "cannot write in the folder /proc"),
    # inspect
    ("inspect {root}/missing", 2, "does not exist"),
    ("inspect {empty}", 2, "No images found in"),
    ("inspect {image}", 2, "is a file, not a dataset folder"),
    ("inspect {csv}", 2, "are not sorted by emotion"),
    ("inspect {tap} --metadata {csv}", 2, "has no set_id column"),
    ("inspect {tap} --metadata {root}/missing.csv", 2, "does not exist"),
    # train: numbers and places, refused before any work
    ("train --epochs 0", 2, "--epochs: must be a whole number of at least 1, not 0"),
    ("train --batch-size 0", 2, "--batch-size: must be a whole number of at least 1, not 0"),
    ("train --learning-rate -1", 2, "--learning-rate: must be more than 0, not -1"),
    ("train --learning-rate nan", 2, "--learning-rate: must be a finite number"),
    ("train --test-size 2", 2, "--test-size: must be more than 0 and less than 1, not 2"),
    ("train --test-size 0", 2, "--test-size: must be more than 0 and less than 1, not 0"),
    ("train --val-fraction 0.5", 2, "--val-fraction: must be at least 0 and less than 0.5"),
    ("train --k 1", 2, "--k: must be a whole number of at least 2, not 1"),
    ("train --copies 0", 2, "--copies: must be a whole number of at least 1"),
    ("train --patience -2", 2, "--patience: must be a whole number of at least 0"),
    ("train --margin -0.1", 2, "--margin: must be at least 0"),
    ("train --seed -1", 2, "--seed: must be a whole number of at least 0"),
    ("train --workers 0", 2, "--workers: must be a whole number of at least 1, not 0"),
    # sessions
    ("sessions", 2, "the following arguments are required: ACTION"),
    ("sessions analyse {root}/missing --out {root}/so", 2, "does not exist"),
    ("sessions analyse {empty} --out {root}/so", 2, "sessions.csv"),
    ("sessions analyse {csv} --out {root}/so", 2, "path"),
    ("sessions analyse {empty} --out {root}/so --step 0", 2,
     "--step: must be a whole number of at least 1, not 0"),
    ("sessions analyse {empty} --out {file}", 2, "--out: {file} is a file, not a folder"),
    ("train --out {file}/runs", 2, "--out: {file} is a file, not a folder"),
    ("train --out /proc/fer-runs", 2, "--out: cannot write in the folder /proc"),
    # train: bad data
    ("train --data {root}/missing --model hog_svm", 2, "does not exist"),
    ("train --data {empty} --model hog_svm", 2, "No images found in"),
    ("train --data {image} --model hog_svm", 2, "is a file, not a dataset folder"),
    ("train --data {two} --model hog_svm --no-detect", 2,
     "Leave-one-subject-out needs at least 3 participants; this dataset has 2."),
    ("train --data {two} --model hog_svm --no-detect --protocol group-kfold --k 3", 2,
     "group-kfold with k=3 needs at least 3 participants; this dataset has 2."),
    # predict
    ("predict --model pretrained --csv {root}/nofolder/x.csv {image}", 2,
     "--csv: the folder {root}/nofolder does not exist"),
    ("predict --model pretrained --csv {empty} {image}", 2, "--csv: {empty} is a folder"),
    ("predict --model pretrained --csv {root}/x.csv --batch-size 0 {image}", 2, "--batch-size: must be"),
    ("predict --model pretrained --csv {root}/x.csv --margin -1 {image}", 2, "--margin: must be at least 0"),
    ("predict --model pretrained --csv {root}/x.csv --fold abc {image}", 2, "--fold must be a number or 'all'."),
    ("predict --model {root}/missing --csv {root}/x.csv {image}", 2, "No model found at"),
    ("predict --model pretrained --csv {root}/x.csv {empty}", 2,
     "No images found in {empty}; nothing was written."),
    ("predict --model pretrained --csv {root}/x.csv {image} {root}/missing.jpg", 1,
     "0 face(s) classified, 2 without a prediction"),
    ("predict --model {empty} --csv {root}/x.csv {image}", 2, "is neither a run folder nor a model folder"),
    # report
    ("report {root}/missing", 2, "No run folder"),
    ("report {empty}", 2, "No complete run found"),
    ("report {run} --bootstrap 0", 2, "--bootstrap: must be a whole number of at least 1, not 0"),
    ("report {run} --bins 0", 2, "--bins: must be a whole number of at least 1, not 0"),
    ("report {run} --out {root}/nofolder/r.html", 2, "--out: the folder {root}/nofolder does not exist"),
    ("report {run} --bootstrap 5", 2, "The predictions table lacks the column(s) sample_id"),
    ("report {run} --prevalence fear=2", 2, "The prevalence of fear must lie strictly between 0 and 1"),
    # explain
    ("explain {image} --model pretrained --method gradcam --out {root}/nofolder/o.png", 2,
     "--out: the folder {root}/nofolder does not exist"),
    ("explain {image} --model pretrained --method gradcam --out {root}/o.png --alpha 2", 2,
     "--alpha: must be at least 0 and at most 1, not 2"),
    ("explain {image} --model pretrained --method ig --out {root}/o.png --steps 0", 2, "--steps: must be"),
    ("explain {image} --model pretrained --method occlusion --out {root}/o.png --patch 0", 2, "--patch: must be"),
    ("explain --model {run} --regions --max-images 0", 2, "--max-images: must be a whole number of at least 1"),
    ("explain --model {run} --regions --csv {root}/nofolder/r.csv", 2, "--csv: the folder"),
    ("explain --model {run} --regions", 2, "The predictions table lacks the column(s)"),
    ("explain {image} --model {root}/missing --method gradcam --out {root}/o.png", 2, "No model found at"),
    # train-pretrained and model-card
    ("train-pretrained --data {root}/missing", 2, "does not exist"),
    ("train-pretrained --data {empty} --epochs 0", 2, "--epochs: must be a whole number of at least 1"),
    ("train-pretrained --data {empty} --stop-after 0", 2, "--stop-after: must be"),
    ("model-card --model-dir {empty}", 2, "No exported model at"),
    ("model-card --benchmark {root}/missing.json", 2, "does not exist"),
    ("model-card --benchmark {csv}", 2, "is not valid JSON"),
    # no command, an unknown one
    ("", 2, ""),
    ("frobnicate", 2, "invalid choice: 'frobnicate'"),
]


@pytest.mark.parametrize("line, status, words", CASES, ids=[c[0][:60] for c in CASES])
def test_bad_arguments_and_data_end_in_one_sentence(line, status, words, bad, capsys):
    argv = [a.format(**bad) for a in line.split()]
    code, out, err = run_cli(argv, capsys)
    assert "Traceback" not in out + err
    assert code == status, err
    assert words.format(**bad) in err
    if "usage:" not in err and "error: " in err:  # not argparse's: the last line is the error
        lines = err.splitlines()
        assert lines[-1].startswith("error: ") and sum("error" in x for x in lines) == 1, err


def test_every_command_is_driven_with_bad_input():
    driven = {c[0].split()[0] for c in CASES if c[0]}
    assert set(cli.COMMANDS) <= driven


def test_an_internal_error_is_one_line_with_its_log(bad, tmp_path, monkeypatch, capsys):
    from fer_engine.commands import inspect as inspect_cmd

    def broken(args):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(inspect_cmd, "run", broken)
    code, out, err = run_cli(["inspect", str(bad["tap"])], capsys)
    assert code == 1 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    prefix = ("error: The 'inspect' command failed with an internal error (RuntimeError: disk on "
              "fire). The full log is in ")
    assert err.startswith(prefix)
    log = Path(err[len(prefix):].strip().rstrip("."))
    assert log.parent == tmp_path / "cache" / "logs"
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "disk on fire\nsecond line" in text


def test_interrupt_is_one_line(bad, monkeypatch, capsys):
    from fer_engine.commands import inspect as inspect_cmd

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(inspect_cmd, "run", interrupted)
    assert run_cli(["inspect", str(bad["tap"])], capsys) == (130, "", "Interrupted.\n")


def _python(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), FER_CACHE_DIR=str(tmp_path / "cache"),
               FER_RUNS_DIR=str(tmp_path / "runs"), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)


def test_end_to_end_a_usage_error_and_an_internal_error(bad, tmp_path):
    usage = _python("-m", "fer_engine", "report", str(bad["run"]), "--bootstrap", "0",
                    tmp_path=tmp_path)
    assert usage.returncode == 2 and usage.stdout == ""
    assert usage.stderr.startswith("usage: python -m fer_engine report")
    assert usage.stderr.endswith("error: argument --bootstrap: must be a whole number of at "
                                 "least 1, not 0\n")
    code = ("import sys; from fer_engine import cli; from fer_engine.commands import inspect; "
            "inspect.run = lambda args: {}['missing key']; sys.exit(cli.main(sys.argv[1:]))")
    crash = _python("-c", code, "inspect", str(bad["tap"]), tmp_path=tmp_path)
    assert crash.returncode == 1 and "Traceback" not in crash.stdout + crash.stderr
    assert crash.stderr.startswith("error: The 'inspect' command failed with an internal error "
                                   "(KeyError: 'missing key'). The full log is in ")
    assert crash.stderr.count("\n") == 1
    assert len(list((tmp_path / "cache" / "logs").glob("*.log"))) == 1


def test_a_manifest_without_demographics_trains_under_every_person_split(tmp_path, capsys):
    """Class folders with manifest.csv of path, participant only: the grouped protocols run,
    unstratified, and say so; a paper run's log names LEAKY once."""
    data = tmp_path / "posed"
    lines = ["path,participant"]
    for person in range(1, 7):
        for e in ("angry", "happy", "sad"):
            write_image(data / e / f"{person}_{e}.png", size=(48, 48))
            lines.append(f"{e}/{person}_{e}.png,{person}")
    (data / "manifest.csv").write_text("\n".join(lines) + "\n")
    common = ["train", "--data", str(data), "--model", "hog_svm", "--no-detect",
              "--out", str(tmp_path / "runs")]
    for protocol in ("group-kfold", "holdout"):
        code, out, err = run_cli([*common, "--protocol", protocol, "--k", "3"], capsys)
        assert code == 0, err
        assert ("note: No demographic columns to stratify by, so the folds are plain groups of "
                "whole people, not stratified.") in err
        assert Path(out.strip().splitlines()[-1]).is_dir()
    code, out, err = run_cli([*common, "--protocol", "paper"], capsys)
    assert code == 0, err
    assert err.count("LEAKY protocol:") == 1
    assert ("\nLEAKY protocol: the same participants are on both sides of the split; these "
            "numbers overstate how well the model recognises emotion.\n") in err
