"""CSV and Parquet files read in chunks and written atomically (pipelines.tables)."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from pipelines.ingest import DataError
from pipelines.tables import CsvSink, file_kind, open_table, scoring_columns, write_chunks
from tests.conftest import tiny_deliveries


def test_missing_column_in_file_is_named_before_reading(schema, tmp_path) -> None:
    tiny_deliveries(n=3).drop(columns=["depot"]).to_parquet(tmp_path / "in.parquet")
    with pytest.raises(DataError, match=r"in.parquet: missing column\(s\) 'depot'"):
        open_table(tmp_path / "in.parquet", schema)


@pytest.mark.parametrize(
    ("name", "message"),
    [("nope.csv", "nope.csv: file not found"), ("in.xlsx", "unsupported file type '.xlsx'")],
)
def test_unreadable_input_is_named(schema, tmp_path, name, message) -> None:
    (tmp_path / "in.xlsx").write_text("x")
    with pytest.raises(DataError, match=message):
        open_table(tmp_path / name, schema)


def test_write_chunks_parquet_types_come_from_the_first_full_frame(tmp_path) -> None:
    frames = [pd.DataFrame({"id": pd.Series([], dtype=object)}), pd.DataFrame({"id": ["a"]})]
    assert write_chunks(tmp_path / "x.parquet", frames) == 1
    assert pd.read_parquet(tmp_path / "x.parquet")["id"].tolist() == ["a"]


@pytest.mark.parametrize(
    ("name", "kind"),
    [("a.csv", "csv"), ("a.CSV", "csv"), ("a.parquet", "parquet"), ("a.pq", "parquet")],
)
def test_file_kind_follows_the_extension(name, kind) -> None:
    assert file_kind(name) == kind


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_table_reads_the_scoring_columns_in_chunks(schema, tmp_path, suffix) -> None:
    frame = tiny_deliveries(n=12).assign(extra=1)
    path = tmp_path / f"in.{suffix}"
    frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path, index=False)
    table = open_table(path, schema, chunk_rows=5)
    assert table.kind == suffix and table.rows == (None if suffix == "csv" else 12)
    chunks = list(table.chunks())
    assert [len(c) for c in chunks] == [5, 5, 2]
    assert "extra" not in chunks[0].columns
    assert set(scoring_columns(schema)) <= set(chunks[0].columns)


def test_csv_text_columns_stay_text(schema, tmp_path) -> None:
    frame = tiny_deliveries(n=3).assign(delivery_id=["007", "010", "100"])
    frame.to_csv(tmp_path / "in.csv", index=False)
    (chunk,) = open_table(tmp_path / "in.csv", schema).chunks()
    assert chunk["delivery_id"].tolist() == ["007", "010", "100"]


def test_chunk_rows_must_be_positive(schema, tmp_path) -> None:
    tiny_deliveries(n=3).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(ValueError, match="chunk_rows must be positive"):
        open_table(tmp_path / "in.csv", schema, chunk_rows=0)


def test_write_chunks_csv_has_one_header_and_counts_rows(tmp_path) -> None:
    frames = [pd.DataFrame({"a": [1, 2]}), pd.DataFrame({"a": [3]})]
    assert write_chunks(tmp_path / "x.csv", frames) == 3
    assert (tmp_path / "x.csv").read_text() == "a\n1\n2\n3\n"


def test_write_chunks_leaves_nothing_when_a_frame_fails(tmp_path) -> None:
    def frames():
        yield pd.DataFrame({"a": [1]})
        raise DataError("bad chunk")

    with pytest.raises(DataError, match="bad chunk"):
        write_chunks(tmp_path / "x.parquet", frames())
    assert list(tmp_path.iterdir()) == []


def test_csv_sink_writes_the_header_then_appends_rows_in_its_columns() -> None:
    handle = io.StringIO()
    sink = CsvSink(handle, ["row", "a", "reason"])
    sink(pd.DataFrame({"reason": ["x"], "row": [3], "a": [1]}))
    sink(pd.DataFrame({"row": [9], "reason": ["y"]}))
    assert sink.rows == 2
    assert handle.getvalue() == "row,a,reason\n3,1,x\n9,,y\n"
