"""The data contract, enforced with pandera.

pandera is used rather than hand-written checks (or Evidently's tests, which are
built to compare a data set with a reference): its lazy validation collects every
failing value with its row index and rule in one pass, which is exactly the report
a contract violation needs, and its schemas are plain, inspectable objects.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors
from pydantic import BaseModel, Field

from tabular_ml.configuration.schema import ColumnSpec, DataContract
from tabular_ml.configuration.suggest import did_you_mean
from tabular_ml.tasks.target import is_class, label_text


class Violation(BaseModel):
    """One rule broken by one column (or by the table as a whole)."""

    column: str
    rule: str
    failing_rows: int
    examples: list[str] = Field(default_factory=list)

    def describe(self) -> str:
        examples = f" (e.g. {', '.join(self.examples)})" if self.examples else ""
        return f"{self.column}: {self.rule} broken by {self.failing_rows} row(s){examples}"


class ContractReport(BaseModel):
    """Outcome of validating one data set against the contract."""

    rows: int
    columns_checked: int
    violations: list[Violation] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        if self.passed:
            return f"data contract passed: {self.rows} rows, {self.columns_checked} columns"
        lines = [f"data contract failed: {len(self.violations)} violation(s) in {self.rows} rows"]
        lines += [f"  - {violation.describe()}" for violation in self.violations]
        return "\n".join(lines)


class DataContractError(ValueError):
    """The data broke the contract; the message lists every violation."""

    def __init__(self, report: ContractReport):
        super().__init__(report.summary())
        self.report = report


def _missing_share_check(limit: float) -> pa.Check:
    return pa.Check(
        lambda series: series.isna().mean() <= limit,
        name=f"missing share <= {limit:g}",
        ignore_na=False,
    )


def _column_schema(spec: ColumnSpec, default_missing_share: float) -> pa.Column:
    checks = [
        _missing_share_check(
            spec.max_missing_share if spec.max_missing_share is not None else default_missing_share
        )
    ]
    if spec.kind in ("numeric", "binary"):
        checks.append(pa.Check(pd.api.types.is_numeric_dtype, name="numeric type", element_wise=False))
    if spec.kind == "binary":
        checks.append(pa.Check.isin([0, 1], error="binary value (0 or 1)"))
    if spec.min is not None:
        checks.append(pa.Check.ge(spec.min, error=f"minimum {spec.min:g}"))
    if spec.max is not None:
        checks.append(pa.Check.le(spec.max, error=f"maximum {spec.max:g}"))
    if spec.categories is not None:
        checks.append(pa.Check.isin(spec.categories, error="allowed categories"))
    return pa.Column(checks=checks, nullable=True, required=True)


def build_schema(contract: DataContract, with_target: bool = True) -> pa.DataFrameSchema:
    """The pandera schema for the contract (features, and the target unless ``with_target`` is off)."""
    columns = {
        name: _column_schema(spec, contract.max_missing_share) for name, spec in contract.columns.items()
    }
    if with_target:
        checks = []
        if contract.classes is not None:
            labels = [label_text(label) for label in contract.classes]
            checks.append(
                pa.Check(
                    lambda series: is_class(series, contract.classes),
                    error=f"target class in {labels}",
                )
            )
        columns[contract.target] = pa.Column(checks=checks, nullable=False)
    min_rows = contract.min_rows
    table_checks = [pa.Check(lambda df: len(df) >= min_rows, name=f"at least {min_rows} rows")]
    if contract.duplicates == "fail":
        table_checks.append(pa.Check(lambda df: ~df.duplicated(keep="first"), name="no duplicate rows"))
    return pa.DataFrameSchema(columns, checks=table_checks)


def _rule_name(check: object) -> str:
    text = str(check)
    if text == "column_in_dataframe":
        return "required column present"
    if text == "not_nullable":
        return "no missing values"
    return text


# Rules checked value by value: their failure cases are the offending values, worth showing.
_VALUE_RULES = ("minimum", "maximum", "allowed categories", "binary value", "target class")


def _violations(failure_cases: pd.DataFrame, df: pd.DataFrame) -> list[Violation]:
    violations = []
    cases = failure_cases.fillna({"column": "<table>"})
    wrong_type = set(cases.loc[cases["check"].astype(str) == "numeric type", "column"])
    # pandera reports a row-wise table check (duplicates) once per column: count it once.
    cases.loc[cases["check"].astype(str) == "no duplicate rows", "column"] = "<table>"
    for (column, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        rule = _rule_name(check)
        if column in wrong_type and rule != "numeric type":
            continue  # range checks on text only repeat "numeric type" with TypeErrors
        if rule == "required column present":
            column, rows = str(group["failure_case"].iloc[0]), len(df)
            rule += did_you_mean(column, df.columns)
        elif rule.startswith("missing share"):
            rows = int(df[column].isna().sum()) if column in df.columns else len(df)
        else:
            rows = int(group["index"].nunique()) if group["index"].notna().any() else len(df)
        examples = []
        if rule.startswith(_VALUE_RULES):
            examples = [str(value) for value in pd.unique(group["failure_case"].astype(str))[:3]]
        violations.append(Violation(column=str(column), rule=rule, failing_rows=rows, examples=examples))
    return violations


def validate_frame(df: pd.DataFrame, contract: DataContract, with_target: bool = True) -> ContractReport:
    """Check every rule of the contract and report each broken one (never raises on bad data)."""
    schema = build_schema(contract, with_target=with_target)
    report = ContractReport(rows=len(df), columns_checked=len(schema.columns))
    try:
        schema.validate(df, lazy=True)
    except SchemaErrors as errors:
        report.violations = _violations(errors.failure_cases, df)
    return report
