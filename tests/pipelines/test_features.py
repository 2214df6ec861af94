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


# ------------------------------------------------------------ nulls and the other bucket


def test_nulls_stay_nan_and_unlisted_values_of_an_open_column_become_other(
    deliveries, schema
) -> None:
    from pipelines.config import OTHER
    from tests.conftest import open_schema, with_gaps

    gappy = open_schema(schema)
    raw = with_gaps(deliveries(30, seed=1), every=4, new_depots=("Z9",))
    features = featurize(raw, gappy)
    assert features["precip_mm"].isna().sum() == raw["precip_mm"].isna().sum() > 0
    assert set(features.loc[raw["depot"] == "Z9", "depot"]) == {OTHER}
    assert features.loc[raw["depot"].isna(), "depot"].isna().all()

    encoder = FeatureEncoder.from_schema(gappy)
    matrix = encoder.encode(features)
    depot = encoder.feature_names.index("depot")
    other_code = len(gappy.category("depot").levels) - 1
    assert (matrix[(raw["depot"] == "Z9").to_numpy(), depot] == other_code).all()
    assert np.isnan(matrix[raw["depot"].isna().to_numpy(), depot]).all()
    # the plain-text path (scoring) and the row path (serving) agree with the frame path
    as_text = features.assign(depot=raw["depot"].to_numpy())
    np.testing.assert_array_equal(encoder.encode(as_text), matrix)
    rows = [
        {k: (None if v is None or v != v else v) for k, v in r.items()}
        for r in raw.to_dict("records")
    ]
    np.testing.assert_array_equal(RowEncoder(gappy, encoder).encode(rows), matrix)


def test_number_codes_read_as_numbers_match_their_text(schema) -> None:
    from pipelines.features import category_text

    assert category_text(pd.Series([101.0, None, 7.0])).tolist() == ["101", None, "7"]
    assert category_text(pd.Series([1, 2])).tolist() == ["1", "2"]
    assert category_text(pd.Series(["a", None])).tolist() == ["a", None]


def test_count_unknown_counts_unlisted_values_of_open_columns_only(deliveries, schema) -> None:
    from pipelines.features import count_unknown
    from tests.conftest import open_schema

    rows = [{"depot": "Z9", "weather": "hail"}, {"depot": None}, {"depot": "N1"}]
    assert count_unknown(open_schema(schema), rows) == {"depot": 1}
    assert count_unknown(schema, rows) == {}


def test_an_encoder_pickled_before_the_new_fields_still_loads(deliveries, schema) -> None:
    import pickle

    encoder = FeatureEncoder.from_schema(schema)
    old = object.__new__(FeatureEncoder)  # an encoder as pickled before the new fields
    old.__dict__.update(
        {
            "numeric": encoder.numeric,
            "categorical": encoder.categorical,
            "categories": encoder.categories,
        }
    )
    again = pickle.loads(pickle.dumps(old))
    assert "open" not in old.__dict__
    assert again.open == () and again.fill_values == ()
    features = featurize(deliveries(n=5), schema)
    np.testing.assert_array_equal(again.encode(features), encoder.encode(features))
    with pytest.raises(ValueError, match="unknown category"):
        RowEncoder(schema, again).encode([dict(deliveries(3).to_dict("records")[0], depot="Z9")])
