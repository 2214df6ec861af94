"""Data checks of a training batch: the column set, constant features, leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.checks import (
    COLUMNS,
    CONSTANT,
    LEAKAGE,
    auc,
    data_checks,
    extra_columns,
    separation,
    top_share,
)
from tests.conftest import tiny_deliveries


@pytest.fixture
def batch() -> pd.DataFrame:
    return tiny_deliveries(400, seed=2)


@pytest.fixture
def params(config):
    return config.params.validate_


def found(frame, schema, params) -> set[tuple[str, str | None]]:
    return {(check, column) for check, column, _ in data_checks(frame, schema, params)[1]}


def test_a_normal_batch_passes(batch, schema, params) -> None:
    evaluated, failures = data_checks(batch, schema, params)
    assert failures == []
    assert evaluated == 1 + 2 * (len(schema.numeric) + len(schema.categorical))


def test_extra_columns_are_named_and_known_ones_allowed(batch, schema, params) -> None:
    assert extra_columns(batch, schema) == []  # id, key, time, target, oracle, ignored
    wider = batch.assign(**{"notes": "x", "delivered at": "later"})
    assert extra_columns(wider, schema) == ["notes", "delivered at"]
    [(check, column, detail)] = data_checks(wider, schema, params)[1]
    assert (check, column) == (COLUMNS, None)
    assert "'notes'" in detail and "data.ignore_columns" in detail


def test_constant_and_near_constant_features_fail(batch, schema, params) -> None:
    flat = batch.assign(traffic_index=0.5)
    nearly = batch.copy()
    nearly["weather"] = "clear"
    nearly.loc[0, "weather"] = "rain"  # 399 of 400 = 99.75%
    assert found(flat, schema, params) == {(CONSTANT, "traffic_index")}
    assert found(nearly, schema, params) == {(CONSTANT, "weather")}
    assert top_share(pd.Series([None, None])) == 1.0


def test_a_feature_that_gives_the_target_away_is_leakage(batch, schema, params) -> None:
    leaked = batch.assign(distance_km=batch["delayed"] * 50 + np.linspace(1, 10, len(batch)))
    [(check, column, detail)] = data_checks(leaked, schema, params)[1]
    assert (check, column) == (LEAKAGE, "distance_km")
    assert "ROC AUC 1.000" in detail and "validate.leakage.max_auc" in detail


def test_a_column_filled_only_after_the_outcome_leaks_through_its_nulls(batch, schema, params):
    after = batch.copy()
    after["depot_load"] = after["depot_load"].where(after["delayed"] == 1)  # null when on time
    (value, what) = separation(after["depot_load"], after["delayed"].to_numpy(), False)
    assert value == pytest.approx(1.0) and what == "whether it is null"
    assert (LEAKAGE, "depot_load") in found(after, schema, params)


def test_a_category_that_gives_the_target_away_is_leakage(batch, schema, params) -> None:
    leaked = batch.assign(carrier=np.where(batch["delayed"] == 1, "cityhop", "own_fleet"))
    assert found(leaked, schema, params) == {(LEAKAGE, "carrier")}


def test_leakage_is_not_judged_on_too_few_rows(schema, params) -> None:
    few = tiny_deliveries(40, seed=1)
    leaked = few.assign(distance_km=few["delayed"] * 50 + 1.0)
    assert (LEAKAGE, "distance_km") not in found(leaked, schema, params)


def test_limits_come_from_params(batch, schema, params) -> None:
    loose = params.model_copy(
        update={"leakage": params.leakage.model_copy(update={"max_auc": 1.0})}
    )
    leaked = batch.assign(distance_km=batch["delayed"] * 50 + 1.0)
    assert found(leaked, schema, loose) == set()


def test_auc_counts_ties_half() -> None:
    y = np.array([0, 0, 1, 1])
    assert auc(np.array([0.1, 0.2, 0.8, 0.9]), y) == 1.0
    assert auc(np.array([1, 1, 1, 1.0]), y) == 0.5
    assert auc(np.array([1, 2.0]), np.array([1, 1])) == 0.5
