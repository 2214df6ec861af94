from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.config import Config
from pipelines.features import FeatureEncoder, featurize
from pipelines.ingest import DataError
from pipelines.lgbm import fit_lgbm, lgbm_settings
from pipelines.model import DelayModel
from pipelines.predict import score, score_chunks, score_table
from pipelines.schema import Schema
from pipelines.tables import open_table
from tests.conftest import tiny_deliveries

THRESHOLD = 0.5


def train_tiny_model(config: Config, schema: Schema) -> DelayModel:
    """A 20-tree LightGBM on 400 tiny deliveries: scored through the raw booster path."""
    encoder = FeatureEncoder.from_schema(schema)
    features = featurize(tiny_deliveries(n=400, seed=1), schema)
    params = config.params.train.lgbm.model_copy(update={"n_estimators": 20})
    estimator = fit_lgbm(
        encoder.encode(features),
        features[schema.target].to_numpy(),
        encoder,
        lgbm_settings(params, encoder, seed=0),
    )
    return DelayModel("lgbm", estimator, encoder)


@pytest.fixture(scope="module")
def model(config: Config, schema: Schema) -> DelayModel:
    return train_tiny_model(config, schema)


def chunked(frame: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    return [frame.iloc[i : i + size] for i in range(0, len(frame), size)]


def scored(model: DelayModel, chunks: list[pd.DataFrame], schema: Schema, **kw) -> pd.DataFrame:
    frames = score_chunks(model, chunks, schema, THRESHOLD, "7", **kw)
    return pd.concat(list(frames), ignore_index=True)


def test_chunked_scores_equal_unchunked_and_in_memory_score(model, schema) -> None:
    frame = tiny_deliveries(n=30, seed=2)
    whole = scored(model, [frame], schema)
    assert whole.equals(scored(model, chunked(frame, 7), schema))
    expected = score(model, featurize(frame, schema), THRESHOLD)
    np.testing.assert_allclose(whole["delay_probability"], expected["delay_probability"])
    assert (whole["delayed_predicted"] == expected["delayed_predicted"].to_numpy()).all()


def test_scores_carry_id_key_decision_and_version(model, schema) -> None:
    frame = tiny_deliveries(n=12, seed=3)
    out = scored(model, chunked(frame, 5), schema)
    assert list(out.columns) == [
        "delivery_id",
        "customer_id",
        "delay_probability",
        "delayed_predicted",
        "model_version",
    ]
    assert out["delivery_id"].tolist() == frame["delivery_id"].tolist()
    assert out["delayed_predicted"].dtype == "int8"
    assert ((out["delay_probability"] >= THRESHOLD) == out["delayed_predicted"].astype(bool)).all()
    assert set(out["model_version"]) == {"7"}


def test_key_column_is_optional(model, schema) -> None:
    out = scored(model, [tiny_deliveries(n=4).drop(columns="customer_id")], schema)
    assert "customer_id" not in out.columns and len(out) == 4


BAD_INPUTS = [
    ("depot", "ZZ9", "unknown category, e.g. 'ZZ9'"),
    ("depot", None, "missing"),
    ("distance_km", "far", "not a number, e.g. 'far'"),
    ("distance_km", -3.0, "outside [0.1, 500], e.g. -3.0"),
    ("precip_mm", np.nan, "missing"),
    ("precip_mm", np.inf, "not finite, e.g. inf"),
    ("pickup_time", "yesterday", "not a time, e.g. 'yesterday'"),
    ("pickup_time", None, "missing"),
    ("delivery_id", None, "missing"),
]


@pytest.mark.parametrize(("column", "value", "detail"), BAD_INPUTS)
def test_bad_value_is_rejected_naming_source_column_and_row(
    model, schema, column, value, detail
) -> None:
    frame = tiny_deliveries(n=12).astype({column: object})
    frame.loc[9, column] = value  # second chunk of 5: row 10 of the file
    with pytest.raises(DataError) as err:
        scored(model, chunked(frame, 5), schema, source="batch.csv")
    message = str(err.value)
    assert message.startswith("batch.csv: 1 of rows 6-10 cannot be scored")
    assert f"column {column!r}: 1 {detail} (row 10)" in message


def test_every_failed_check_is_listed_with_row_numbers(model, schema) -> None:
    frame = tiny_deliveries(n=8).astype({"depot": object, "weight_kg": object})
    frame.loc[[1, 2, 3], "depot"] = "ZZ9"
    frame.loc[6, "weight_kg"] = 99.0
    with pytest.raises(DataError) as err:
        scored(model, [frame], schema)
    message = str(err.value)
    assert "column 'depot': 3 unknown category, e.g. 'ZZ9' (rows 2, 3, 4)" in message
    assert "column 'weight_kg': 1 outside [0.01, 50], e.g. 99.0 (row 7)" in message


def test_missing_column_is_named(model, schema) -> None:
    frame = tiny_deliveries(n=3).drop(columns=["weather"])
    with pytest.raises(DataError, match=r"batch.csv: missing column\(s\) 'weather'"):
        scored(model, [frame], schema, source="batch.csv")


def test_invalid_rows_go_to_reject_with_reasons(model, schema) -> None:
    frame = tiny_deliveries(n=12).astype({"depot": object, "pickup_time": object})
    frame.loc[2, "depot"] = "ZZ9"
    frame.loc[8, ["depot", "pickup_time"]] = ["ZZ9", "soon"]
    rejected: list[pd.DataFrame] = []
    out = scored(model, chunked(frame, 5), schema, reject=rejected.append)
    bad = pd.concat(rejected, ignore_index=True)
    assert bad["row"].tolist() == [3, 9]
    assert bad["reason"].tolist() == [
        "depot: unknown category",
        "pickup_time: not a time; depot: unknown category",
    ]
    assert out["delivery_id"].tolist() == frame["delivery_id"].drop([2, 8]).tolist()
    clean = scored(model, [frame.drop([2, 8])], schema)
    assert out.equals(clean)


def test_aware_times_are_scored_as_utc(model, schema) -> None:
    frame = tiny_deliveries(n=6)
    aware = frame.assign(
        pickup_time=frame["pickup_time"].dt.tz_localize("UTC").dt.tz_convert("Europe/Berlin")
    )
    text = frame.assign(pickup_time=frame["pickup_time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    expected = scored(model, [frame], schema)
    assert scored(model, [aware], schema).equals(expected)
    assert scored(model, [text], schema).equals(expected)


# ------------------------------------------------------------------ files


@pytest.mark.parametrize(("source", "target"), [("csv", "parquet"), ("parquet", "csv")])
def test_file_scores_equal_in_memory_scores(model, schema, tmp_path, source, target) -> None:
    frame = tiny_deliveries(n=23, seed=5)
    path = tmp_path / f"in.{source}"
    frame.to_csv(path, index=False) if source == "csv" else frame.to_parquet(path, index=False)
    table = open_table(path, schema, chunk_rows=6)
    assert table.rows == (None if source == "csv" else 23)
    seen: list[int] = []
    result = score_table(
        model, table, tmp_path / f"out.{target}", schema, THRESHOLD, "7", progress=seen.append
    )
    assert (result.rows, result.rejected, result.rejected_path) == (23, 0, None)
    assert seen == [6, 6, 6, 5]
    written = (pd.read_csv if target == "csv" else pd.read_parquet)(result.output)
    expected = scored(model, [frame], schema)
    assert written["delivery_id"].tolist() == expected["delivery_id"].tolist()
    np.testing.assert_allclose(written["delay_probability"], expected["delay_probability"])
    assert written["delayed_predicted"].tolist() == expected["delayed_predicted"].tolist()
    assert written["model_version"].astype(str).tolist() == ["7"] * 23


def test_csv_ids_keep_their_text(model, schema, tmp_path) -> None:
    frame = tiny_deliveries(n=3).assign(delivery_id=["007", "010", "100"])
    frame.to_csv(tmp_path / "in.csv", index=False)
    table = open_table(tmp_path / "in.csv", schema)
    out = score_table(model, table, tmp_path / "out.parquet", schema, THRESHOLD, "7")
    assert pd.read_parquet(out.output)["delivery_id"].tolist() == ["007", "010", "100"]


def test_unreadable_line_mid_file_is_named(model, schema, tmp_path) -> None:
    path = tmp_path / "in.csv"
    tiny_deliveries(n=12).to_csv(path, index=False)
    path.write_text(path.read_text() + '"DLV9,C9,2025-03-02\n')  # a quote never closed
    table = open_table(path, schema, chunk_rows=5)
    with pytest.raises(DataError, match=r"in.csv: cannot be read as csv: .*EOF inside string"):
        score_table(model, table, tmp_path / "out.csv", schema, THRESHOLD, "7")
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_failure_mid_file_keeps_the_previous_output(model, schema, tmp_path, suffix) -> None:
    frame = tiny_deliveries(n=20).astype({"depot": object})
    frame.loc[17, "depot"] = "ZZ9"
    frame.to_csv(tmp_path / "in.csv", index=False)
    target = tmp_path / "out" / f"scores.{suffix}"
    target.parent.mkdir()
    target.write_bytes(b"the good scores of yesterday")
    table = open_table(tmp_path / "in.csv", schema, chunk_rows=5)
    with pytest.raises(DataError, match=r"(?s)in.csv: 1 of rows 16-20 .*'depot'.*\(row 18\)"):
        score_table(model, table, target, schema, THRESHOLD, "7")
    assert target.read_bytes() == b"the good scores of yesterday"
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_failed_run_creates_no_output(model, schema, tmp_path) -> None:
    frame = tiny_deliveries(n=4).astype({"distance_km": str})  # numbers as text are read
    frame.loc[3, "distance_km"] = "far"
    frame.to_parquet(tmp_path / "in.parquet")
    table = open_table(tmp_path / "in.parquet", schema)
    with pytest.raises(DataError, match="distance_km"):
        score_table(model, table, tmp_path / "out.csv", schema, THRESHOLD, "7")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_skip_invalid_writes_rejected_rows_beside_the_output(model, schema, tmp_path) -> None:
    frame = tiny_deliveries(n=10).astype({"depot": object})
    frame.loc[[0, 1, 2, 3, 4], "depot"] = "ZZ9"  # the whole first chunk is rejected
    frame.to_csv(tmp_path / "in.csv", index=False)
    table = open_table(tmp_path / "in.csv", schema, chunk_rows=5)
    result = score_table(
        model, table, tmp_path / "out.parquet", schema, THRESHOLD, "7", skip_invalid=True
    )
    assert (result.rows, result.rejected) == (5, 5)
    assert result.rejected_path == tmp_path / "out.parquet.rejected.csv"
    rejected = pd.read_csv(result.rejected_path)
    assert list(rejected.columns) == ["row", *table.columns, "reason"]
    assert rejected["row"].tolist() == [1, 2, 3, 4, 5]
    assert set(rejected["reason"]) == {"depot: unknown category"}
    written = pd.read_parquet(result.output)
    assert written["delivery_id"].tolist() == frame["delivery_id"].iloc[5:].tolist()


def test_empty_input_gives_empty_output_with_columns(model, schema, tmp_path) -> None:
    tiny_deliveries(n=3).head(0).to_csv(tmp_path / "in.csv", index=False)
    table = open_table(tmp_path / "in.csv", schema)
    result = score_table(model, table, tmp_path / "out.parquet", schema, THRESHOLD, "7")
    written = pd.read_parquet(result.output)
    assert result.rows == 0 and len(written) == 0
    assert "delay_probability" in written.columns


def test_output_type_is_checked_before_scoring(model, schema, tmp_path) -> None:
    tiny_deliveries(n=3).to_csv(tmp_path / "in.csv", index=False)
    table = open_table(tmp_path / "in.csv", schema)
    with pytest.raises(DataError, match=r"out.json: unsupported file type"):
        score_table(model, table, tmp_path / "out.json", schema, THRESHOLD, "7")
    with pytest.raises(DataError, match="would overwrite the input"):
        score_table(model, table, tmp_path / "in.csv", schema, THRESHOLD, "7")


# ------------------------------------------------------------ nulls, open categories, time range


@pytest.fixture(scope="module")
def open_model(config: Config, schema: Schema) -> tuple[DelayModel, Schema]:
    from tests.conftest import open_schema, with_gaps

    gappy = open_schema(schema)
    encoder = FeatureEncoder.from_schema(gappy)
    features = featurize(with_gaps(tiny_deliveries(n=400, seed=1), new_depots=("Q1",)), gappy)
    params = config.params.train.lgbm.model_copy(update={"n_estimators": 20})
    estimator = fit_lgbm(
        encoder.encode(features),
        features[gappy.target].to_numpy(),
        encoder,
        lgbm_settings(params, encoder, seed=0),
    )
    return DelayModel("lgbm", estimator, encoder), gappy


def test_rows_with_allowed_nulls_and_unseen_categories_are_scored(open_model) -> None:
    from tests.conftest import with_gaps

    model, gappy = open_model
    frame = with_gaps(tiny_deliveries(n=40, seed=4), every=3, new_depots=("NEW1", "NEW2"))
    out = scored(model, chunked(frame, 15), gappy)
    assert len(out) == 40 and np.isfinite(out["delay_probability"]).all()
    other = frame.assign(depot=frame["depot"].where(frame["depot"].isna(), "NEVER_SEEN"))
    np.testing.assert_allclose(  # every unlisted value scores as the same other level
        scored(model, [frame.assign(depot="NEW1")], gappy)["delay_probability"],
        scored(model, [other.assign(depot="NEVER_SEEN")], gappy)["delay_probability"],
    )


def test_a_null_where_the_schema_allows_none_is_refused(open_model) -> None:
    model, gappy = open_model
    frame = tiny_deliveries(n=6, seed=5)
    frame.loc[2, "distance_km"] = np.nan
    with pytest.raises(DataError, match=r"column 'distance_km': 1 missing \(row 3\)"):
        scored(model, [frame], gappy)


def test_times_outside_the_range_and_numbers_for_times_are_refused(model, schema) -> None:
    frame = tiny_deliveries(n=6, seed=5)
    frame["pickup_time"] = frame["pickup_time"].astype(object)
    frame.loc[1, "pickup_time"] = pd.Timestamp("2150-01-01")
    frame.loc[4, "pickup_time"] = 1735689600  # a Unix time is no ISO time
    with pytest.raises(DataError) as caught:
        scored(model, [frame], schema)
    text = str(caught.value)
    assert "outside [2000-01-01" in text and "(row 2)" in text
    assert "not a time" in text and "(row 5)" in text
