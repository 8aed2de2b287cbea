"""Every package of the serving image (requirements-serving.txt) is permissively licensed.

The image is shipped to wherever a model is deployed, so what it holds must be free to
redistribute and run for any purpose. seldon-core 1.19 is not (Business Source License 1.1:
production use needs a commercial licence), which is why the server no longer runs on it and
the image no longer holds it; this test keeps it, and GPL-family or other non-permissive
licences, out.

Each package's licence is read from its installed metadata (this venv holds the versions of
requirements.lock, the ones the image pins): ``License-Expression`` (an SPDX expression), a
short ``License`` field (a licence's name) and the ``Classifier: License ::`` lines. Every one
present must name only allowed licences (:data:`ALLOWED`). Metadata that says nothing usable
(no licence field, or a ``License`` field holding a whole licence text, or a name that is not a
licence) fails until someone reads the package's licence files and records the answer in
:data:`REVIEWED`, for that version.
"""

from __future__ import annotations

import re
from email.message import Message
from importlib import metadata
from typing import Protocol

import pytest
from packaging.utils import canonicalize_name

from tests.support.dockerfile_parsing import read_pins
from tests.support.paths import PROJECT_ROOT

SERVING_REQUIREMENTS = PROJECT_ROOT / "requirements-serving.txt"

# SPDX ids allowed in the image. Permissive: redistribution, also in a proprietary image, needs
# at most the copyright and licence notices (which the installed dist-info folders keep) and,
# for Apache-2.0, the NOTICE files (kept there too).
ALLOWED = frozenset(
    {
        "MIT",
        "MIT-0",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "0BSD",
        "BSD",  # the classifier "BSD License": it does not say which clauses; every BSD variant is permissive
        "Apache-2.0",
        "ISC",
        "PSF-2.0",
        "Python-2.0",
        "Zlib",
        "HPND",
        "Unlicense",
        "CC0-1.0",
        # MPL-2.0 is weak copyleft, and allowed: its copyleft is per file (section 3.3): the
        # source of the MPL-covered files, with any change made to them, must stay available,
        # nothing else. The image installs such files unchanged from PyPI, where their source
        # is, and nothing of the project's becomes MPL-covered by running next to them.
        # (No serving package is MPL-2.0 today; certifi, which was, left with requests.)
        "MPL-2.0",
    }
)
# Strong copyleft and source-available licences, named in the failure so the reason is plain.
# LGPL is not allowed either: whether a Python package "links" to it is a question for a person.
NOT_PERMISSIVE = re.compile(
    r"\bBUSL\b|Business Source|\b[AL]?GPL|General Public License|\bSSPL\b|Server Side Public"
    r"|Commons Clause|Elastic License|PolyForm|Proprietary|Non-Commercial|\bCC-BY-NC",
    re.IGNORECASE,
)
# Licence names that packages write in the License field (lower case) -> SPDX id.
LICENSE_NAMES = {
    "mit": "MIT",
    "mit license": "MIT",
    "the mit license": "MIT",
    "bsd": "BSD",
    "bsd license": "BSD",
    "new bsd license": "BSD-3-Clause",
    "bsd 3-clause": "BSD-3-Clause",
    "3-clause bsd license": "BSD-3-Clause",
    "apache 2.0": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0",
    "isc": "ISC",
    "isc license": "ISC",
    "psf": "PSF-2.0",
    "python software foundation license": "PSF-2.0",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
    "the unlicense": "Unlicense",
}
# The last part of a "License :: ..." classifier -> SPDX id.
CLASSIFIERS = {
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "BSD License": "BSD",
    "0-clause BSD License (0BSD)": "0BSD",
    "Apache Software License": "Apache-2.0",
    "ISC License (ISCL)": "ISC",
    "Python Software Foundation License": "PSF-2.0",
    "zlib/libpng License": "Zlib",
    "Historical Permission Notice and Disclaimer (HPND)": "HPND",
    "The Unlicense (Unlicense)": "Unlicense",
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
}

# Packages whose metadata cannot be judged by the rules above, read by a person: canonical
# name -> (the version read, the SPDX expression it comes to). A new version must be read again.
REVIEWED: dict[str, tuple[str, str]] = {
    # License field = the whole LICENSE.txt (numpy's BSD-3-Clause text, then what the wheel
    # bundles: OpenBLAS and LAPACK BSD-3-Clause, lapack-lite BSD-3-Clause, tempita and dragon4
    # MIT, libdivide Zlib, and in numpy.libs/ libgfortran (GPL-3.0 WITH GCC-exception-3.1: the
    # runtime library exception lets any program use and ship it) and libquadmath
    # (LGPL-2.1-or-later: an unmodified shared library loaded at run time, replaceable, its
    # source published with GCC)). Classifier: BSD License. numpy itself: BSD-3-Clause.
    "numpy": ("1.26.4", "BSD-3-Clause"),
    # The same shape as numpy: scipy's BSD-3-Clause text, then the bundled OpenBLAS/LAPACK
    # (BSD-3-Clause), libgfortran (GPL-3.0-or-later WITH GCC-exception-3.1) and libquadmath
    # (LGPL-2.1-or-later) in scipy.libs/, as for numpy. Classifier: BSD License.
    "scipy": ("1.17.1", "BSD-3-Clause"),
    # License field = the LICENSE file: pandas' "BSD 3-Clause License", then the licences of
    # vendored code (bottleneck, dateutil, klib, musl, numpy, Python's PSF licence, ujson, ...),
    # all BSD, MIT, Apache-2.0 or PSF; "GPL" occurs only in Python's licence history text
    # ("GPL-compatible"). Classifier: BSD License.
    "pandas": ("2.3.3", "BSD-3-Clause"),
    # License: "Dual License"; classifiers BSD License and Apache Software License. The
    # LICENSE file: Apache-2.0 for contributions after 2017-12-01 and re-licensed ones,
    # BSD-3-Clause for all code ("even that also covered by Apache 2.0").
    "python-dateutil": ("2.9.0.post0", "Apache-2.0 AND BSD-3-Clause"),
}


class LicenseMetadata(Protocol):
    def get(self, name: str, failobj: object = None) -> object: ...
    def get_all(self, name: str, failobj: object = None) -> object: ...


# --------------------------------------------------------------------------- the check


def _spdx_allowed(expression: str) -> bool | None:
    """Whether an SPDX expression allows the package (OR: one branch is enough); None: not SPDX."""
    tokens = re.findall(r"\(|\)|[A-Za-z0-9.+:-]+", expression)
    if not tokens or "".join(tokens) != re.sub(r"\s+", "", expression):
        return None
    if any(token.startswith(("LicenseRef-", "DocumentRef-")) for token in tokens):
        return None  # a licence of the package's own: only its text says what it allows
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def term() -> bool:
        token = take()
        if token == "(":
            value = disjunction()
            if take() != ")":
                raise ValueError(expression)
            return value
        if token.upper() in ("AND", "OR", "WITH", ")"):
            raise ValueError(expression)
        identifier = token.removesuffix("+")
        if peek() is not None and peek().upper() == "WITH":
            take()
            take()  # an exception only adds permissions: the licence decides
        return identifier in ALLOWED

    def conjunction() -> bool:
        value = term()
        while peek() is not None and peek().upper() == "AND":
            take()
            value = term() and value
        return value

    def disjunction() -> bool:
        value = conjunction()
        while peek() is not None and peek().upper() == "OR":
            take()
            value = conjunction() or value
        return value

    try:
        value = disjunction()
    except (ValueError, IndexError):
        return None
    return value if position == len(tokens) else None


def license_problem(name: str, version: str, meta: LicenseMetadata) -> str | None:
    """None when ``name`` may be in the image, else one line naming the package and its licence."""
    reviewed = REVIEWED.get(canonicalize_name(name))
    if reviewed is not None:
        reviewed_version, expression = reviewed
        if reviewed_version != version:
            return (
                f"{name} {version}: its licence was reviewed for {reviewed_version}; "
                "read it again and update REVIEWED"
            )
        if not _spdx_allowed(expression):
            return f"{name} {version}: licence {expression!r} (reviewed) is not permissive"
        return None

    found: list[tuple[str, str]] = []  # (source, text)
    expression = str(meta.get("License-Expression") or "").strip()
    if expression:
        found.append(("License-Expression", expression))
    license_field = str(meta.get("License") or "").strip()
    if license_field:
        found.append(("License", license_field))
    for classifier in meta.get_all("Classifier") or []:
        if str(classifier).startswith("License ::"):
            found.append(("classifier", str(classifier)))
    if not found:
        return f"{name} {version}: no licence in its metadata; read its licence files and add it to REVIEWED"

    for source, text in found:
        shown = text if len(text) <= 80 else text[:77] + "..."
        if "\n" in text or len(text) > 100:  # a licence's text, not its name
            return (
                f"{name} {version}: its License field is a whole licence text "
                f"({shown.splitlines()[0]!r}...); read it and add the package to REVIEWED"
            )
        if source == "classifier":
            label = text.rsplit("::", 1)[-1].strip()
            spdx = CLASSIFIERS.get(label)
            allowed = spdx in ALLOWED if spdx else None
        elif source == "License":
            spdx = LICENSE_NAMES.get(text.lower())
            allowed = spdx in ALLOWED if spdx else _spdx_allowed(text)
        else:
            allowed = _spdx_allowed(text)
        if NOT_PERMISSIVE.search(text) and not allowed:
            return f"{name} {version}: licence {shown!r} ({source}) is not permissive"
        if allowed is None:
            return (
                f"{name} {version}: licence {shown!r} ({source}) is not one this test knows; "
                "read it and add it to REVIEWED"
            )
        if not allowed:
            return f"{name} {version}: licence {shown!r} ({source}) is not on the serving image's allow-list"
    return None


def _metadata(**fields: str | list[str]) -> Message:
    message = Message()
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            message[key.replace("_", "-")] = item
    return message


# --------------------------------------------------------------------------- the image


def test_every_serving_package_is_permissively_licensed():
    problems = []
    for name, version in read_pins(SERVING_REQUIREMENTS).values():
        installed = metadata.version(name)
        assert installed == version, f"this venv has {name} {installed}, the image {version}: other metadata"
        problem = license_problem(name, version, metadata.metadata(name))
        if problem:
            problems.append(problem)
    assert not problems, "\n".join(problems)


def test_every_reviewed_package_is_in_the_image():
    """A stale entry would let a package back in without a look at its licence."""
    pinned = {key: version for key, (_name, version) in read_pins(SERVING_REQUIREMENTS).items()}
    assert set(REVIEWED) <= set(pinned), sorted(set(REVIEWED) - set(pinned))
    for name, (version, expression) in REVIEWED.items():
        assert pinned[name] == version, f"{name}: reviewed {version}, pinned {pinned[name]}"
        assert _spdx_allowed(expression), (name, expression)


# --------------------------------------------------------------------------- the check catches


def test_the_check_refuses_seldon_core():
    """seldon-core 1.19.0's own metadata (it stays in this venv as the client and a test oracle)."""
    version = metadata.version("seldon-core")
    assert version == "1.19.0"
    problem = license_problem("seldon-core", version, metadata.metadata("seldon-core"))
    assert problem == "seldon-core 1.19.0: licence 'Business Source License 1.1' (License) is not permissive"


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"License_Expression": "AGPL-3.0-only"}, "'AGPL-3.0-only' (License-Expression)"),
        (
            {"License_Expression": "MIT AND GPL-2.0-or-later"},
            "'MIT AND GPL-2.0-or-later' (License-Expression)",
        ),
        (
            {"License_Expression": "GPL-3.0-or-later WITH GCC-exception-3.1"},
            "GCC-exception-3.1' (License-Expression)",
        ),
        ({"License_Expression": "BUSL-1.1"}, "'BUSL-1.1' (License-Expression)"),
        ({"License": "GPLv3"}, "'GPLv3' (License)"),
        ({"License": "LGPL-2.1-or-later"}, "'LGPL-2.1-or-later' (License)"),
        (
            {
                "Classifier": [
                    "License :: OSI Approved :: MIT License",
                    "License :: OSI Approved :: GNU Affero General Public License v3",
                ]
            },
            "'License :: OSI Approved :: GNU Affero General Public License v3' (classifier)",
        ),
        (
            {
                "License": "MIT",
                "Classifier": "License :: OSI Approved :: GNU General Public License v2 (GPLv2)",
            },
            "(GPLv2)' (classifier)",
        ),
        ({"License": "SSPL-1.0"}, "'SSPL-1.0' (License)"),
        (
            {"Classifier": "License :: Other/Proprietary License"},
            "'License :: Other/Proprietary License' (classifier)",
        ),
    ],
)
def test_the_check_refuses_copyleft_and_source_available_licences(fields, shown):
    problem = license_problem("example", "1.0", _metadata(**fields))
    assert problem is not None and "\n" not in problem
    assert problem.startswith("example 1.0: licence ") and problem.endswith(f"{shown} is not permissive"), (
        problem
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, "no licence in its metadata"),
        ({"License": "Dual License"}, "is not one this test knows"),
        ({"License_Expression": "LicenseRef-Custom"}, "is not one this test knows"),
        ({"License": "Copyright (c) 2024 Someone\nAll rights reserved.\n..."}, "is a whole licence text"),
        ({"License_Expression": "EPL-2.0"}, "is not on the serving image's allow-list"),
    ],
)
def test_metadata_that_does_not_say_is_refused_until_reviewed(fields, reason):
    problem = license_problem("example", "1.0", _metadata(**fields))
    assert problem is not None and reason in problem and "\n" not in problem, problem


@pytest.mark.parametrize(
    "fields",
    [
        {"License_Expression": "MIT"},
        {"License_Expression": "Apache-2.0 AND BSD-2-Clause"},
        {"License_Expression": "(MIT OR Apache-2.0) AND BSD-3-Clause"},
        {"License_Expression": "MIT OR GPL-3.0-only"},  # may be taken under MIT
        {"License_Expression": "MPL-2.0"},
        {"License": "MIT License", "Classifier": ["License :: OSI Approved :: Apache Software License"]},
        {"License": "BSD-3-Clause"},
        {"Classifier": "License :: OSI Approved :: BSD License"},
    ],
)
def test_permissive_metadata_passes(fields):
    assert license_problem("example", "1.0", _metadata(**fields)) is None


def test_a_reviewed_package_must_be_read_again_for_a_new_version():
    problem = license_problem("numpy", "9.9.9", _metadata(License="MIT"))
    assert problem == "numpy 9.9.9: its licence was reviewed for 1.26.4; read it again and update REVIEWED"
