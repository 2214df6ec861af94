"""Drift per segment: a shift in one area is found there and only there."""

from __future__ import annotations

import pandas as pd
import pytest

from monitoring.segments import segment_drift
from monitoring.window import current_frame
from tests.conftest import tiny_deliveries
from tests.monitoring.factories import log_rows, reference, shifted

SHARE, MAX_ROWS = 0.3, 100_000


@pytest.fixture(scope="module")
def rural_shift(schema):
    """3,000 reference rows; in the window only the rural deliveries are shifted."""
    ref = reference(tiny_deliveries(n=3000, seed=0), schema)
    raw = tiny_deliveries(n=3000, seed=1)
    rural = raw["area_type"] == "rural"
    raw = pd.concat([raw[~rural], shifted(raw[rural])]).sort_index()
    return ref, current_frame(log_rows(raw, schema), schema)


def test_only_the_shifted_segment_drifts(schema, rural_shift) -> None:
    result = segment_drift(*rural_shift, schema, "area_type", SHARE, 300, MAX_ROWS)
    assert result.column == "area_type" and result.skipped == {}
    segments = result.segments
    assert list(segments) == ["urban", "suburban", "rural"]
    assert [name for name, s in segments.items() if s.dataset_drift] == ["rural"]
    rural = segments["rural"]
    assert {"precip_mm", "distance_km", "depot_load"} <= set(rural.drifted_features)
    assert "area_type" not in rural.drifted_features
    assert rural.prediction_drift is not None
    assert rural.prediction_drift.drifted is True
    # a single noisy feature in a ~1,000-row segment is possible; a dataset drift is not
    assert all(len(segments[name].drifted_features) <= 1 for name in ("urban", "suburban"))
    assert sum(s.rows for s in segments.values()) == 3000


def test_small_segments_are_skipped_with_their_counts(schema, rural_shift) -> None:
    ref, cur = rural_shift
    few_rural = pd.concat(
        [cur[cur["area_type"] != "rural"], cur[cur["area_type"] == "rural"].head(50)]
    )
    result = segment_drift(ref, few_rural, schema, "area_type", SHARE, 300, MAX_ROWS)
    assert list(result.segments) == ["urban", "suburban"]
    assert result.skipped["rural"].startswith("50 rows in the window")


def test_segments_go_through_the_mapper(schema, rural_shift) -> None:
    calls: list[int] = []

    def counting_map(fn, items):
        calls.append(len(items))
        return [fn(item) for item in reversed(items)][::-1]

    direct = segment_drift(*rural_shift, schema, "area_type", SHARE, 300, MAX_ROWS)
    mapped = segment_drift(
        *rural_shift, schema, "area_type", SHARE, 300, MAX_ROWS, run=counting_map
    )
    assert calls == [3] and mapped == direct


def test_segment_column_must_be_a_compared_category(schema, rural_shift) -> None:
    with pytest.raises(ValueError, match="segment column 'distance_km' is not a categorical"):
        segment_drift(*rural_shift, schema, "distance_km", SHARE, 300, MAX_ROWS)
