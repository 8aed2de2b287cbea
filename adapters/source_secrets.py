"""The ZenML secret behind a source or sink config, for the steps and the CLI that read them."""

from __future__ import annotations


def source_secrets(source) -> dict[str, str] | None:
    """The values of the source's ZenML secret (``secret: NAME``), or None when it names none."""
    name = getattr(source, "secret", None)
    if not name:
        return None
    # imported here: the CLI's --check-data, draft-config and predict read a secret-less source without ZenML
    from zenml.client import Client

    # exact name only: ZenML otherwise takes a secret whose name merely contains this one
    secret = Client().get_secret(name, allow_partial_name_match=False, allow_partial_id_match=False)
    return dict(secret.secret_values)


def load_source_data(source):
    """The data behind a source config, read with its ZenML secret if it names one.

    Raises:
        ConfigError: The secret does not exist, or the source cannot be read.
    """
    from tabular_ml.configuration.loading import ConfigError
    from tabular_ml.data.sources import DataSourceError, load_data

    try:
        return load_data(source, source_secrets(source))
    except KeyError:
        raise ConfigError(f"source.secret: no ZenML secret named {source.secret!r}") from None
    except DataSourceError as error:
        raise ConfigError(str(error)) from None
