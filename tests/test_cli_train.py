"""`python -m fer_engine train` flags: they fill one ExperimentSpec, defaults included."""

from __future__ import annotations

import pytest

from fer_engine.cli import build_parser, main
from fer_engine.commands.train import spec_from_args
from fer_engine.experiments.spec import ExperimentSpec


def parse(*flags: str) -> ExperimentSpec:
    argv = ["train", *flags]
    return spec_from_args(build_parser(argv).parse_args(argv))


def test_no_flags_is_the_default_spec():
    assert parse() == ExperimentSpec()
    assert parse() == ExperimentSpec(model="cnn", protocol="loso", epochs=30, batch_size=32,
                                     learning_rate=1e-3, seed=0, weights=None, augment="flip",
                                     k=5, test_size=0.2, val_fraction=0.15, copies=4,
                                     early_stopping_patience=6, detect=True, margin=None,
                                     detector="mtcnn", align=True)


def test_every_flag_reaches_the_spec():
    spec = parse("--model", "resnet50", "--protocol", "paper", "--epochs", "3", "--batch-size", "8",
                 "--learning-rate", "0.01", "--seed", "7", "--weights", "none", "--k", "3",
                 "--test-size", "0.3", "--val-fraction", "0", "--patience", "2",
                 "--augment", "full", "--class-weight", "--augment-before-split", "--copies", "2", "--no-detect",
                 "--margin", "0.1", "--unfreeze", "conv5", "--input-size", "32",
                 "--detector", "haar", "--no-align")
    assert spec == ExperimentSpec(
        model="resnet50", protocol="paper", epochs=3, batch_size=8, learning_rate=0.01, seed=7,
        weights="none", augment="full", class_weight=True, k=3, test_size=0.3, val_fraction=0.0,
        augment_before_split=True, copies=2, early_stopping_patience=2, detect=False, margin=0.1,
        detector="haar", align=False, model_options={"unfreeze": "conv5", "input_size": 32})


def test_an_unknown_detector_is_one_sentence():
    from fer_engine.errors import UserFacingError

    with pytest.raises(UserFacingError, match="Unknown face detector 'dlib'. Choose one of: haar"):
        ExperimentSpec(detector="dlib")


def test_no_augment_wins_over_augment():
    assert parse("--augment", "full", "--no-augment").augment == "none"
    assert parse("--no-augment", "--augment", "full").augment == "none"


def test_unknown_choices_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--protocol", "random-split"])
    assert exc.value.code == 2 and "invalid choice: 'random-split'" in capsys.readouterr().err
