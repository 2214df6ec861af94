"""A window of the prediction log as model features, and the reasons a window is stale."""

from __future__ import annotations

import pandas as pd
import pytest

from monitoring.window import WindowProblem, current_frame, window_problems
from pipelines.features import featurize
from tests.monitoring.factories import empty_log, log_rows, reference


def test_current_frame_derives_the_features_training_derives(deliveries, schema):
    raw = deliveries(n=60, seed=3)
    frame = current_frame(log_rows(raw, schema), schema)

    expected = featurize(raw, schema)[schema.feature_names]
    pd.testing.assert_frame_equal(frame[schema.feature_names], expected)
    for kept in ("variant", "model_version", "probability", "decision", "threshold", "outcome"):
        assert kept in frame.columns
    assert "shadow_probability" in frame.columns
    assert frame["outcome"].dtype == "Int64"


def test_current_frame_reads_times_in_any_offset_as_utc(deliveries, schema):
    log = log_rows(deliveries(n=3), schema)
    log["pickup_time"] = [
        "2025-03-03T10:30:00+02:00",
        "2025-03-03T08:30:00Z",
        "2025-03-03T08:30:00",
    ]
    frame = current_frame(log, schema)
    assert frame["pickup_hour"].tolist() == [8, 8, 8]
    assert frame["weekday"].tolist() == [0, 0, 0]  # a Monday


def test_current_frame_reads_feature_columns_the_log_prefixed(deliveries, schema):
    log = log_rows(deliveries(n=5), schema).rename(columns={"weather": "feature.weather"})
    frame = current_frame(log, schema)
    assert frame["weather"].tolist() == log["feature.weather"].tolist()


def test_current_frame_names_a_feature_missing_from_the_log(deliveries, schema):
    log = log_rows(deliveries(n=5), schema).drop(columns=["weather"])
    with pytest.raises(WindowProblem, match="weather") as caught:
        current_frame(log, schema)
    assert caught.value.problems == ["missing from the prediction log: 'weather'"]


def test_current_frame_refuses_unreadable_times(deliveries, schema):
    log = log_rows(deliveries(n=5), schema)
    log.loc[2, "pickup_time"] = "yesterday"
    with pytest.raises(WindowProblem, match="1 rows have no readable 'pickup_time'"):
        current_frame(log, schema)


def test_current_frame_refuses_an_empty_window(schema):
    with pytest.raises(WindowProblem, match="no predictions in the window"):
        current_frame(empty_log(), schema)


def test_a_window_with_enough_rows_and_a_reference_has_no_problem(deliveries, schema):
    raw = deliveries(n=50)
    assert window_problems(log_rows(raw, schema), reference(raw, schema), schema, 50) == []


def test_an_empty_window_says_only_that_it_is_empty(deliveries, schema):
    ref = reference(deliveries(n=50), schema)
    assert window_problems(empty_log(), ref, schema, 200) == ["no predictions in the window"]


def test_too_few_rows_names_the_count_and_the_setting(deliveries, schema):
    raw = deliveries(n=50)
    problems = window_problems(log_rows(raw, schema), reference(raw, schema), schema, 200)
    assert problems == ["only 50 predictions in the window, fewer than monitoring.min_rows (200)"]


def test_features_missing_or_empty_in_the_log_are_named(deliveries, schema):
    raw = deliveries(n=50)
    log = log_rows(raw, schema).drop(columns=["weather", "precip_mm"])
    log["depot"] = None
    problems = window_problems(log, reference(raw, schema), schema, 10)
    assert problems == [
        "missing from the prediction log: 'precip_mm', 'weather'",
        "no values in the window's log for: 'depot'",
    ]


def test_a_missing_or_incomplete_reference_is_named(deliveries, schema):
    raw = deliveries(n=50)
    log = log_rows(raw, schema)
    assert window_problems(log, None, schema, 10, "7") == ["no drift reference for model version 7"]
    lacking = reference(raw, schema).drop(columns=["pickup_hour"])
    assert window_problems(log, lacking, schema, 10, "7") == [
        "the drift reference of model version 7 lacks: 'pickup_hour'"
    ]
    assert window_problems(log, lacking.iloc[:0], schema, 10, "7") == [
        "the drift reference of model version 7 is empty"
    ]
