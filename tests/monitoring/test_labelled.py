"""Labelled production predictions become training rows in the schema's columns."""

from __future__ import annotations

import pandas as pd

from monitoring.labelled import training_rows
from tests.conftest import tiny_deliveries
from tests.monitoring.factories import empty_log, log_rows


def test_labelled_predictions_become_one_training_row_per_delivery(schema) -> None:
    raw = tiny_deliveries(n=30, seed=3)
    log = log_rows(raw, schema, labelled_every=3)
    again = log.iloc[:2].assign(request_id=["again-0", "again-1"])  # re-scored deliveries
    rows = training_rows(pd.concat([log, again], ignore_index=True), schema)
    assert list(rows.columns) == schema.required_columns
    assert len(rows) == 10
    assert rows[schema.id_column].is_unique
    assert rows[schema.target].dtype == "int64"
    labelled = log[log["outcome"].notna()]
    expected = dict(zip(labelled["delivery_id"], labelled["outcome"].astype(int), strict=True))
    assert dict(zip(rows[schema.id_column], rows[schema.target], strict=True)) == expected
    assert rows[schema.id_column].iloc[-1] == log["delivery_id"].iloc[0]  # its latest row kept


def test_a_missing_delivery_id_falls_back_to_the_request_id(schema) -> None:
    log = log_rows(tiny_deliveries(n=4, seed=3), schema).assign(delivery_id=None)
    rows = training_rows(log, schema)
    assert rows[schema.id_column].tolist() == ["req-0", "req-1", "req-2", "req-3"]


def test_without_labelled_predictions_there_are_no_rows(schema) -> None:
    unlabelled = log_rows(tiny_deliveries(n=6, seed=3), schema, labelled_every=100).iloc[1:]
    assert training_rows(unlabelled, schema).empty
    assert list(training_rows(empty_log(), schema).columns) == schema.required_columns


def test_exported_rows_pass_the_checks_ingest_runs_on_labelled_files(schema, config, tmp_path):
    from pipelines import io
    from pipelines.ingest import normalize, read_table
    from pipelines.validate import validate_batch
    from tests.conftest import open_schema, with_gaps

    gappy = open_schema(schema)
    raw = with_gaps(tiny_deliveries(n=60, seed=4), new_depots=("Z1",))
    log = log_rows(raw, gappy, labelled_every=2).assign(request_key=None)  # no keys sent
    io.write_parquet(tmp_path / "export.parquet", training_rows(log, gappy))
    rows = normalize(read_table(tmp_path / "export.parquet"), gappy)
    report = validate_batch(rows, gappy, config.params.validate_, labelled=True)
    assert report.success, report.summary()
