from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.features import FeatureEncoder, RowEncoder, featurize


def test_featurize_drops_columns_outside_the_schema(deliveries, schema) -> None:
    out = featurize(deliveries(), schema)
    assert "dest_postcode" not in out.columns
    assert set(schema.feature_names) <= set(out.columns)


def test_featurize_derives_time_parts(deliveries, schema) -> None:
    raw = deliveries(n=3)
    out = featurize(raw, schema)
    assert out["pickup_hour"].tolist() == raw["pickup_time"].dt.hour.tolist()
    assert out["weekday"].tolist() == raw["pickup_time"].dt.weekday.tolist()


def test_featurize_does_not_mutate_its_input(deliveries, schema) -> None:
    raw = deliveries()
    before = raw.copy()
    featurize(raw, schema)
    pd.testing.assert_frame_equal(raw, before)


def test_renaming_a_delivery_id_changes_no_feature(deliveries, schema) -> None:
    raw = deliveries()
    renamed = raw.assign(delivery_id=[f"X{i}" for i in range(len(raw))])
    cols = schema.feature_names
    pd.testing.assert_frame_equal(featurize(raw, schema)[cols], featurize(renamed, schema)[cols])


def test_encoder_codes_categories_by_schema_position(deliveries, schema) -> None:
    encoder = FeatureEncoder.from_schema(schema)
    features = featurize(deliveries(n=5), schema)
    matrix = encoder.encode(features)
    depot_col = encoder.feature_names.index("depot")
    expected = [schema.category("depot").categories.index(v) for v in features["depot"]]
    assert matrix[:, depot_col].tolist() == expected
    assert matrix.shape == (5, len(schema.feature_names))


def test_encoder_accepts_plain_strings(deliveries, schema) -> None:
    encoder = FeatureEncoder.from_schema(schema)
    features = featurize(deliveries(n=5), schema)
    as_strings = features.astype(dict.fromkeys(encoder.categorical, str))
    np.testing.assert_array_equal(encoder.encode(features), encoder.encode(as_strings))


def test_encoder_rejects_unknown_category_naming_the_column(deliveries, schema) -> None:
    encoder = FeatureEncoder.from_schema(schema)
    features = featurize(deliveries(n=5), schema).astype({"weather": str})
    features.loc[0, "weather"] = "hail"
    with pytest.raises(ValueError, match=r"column 'weather': unknown category \['hail'\]"):
        encoder.encode(features)


def test_row_encoder_matches_the_frame_path(deliveries, schema) -> None:
    frame = deliveries(200, seed=3)
    encoder = FeatureEncoder.from_schema(schema)
    expected = encoder.encode(featurize(frame, schema))
    rows = frame.to_dict("records")
    np.testing.assert_array_equal(RowEncoder(schema, encoder).encode(rows), expected)


def test_row_encoder_converts_aware_times_to_utc(deliveries, schema) -> None:
    row = deliveries(5).to_dict("records")[0]
    encoder = RowEncoder(schema, FeatureEncoder.from_schema(schema))
    naive = encoder.encode([row])
    aware = dict(row, pickup_time=row["pickup_time"].tz_localize("UTC").tz_convert("Europe/Paris"))
    np.testing.assert_array_equal(encoder.encode([aware]), naive)


def test_row_encoder_names_an_unknown_category(deliveries, schema) -> None:
    row = dict(deliveries(5).to_dict("records")[0], depot="ZZ9")
    with pytest.raises(ValueError, match=r"'depot'.*ZZ9"):
        RowEncoder(schema, FeatureEncoder.from_schema(schema)).encode([row])


def test_row_encoder_refuses_a_model_feature_the_schema_lacks(schema) -> None:
    encoder = FeatureEncoder(numeric=("parcel_age_days",), categorical=(), categories=())
    with pytest.raises(ValueError, match="parcel_age_days"):
        RowEncoder(schema, encoder)
