"""No secrets in configs: the source configs refuse credentials, and redact() masks what slips through."""

from __future__ import annotations

import copy

import pytest
import yaml

from tabular_ml.configuration.loading import ConfigError, validate_section
from tabular_ml.configuration.redaction import (
    credential_values,
    find_credentials,
    is_credential_name,
    mask_text,
    mask_values,
    redact,
    url_problems,
)
from tabular_ml.configuration.schema import ApiSource, FileSource, SqlSource, TrainingParameters
from tests.support.paths import PROJECT_ROOT

TRAINING = yaml.safe_load((PROJECT_ROOT / "configs" / "training.yaml").read_text())

SQL_ADVICE = "use password_env, url_env or a ZenML secret (secret: NAME) instead"
API_ADVICE = "use token_env (an environment variable holding a bearer token) instead"
SECRET = "s3cret-Value"


def source_error(source: dict) -> str:
    """The one-line ConfigError of the training parameters with this source."""
    config = copy.deepcopy(TRAINING)
    config["parameters"]["source"] = source
    with pytest.raises(ConfigError) as caught:
        validate_section(config, "parameters", TrainingParameters)
    return str(caught.value)


def valid_source(source: dict):
    config = copy.deepcopy(TRAINING)
    config["parameters"]["source"] = source
    return validate_section(config, "parameters", TrainingParameters).source


# --------------------------------------------------------------------------- refused at validation


@pytest.mark.parametrize(
    ("source", "line"),
    [
        (
            {"type": "sql", "url": f"postgresql://user:{SECRET}@host/db", "table": "t"},
            f"parameters.source.url: the URL holds a password; {SQL_ADVICE} (got 'postgresql://user:***@host/db')",
        ),
        (  # a password with an unencoded '@' is masked whole
            {
                "type": "sql",
                "url": f"mysql+pymysql://root:p@{SECRET}@127.0.0.1:3306/test",
                "query": "SELECT 1",
            },
            f"parameters.source.url: the URL holds a password; {SQL_ADVICE} "
            "(got 'mysql+pymysql://root:***@127.0.0.1:3306/test')",
        ),
        (
            {
                "type": "sql",
                "url": f"postgresql://user@host/db?sslmode=require&password={SECRET}",
                "table": "t",
            },
            "parameters.source.url: the URL holds the credential-like query parameter 'password'; "
            f"{SQL_ADVICE} (got 'postgresql://user@host/db?sslmode=require&password=***')",
        ),
        (
            {"type": "api", "url": "https://api.example.com/customers", "params": {"api_key": SECRET}},
            f"parameters.source.params.api_key: the name 'api_key' looks like a credential; {API_ADVICE} "
            "(got '***')",
        ),
        (
            {
                "type": "api",
                "url": "https://api.example.com/c",
                "params": {"region": "eu", "X-Api-Key": SECRET},
            },
            f"parameters.source.params.X-Api-Key: the name 'X-Api-Key' looks like a credential; {API_ADVICE} "
            "(got '***')",
        ),
        (
            {"type": "api", "url": f"https://bob:{SECRET}@api.example.com/customers"},
            f"parameters.source.url: the URL holds a password; {API_ADVICE} "
            "(got 'https://bob:***@api.example.com/customers')",
        ),
        (
            {"type": "api", "url": f"https://api.example.com/customers?page=1&token={SECRET}"},
            "parameters.source.url: the URL holds the credential-like query parameter 'token'; "
            f"{API_ADVICE} (got 'https://api.example.com/customers?page=1&token=***')",
        ),
        (
            {"type": "file", "path": f"s3://AKIAEXAMPLE:{SECRET}@bucket/churn.csv"},
            "parameters.source.path: the URL holds a password; use a path without credentials "
            "(a storage's credentials come from the environment) (got 's3://AKIAEXAMPLE:***@bucket/churn.csv')",
        ),
    ],
)
def test_credentials_are_refused_with_one_masked_line(source, line):
    message = source_error(source)
    assert message == line
    assert SECRET not in message and "\n" not in message


def test_every_credential_is_reported():
    message = source_error(
        {
            "type": "api",
            "url": f"https://u:{SECRET}@h/x?sig={SECRET}",
            "params": {"accessToken": SECRET, "nested": {"client_secret": SECRET}},
        }
    )
    assert message.splitlines() == [
        "parameters.source.url: the URL holds a password and the credential-like query parameter 'sig'; "
        f"{API_ADVICE} (got 'https://u:***@h/x?sig=***')",
        f"parameters.source.params.accessToken: the name 'accessToken' looks like a credential; {API_ADVICE} "
        "(got '***')",
        "parameters.source.params.nested.client_secret: the name 'client_secret' looks like a credential; "
        f"{API_ADVICE} (got '***')",
    ]
    assert SECRET not in message


def test_every_source_model_refuses_credentials_when_built_directly():
    from pydantic import ValidationError

    for build in (
        lambda: SqlSource(url=f"postgresql://u:{SECRET}@h/db", table="t"),
        lambda: ApiSource(url="https://h/x", params={"apikey": SECRET}),
        lambda: FileSource(path=f"https://h/data.csv?access_token={SECRET}"),
    ):
        with pytest.raises(ValidationError) as caught:
            build()
        assert caught.value.errors()[0]["type"] == "credential_in_config"
        assert SECRET not in str(caught.value)


# --------------------------------------------------------------------------- allowed


@pytest.mark.parametrize(
    "source",
    [
        {
            "type": "sql",
            "url": "postgresql+psycopg2://ml@db/warehouse",
            "password_env": "DB_PASSWORD",
            "table": "t",
        },
        {"type": "sql", "url": "mysql+pymysql://root@127.0.0.1:3306/test", "table": "t"},
        {"type": "sql", "url": "postgresql://user:@host/db", "table": "t"},  # an empty password
        {"type": "sql", "url": "sqlite:///data/raw/churn.db", "table": "customers"},
        {"type": "sql", "url": "postgresql://h:5432/db?sslmode=require&connect_timeout=10", "table": "t"},
        {"type": "sql", "url_env": "WAREHOUSE_URL", "table": "customers"},
        {"type": "sql", "secret": "warehouse", "table": "customers"},
        {
            "type": "api",
            "url": "https://api.example.com:8443/customers?region=eu",
            "token_env": "API_TOKEN",
            "records_key": "data",
            "params": {"page_size": 10, "fields": ["id", "churn"], "api_key": None},
        },
        {"type": "file", "path": "data/raw/telco_churn.csv"},
    ],
)
def test_configs_without_credentials_are_valid(source):
    assert valid_source(source).type == source["type"]


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    "name",
    [
        "password", "PASSWORD", "passwd", "pwd", "db_pass", "secret", "client_secret", "token",
        "access_token", "accessToken", "authtoken", "api_key", "apikey", "apiKey", "APIKey",
        "x_api_key", "X-API-Key", "access_key", "aws_secret_access_key", "auth", "Authorization",
        "signature", "X-Amz-Signature", "sig", "credential", "credentials", "key",
    ],
)  # fmt: skip
def test_credential_names(name):
    assert is_credential_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "page", "page_size", "region", "user", "username", "monkey", "keys", "keyword", "author",
        "password_env", "token_env", "url_env", "access_key_id", "compass", "sslmode", "tokens_used",
    ],
)  # fmt: skip
def test_names_that_are_not_credentials(name):
    assert not is_credential_name(name)


def test_url_problems():
    assert url_problems("postgresql://u:p@h/db") == ["a password"]
    assert url_problems("https://h/x?a=1&Api-Key=k&token=t") == [
        "the credential-like query parameters 'Api-Key', 'token'"
    ]
    assert url_problems("https://h/x?token=") == []  # an empty value holds no secret
    assert url_problems("https://h:8080/a@b?page=2") == []  # a port is not a password
    assert url_problems("not a url, password=x") == []


# --------------------------------------------------------------------------- masking


def test_mask_text_masks_urls_inside_any_text():
    assert (
        mask_text("connect to postgresql://u:pw@h/db failed") == "connect to postgresql://u:***@h/db failed"
    )
    assert (
        mask_text("GET https://h/x?page=2&access_token=abc&q=1")
        == "GET https://h/x?page=2&access_token=***&q=1"
    )
    assert mask_text("nothing here, key=value") == "nothing here, key=value"


def test_redact_masks_a_nested_config_without_changing_it():
    config = {
        "model": {"name": "churn_classifier", "tags": ["churn"]},
        "parameters": {
            "source": {
                "type": "api",
                "url": f"https://u:{SECRET}@h/x?token={SECRET}&page=1",
                "params": {"api_key": SECRET, "region": "eu", "auth": {"user": "a", "pass": SECRET}},
                "records_key": "data",
                "token_env": "API_TOKEN",
                "secret": "warehouse",
            },
            "split": {"test_size": 0.2, "stratify": True},
            "features": [{"kind": "log", "name": "x", "column": "y"}],
            "extra": {"db_password": SECRET, "empty_token": None},
        },
        "settings": {"docker": {"environment": {"API_TOKEN": SECRET}}},
    }
    before = copy.deepcopy(config)
    redacted = redact(config)
    assert config == before
    assert SECRET not in repr(redacted)
    assert redacted["parameters"]["source"] == {
        "type": "api",
        "url": "https://u:***@h/x?token=***&page=1",
        "params": {"api_key": "***", "region": "eu", "auth": "***"},
        "records_key": "data",  # names, not secrets
        "token_env": "API_TOKEN",
        "secret": "warehouse",
    }
    assert redacted["parameters"]["extra"] == {"db_password": "***", "empty_token": None}
    assert redacted["settings"]["docker"]["environment"] == {"API_TOKEN": "***"}
    for section in ("split", "features"):
        assert redacted["parameters"][section] == config["parameters"][section]
    assert redacted["model"] == config["model"]


def test_redact_leaves_the_shipped_configs_unchanged():
    for path in sorted((PROJECT_ROOT / "configs").glob("*.yaml")):
        config = yaml.safe_load(path.read_text())
        assert redact(config) == config, path.name


def test_find_credentials_locations():
    found = list(find_credentials({"a": [{"token": "t"}, "https://u:p@h"], "b": {"ok": 1}}, ("root",)))
    assert found == [
        (("root", "a", "0", "token"), "the name 'token' looks like a credential", "***"),
        (("root", "a", "1"), "the URL holds a password", "https://u:***@h"),
    ]


# --------------------------------------------------------------------------- secrets outside configs

PLANT = "pl4nted-S3cret"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (f"postgresql://ml:{PLANT}@db/w", "postgresql://ml:***@db/w"),
        (f"postgresql://ml@db/w?password={PLANT}", "postgresql://ml@db/w?password=***"),
        (f"postgresql://ml@db/w?PASSWORD={PLANT}", "postgresql://ml@db/w?PASSWORD=***"),
        (f"postgresql://ml@db/w?Pwd={PLANT}", "postgresql://ml@db/w?Pwd=***"),
        (f"mysql://ml@db/w?passwd={PLANT}", "mysql://ml@db/w?passwd=***"),
        (
            f"postgresql://ml@db/w?sslmode=require&sslpassword={PLANT}&connect_timeout=10",
            "postgresql://ml@db/w?sslmode=require&sslpassword=***&connect_timeout=10",
        ),
        (f"trino://ml@db/w?token={PLANT}", "trino://ml@db/w?token=***"),
        (f"trino://ml@db/w?access_token={PLANT}", "trino://ml@db/w?access_token=***"),
        (f"snowflake://ml@acct/w?secret={PLANT}", "snowflake://ml@acct/w?secret=***"),
        (f"https://h/x?api_key={PLANT}&page=2", "https://h/x?api_key=***&page=2"),
        (f"https://h/x?ApiKey={PLANT}", "https://h/x?ApiKey=***"),
        (
            f"postgresql://ml:{PLANT}@db/w?password={PLANT}x",  # both at once
            "postgresql://ml:***@db/w?password=***",
        ),
    ],
)
def test_every_form_of_url_credential_is_masked(url, masked):
    assert mask_text(f"read from {url} failed") == f"read from {masked} failed"
    assert PLANT in " ".join(credential_values(url))
    assert mask_values(f"driver says: bad password {PLANT!r} for {url}", credential_values(url)) == (
        f"driver says: bad password '***' for {masked}"
    )


def test_request_headers_are_masked_by_name():
    headers = {
        "Accept": "application/json",
        "Authorization": f"Bearer {PLANT}-1",
        "X-API-Key": f"{PLANT}-2",
        "X-Auth-Token": f"{PLANT}-3",
        "Client-Secret": f"{PLANT}-4",
        "User-Agent": "tabular-ml",
    }
    assert redact(headers) == {
        "Accept": "application/json",
        "Authorization": "***",
        "X-API-Key": "***",
        "X-Auth-Token": "***",
        "Client-Secret": "***",
        "User-Agent": "tabular-ml",
    }
    values = credential_values(headers)
    assert {f"Bearer {PLANT}-1", f"{PLANT}-1", f"{PLANT}-2", f"{PLANT}-3", f"{PLANT}-4"} <= set(values)
    assert "application/json" not in values and "tabular-ml" not in values
    # requests quotes a bad header value in its error; the token alone is masked too
    error = f"Invalid leading whitespace ... in header value: 'Bearer {PLANT}-1\\n'"
    assert mask_values(error, values) == "Invalid leading whitespace ... in header value: '***\\n'"
    assert mask_values(f"token {PLANT}-1 expired", values) == "token *** expired"


def test_encoded_forms_of_a_secret_are_masked():
    url = "postgresql://ml@db/w?password=p%40ss+w%2Fd"
    values = credential_values(url)
    assert {"p%40ss+w%2Fd", "p@ss+w/d", "p@ss w/d"} <= set(values)
    assert mask_values("auth failed for p@ss w/d", values) == "auth failed for ***"
    assert values == sorted(values, key=lambda value: (-len(value), value))  # longest first
