"""The serving settings: every variable read once, a bad value stopped with one line naming it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from serving.settings import ServingSettings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("SERVING_", "PREDICTIVE_UNIT_")) or name == "MODEL_DIR":
            monkeypatch.delenv(name)


def test_defaults_are_the_image_defaults():
    settings = load_settings()
    assert settings.model_dir == Path("/mnt/models")
    assert (settings.host, settings.port, settings.metrics_port) == ("0.0.0.0", 9000, 6000)
    assert (settings.workers, settings.http_parser, settings.keep_alive_s) == (1, "zttp", 5)
    assert settings.max_body_bytes == 16 * 1024 * 1024
    assert settings.cors_origins == () and settings.listen_fds == ()
    assert settings.request_log_dir is None
    assert settings.grace_s == settings.body_timeout_s + 5 == 15


def test_the_variables_seldon_injects_are_read(monkeypatch):
    monkeypatch.setenv("MODEL_DIR", "/models/x")
    monkeypatch.setenv("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "9100")
    monkeypatch.setenv("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", "6100")
    settings = load_settings()
    assert (settings.model_dir, settings.port, settings.metrics_port) == (Path("/models/x"), 9100, 6100)
    monkeypatch.setenv("SERVING_PORT", "9200")  # the project's own name wins
    assert load_settings().port == 9200


def test_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("SERVING_LISTEN_FDS", "3, 4")
    monkeypatch.setenv("SERVING_CORS_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.setenv("SERVING_REQUEST_LOG_HASHED_COLUMNS", "email")
    monkeypatch.setenv("SERVING_FAST_PATH", "off")
    settings = load_settings()
    assert settings.listen_fds == (3, 4)
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.request_log_hashed_columns == ("email",)
    assert settings.fast_path is False


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SERVING_MAX_BODY_BYTES", "lots", "SERVING_MAX_BODY_BYTES='lots': Input should be a valid integer"),
        ("SERVING_WORKERS", "0", "SERVING_WORKERS='0': Input should be greater than or equal to 1"),
        (
            "SERVING_HTTP_PARSER",
            "httptools",
            "SERVING_HTTP_PARSER='httptools': Input should be 'zttp' or 'h11'",
        ),
        (
            "SERVING_CONTRACT_VIOLATIONS",
            "warn",
            "SERVING_CONTRACT_VIOLATIONS='warn': Input should be 'reject' or 'flag'",
        ),
        (
            "PREDICTIVE_UNIT_HTTP_SERVICE_PORT",
            "70000",
            "SERVING_PORT='70000': Input should be less than or equal",
        ),
        ("SERVING_BODY_TIMEOUT_S", "-1", "SERVING_BODY_TIMEOUT_S='-1': Input should be greater than 0"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_rules_across_variables(monkeypatch):
    monkeypatch.setenv("SERVING_GRACEFUL_SHUTDOWN_S", "2")
    with pytest.raises(
        SettingsError, match=r"^SERVING_GRACEFUL_SHUTDOWN_S=2 is shorter than SERVING_BODY_TIMEOUT_S=10"
    ):
        load_settings()
    monkeypatch.delenv("SERVING_GRACEFUL_SHUTDOWN_S")
    monkeypatch.setenv("SERVING_METRICS_PORT", "9000")
    with pytest.raises(SettingsError, match="SERVING_METRICS_PORT and SERVING_PORT are both 9000"):
        load_settings()


def test_the_hash_key_is_secret(monkeypatch):
    monkeypatch.setenv("SERVING_REQUEST_LOG_HASH_KEY", "a-very-secret-key-0123")
    settings = load_settings()
    assert "a-very-secret" not in repr(settings)
    assert settings.request_log_hash_key.get_secret_value() == "a-very-secret-key-0123"


def test_every_field_has_an_environment_variable():
    for name, field in ServingSettings.model_fields.items():
        assert field.validation_alias is not None, name
        assert field.validation_alias.choices[0].startswith("SERVING_"), name
