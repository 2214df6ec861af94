"""Validate a raw training batch against the schema with Great Expectations.

`build_suite_specs` says what is checked (pure, no GX); `validate_batch` runs
those checks on a DataFrame in an ephemeral GX context and turns the result
into a `ValidationReport`. Bad data never raises: it gives `success=False` and
one `Failure` per failed expectation, each naming its column. GX is imported
inside `validate_batch` only, as its import alone takes several seconds.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.config import ValidateParams
from pipelines.schema import NullPolicy, Schema

if TYPE_CHECKING:
    import pandas as pd

NUMERIC_TYPES = (
    *(f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64)),
    *("float32", "float64", "Int32Dtype", "Int64Dtype", "Float32Dtype", "Float64Dtype"),
)
DATETIME_TYPES = tuple(f"datetime64[{unit}]" for unit in ("s", "ms", "us", "ns"))
TARGET_VALUES = (0, 1)
EXAMPLES = 3  # distinct bad values quoted per failure
# BASIC, not SUMMARY: SUMMARY adds an unexpected-index list and query per check, two more
# whole-frame copies each (1M rows: 5.6 s vs 9.5 s). The first 20 bad values give the examples.
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 20}
SUITE = "raw_batch"
DOCS_SITE = "validation_docs"

TYPE, NOT_NULL = "ExpectColumnValuesToBeInTypeList", "ExpectColumnValuesToNotBeNull"
BETWEEN, IN_SET = "ExpectColumnValuesToBeBetween", "ExpectColumnValuesToBeInSet"
EXISTS = "ExpectColumnToExist"


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of the suite: a GX expectation class name and its keyword arguments."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def column(self) -> str | None:
        """The column checked, or None for a table-level expectation."""
        return self.kwargs.get("column")

    @property
    def expectation(self) -> str:
        """The GX expectation type, e.g. `expect_column_values_to_be_between`."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.name).lower()


@dataclass(frozen=True)
class Failure:
    """One failed expectation: its GX type, its column (None: table) and what was seen."""

    expectation: str
    column: str | None
    detail: str


@dataclass(frozen=True)
class ValidationReport:
    """Outcome of validating one batch: overall success, every failure, the null shares."""

    success: bool
    rows: int
    evaluated: int
    failures: tuple[Failure, ...] = ()
    null_shares: dict[str, float] = field(default_factory=dict)
    """Raw feature -> share of its rows that are null (every feature present)."""
    other_shares: dict[str, float] = field(default_factory=dict)
    """Open category -> share of its rows holding an unlisted value (the other bucket)."""

    def to_json(self) -> dict[str, Any]:
        """The JSON form: reports/validation.json."""
        failures = [asdict(failure) for failure in self.failures]
        return {**asdict(self), "failures": failures}

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> ValidationReport:
        """Read the JSON form back (reports written before the shares existed too)."""
        return cls(
            success=payload["success"],
            rows=payload["rows"],
            evaluated=payload["evaluated"],
            failures=tuple(Failure(**f) for f in payload["failures"]),
            null_shares=dict(payload.get("null_shares", {})),
            other_shares=dict(payload.get("other_shares", {})),
        )

    def summary(self) -> str:
        """Multi-line text naming every failed expectation and its column."""
        if self.success:
            return f"validation passed: {self.rows} rows, {self.evaluated} expectations"
        head = f"validation failed: {len(self.failures)} of {self.evaluated} expectations"
        lines = [f"{head} on {self.rows} rows"]
        lines += [
            f"  - {f.column or '(table)'}: {f.expectation}: {f.detail}" for f in self.failures
        ]
        return "\n".join(lines)


def _spec(name: str, column: str | None = None, **kwargs: Any) -> ExpectationSpec:
    return ExpectationSpec(name, {"column": column, **kwargs} if column else kwargs)


def _not_null(column: str, nulls: NullPolicy | None) -> list[ExpectationSpec]:
    """The null check of a column: none, or at most its policy's share (none when any share)."""
    if nulls is None or nulls.max_share <= 0:
        return [_spec(NOT_NULL, column)]
    if nulls.max_share >= 1:
        return []
    return [_spec(NOT_NULL, column, mostly=round(1 - nulls.max_share, 6))]


def build_suite_specs(
    schema: Schema, params: ValidateParams, labelled: bool = False
) -> list[ExpectationSpec]:
    """The expectations a raw training batch must meet, in report order.

    `labelled`: the suite of a file of labelled production rows, checked on its own
    before it joins a valid main batch: the same columns, types, nulls, ranges and
    categories, without the batch-level row count and target-rate checks.
    """
    numeric, target = list(NUMERIC_TYPES), schema.target
    rows = {"min_value": params.min_rows, "max_value": params.max_rows}
    specs = [
        *([] if labelled else [_spec("ExpectTableRowCountToBeBetween", **rows)]),  # type: ignore[arg-type]
        *(_spec(EXISTS, name) for name in schema.required_columns),
        _spec(NOT_NULL, schema.id_column),
        _spec("ExpectColumnValuesToBeUnique", schema.id_column),
        *([_spec(NOT_NULL, schema.key_column)] if schema.key_column and not labelled else []),
        _spec(TYPE, schema.time_column, type_list=list(DATETIME_TYPES)),
        _spec(NOT_NULL, schema.time_column),
    ]
    if schema.time_range is not None:
        low, high = schema.time_range
        specs.append(_spec(BETWEEN, schema.time_column, min_value=low, max_value=high))
    for col in schema.numeric:
        specs += [
            _spec(TYPE, col.name, type_list=numeric),
            *_not_null(col.name, col.nulls),
            _spec(BETWEEN, col.name, min_value=col.min, max_value=col.max),
        ]
    for cat in schema.categorical:
        specs += _not_null(cat.name, cat.nulls)
        if not cat.open:
            specs.append(_spec(IN_SET, cat.name, value_set=[*cat.categories]))
    rate = params.target_rate
    specs += [
        _spec(TYPE, target, type_list=numeric),
        _spec(NOT_NULL, target),
        _spec(IN_SET, target, value_set=list(TARGET_VALUES)),
    ]
    if not labelled:
        specs += [
            _spec("ExpectColumnDistinctValuesToContainSet", target, value_set=list(TARGET_VALUES)),
            _spec("ExpectColumnMeanToBeBetween", target, min_value=rate.min, max_value=rate.max),
        ]
    if schema.oracle_column:  # optional: no existence check, so its absence is no failure
        oracle = schema.oracle_column
        specs += [
            _spec(TYPE, oracle, type_list=numeric),
            _spec(BETWEEN, oracle, min_value=0.0, max_value=1.0),
        ]
    return specs


def shares(frame: pd.DataFrame, schema: Schema) -> tuple[dict[str, float], dict[str, float]]:
    """Per raw feature present, its null share; per open category, its unlisted share."""
    from pipelines.features import category_text

    rows = max(len(frame), 1)
    columns = [*schema.numeric_feature_names[: len(schema.numeric)], *schema.categorical_names]
    nulls = {
        name: round(float(frame[name].isna().sum()) / rows, 6)
        for name in columns
        if name in frame.columns
    }
    other = {}
    for cat in schema.categorical:
        if cat.open and cat.name in frame.columns:
            text = category_text(frame[cat.name])
            unlisted = text.notna() & ~text.isin(cat.categories)
            other[cat.name] = round(float(unlisted.sum()) / rows, 6)
    return nulls, other


def validate_batch(
    frame: pd.DataFrame,
    schema: Schema,
    params: ValidateParams,
    docs_dir: Path | None = None,
    *,
    labelled: bool = False,
    checks: bool = False,
) -> ValidationReport:
    """Check `frame` against the schema; write Data Docs HTML to `docs_dir` if given.

    `labelled`: the suite of labelled production rows (see `build_suite_specs`).
    `checks`: also the data checks of `pipelines.checks` (columns, constants, leakage).
    """
    specs, rows = build_suite_specs(schema, params, labelled), len(frame)
    wrong = [f for s in specs if (f := _wrong_dtype(frame, s, rows)) is not None]
    skip_values = {f.column for f in wrong}

    def runs(spec: ExpectationSpec) -> bool:  # a missing column gets only its existence check
        if spec.column is None or spec.name == EXISTS:
            return True
        if spec.column not in frame.columns or rows == 0:
            return False
        return spec.column not in skip_values or spec.name == NOT_NULL

    gx_specs = [s for s in specs if runs(s)]
    # only the checked columns, in one consolidated copy: GX copies the frame for each check
    used = list(dict.fromkeys(s.column for s in gx_specs if s.column in frame.columns))
    evaluated, results = _run_gx(frame[used].copy(), gx_specs, docs_dir)
    failures = wrong + [_failure(r) for r in results if not r.success]
    order = {(s.expectation, s.column): i for i, s in enumerate(specs)}
    failures.sort(key=lambda f: order.get((f.expectation, f.column), len(order)))
    if checks and rows:
        from pipelines.checks import data_checks

        checked, found = data_checks(frame, schema, params)
        evaluated += checked
        failures += [Failure(*f) for f in found]
    nulls, other = shares(frame, schema)
    return ValidationReport(
        not failures, rows, evaluated + len(wrong), tuple(failures), nulls, other
    )


def _wrong_dtype(frame: pd.DataFrame, spec: ExpectationSpec, rows: int) -> Failure | None:
    """A type check done in pandas first: text in a number column is one clear failure."""
    if spec.name != TYPE or spec.column not in frame.columns or rows == 0:
        return None
    import pandas as pd
    from pandas.api import types

    column, as_time = frame[spec.column], spec.kwargs["type_list"] == list(DATETIME_TYPES)
    if as_time and types.is_datetime64_dtype(column):
        return None
    if not as_time and types.is_numeric_dtype(column) and not types.is_bool_dtype(column):
        return None
    kind, values = ("datetimes" if as_time else "numbers"), column.dropna()
    try:
        parsed = (
            pd.to_datetime(values, errors="coerce", format="ISO8601")
            if as_time
            else pd.to_numeric(values, errors="coerce")
        )
        bad = values[parsed.isna()]
    except (TypeError, ValueError):
        bad = values
    detail = f"dtype {column.dtype}, expected {kind}"
    if len(bad):
        share = _rows(len(bad), 100 * len(bad) / rows)
        detail += f"; {share} not {kind}; e.g. {_examples(bad.unique()[:EXAMPLES])}"
    return Failure(spec.expectation, spec.column, detail)


def _run_gx(
    frame: pd.DataFrame, specs: list[ExpectationSpec], docs_dir: Path | None
) -> tuple[int, list[Any]]:
    """Run `specs` on `frame` in a fresh ephemeral GX context: (evaluated, results)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    actions = []
    if docs_dir is not None:
        backend = {"class_name": "TupleFilesystemStoreBackend"}
        backend["base_directory"] = str(docs_dir.resolve())
        site = {"class_name": "SiteBuilder", "store_backend": backend}
        context.add_data_docs_site(site_name=DOCS_SITE, site_config=site)  # type: ignore[arg-type]
        actions.append(gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=[DOCS_SITE]))
    batch = (
        context.data_sources.add_pandas("raw")
        .add_dataframe_asset(SUITE)
        .add_batch_definition_whole_dataframe("whole")
    )
    expectations = [getattr(gxe, spec.name)(**spec.kwargs) for spec in specs]
    suite = context.suites.add(gx.ExpectationSuite(name=SUITE, expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=SUITE, data=batch, suite=suite)
    )
    checkpoint = gx.Checkpoint(
        name=SUITE,
        validation_definitions=[definition],
        actions=actions,  # type: ignore[arg-type]
        result_format=RESULT_FORMAT,
    )
    result = context.checkpoints.add(checkpoint).run(batch_parameters={"dataframe": frame})
    (run,) = result.run_results.values()
    return int(run.statistics["evaluated_expectations"]), list(run.results)


def _failure(result: Any) -> Failure:
    """A failed GX expectation result as a `Failure` with a readable detail."""
    kind, kwargs = result.expectation_config.type, result.expectation_config.kwargs
    return Failure(kind, kwargs.get("column"), _describe(kind, kwargs, result))


def _describe(kind: str, kwargs: dict[str, Any], result: Any) -> str:
    out: dict[str, Any] = result.result or {}
    seen, error = out.get("observed_value"), _error(result.exception_info)
    if kind == "expect_column_to_exist":
        return "column is missing from the batch"
    if error:
        return f"could not be checked: {error}"
    if kind == "expect_table_row_count_to_be_between":
        empty = " (the batch is empty)" if seen == 0 else ""
        return f"{seen} rows{empty}; expected {_range(kwargs)}"
    if kind == "expect_column_mean_to_be_between":
        return f"mean {_fmt(seen)}; expected {_range(kwargs)}"
    if kind == "expect_column_distinct_values_to_contain_set":
        missing = out.get("partial_missing_list") or []
        present = [v for v in kwargs["value_set"] if v not in missing]
        one = f"one class only, every value is {present[0]}"
        head = one if len(present) == 1 else f"never {_show(missing)}"
        return f"{head}; expected all of {_show(kwargs['value_set'])}"
    if "unexpected_count" not in out:  # the type check of a typed column
        return f"dtype {seen}; expected one of {_show(kwargs.get('type_list') or [])}"
    if "value_set" in kwargs:
        what = f"not in {_show(kwargs['value_set'])}"
    elif "min_value" in kwargs:
        what = f"outside [{_fmt(kwargs['min_value'])}, {_fmt(kwargs['max_value'])}]"
    else:
        what = "null" if kind.endswith("not_be_null") else "with a duplicated value"
    text = f"{_rows(out['unexpected_count'], out.get('unexpected_percent'))} {what}"
    if kwargs.get("mostly") is not None:
        text += f"; at most {100 * (1 - kwargs['mostly']):.3g}% allowed (nulls.max_share)"
    examples = list(dict.fromkeys(out.get("partial_unexpected_list") or []))
    if kind.endswith("not_be_null") or not examples:
        return text
    return f"{text}; e.g. {_examples(examples)}"


def _error(info: dict[str, Any] | None) -> str | None:
    """The exception message GX caught, at the top level or per metric."""
    if not info:
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    nested = [v.get("exception_message") for v in info.values() if isinstance(v, dict)]
    return next((str(message) for message in nested if message), None)


def _rows(count: int, percent: float | None) -> str:
    return f"{count} row{'' if count == 1 else 's'} ({percent or 0:.3g}%)"


def _range(kwargs: dict[str, Any]) -> str:
    return f"between {_fmt(kwargs['min_value'])} and {_fmt(kwargs['max_value'])}"


def _show(values: Any, limit: int = 5) -> str:
    values = list(values)
    more = ", ..." if len(values) > limit else ""
    return f"[{', '.join(str(v) for v in values[:limit])}{more}]"


def _examples(values: Any) -> str:
    return ", ".join(repr(v) if isinstance(v, str) else _fmt(v) for v in list(values)[:EXAMPLES])


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
