"""Deployment settings: the hosted-demo switch from the environment and st.secrets-style keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from fer_engine.experiments import jobs
from fer_engine.experiments.spec import ExperimentSpec
from fer_engine.settings import is_allowed_path, load_settings

ENV = (
    "FER_HOSTED_DEMO",
    "FER_ALLOWED_ROOTS",
    "FER_MAX_UPLOAD_MB",
    "FER_DEMO_MAX_PARTICIPANTS",
    "FER_DEMO_MAX_EPOCHS",
    "FER_MAX_JOBS",
    "FER_ICE_SERVERS",
    "FER_LIVE_RUN_S",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


class NoSecretsFile(dict):
    """Like ``st.secrets`` when no secrets.toml exists: any lookup raises."""

    def __contains__(self, key):
        raise FileNotFoundError("No secrets files found.")


def assert_demo(settings):
    assert settings.hosted_demo is True
    assert settings.server_folders_allowed is False and settings.allowed_roots == ()
    assert not is_allowed_path(Path.home(), settings)
    assert settings.max_upload_mb == 20 and settings.max_upload_bytes == 20 * 1024 * 1024
    assert settings.demo_max_epochs == 5 and settings.demo_max_participants == 19
    capped, notes = jobs.apply_caps(jobs.JobSpec(ExperimentSpec(epochs=30)), settings)
    assert capped.experiment.epochs == 5 and capped.max_participants == 19
    assert notes == ["Epochs capped at 5 on this public demo."]


def assert_local(settings):
    assert settings.hosted_demo is False and settings.server_folders_allowed is True
    assert settings.max_upload_mb == 200
    assert is_allowed_path(Path.home(), settings)
    spec = jobs.JobSpec(ExperimentSpec(epochs=30))
    assert jobs.apply_caps(spec, settings) == (spec, [])


def test_local_by_default():
    assert_local(load_settings())
    assert_local(load_settings({}))
    assert_local(load_settings(NoSecretsFile()))


@pytest.mark.parametrize("value", [True, "true", "True", "1", 1, "yes"])
def test_secrets_turn_the_demo_on(value):
    assert_demo(load_settings({"hosted_demo": value}))


@pytest.mark.parametrize("value", [False, "false", "0", "", "no"])
def test_secrets_that_say_no_keep_local_mode(value):
    assert_local(load_settings({"hosted_demo": value}))


def test_secrets_on_wins_over_environment_off(monkeypatch):
    monkeypatch.setenv("FER_HOSTED_DEMO", "0")
    assert_local(load_settings())
    assert_demo(load_settings({"hosted_demo": True}))
    assert_demo(load_settings({"hosted_demo": "true"}))


def test_environment_on_without_secrets(monkeypatch):
    monkeypatch.setenv("FER_HOSTED_DEMO", "true")
    assert_demo(load_settings())
    assert_demo(load_settings(NoSecretsFile()))  # no secrets.toml: the environment decides


def test_secrets_saying_no_cannot_switch_off_a_demo_the_environment_asked_for(monkeypatch):
    monkeypatch.setenv("FER_HOSTED_DEMO", "1")
    assert_demo(load_settings({"hosted_demo": False}))
    assert_demo(load_settings({"hosted_demo": "false"}))


def test_secrets_set_the_demo_caps_and_upload_limit(monkeypatch):
    monkeypatch.setenv("FER_MAX_UPLOAD_MB", "50")
    secrets = {"hosted_demo": "true", "max_upload_mb": 5, "demo_max_epochs": 2,
               "demo_max_participants": 3}
    s = load_settings(secrets)
    assert s.hosted_demo and s.max_upload_mb == 5 and s.max_upload_bytes == 5 * 1024 * 1024
    capped, notes = jobs.apply_caps(jobs.JobSpec(ExperimentSpec(epochs=10)), s)
    assert capped.experiment.epochs == 2 and capped.max_participants == 3
    assert "capped at 2" in notes[0]
    # the environment's upload limit applies when the secrets do not set one
    assert load_settings({"hosted_demo": True}).max_upload_mb == 50


def test_live_run_length_from_environment_or_secrets(monkeypatch):
    assert load_settings().live_run_s == 60.0
    monkeypatch.setenv("FER_LIVE_RUN_S", "8")
    assert load_settings().live_run_s == 8.0
    assert load_settings({"live_run_s": 30}).live_run_s == 30.0  # secrets win
    monkeypatch.setenv("FER_LIVE_RUN_S", "5")
    assert load_settings().live_run_s == 5.0
    for bad in ("4.9", "0", "-5", "soon"):
        monkeypatch.setenv("FER_LIVE_RUN_S", bad)
        with pytest.raises(ValueError, match="FER_LIVE_RUN_S must be a number of seconds, at least 5"):
            load_settings()
