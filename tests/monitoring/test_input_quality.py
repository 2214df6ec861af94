"""Nulls and unlisted categories of a window: shares, their drift, and the summary's sections."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from monitoring.input_quality import null_drift, two_proportion_p, unknown_categories
from monitoring.scoring import drift_schema, summarize_window
from monitoring.summary import WindowSummary
from monitoring.window import current_frame
from pipelines.config import OTHER
from tests.conftest import open_schema, tiny_deliveries, with_gaps
from tests.monitoring.factories import log_rows, reference

START, END = datetime(2026, 11, 25, 21, 15, tzinfo=UTC), datetime(2026, 11, 25, 22, 15, tzinfo=UTC)


@pytest.fixture
def gappy(schema):
    return open_schema(schema)


def test_equal_shares_do_not_drift_and_a_jump_does() -> None:
    assert two_proportion_p(0.1, 1000, 0.1, 50_000) == pytest.approx(1.0)
    assert two_proportion_p(0.0, 1000, 0.0, 50_000) == 1.0  # nothing to compare
    assert two_proportion_p(0.3, 1000, 0.1, 50_000) < 1e-6


def test_null_share_and_its_drift_per_feature(gappy) -> None:
    ref = reference(with_gaps(tiny_deliveries(2000, seed=0), every=10), gappy)
    same = current_frame(log_rows(with_gaps(tiny_deliveries(1000, seed=1), every=10), gappy), gappy)
    more = current_frame(log_rows(with_gaps(tiny_deliveries(1000, seed=1), every=3), gappy), gappy)

    steady, jumped = null_drift(ref, same, gappy), null_drift(ref, more, gappy)

    assert list(steady) == gappy.feature_names
    assert steady["precip_mm"].share == pytest.approx(0.1)
    assert steady["precip_mm"].reference_share == pytest.approx(0.1)
    assert not steady["precip_mm"].drifted
    assert jumped["precip_mm"].share == pytest.approx(334 / 1000)
    assert jumped["precip_mm"].drifted and jumped["precip_mm"].method == "Z-test p_value"
    assert steady["distance_km"].share == 0.0 and not steady["distance_km"].drifted


def test_unlisted_values_of_open_categories_are_counted_with_examples(gappy) -> None:
    raw = with_gaps(tiny_deliveries(100, seed=2), new_depots=("Z1", "Z1", "Q7"))
    found = unknown_categories(log_rows(raw, gappy), gappy)

    assert set(found) == {"depot"}  # the only open category
    depot = found["depot"]
    unlisted = raw["depot"].notna() & ~raw["depot"].isin(gappy.category("depot").categories)
    assert depot.rows == int(unlisted.sum()) > 0
    assert depot.share == pytest.approx(depot.rows / 100)
    assert depot.examples == ["Z1", "Q7"]


def test_a_window_with_nulls_and_new_values_is_scored_with_both_sections(gappy, config) -> None:
    schema = drift_schema(gappy, config.project.monitoring.drift_ignore)
    ref = reference(with_gaps(tiny_deliveries(1500, seed=0)), gappy)
    raw = with_gaps(tiny_deliveries(1200, seed=1), new_depots=("Z1", "Q7"))
    log = log_rows(raw, gappy)

    summary, snapshot = summarize_window(log, ref, schema, config, START, END, "3", [], "run-1")

    assert summary.status == "ok", summary.problems
    assert snapshot is not None  # Evidently took the nulls and the other bucket
    assert summary.nulls is not None and summary.unknown_categories is not None
    expected = raw["precip_mm"].isna().mean()
    assert summary.nulls["precip_mm"].share == pytest.approx(expected, abs=1e-6)
    assert summary.unknown_categories["depot"].rows > 0
    assert set(summary.drift.features) == set(schema.feature_names)
    again = WindowSummary.from_json(summary.to_json())
    assert again.nulls == summary.nulls and again.unknown_categories == summary.unknown_categories


def test_the_window_scores_unlisted_values_as_the_other_level(gappy) -> None:
    raw = with_gaps(tiny_deliveries(50, seed=3), new_depots=("Z1",))
    frame = current_frame(log_rows(raw, gappy), gappy)
    assert OTHER in set(frame["depot"].dropna())
    assert frame["precip_mm"].isna().sum() == raw["precip_mm"].isna().sum()
    assert np.isnan(frame.loc[raw["depot"].isna(), "depot"].cat.codes.replace(-1, np.nan)).all()
    assert isinstance(frame["depot"].dtype, pd.CategoricalDtype)
