"""Fill values for the models that need them: learned on the train split by each column's policy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pipelines.features import FeatureEncoder, featurize
from pipelines.impute import FillNulls, learn_fill_values
from pipelines.schema import NullPolicy
from tests.conftest import open_schema, tiny_deliveries, with_gaps


def test_fill_values_follow_each_columns_policy(schema) -> None:
    gappy = open_schema(schema)
    gappy = replace(
        gappy,
        numeric=tuple(
            replace(c, nulls=NullPolicy(0.3, "zero")) if c.name == "weight_kg" else c
            for c in gappy.numeric
        ),
    )
    raw = with_gaps(tiny_deliveries(200, seed=1), every=5)
    encoder = FeatureEncoder.from_schema(gappy)
    matrix = encoder.encode(featurize(raw, gappy))

    fitted = learn_fill_values(matrix, encoder, gappy)

    names = fitted.feature_names
    fills = dict(zip(names, fitted.fill_values, strict=True))
    assert fills["precip_mm"] == pytest.approx(np.nanmedian(matrix[:, names.index("precip_mm")]))
    assert fills["weight_kg"] == 0.0
    codes, counts = np.unique(matrix[:, names.index("depot")], return_counts=True)
    present = ~np.isnan(codes)
    assert fills["depot"] == codes[present][np.argmax(counts[present])]  # most frequent


def test_other_policy_fills_the_other_level(schema) -> None:
    gappy = open_schema(schema)
    gappy = replace(
        gappy,
        categorical=tuple(
            replace(c, nulls=NullPolicy(0.2, "other")) if c.name == "depot" else c
            for c in gappy.categorical
        ),
    )
    encoder = FeatureEncoder.from_schema(gappy)
    matrix = encoder.encode(featurize(with_gaps(tiny_deliveries(50)), gappy))
    fitted = learn_fill_values(matrix, encoder, gappy)
    assert (
        fitted.fill_values[fitted.feature_names.index("depot")]
        == len(gappy.category("depot").levels) - 1
    )


def test_fill_nulls_replaces_only_nan() -> None:
    step = FillNulls((1.0, 2.0))
    out = step.fit(None).transform(np.array([[np.nan, 5.0], [3.0, np.nan]]))
    np.testing.assert_array_equal(out, [[1.0, 5.0], [3.0, 2.0]])
    assert np.isnan(FillNulls(()).transform(np.array([[np.nan]]))).all()  # nothing learned
