"""Every serving variable in one place, read from the environment once at start.

The server reads ``SERVING_*`` variables (and the ones the Seldon operator injects into a
pod: ``MODEL_DIR``, ``PREDICTIVE_UNIT_HTTP_SERVICE_PORT``, ``PREDICTIVE_UNIT_METRICS_SERVICE_PORT``).
A bad value stops the server before it binds a port, with one line naming the variable
(:func:`load_settings`). docs/guides/deployment.md ("Serving settings") lists them all; this
class is the source of that list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["SettingsError", "ServingSettings", "load_settings"]

MiB = 1024 * 1024


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class ServingSettings(BaseSettings):
    """The model server's configuration (environment variable names in the field docs)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    # ---------------------------------------------------------------- what and where
    model_dir: Path = Field(Path("/mnt/models"), validation_alias=_alias("SERVING_MODEL_DIR", "MODEL_DIR"))
    """The model bundle (``MODEL_DIR``; Seldon's storage initializer puts it in /mnt/models)."""
    host: str = Field("0.0.0.0", validation_alias=_alias("SERVING_HOST"))  # noqa: S104 - a pod's default
    port: int = Field(
        9000, ge=1, le=65535, validation_alias=_alias("SERVING_PORT", "PREDICTIVE_UNIT_HTTP_SERVICE_PORT")
    )
    metrics_port: int = Field(
        6000,
        ge=1,
        le=65535,
        validation_alias=_alias("SERVING_METRICS_PORT", "PREDICTIVE_UNIT_METRICS_SERVICE_PORT"),
    )
    listen_fds: Annotated[tuple[int, ...], NoDecode] = Field(
        (), validation_alias=_alias("SERVING_LISTEN_FDS")
    )
    """Sockets a supervisor bound and handed down (``3,4``): served instead of binding host:port."""
    metrics_fd: int | None = Field(None, ge=0, validation_alias=_alias("SERVING_METRICS_FD"))
    workers: int = Field(1, ge=1, le=64, validation_alias=_alias("SERVING_WORKERS"))
    http_parser: Literal["zttp", "h11"] = Field("zttp", validation_alias=_alias("SERVING_HTTP_PARSER"))
    """uvicorn's HTTP/1.1 parser; both bound a request's header block (httptools does not)."""

    # ---------------------------------------------------------------- limits
    max_body_bytes: int = Field(16 * MiB, ge=1, validation_alias=_alias("SERVING_MAX_BODY_BYTES"))
    max_pending_body_bytes: int = Field(
        128 * MiB, ge=1, validation_alias=_alias("SERVING_MAX_PENDING_BODY_BYTES")
    )
    """All request bodies being received at once, per worker; a request that would pass it gets 503."""
    body_timeout_s: float = Field(10.0, gt=0, le=3600, validation_alias=_alias("SERVING_BODY_TIMEOUT_S"))
    """How long a request's body may take to arrive (408 after)."""
    max_connections: int = Field(1000, ge=1, validation_alias=_alias("SERVING_MAX_CONNECTIONS"))
    """Open connections (and requests in progress) per worker; a request beyond gets 503."""
    keep_alive_s: int = Field(5, ge=0, le=3600, validation_alias=_alias("SERVING_KEEP_ALIVE_S"))
    graceful_shutdown_s: float | None = Field(
        None, gt=0, validation_alias=_alias("SERVING_GRACEFUL_SHUTDOWN_S")
    )
    """How long in-flight requests may finish after SIGTERM; default: the body timeout plus 5 s."""
    drain_s: float = Field(1.0, ge=0, le=60, validation_alias=_alias("SERVING_DRAIN_S"))
    """On SIGTERM, how long a single-worker server stops accepting before it closes idle connections."""
    max_rows: int = Field(10_000, ge=1, validation_alias=_alias("SERVING_MAX_ROWS"))
    contract_violations: Literal["reject", "flag"] = Field(
        "reject", validation_alias=_alias("SERVING_CONTRACT_VIOLATIONS")
    )
    max_error_chars: int = Field(500, ge=80, le=100_000, validation_alias=_alias("SERVING_MAX_ERROR_CHARS"))
    """An error answer's message is cut to this many characters (it may quote the client's input)."""
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias=_alias("SERVING_CORS_ORIGINS")
    )
    """Web origins allowed to call the server from a browser (``https://a.example,https://b.example``).

    None by default: a request that carries an ``Origin`` header (a browser page's) is refused 403."""

    # ---------------------------------------------------------------- scoring
    fast_path: bool = Field(True, validation_alias=_alias("SERVING_FAST_PATH"))
    """``off``: the scikit-learn Pipeline scores even where the compiled path agrees with it."""
    shadow_dir: Path | None = Field(None, validation_alias=_alias("SERVING_SHADOW_DIR"))
    """A challenger's bundle scored on every request and logged, never answered (``SERVING_SHADOW_DIR``);
    default: the served bundle's ``shadow/`` folder when it has one."""

    # ---------------------------------------------------------------- request log
    request_log_dir: Path | None = Field(None, validation_alias=_alias("SERVING_REQUEST_LOG_DIR"))
    request_log_flush_s: float = Field(
        5.0, gt=0, le=86_400, validation_alias=_alias("SERVING_REQUEST_LOG_FLUSH_S")
    )
    request_log_max_rows: int = Field(50_000, ge=1, validation_alias=_alias("SERVING_REQUEST_LOG_MAX_ROWS"))
    request_log_max_buffer_rows: int = Field(
        100_000, ge=1, validation_alias=_alias("SERVING_REQUEST_LOG_MAX_BUFFER_ROWS")
    )
    request_log_max_age_s: float | None = Field(
        None, gt=0, validation_alias=_alias("SERVING_REQUEST_LOG_MAX_AGE_S")
    )
    request_log_max_total_bytes: int | None = Field(
        None, ge=1, validation_alias=_alias("SERVING_REQUEST_LOG_MAX_TOTAL_BYTES")
    )
    request_log_hashed_columns: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias=_alias("SERVING_REQUEST_LOG_HASHED_COLUMNS")
    )
    request_log_omitted_columns: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias=_alias("SERVING_REQUEST_LOG_OMITTED_COLUMNS")
    )
    request_log_hash_key: SecretStr | None = Field(
        None, validation_alias=_alias("SERVING_REQUEST_LOG_HASH_KEY")
    )

    @field_validator(
        "listen_fds",
        "cors_origins",
        "request_log_hashed_columns",
        "request_log_omitted_columns",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("request_log_dir", "shadow_dir", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _consistent(self) -> ServingSettings:
        if self.metrics_port == self.port and not self.listen_fds:
            raise ValueError(
                f"SERVING_METRICS_PORT and SERVING_PORT are both {self.port}: "
                "give the metrics a port of their own"
            )
        if self.graceful_shutdown_s is not None and self.graceful_shutdown_s < self.body_timeout_s:
            raise ValueError(
                f"SERVING_GRACEFUL_SHUTDOWN_S={self.graceful_shutdown_s:g} is shorter than "
                f"SERVING_BODY_TIMEOUT_S={self.body_timeout_s:g}: a request still arriving would be cut"
            )
        return self

    @property
    def grace_s(self) -> float:
        """The graceful-shutdown period: at least the body timeout."""
        return self.graceful_shutdown_s if self.graceful_shutdown_s is not None else self.body_timeout_s + 5.0


class SettingsError(ValueError):
    """A serving variable with a bad value (the message is one line naming it)."""


def _variable(error: dict) -> str:
    location = error.get("loc") or ()
    name = str(location[0]) if location else ""
    field = ServingSettings.model_fields.get(name)
    if field is not None and isinstance(field.validation_alias, AliasChoices):
        return str(field.validation_alias.choices[0])
    return name or "settings"


def load_settings(**overrides: object) -> ServingSettings:
    """The settings from the environment (``overrides`` win, by field name).

    Raises:
        SettingsError: One line naming the first bad variable, its value and what is expected.
    """
    try:
        return ServingSettings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        value = error.get("input")
        if not error.get("loc"):  # a rule across variables: its message names them
            raise SettingsError(str(error["msg"]).removeprefix("Value error, ")) from None
        shown = "" if isinstance(value, dict) else f"={str(value)[:80]!r}"
        raise SettingsError(f"{_variable(error)}{shown}: {error['msg']}") from None
