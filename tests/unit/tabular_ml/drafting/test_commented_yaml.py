"""YAML with comments above, after and trailing a key (tabular_ml/drafting/commented_yaml.py)."""

from __future__ import annotations

import yaml

from tabular_ml.drafting.commented_yaml import Comments, render


def test_comments_render_above_after_and_trailing():
    comments = Comments()
    comments.above[("a", "b")].append("above b")
    comments.trailing[("a", "c")] = "after c"
    comments.after[("a",)].append("end of a")
    comments.gap_before.add(("d",))
    document = {"a": {"b": 1, "c": ["x", "Yes"]}, "d": {"e": None}}
    text = render(document, comments, ["head"])
    assert (
        text
        == "# head\n\na:\n  # above b\n  b: 1\n  c: [x, 'Yes']  # after c\n  # end of a\n\nd:\n  e: null\n"
    )
    assert yaml.safe_load(text) == document
