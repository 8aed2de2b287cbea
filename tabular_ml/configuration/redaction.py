"""What looks like a credential in a configuration, and masking it.

One rule, used everywhere a credential could be shown: the source configs refuse credentials at
validation (:class:`tabular_ml.configuration.schema.SourceModel`), :func:`redact` masks whatever
slipped through before a configuration is printed or stored as metadata, :func:`mask_text` masks
the URLs inside a message (a SQL URL given by ``url_env``, whose query may carry a password), and
:func:`credential_values` lists the secret values of a URL or of request headers so that
:func:`mask_values` can take them out of any text (a driver's or an HTTP library's error).

A value looks like a credential when it is

- the password of a URL (``scheme://user:PASSWORD@host``; a user name alone is fine), or
- the value of a URL query parameter or of a mapping key whose *name* looks like a
  credential: its last word is one of :data:`CREDENTIAL_WORDS` (``api_key``, ``x-api-key``,
  ``apiKey``, ``client_secret``, ``access_token``, ``X-Amz-Signature``, ``sig``...), or the
  name run together ends with one of :data:`CREDENTIAL_SUFFIXES` (``apikey``, ``authtoken``).

Names are compared case-insensitively; words are split at ``_ - . space`` and camelCase.
Empty values (``None``, ``""``) hold no secret and are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

MASK = "***"

#: A name whose last word is one of these names a credential.
CREDENTIAL_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "passphrase",
        "secret",
        "token",
        "key",
        "apikey",
        "auth",
        "authorization",
        "signature",
        "sig",
        "credential",
        "credentials",
    }
)
#: A name that, run together, ends with one of these names a credential (``authtoken``).
CREDENTIAL_SUFFIXES = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "signature",
    "credential",
    "credentials",
)
#: Fields of the project's source configs whose values are names, not secrets:
#: ``records_key`` (a JSON key) and ``secret`` (the name of a ZenML secret).
NAME_FIELDS = frozenset({"records_key", "secret"})

_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
# scheme://user:password@ : the password runs to the last '@' of the authority
_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*:)(?P<password>[^\s/?#]+)@")
_QUERY = re.compile(r"(?P<sep>[?&;])(?P<name>[^=&;#\s?]+)=(?P<value>[^&;#\s]*)")


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [word for word in re.split(r"[^a-z0-9]+", spaced.lower()) if word]


def is_credential_name(name: Any) -> bool:
    """Whether a parameter or key name looks like it holds a credential (see the module doc)."""
    words = _words(unquote(str(name)))
    return bool(words) and (words[-1] in CREDENTIAL_WORDS or "".join(words).endswith(CREDENTIAL_SUFFIXES))


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


def url_problems(text: str) -> list[str]:
    """What makes a URL (or URLs inside a text) carry credentials, e.g. ``["a password"]``."""
    problems = []
    for match in _URL.finditer(text):
        url = match.group()
        if _USERINFO.match(url):
            problems.append("a password")
        names = [
            unquote(query["name"])
            for query in _QUERY.finditer(url)
            if query["value"] and is_credential_name(query["name"])
        ]
        if names:
            listed = ", ".join(repr(name) for name in dict.fromkeys(names))
            problems.append(f"the credential-like query parameter{'s' if len(names) > 1 else ''} {listed}")
    return list(dict.fromkeys(problems))


def _mask_url(url: str) -> str:
    url = _USERINFO.sub(lambda m: f"{m['head']}{MASK}@", url)
    return _QUERY.sub(
        lambda m: f"{m['sep']}{m['name']}={MASK}" if m["value"] and is_credential_name(m["name"]) else m[0],
        url,
    )


def mask_text(text: str) -> str:
    """``text`` with the passwords and credential-like query values of its URLs replaced by ***."""
    return _URL.sub(lambda match: _mask_url(match.group()), text)


def credential_values(value: Any) -> list[str]:
    """The secret values inside ``value``, to be masked wherever they turn up as plain text.

    ``value`` is a URL (or a text holding URLs: the password and the credential-like query
    values, as written and decoded) or a mapping such as request headers (the values under
    credential-like names: ``Authorization``, ``X-API-Key``, ``X-Auth-Token``...; for
    ``Authorization: Bearer TOKEN`` the token alone too). Longest first, no duplicates.
    """
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, str) and item and is_credential_name(key):
                found += [item, *item.split()[-1:]]
            elif isinstance(item, (str, Mapping)):
                found += credential_values(item)
    elif isinstance(value, str):
        for match in _URL.finditer(value):
            url = match.group()
            userinfo = _USERINFO.match(url)
            if userinfo:
                found.append(userinfo["password"])
            found += [query["value"] for query in _QUERY.finditer(url) if is_credential_name(query["name"])]
    forms = {
        form for text in found for form in (text, unquote(text), unquote_plus(text), quote(text, safe=""))
    }
    forms |= {quote_plus(text) for text in found}
    return sorted((form for form in forms if form.strip()), key=lambda form: (-len(form), form))


def mask_values(text: str, values: Any) -> str:
    """``text`` with each of these secret values (and any URL credential, as :func:`mask_text`) masked.

    For messages that may quote a secret outside a URL: a database driver's error, an HTTP
    library's "invalid header value 'Bearer ...'". Longer values are replaced first.
    """
    for secret in sorted({value for value in values if value}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return mask_text(text)


def find_credentials(value: Any, location: tuple = ()) -> Iterator[tuple[tuple, str, str]]:
    """``(location, problem, masked value)`` for each credential-looking part of a config value.

    Keys of mappings are checked by name (at any depth) and strings for URLs with credentials;
    ``location`` is the path of ``value``, extended with keys and list indexes.
    """
    if isinstance(value, Mapping):
        for key, item in value.items():
            if is_credential_name(key) and not _is_empty(item):
                yield (*location, str(key)), f"the name {str(key)!r} looks like a credential", MASK
            else:
                yield from find_credentials(item, (*location, str(key)))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from find_credentials(item, (*location, str(index)))
    elif isinstance(value, str):
        problems = url_problems(value)
        if problems:
            yield location, f"the URL holds {' and '.join(problems)}", mask_text(value)


def redact(value: Any) -> Any:
    """A copy of a nested config with anything credential-looking replaced by ``***``.

    Values under credential-like keys (except :data:`NAME_FIELDS`) are masked whole; URL
    passwords and credential-like query values are masked inside every string.
    """
    if isinstance(value, Mapping):
        return {
            key: MASK
            if is_credential_name(key) and key not in NAME_FIELDS and not _is_empty(item)
            else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return mask_text(value)
    return value
