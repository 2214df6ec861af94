"""Validation of a raw batch: the suite built from the schema, and GX run on tiny frames."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.config import Config, ValidateParams, load
from pipelines.schema import Schema, build_schema
from pipelines.validate import ValidationReport, build_suite_specs, validate_batch

ROOT = Path(__file__).parents[2]
TYPE = "expect_column_values_to_be_in_type_list"


@pytest.fixture(scope="module")
def config() -> Config:
    return load(ROOT)


@pytest.fixture(scope="module")
def schema(config: Config) -> Schema:
    return build_schema(config)


@pytest.fixture(scope="module")
def params(config: Config) -> ValidateParams:
    return config.params.validate_.model_copy(update={"min_rows": 5})


@pytest.fixture
def good(deliveries: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    """20 rows that meet every expectation (positive rate 0.2, inside the 0.02-0.35 bounds)."""
    frame = deliveries(n=20, seed=3)
    return frame.assign(delayed=np.array([1, 0, 0, 0, 0] * 4, dtype="int64"))


def failed(report: ValidationReport) -> set[tuple[str, str | None]]:
    return {(f.expectation, f.column) for f in report.failures}


def test_good_batch_passes(good, schema, params):
    report = validate_batch(good, schema, params)

    assert report.success, report.summary()
    assert report.failures == ()
    assert report.rows == 20
    assert report.evaluated == len(build_suite_specs(schema, params))


def test_suite_specs_cover_every_required_column(schema, params):
    specs = build_suite_specs(schema, params)
    checks = {(s.expectation, s.column): s.kwargs for s in specs}

    for column in schema.required_columns:
        assert ("expect_column_to_exist", column) in checks
        assert ("expect_column_values_to_not_be_null", column) in checks
    for col in schema.numeric:
        assert checks[(TYPE, col.name)]["type_list"]
        bounds = checks[("expect_column_values_to_be_between", col.name)]
        assert (bounds["min_value"], bounds["max_value"]) == (col.min, col.max)
    for cat in schema.categorical:
        value_set = checks[("expect_column_values_to_be_in_set", cat.name)]["value_set"]
        assert value_set == list(cat.categories)
    assert ("expect_column_values_to_be_unique", schema.id_column) in checks
    assert ("expect_column_distinct_values_to_contain_set", schema.target) in checks
    rate = checks[("expect_column_mean_to_be_between", schema.target)]
    assert (rate["min_value"], rate["max_value"]) == (
        params.target_rate.min,
        params.target_rate.max,
    )
    rows = checks[("expect_table_row_count_to_be_between", None)]
    assert (rows["min_value"], rows["max_value"]) == (5, params.max_rows)
    assert ("expect_column_to_exist", schema.oracle_column) not in checks  # optional


def test_module_and_specs_need_no_great_expectations():
    code = (
        "import sys; from pipelines.config import load; from pipelines.schema import build_schema;"
        "from pipelines.validate import build_suite_specs; c = load('.');"
        "assert build_suite_specs(build_schema(c), c.params.validate_);"
        "assert 'great_expectations' not in sys.modules"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def _text_in_numeric(frame: pd.DataFrame) -> pd.DataFrame:
    frame["weight_kg"] = frame["weight_kg"].astype(object)
    frame.loc[[2, 5], "weight_kg"] = ["abc", "n/a"]
    return frame


def _set(column: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[row, column] = value
        return frame

    return change


BAD_INPUTS = {
    "missing_column": (
        lambda f: f.drop(columns=["weight_kg"]),
        {("expect_column_to_exist", "weight_kg")},
        "missing",
    ),
    "numeric_column_with_text": (_text_in_numeric, {(TYPE, "weight_kg")}, "'abc', 'n/a'"),
    "value_out_of_range": (
        _set("distance_km", 4, 900.0),
        {("expect_column_values_to_be_between", "distance_km")},
        "900",
    ),
    "unknown_category": (
        _set("depot", 3, "X9"),
        {("expect_column_values_to_be_in_set", "depot")},
        "'X9'",
    ),
    "null_in_feature": (
        _set("weather", 5, None),
        {("expect_column_values_to_not_be_null", "weather")},
        "1 row",
    ),
    "duplicated_ids": (
        _set("delivery_id", 6, "DLV000007"),
        {("expect_column_values_to_be_unique", "delivery_id")},
        "'DLV000007'",
    ),
    "target_with_one_class": (
        lambda f: f.assign(delayed=0),
        {
            ("expect_column_distinct_values_to_contain_set", "delayed"),
            ("expect_column_mean_to_be_between", "delayed"),
        },
        "one class",
    ),
    "target_rate_outside_bounds": (
        lambda f: f.assign(delayed=[1, 0] * 10),
        {("expect_column_mean_to_be_between", "delayed")},
        "mean 0.5",
    ),
    "time_column_with_text": (
        lambda f: f.assign(pickup_time=["yesterday", *f["pickup_time"].astype(str)[1:]]),
        {(TYPE, "pickup_time")},
        "'yesterday'",
    ),
    "empty_batch": (
        lambda f: f.iloc[0:0],
        {("expect_table_row_count_to_be_between", None)},
        "empty",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_fails_naming_its_column(case, good, schema, params):
    change, expected, shown = BAD_INPUTS[case]

    report = validate_batch(change(good), schema, params)

    assert not report.success
    assert failed(report) == expected, report.summary()
    assert shown in report.failures[0].detail


def test_missing_oracle_column_is_no_failure(good, schema, params):
    report = validate_batch(good.drop(columns=[schema.oracle_column]), schema, params)

    assert report.success, report.summary()


@pytest.fixture
def bad_report(good, schema, params) -> ValidationReport:
    frame = _text_in_numeric(good.drop(columns=["volume_l"]))
    frame.loc[3, "depot"], frame.loc[4, "distance_km"] = "X9", -1.0
    return validate_batch(frame, schema, params)


def test_report_to_json_is_json(bad_report):
    loaded = json.loads(json.dumps(bad_report.to_json()))

    assert loaded["success"] is False
    assert loaded["rows"] == 20
    assert len(loaded["failures"]) == len(bad_report.failures) == 4
    assert set(loaded["failures"][0]) == {"expectation", "column", "detail"}


def test_report_round_trips_through_its_json_form(bad_report):
    assert ValidationReport.from_json(json.loads(json.dumps(bad_report.to_json()))) == bad_report
    shipped = json.loads((ROOT / "reports" / "validation.json").read_text())
    # a report written before the null shares existed still reads, and keeps what it held
    assert ValidationReport.from_json(shipped).to_json().items() >= shipped.items()


def test_summary_mentions_every_failed_column(bad_report):
    text = bad_report.summary()

    assert text.startswith("validation failed")
    for failure in bad_report.failures:
        assert f"{failure.column}: {failure.expectation}" in text
    assert {"volume_l", "weight_kg", "depot", "distance_km"} <= {
        f.column for f in bad_report.failures
    }


def test_data_docs_are_written(good, schema, params, tmp_path):
    docs = tmp_path / "docs"

    report = validate_batch(good, schema, params, docs_dir=docs)

    assert report.success
    assert (docs / "index.html").is_file()


# ------------------------------------------------------------ policies and data checks

NOT_NULL = "expect_column_values_to_not_be_null"


@pytest.fixture(scope="module")
def gappy(schema):
    from tests.conftest import open_schema

    return open_schema(schema)  # precip_mm: nulls <= 30%; depot: open, nulls <= 20%


def test_nulls_within_their_policy_pass_and_are_reported(good, gappy, params):
    from tests.conftest import with_gaps

    batch = with_gaps(good, every=5, new_depots=("Z1",))  # precip 20% null, depot 10% null

    report = validate_batch(batch, gappy, params)

    assert report.success, report.summary()
    assert report.null_shares["precip_mm"] == pytest.approx(0.2)
    assert report.null_shares["depot"] == pytest.approx(batch["depot"].isna().mean())
    assert report.null_shares["distance_km"] == 0.0
    assert report.other_shares["depot"] == pytest.approx((batch["depot"] == "Z1").mean())


def test_nulls_above_their_share_fail_naming_column_and_share(good, gappy, params):
    batch = good.copy()
    batch.loc[:9, "precip_mm"] = np.nan  # 50% > 30%

    report = validate_batch(batch, gappy, params)

    assert failed(report) == {(NOT_NULL, "precip_mm")}
    assert "10 rows (50%) null; at most 30% allowed" in report.failures[0].detail


def test_a_closed_category_still_refuses_what_an_open_one_takes(good, schema, gappy, params):
    batch = good.assign(depot=["Z1", *good["depot"][1:]])
    assert validate_batch(batch, gappy, params).success
    closed = validate_batch(batch, schema, params)
    assert failed(closed) == {("expect_column_values_to_be_in_set", "depot")}


def test_times_outside_the_range_fail(good, schema, params):
    batch = good.copy()
    batch.loc[3, "pickup_time"] = pd.Timestamp("2150-01-01")
    batch.loc[4, "pickup_time"] = pd.Timestamp("1900-01-01")

    report = validate_batch(batch, schema, params)

    assert failed(report) == {("expect_column_values_to_be_between", "pickup_time")}
    assert "2 rows" in report.failures[0].detail


def test_unix_numbers_are_no_times(good, schema, params):
    batch = good.assign(pickup_time=good["pickup_time"].astype("int64") // 10**9)
    report = validate_batch(batch, schema, params)
    assert (TYPE, "pickup_time") in failed(report)


def test_labelled_rows_skip_the_batch_checks_but_not_the_columns(good, schema, params):
    few = good.head(3).assign(delayed=1)  # too few rows, one class: fine for labelled rows
    assert validate_batch(few, schema, params, labelled=True).success
    assert not validate_batch(few, schema, params).success
    broken = few.assign(weight_kg=["x", 1.0, 2.0])
    assert (TYPE, "weight_kg") in failed(validate_batch(broken, schema, params, labelled=True))


def test_data_checks_run_with_the_suite_when_asked(good, schema, params):
    batch = good.assign(shoe_size=42)
    assert validate_batch(batch, schema, params).success  # the column suite alone
    report = validate_batch(batch, schema, params, checks=True)
    assert failed(report) == {("check_columns_match_schema", None)}
    assert "shoe_size" in report.failures[0].detail
    assert report.evaluated > len(build_suite_specs(schema, params))


def test_data_docs_render_the_policies(good, gappy, params, tmp_path):
    report = validate_batch(good, gappy, params, docs_dir=tmp_path / "docs", checks=True)
    assert report.success, report.summary()
    assert (tmp_path / "docs" / "index.html").is_file()
