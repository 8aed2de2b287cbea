"""What the served model keeps of a request (serving/served_model.py): the client's request id."""

from __future__ import annotations

import pytest

from serving.served_model import request_id_of


@pytest.mark.parametrize(
    ("candidate", "kept"),
    [
        ("abc-1", True),
        ("\ud800", False),
        ("", False),
        ("x" * 129, False),
        ("a\nb", False),
        (17, False),
        (None, False),
    ],
)
def test_a_client_request_id_is_kept_only_when_usable(candidate, kept):
    identifier = request_id_of(candidate)
    assert (identifier == candidate) is kept
    if not kept:
        assert len(identifier) == 32 and identifier.encode("utf-8")
