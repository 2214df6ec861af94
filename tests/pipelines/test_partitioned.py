from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest

from pipelines.ingest import DataError
from pipelines.model import DelayModel
from pipelines.partitioned import Partition, plan, score_partitioned
from pipelines.predict import score_table
from pipelines.tables import open_table
from tests.conftest import tiny_deliveries
from tests.pipelines.test_predict import THRESHOLD, train_tiny_model


@pytest.fixture(scope="module")
def model(config, schema) -> DelayModel:
    return train_tiny_model(config, schema)


def write(frame: pd.DataFrame, path: Path, row_group_size: int | None = None) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False, row_group_size=row_group_size)
    return path


def read(path: Path) -> pd.DataFrame:
    return (
        pd.read_csv(path, dtype={"delivery_id": str, "customer_id": str})
        if path.suffix == ".csv"
        else pd.read_parquet(path)
    )


def test_csv_plan_cuts_at_line_breaks_and_numbers_rows(schema, tmp_path) -> None:
    path = write(tiny_deliveries(n=23, seed=1), tmp_path / "in.csv")
    parts = plan(open_table(path, schema), partition_rows=7)
    assert [(p.first_row, p.rows) for p in parts] == [(1, 7), (8, 7), (15, 7), (22, 2)]
    assert parts[-1].stop == path.stat().st_size
    assert all(a.stop == b.start for a, b in itertools.pairwise(parts))


def test_csv_plan_keeps_an_unterminated_last_line(schema, tmp_path) -> None:
    path = write(tiny_deliveries(n=9, seed=1), tmp_path / "in.csv")
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    assert [p.rows for p in plan(open_table(path, schema), partition_rows=4)] == [4, 4, 1]


def test_parquet_plan_groups_whole_row_groups(schema, tmp_path) -> None:
    path = write(tiny_deliveries(n=23, seed=1), tmp_path / "in.parquet", row_group_size=5)
    parts = plan(open_table(path, schema), partition_rows=10)
    assert parts == [
        Partition(0, 1, 10, 0, 2),
        Partition(1, 11, 10, 2, 4),
        Partition(2, 21, 3, 4, 5),
    ]


@pytest.mark.parametrize(("source", "target"), [("csv", "parquet"), ("parquet", "csv")])
def test_partitioned_output_equals_one_pass(model, schema, tmp_path, source, target) -> None:
    path = write(tiny_deliveries(n=41, seed=3), tmp_path / f"in.{source}", row_group_size=6)
    table = open_table(path, schema, chunk_rows=4)
    one = score_table(model, table, tmp_path / f"one.{target}", schema, THRESHOLD, "7")
    seen: list[int] = []
    parts = score_partitioned(
        model,
        table,
        tmp_path / f"parts.{target}",
        schema,
        THRESHOLD,
        "7",
        partition_rows=12,
        progress=seen.append,
    )
    assert (parts.rows, parts.rejected) == (one.rows, 0) == (41, 0)
    assert sum(seen) == 41 and len(seen) > 1
    pd.testing.assert_frame_equal(read(parts.output), read(one.output))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"in.{source}", f"one.{target}", f"parts.{target}"]
    )  # no part files left


def test_bad_row_names_its_row_in_the_whole_file(model, schema, tmp_path) -> None:
    frame = tiny_deliveries(n=30, seed=2).astype({"depot": object})
    frame.loc[[21, 27], "depot"] = "ZZ9"
    path = write(frame, tmp_path / "in.csv")
    target = write(frame.head(1), tmp_path / "out.csv")
    before = target.read_bytes()
    table = open_table(path, schema, chunk_rows=50)
    with pytest.raises(DataError, match=r"(?s)in.csv: 2 of rows 21-30 .*'depot'.*\(rows 22, 28\)"):
        score_partitioned(model, table, target, schema, THRESHOLD, "7", partition_rows=10)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_skip_invalid_rejects_rows_as_one_pass_does(model, schema, tmp_path) -> None:
    frame = tiny_deliveries(n=30, seed=2).astype({"depot": object})
    frame.loc[[0, 14, 29], "depot"] = "ZZ9"
    path = write(frame, tmp_path / "in.parquet", row_group_size=5)
    table = open_table(path, schema, chunk_rows=50)
    one = score_table(model, table, tmp_path / "one.csv", schema, THRESHOLD, "7", skip_invalid=True)
    parts = score_partitioned(
        model,
        table,
        tmp_path / "parts.csv",
        schema,
        THRESHOLD,
        "7",
        partition_rows=10,
        skip_invalid=True,
    )
    assert (parts.rows, parts.rejected) == (one.rows, one.rejected) == (27, 3)
    assert parts.rejected_path is not None and one.rejected_path is not None
    rejected = pd.read_csv(parts.rejected_path)
    assert rejected["row"].tolist() == [1, 15, 30]
    pd.testing.assert_frame_equal(rejected, pd.read_csv(one.rejected_path))
    pd.testing.assert_frame_equal(read(parts.output), read(one.output))


@pytest.mark.parametrize("source", ["csv", "parquet"])
def test_empty_input_gives_empty_output_with_columns(model, schema, tmp_path, source) -> None:
    path = write(tiny_deliveries(n=3).head(0), tmp_path / f"in.{source}")
    table = open_table(path, schema)
    result = score_partitioned(model, table, tmp_path / "out.parquet", schema, THRESHOLD, "7")
    written = pd.read_parquet(result.output)
    assert result.rows == 0 and len(written) == 0
    assert "delay_probability" in written.columns


def test_partition_rows_must_be_positive(schema, tmp_path) -> None:
    path = write(tiny_deliveries(n=3), tmp_path / "in.csv")
    with pytest.raises(ValueError, match="partition_rows must be positive"):
        plan(open_table(path, schema), partition_rows=0)
