"""ExperimentSpec: one frozen record of a training's settings, validated and JSON-safe."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from fer_engine.errors import DatasetError, ModelError, UserFacingError
from fer_engine.experiments.jobs import JobSpec
from fer_engine.experiments.protocols import (
    LEAKY_PROTOCOLS,
    PROTOCOL_LABELS,
    PROTOCOLS,
    protocol_label,
)
from fer_engine.experiments.spec import ExperimentSpec
from fer_engine.models import MODEL_LABELS, MODEL_NAMES


def test_unknown_model_or_protocol_is_a_clear_error():
    with pytest.raises(ModelError, match="Unknown model 'svm'. Choose one of: cnn, resnet50"):
        ExperimentSpec(model="svm")
    with pytest.raises(DatasetError, match="Unknown protocol 'kfold'. Choose one of: loso, group-"):
        ExperimentSpec(protocol="kfold")
    assert issubclass(ModelError, UserFacingError) and issubclass(DatasetError, UserFacingError)
    with pytest.raises(ValueError, match="augment must be one of"):
        ExperimentSpec(augment="sideways")
    with pytest.raises(ValueError, match="unknown augmentation factor"):
        ExperimentSpec(augment={"twirl": 0.1})


def test_numbers_are_coerced_and_the_spec_is_frozen():
    spec = ExperimentSpec(epochs=np.int64(3), learning_rate=np.float32(0.5),
                          class_weight=np.bool_(True), k=4.0, test_size=1, model_options=None)
    assert (spec.epochs, spec.k, spec.learning_rate, spec.test_size) == (3, 4, 0.5, 1.0)
    assert type(spec.epochs) is int and type(spec.k) is int and type(spec.test_size) is float
    assert spec.class_weight is True and spec.model_options == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.epochs = 5
    assert dataclasses.replace(spec, epochs=5).epochs == 5 and spec.epochs == 3


def test_the_spec_does_not_share_its_dicts_with_the_caller():
    options, factors = {"input_size": 32}, {"horizontal_flip": True}
    spec = ExperimentSpec(model_options=options, augment=factors)
    options["input_size"], factors["zoom"] = 64, 0.1
    assert spec.model_options == {"input_size": 32} and spec.augment == {"horizontal_flip": True}


def test_job_spec_survives_its_json_file():
    job = JobSpec(ExperimentSpec("hog_svm", "group-kfold", k=3, augment={"horizontal_flip": True},
                                 model_options={"C": 2.0}),
                  data="/data", max_participants=5, dataset_label="five people", out_dir="/runs")
    text = json.dumps(job.to_json())
    assert JobSpec.from_json(json.loads(text)) == job
    assert json.loads(text)["experiment"]["k"] == 3


def test_the_catalogue_names_every_protocol_and_the_offered_models():
    assert set(PROTOCOL_LABELS) == set(PROTOCOLS)
    assert list(PROTOCOL_LABELS)[-1] == "paper" and LEAKY_PROTOCOLS == {"paper"}
    assert protocol_label("paper").startswith("⚠ LEAKY: ")
    assert "LEAKY" not in protocol_label("loso")
    assert list(MODEL_LABELS) == ["transfer", "cnn", "hog_svm", "resnet50", "vgg16"]
    assert set(MODEL_LABELS) <= set(MODEL_NAMES)


def test_which_trainings_have_no_epochs():
    assert ExperimentSpec("transfer", "loso").fitted_in_one_step
    assert ExperimentSpec("hog_svm", "loso").fitted_in_one_step
    assert not ExperimentSpec("transfer", "loso", finetune=True).fitted_in_one_step
    assert not ExperimentSpec("cnn", "loso").fitted_in_one_step
    scoring = ExperimentSpec("pretrained", "none")
    assert scoring.scoring and not scoring.fitted_in_one_step
    assert not ExperimentSpec("cnn", "loso").scoring
