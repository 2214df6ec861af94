from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipelines.ingest import DataError, IngestReport, parse_time, read_table
from tests.conftest import ROOT


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope.csv: file not found"):
        read_table(tmp_path / "nope.csv")


def test_unsupported_suffix_is_named(tmp_path: Path) -> None:
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(DataError, match=r"d.xlsx: unsupported file type '.xlsx'"):
        read_table(tmp_path / "d.xlsx")


def test_unreadable_parquet_is_named(tmp_path: Path) -> None:
    (tmp_path / "d.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"d.parquet: cannot be read as parquet"):
        read_table(tmp_path / "d.parquet")


def test_csv_round_trip_parses_time(tmp_path: Path, deliveries, schema) -> None:
    frame = deliveries(n=5)
    frame.to_csv(tmp_path / "d.csv", index=False)
    back = parse_time(read_table(tmp_path / "d.csv"), schema)
    assert pd.api.types.is_datetime64_any_dtype(back["pickup_time"])
    assert back["pickup_time"].tolist() == frame["pickup_time"].tolist()


def test_unparseable_time_is_left_for_validation(deliveries, schema) -> None:
    frame = deliveries(n=3).astype({"pickup_time": str})
    frame.loc[1, "pickup_time"] = "yesterday-ish"
    out = parse_time(frame, schema)
    assert out["pickup_time"].dtype == object


def test_labelled_production_rows_are_appended(tmp_path: Path, deliveries, schema, config) -> None:
    from pipelines.ingest import read_labelled

    folder = tmp_path / "data" / "source" / "labelled"
    folder.mkdir(parents=True)
    rows = deliveries(30, seed=2).drop(columns=["true_delay_prob"])
    rows.assign(pickup_time=rows["pickup_time"].astype(str)).to_parquet(folder / "a.parquet")
    got = read_labelled(config.params.data, schema, tmp_path)
    assert got is not None
    assert len(got) == 30
    assert pd.api.types.is_datetime64_any_dtype(got["pickup_time"])


def test_labelled_rows_without_the_target_are_refused(tmp_path: Path, deliveries, schema, config):
    from pipelines.ingest import read_labelled

    folder = tmp_path / "data" / "source" / "labelled"
    folder.mkdir(parents=True)
    deliveries(10).drop(columns=["delayed"]).to_parquet(folder / "b.parquet")
    with pytest.raises(DataError, match=r"b\.parquet.*delayed"):
        read_labelled(config.params.data, schema, tmp_path)


def test_no_labelled_folder_means_nothing_appended(tmp_path: Path, schema, config) -> None:
    from pipelines.ingest import read_labelled

    assert read_labelled(config.params.data, schema, tmp_path) is None


def test_ingest_report_round_trips_and_reads_the_shipped_report() -> None:
    report = IngestReport(rows=12, columns=18, source="data/source/deliveries.csv")
    assert IngestReport.from_json(json.loads(json.dumps(report.to_json()))) == report
    shipped = json.loads((ROOT / "reports" / "ingest.json").read_text())
    # a report written before the hash and the files existed still reads, keeping what it held
    assert IngestReport.from_json(shipped).to_json().items() >= shipped.items()
