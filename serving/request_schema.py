"""Seldon request -> validated DataFrame with the model's raw feature columns.

Two request forms are accepted (the Seldon protocol's JSON forms)::

    {"data": {"names": ["tenure", ...], "ndarray": [[12, ...], [3, ...]]}}
    {"jsonData": [{"tenure": 12, ...}, ...]}        # or one record: {"jsonData": {...}}

The values are parsed into two blocks, one row per column: numeric and binary
columns as ``float64`` (``null`` -> NaN; numeric text such as ``" 12\n"`` read as
training's cleaning reads it), categorical columns as ``object`` holding text or
NaN. The pandas DataFrame the scikit-learn Pipeline takes is built from them only
when asked for (``ParsedRequest.frame``); the compiled path (:mod:`serving.scoring`)
reads the blocks. Nulls are allowed (the Pipeline imputes them); categories
outside the contract are allowed (the one-hot encoder ignores them) and counted
per column.

Values that have the right type but break the data contract the model was trained
under (below a column's minimum, above its maximum, a binary value other than 0 or
1) are rejected naming the column, the rule and the row, or, with
``SERVING_CONTRACT_VIOLATIONS=flag``, kept and listed in ``ParsedRequest.violations``.

Anything else is a :class:`RequestError` naming the field at fault: no data,
unknown or missing columns, rows of the wrong length, a value of the wrong
type (with column and row), 0 rows, or more rows than the maximum
(``SERVING_MAX_ROWS``, default 10,000). Every check takes time linear in the
request's size, and error messages quote values shortened.
"""

from __future__ import annotations

import math
import reprlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain
from numbers import Real
from operator import itemgetter
from typing import Any, Protocol

import numpy as np
import pandas as pd

from tabular_ml.data.cleaning import numbers_from_text

__all__ = [
    "DEFAULT_MAX_ROWS",
    "ParsedRequest",
    "RequestError",
    "RequestSchema",
    "Violation",
]

DEFAULT_MAX_ROWS = 10_000
VIOLATION_POLICIES = ("reject", "flag")

_NUMERIC_KINDS = ("numeric", "binary")
# Types json.loads produces for a number or null (bool is accepted as 0/1).
_JSON_NUMBER_TYPES = frozenset({int, float, bool, type(None)})
_JSON_TEXT_TYPES = frozenset({str, type(None)})
_SHOWN = 8  # names listed in an error message before "..."
_SHORT = reprlib.Repr(maxstring=60, maxother=60, maxlist=4, maxdict=4, maxlevel=2)


class RequestError(ValueError):
    """A request the model cannot answer; the message names the field at fault.

    Attributes:
        field: The request field (``data.names``, ``jsonData[3]``, a column name...).
    """

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class ColumnLike(Protocol):
    """What the schema needs to know of a column (``bundle.FeatureColumn`` fits)."""

    name: str
    kind: str
    categories: list[str] | None


@dataclass(frozen=True)
class _Column:
    name: str
    kind: str
    categories: frozenset[str] | None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Violation:
    """One value that breaks the data contract: its row, column, rule and value."""

    row: int
    column: str
    rule: str
    value: float

    def describe(self) -> str:
        rule = f"column {self.column!r} breaks the data contract ({self.rule})"
        return f"{rule}: row {self.row} holds {self.value:g}"


@dataclass(frozen=True)
class ParsedRequest:
    """A validated request.

    Attributes:
        numeric: The numeric and binary columns as parsed (float64, one array row per
            column, in ``RequestSchema.numeric_names`` order).
        text: The categorical columns (object, text or NaN), in ``RequestSchema.text_names`` order.
        schema: The schema that parsed it (for the column order of :attr:`frame`).
        unknown_categories: Column -> how many values were outside the contract's
            categories (only columns with at least one).
        form: ``"ndarray"`` or ``"jsonData"``.
        violations: Values breaking the contract, when the schema flags them (else none).
    """

    numeric: np.ndarray = field(repr=False)
    text: np.ndarray = field(repr=False)
    schema: RequestSchema = field(repr=False)
    unknown_categories: dict[str, int] = field(default_factory=dict)
    form: str = "ndarray"
    violations: tuple[Violation, ...] = ()

    @property
    def n_rows(self) -> int:
        return self.numeric.shape[1]

    @cached_property
    def frame(self) -> pd.DataFrame:
        """One row per request row, the model's feature columns in model order (built on first use)."""
        return self.schema.frame(self.numeric, self.text)


def _listing(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(_SHORT.repr(name) for name in names[:_SHOWN])  # a client-sent name may be megabytes
    return f"[{shown}{', ...' if len(names) > _SHOWN else ''}]"


class RequestSchema:
    """Validates Seldon requests against the model's feature columns.

    Args:
        columns: The feature columns in model order: objects with ``name``,
            ``kind`` (numeric | categorical | binary) and ``categories``, and
            optionally ``min`` and ``max`` (``bundle.FeatureColumn``, or see :meth:`from_contract`).
        max_rows: Most rows per request (the server's ``SERVING_MAX_ROWS``).
        violations: ``"reject"`` a request with a value breaking the contract, or
            ``"flag"`` it (listed in ``ParsedRequest.violations``).
    """

    def __init__(
        self, columns: Sequence[ColumnLike], max_rows: int = DEFAULT_MAX_ROWS, violations: str = "reject"
    ):
        if not columns:
            raise ValueError("a request schema needs at least one column")
        self.columns = [
            _Column(
                c.name,
                c.kind,
                frozenset(c.categories) if c.categories is not None else None,
                getattr(c, "min", None),
                getattr(c, "max", None),
            )
            for c in columns
        ]
        unknown_kinds = sorted({c.kind for c in self.columns} - {"numeric", "categorical", "binary"})
        if unknown_kinds:
            raise ValueError(f"unknown column kind(s) {unknown_kinds}")
        self.names = [c.name for c in self.columns]
        self._index = pd.Index(self.names)
        self._numeric = [i for i, c in enumerate(self.columns) if c.kind in _NUMERIC_KINDS]
        self._text = [i for i, c in enumerate(self.columns) if c.kind not in _NUMERIC_KINDS]
        self._name_set = frozenset(self.names)
        self.numeric_names = [self.names[i] for i in self._numeric]
        self.text_names = [self.names[i] for i in self._text]
        self.max_rows = int(max_rows)
        if self.max_rows < 1:
            raise ValueError(f"max_rows must be positive, got {self.max_rows}")
        self.violations = violations
        if self.violations not in VIOLATION_POLICIES:
            raise ValueError(f"violations must be one of {list(VIOLATION_POLICIES)}, got {self.violations!r}")
        numeric_columns = [self.columns[i] for i in self._numeric]
        # Bounds per numeric row, as column vectors: one comparison checks the whole block.
        self._low = np.array([[_bound(c.min, -np.inf)] for c in numeric_columns]).reshape(-1, 1)
        self._high = np.array([[_bound(c.max, np.inf)] for c in numeric_columns]).reshape(-1, 1)
        self._binary = np.array([c.kind == "binary" for c in numeric_columns], dtype=bool).reshape(-1, 1)
        self._any_binary = bool(self._binary.any())
        self._has_rules = bool(
            np.isfinite(self._low).any() or np.isfinite(self._high).any() or self._binary.any()
        )

    @classmethod
    def from_contract(
        cls, contract: Any, max_rows: int = DEFAULT_MAX_ROWS, violations: str = "reject"
    ) -> RequestSchema:
        """A schema from a ``DataContract`` (its feature columns, in contract order)."""
        columns = [
            _Column(name, spec.kind, list(spec.categories) if spec.categories else None, spec.min, spec.max)
            for name, spec in contract.columns.items()
        ]
        return cls(columns, max_rows=max_rows, violations=violations)

    # ------------------------------------------------------------------ entry point

    def parse(self, request: Any) -> ParsedRequest:
        """Validate a request (a decoded JSON object) into the numeric and text blocks.

        Raises:
            RequestError: Naming the field at fault.
        """
        if not isinstance(request, dict):
            raise RequestError(
                "request",
                f"the request must be a JSON object with 'data' or 'jsonData', not {_kind(request)}",
            )
        data = request.get("data")
        json_data = request.get("jsonData")
        if data is not None and json_data is not None:
            raise RequestError("request", "give either 'data' or 'jsonData', not both")
        if data is not None:
            columns, n_rows = self._columns_from_ndarray(data)
            form = "ndarray"
        elif json_data is not None:
            columns, n_rows = self._columns_from_records(json_data)
            form = "jsonData"
        else:
            present = sorted(request)
            hint = f" (it has {_listing(present)})" if present else ""
            raise RequestError(
                "data",
                "the request has no data: send {'data': {'names': [...], 'ndarray': [[...]]}} "
                f"or {{'jsonData': [{{...}}]}}{hint}",
            )
        numeric = self._numeric_block(columns, n_rows)
        if np.isinf(numeric).any():
            row, position = (int(k[0]) for k in np.nonzero(np.isinf(numeric)))
            column = self.columns[self._numeric[row]]
            raise RequestError(
                column.name, f"column {column.name!r} ({column.kind}): row {position} is infinite"
            )
        violations = self._violations(numeric) if self._has_rules else ()
        if violations and self.violations == "reject":
            first = violations[0]
            more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
            raise RequestError(first.column, first.describe() + more)
        text: list[Sequence[Any]] = []
        unknown: dict[str, int] = {}
        for i in self._text:
            values, count = _text_values(self.columns[i], columns[i])
            text.append(values)
            if count:
                unknown[self.columns[i].name] = count
        objects = np.empty((len(text), n_rows), dtype=object)
        for row, values in enumerate(text):
            objects[row, :] = values
        return ParsedRequest(
            numeric=numeric,
            text=objects,
            schema=self,
            unknown_categories=unknown,
            form=form,
            violations=tuple(violations),
        )

    def _numeric_block(self, columns: list[Sequence[Any]], n_rows: int) -> np.ndarray:
        """The numeric and binary columns as one float64 block (nulls as NaN), checked."""
        values = [columns[i] for i in self._numeric]
        if set(map(type, chain.from_iterable(values))) <= _JSON_NUMBER_TYPES:
            try:  # numbers and nulls only: one call (an int too large for a float: checked below)
                return np.array(values, dtype=np.float64).reshape(len(values), n_rows)
            except OverflowError:
                pass
        numeric = np.empty((len(self._numeric), n_rows), dtype=np.float64)
        for row, i in enumerate(self._numeric):
            numeric[row] = _numeric_values(self.columns[i], columns[i])
        return numeric

    def _violations(self, numeric: np.ndarray) -> list[Violation]:
        """Values outside a column's [min, max], and binary values other than 0 and 1 (NaN passes)."""
        low = numeric < self._low
        high = numeric > self._high
        outside = low | high
        if self._any_binary:
            binary = self._binary & (numeric != 0) & (numeric != 1) & ~np.isnan(numeric)
            outside |= binary
        else:
            binary = np.zeros_like(outside)
        if not outside.any():  # the usual case: one test
            return []
        found = []
        for rule_mask, describe in ((binary, _binary_rule), (low, _min_rule), (high, _max_rule)):
            for at, row in zip(*np.nonzero(rule_mask), strict=True):
                column = self.columns[self._numeric[at]]
                found.append(Violation(int(row), column.name, describe(column), float(numeric[at, row])))
        order = {name: i for i, name in enumerate(self.names)}
        found.sort(key=lambda v: (v.row, order[v.column]))
        return found

    def frame(self, numeric: np.ndarray, objects: np.ndarray) -> pd.DataFrame:
        """The Pipeline's DataFrame, from one float64 block and one object block.

        pandas' public constructors infer a dtype column by column (about 0.3 ms
        for a 19-column row, more than all the parsing); building the two blocks
        directly takes about 15 us. The fast path is checked once against the
        public constructor at import and skipped if this pandas builds it differently.
        """
        n_rows = numeric.shape[1]
        if _FAST_FRAME:
            try:
                return _frame_from_blocks(self._index, numeric, self._numeric, objects, self._text, n_rows)
            except Exception:  # pragma: no cover - pandas internals changed under us
                pass
        arrays: dict[str, np.ndarray] = {}
        for row, i in enumerate(self._numeric):
            arrays[self.names[i]] = numeric[row]
        for row, i in enumerate(self._text):
            arrays[self.names[i]] = objects[row]
        return pd.DataFrame({name: arrays[name] for name in self.names}, index=pd.RangeIndex(n_rows))

    # ------------------------------------------------------------------ the two forms

    def _check_names(self, given: Iterable[str], where: str) -> None:
        given = list(given)
        unknown = [name for name in given if name not in self._name_set]
        given_set = set(given)
        missing = [name for name in self.names if name not in given_set]
        problems = []
        if unknown:
            problems.append(f"unknown column(s) {_listing(unknown)}")
        if missing:
            problems.append(f"missing column(s) {_listing(missing)}")
        if problems:
            raise RequestError(where, f"{where}: {'; '.join(problems)}")

    def _check_row_count(self, n_rows: int, where: str) -> None:
        if n_rows == 0:
            raise RequestError(where, f"{where} has 0 rows: send at least one row")
        if n_rows > self.max_rows:
            raise RequestError(
                where,
                f"{where} has {n_rows} rows, more than the maximum of {self.max_rows} per request "
                f"(SERVING_MAX_ROWS): send smaller batches",
            )

    def _columns_from_ndarray(self, data: Any) -> tuple[list[Sequence[Any]], int]:
        if not isinstance(data, dict):
            raise RequestError(
                "data", f"'data' must be an object with 'names' and 'ndarray', not {_kind(data)}"
            )
        if "ndarray" not in data:
            others = [key for key in ("tensor", "tftensor", "binData", "strData") if key in data]
            got = f" (got data.{others[0]})" if others else ""
            raise RequestError("data.ndarray", f"data.ndarray is required{got}: a list of rows")
        names = data.get("names")
        if not names:
            raise RequestError(
                "data.names",
                f"data.names is required: the column name of each data.ndarray position, "
                f"e.g. {_listing(self.names)}",
            )
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise RequestError("data.names", "data.names must be a list of column names (text)")
        if len(set(names)) != len(names):
            repeated = sorted(name for name, count in Counter(names).items() if count > 1)
            raise RequestError("data.names", f"data.names repeats column(s) {_listing(repeated)}")
        self._check_names(names, "data.names")

        rows = data["ndarray"]
        if not isinstance(rows, list):
            raise RequestError("data.ndarray", f"data.ndarray must be a list of rows, not {_kind(rows)}")
        self._check_row_count(len(rows), "data.ndarray")
        width = len(names)
        try:
            lengths_ok = set(map(len, rows)) == {width}
        except TypeError:
            lengths_ok = False
        if not lengths_ok or not all(type(row) is list for row in rows):
            for i, row in enumerate(rows):
                if not isinstance(row, list):
                    raise RequestError(
                        f"data.ndarray[{i}]",
                        f"data.ndarray[{i}] must be a row (a list of {width} values), not {_kind(row)}",
                    )
                if len(row) != width:
                    raise RequestError(
                        f"data.ndarray[{i}]",
                        f"data.ndarray[{i}] has {len(row)} values but data.names has {width}",
                    )
        by_name = dict(zip(names, zip(*rows, strict=True), strict=True))
        return [by_name[name] for name in self.names], len(rows)

    def _columns_from_records(self, records: Any) -> tuple[list[Sequence[Any]], int]:
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list):
            raise RequestError(
                "jsonData", f"jsonData must be a record (object) or a list of records, not {_kind(records)}"
            )
        self._check_row_count(len(records), "jsonData")
        if not all(type(record) is dict for record in records):
            i = next(i for i, record in enumerate(records) if not isinstance(record, dict))
            raise RequestError(
                f"jsonData[{i}]", f"jsonData[{i}] must be a record (object), not {_kind(records[i])}"
            )
        keys = records[0].keys()
        if not all(record.keys() == keys for record in records):
            for i, record in enumerate(records):
                self._check_names(record.keys(), f"jsonData[{i}]")
        self._check_names(keys, "jsonData[0]" if len(records) > 1 else "jsonData")
        if len(self.names) == 1:
            only = self.names[0]
            return [[record[only] for record in records]], len(records)
        getter = itemgetter(*self.names)
        return list(zip(*map(getter, records), strict=True)), len(records)


# ---------------------------------------------------------------------- columns


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (Real, np.number)):
        return "a number"
    return {dict: "an object", list: "a list", str: "text"}.get(type(value), f"a {type(value).__name__}")


def _short(value: Any) -> str:
    """``repr`` of a value from a request, shortened (a cell may hold megabytes, or deep nesting)."""
    return _SHORT.repr(value)


def _bound(value: float | None, default: float) -> float:
    return default if value is None else float(value)


def _binary_rule(column: _Column) -> str:
    return "binary value (0 or 1)"


def _min_rule(column: _Column) -> str:
    return f"minimum {column.min:g}"


def _max_rule(column: _Column) -> str:
    return f"maximum {column.max:g}"


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, (Real, np.number)) and not isinstance(value, (str, bytes)))


def _numeric_values(column: _Column, values: Sequence[Any]) -> Sequence[Any]:
    """The values of a numeric/binary column, checked: numbers, numeric text, or null (-> NaN)."""
    if not set(map(type, values)) <= _JSON_NUMBER_TYPES:
        values = list(values)
        at_text = [i for i, value in enumerate(values) if isinstance(value, str)]
        numbers = numbers_from_text([values[i] for i in at_text]) if at_text else []
        for i, number in zip(at_text, numbers, strict=True):
            if math.isnan(number) and values[i].strip():  # blank text is a null, as in training
                break
            values[i] = None if math.isnan(number) else float(number)
        for i, value in enumerate(values):
            if not _is_number(value):
                raise RequestError(
                    column.name,
                    f"column {column.name!r} ({column.kind}) needs numbers or null; "
                    f"row {i} holds {_kind(value)} {_short(value)}"
                    + (" (not a number)" if isinstance(value, str) else ""),
                )
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise RequestError(column.name, f"column {column.name!r} ({column.kind}): {exc}") from exc


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text_values(column: _Column, values: Sequence[Any]) -> tuple[Sequence[Any], int]:
    """The values of a categorical column (text, nulls as NaN) and how many are unknown categories."""
    types = set(map(type, values))
    if types == {str}:
        unknown = 0
        if column.categories is not None:
            unknown = len(values) - sum(map(column.categories.__contains__, values))
        return values, unknown
    if not types <= _JSON_TEXT_TYPES:
        for i, value in enumerate(values):
            if not (isinstance(value, str) or _is_null(value)):
                raise RequestError(
                    column.name,
                    f"column {column.name!r} (categorical) needs text or null; "
                    f"row {i} holds {_kind(value)} {_short(value)}",
                )
    cleaned = [value if isinstance(value, str) else np.nan for value in values]
    unknown = 0
    if column.categories is not None:
        unknown = sum(1 for value in cleaned if isinstance(value, str) and value not in column.categories)
    return cleaned, unknown


# ---------------------------------------------------------------------- frame assembly


def _frame_from_blocks(
    columns: pd.Index,
    numeric: np.ndarray,
    numeric_at: list[int],
    objects: np.ndarray,
    objects_at: list[int],
    n_rows: int,
) -> pd.DataFrame:
    from pandas.core.internals import BlockManager
    from pandas.core.internals.api import make_block

    blocks = []
    if numeric_at:
        blocks.append(make_block(numeric, placement=np.asarray(numeric_at, dtype=np.intp), ndim=2))
    if objects_at:
        blocks.append(make_block(objects, placement=np.asarray(objects_at, dtype=np.intp), ndim=2))
    manager = BlockManager(tuple(blocks), [columns, pd.RangeIndex(n_rows)], verify_integrity=False)
    return pd.DataFrame._from_mgr(manager, axes=manager.axes)


def _fast_frame_works() -> bool:
    """Whether :func:`_frame_from_blocks` builds what the public constructor builds."""
    try:
        numeric = np.array([[1.0, np.nan], [0.0, 2.5]])
        objects = np.array([["a", np.nan]], dtype=object)
        fast = _frame_from_blocks(pd.Index(["x", "c", "y"]), numeric, [0, 2], objects, [1], 2)
        slow = pd.DataFrame({"x": numeric[0], "c": objects[0], "y": numeric[1]})
        pd.testing.assert_frame_equal(fast, slow)
        fast["z"] = 1.0  # the frame must behave as an ordinary one
        return list(fast.columns) == ["x", "c", "y", "z"]
    except Exception:  # pragma: no cover - depends on the pandas version
        return False


_FAST_FRAME = _fast_frame_works()
