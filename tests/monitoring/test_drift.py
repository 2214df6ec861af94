"""Drift against a reference: shifted features are found, unshifted ones not; Evidently = scipy."""

from __future__ import annotations

from typing import Any

import pytest

from monitoring.drift import (
    CHI2,
    JS,
    KS,
    WASSERSTEIN,
    DriftResult,
    Z,
    evidently_drift,
    save_report,
    scipy_drift,
)
from monitoring.window import current_frame
from pipelines.schema import Schema
from tests.conftest import tiny_deliveries
from tests.monitoring.factories import SHIFTED, log_rows, reference, shifted

SHARE, MAX_ROWS = 0.3, 100_000


def window(raw, schema: Schema, **kwargs: Any):
    return current_frame(log_rows(raw, schema, **kwargs), schema)


def drifted(result: DriftResult) -> set[str]:
    return {name for name, f in result.drift.features.items() if f.drifted}


@pytest.fixture(scope="module")
def large(schema):
    """1,500 reference rows; the window is shifted: distance-based tests."""
    ref = reference(tiny_deliveries(n=1500, seed=0), schema)
    return ref, window(shifted(tiny_deliveries(n=1500, seed=1)), schema)


@pytest.fixture(scope="module")
def small(schema):
    """80 reference rows; the window is shifted: p-value tests."""
    ref = reference(tiny_deliveries(n=80, seed=0), schema)
    return ref, window(shifted(tiny_deliveries(n=80, seed=1)), schema)


@pytest.fixture(scope="module")
def evidently_runs(schema, large, small):
    """Evidently on both data sets, once per module (its import alone takes seconds)."""
    return {
        name: evidently_drift(ref, cur, schema, SHARE, MAX_ROWS, seed=0, model_version="3")
        for name, (ref, cur) in (("large", large), ("small", small))
    }


def test_unshifted_data_does_not_drift(deliveries, schema):
    ref = reference(deliveries(n=1500, seed=0), schema)
    result = scipy_drift(ref, window(deliveries(n=1500, seed=1), schema), schema, SHARE, MAX_ROWS)
    assert drifted(result) == set()
    assert result.drift.dataset_drift is False
    assert result.drift.share == 0.0
    assert result.prediction_drift.drifted is False


def test_shifted_features_and_scores_drift(schema, large):
    result = scipy_drift(*large, schema, SHARE, MAX_ROWS)
    drift = result.drift
    assert drifted(result) == set(SHIFTED)
    assert drift.drifted == 5
    assert drift.share == pytest.approx(5 / 14)
    assert drift.dataset_drift is True
    assert drift.threshold_share == SHARE
    assert (drift.rows_compared, drift.reference_rows) == (1500, 1500)
    assert drift.features["precip_mm"].method == WASSERSTEIN
    assert drift.features["weather"].method == JS
    assert drift.features["weather"].threshold == 0.1
    assert result.prediction_drift.method == WASSERSTEIN
    assert result.prediction_drift.drifted is True


def test_small_references_get_p_value_tests(schema, small):
    result = scipy_drift(*small, schema, SHARE, MAX_ROWS)
    features = result.drift.features
    assert features["precip_mm"].method == KS
    assert features["weather"].method == CHI2  # clear, rain + snow
    assert features["service_tier"].method == CHI2
    assert features["precip_mm"].threshold == 0.05
    assert set(SHIFTED) <= drifted(result)


def test_two_valued_columns_get_the_z_test(deliveries, schema):
    ref = reference(deliveries(n=80, seed=0), schema)
    result = scipy_drift(ref, window(deliveries(n=80, seed=1), schema), schema, SHARE, MAX_ROWS)
    assert result.drift.features["weather"].method == Z  # clear or rain
    assert result.drift.features["weather"].drifted is False


def test_large_frames_are_sampled_to_max_rows(schema, large):
    drift = scipy_drift(*large, schema, SHARE, max_rows=1000, seed=1).drift
    assert (drift.rows_compared, drift.reference_rows) == (1000, 1000)
    assert drift.features["precip_mm"].method == KS  # a 1,000-row reference


def test_prediction_drift_compares_only_the_reference_models_scores(deliveries, schema):
    raw = deliveries(n=1500, seed=1)
    ref = reference(deliveries(n=1500, seed=0), schema)
    other = window(raw, schema, model_version="4")
    assert (
        scipy_drift(ref, other, schema, SHARE, MAX_ROWS, model_version="3").prediction_drift is None
    )
    assert scipy_drift(ref, other, schema, SHARE, MAX_ROWS).prediction_drift is not None


@pytest.mark.parametrize("data", ["large", "small"])
def test_evidently_and_scipy_agree(schema, large, small, evidently_runs, data):
    ref, cur = {"large": large, "small": small}[data]
    ours = scipy_drift(ref, cur, schema, SHARE, MAX_ROWS, seed=0, model_version="3")
    theirs, _ = evidently_runs[data]
    assert theirs.drift.method == "evidently ValueDrift"
    for key in ("rows_compared", "reference_rows", "drifted", "dataset_drift"):
        assert getattr(theirs.drift, key) == getattr(ours.drift, key), key
    assert list(theirs.drift.features) == schema.feature_names
    pairs = [(name, f, ours.drift.features[name]) for name, f in theirs.drift.features.items()]
    pairs.append(("prediction", theirs.prediction_drift, ours.prediction_drift))
    for name, e, s in pairs:
        for key in ("method", "threshold", "drifted"):
            assert getattr(e, key) == getattr(s, key), (name, key)
        assert e.score == pytest.approx(s.score, abs=1e-3), name
        assert type(e.score) is float and type(e.drifted) is bool
    if data == "large":
        assert drifted(theirs) == set(SHIFTED)


def test_save_report_writes_self_contained_html_atomically(evidently_runs, tmp_path):
    _, snapshot = evidently_runs["small"]
    target = save_report(snapshot, tmp_path / "window" / "drift.html")
    assert target == tmp_path / "window" / "drift.html"
    html = target.read_text()
    assert html.lstrip().lower().startswith("<!doctype html") or "<html" in html[:500].lower()
    assert "precip_mm" in html
    assert [p.name for p in target.parent.iterdir()] == ["drift.html"]  # no temp file left


def test_categories_compare_by_value_whatever_their_dtype(deliveries, schema):
    """A reference read back with other category orders (or as strings) gives the same figures."""
    ref = reference(deliveries(n=1500, seed=0), schema)
    cur = window(shifted(deliveries(n=1500, seed=1)), schema)
    expected = scipy_drift(ref, cur, schema, SHARE, MAX_ROWS)
    as_strings = ref.assign(**{c: ref[c].astype(str) for c in schema.categorical_names})
    reordered = ref.assign(
        **{c: ref[c].cat.reorder_categories(ref[c].cat.categories[::-1]) for c in ["weather"]}
    )
    for other in (as_strings, reordered):
        assert scipy_drift(other, cur, schema, SHARE, MAX_ROWS) == expected
