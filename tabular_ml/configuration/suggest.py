"""'did you mean ...?': the nearest existing name for a misspelled one."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def nearest_name(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``name`` most likely misspells (same letters in another case first), or None."""
    candidates = [str(candidate) for candidate in candidates]
    same_case_folded = [candidate for candidate in candidates if candidate.casefold() == name.casefold()]
    if same_case_folded:
        return same_case_folded[0]
    folded = {candidate.casefold(): candidate for candidate in candidates}
    close = difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'tenure'?)`` for a close candidate, else an empty string."""
    nearest = nearest_name(name, candidates)
    return f" (did you mean {nearest!r}?)" if nearest is not None and nearest != name else ""
