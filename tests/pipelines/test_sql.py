"""SQL sources: a real DuckDB file and a real PostgreSQL; the freshness DVC sees; the snapshot."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipelines.config import DataParams, SqlSource
from pipelines.errors import DataError
from pipelines.sql import (
    FRESHNESS_FILE,
    SourceUnavailable,
    display_url,
    read_freshness,
    read_query,
    source_state,
    write_freshness,
)
from tests.conftest import BIN, copy_project, tiny_deliveries


def duckdb_file(path: Path, rows: pd.DataFrame) -> Path:
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as conn:
        conn.register("rows", rows)
        conn.execute("create or replace table deliveries as select * from rows")
    return path


def append(path: Path, rows: pd.DataFrame) -> None:
    import duckdb

    with duckdb.connect(str(path)) as conn:
        conn.register("rows", rows)
        conn.execute("insert into deliveries select * from rows")


@pytest.fixture
def source(tmp_path: Path) -> SqlSource:
    duckdb_file(tmp_path / "data" / "source" / "example.duckdb", tiny_deliveries(40))
    return SqlSource(query="select * from deliveries;", freshness_key="pickup_time")


def test_the_query_reads_every_row_with_its_types(tmp_path: Path, source: SqlSource) -> None:
    frame = read_query(source, tmp_path)
    assert len(frame) == 40
    assert pd.api.types.is_datetime64_any_dtype(frame["pickup_time"])
    assert pd.api.types.is_float_dtype(frame["precip_mm"])


def test_the_state_is_the_row_count_and_the_latest_key(tmp_path: Path, source) -> None:
    state = source_state(source, tmp_path)
    latest = tiny_deliveries(40)["pickup_time"].max()
    assert state == {"rows": 40, "freshness_key": "pickup_time", "max": str(latest)}
    assert source_state(source.model_copy(update={"freshness_key": None}), tmp_path) == {"rows": 40}


def test_freshness_is_rewritten_only_when_the_source_changed(tmp_path: Path, source) -> None:
    data = DataParams.model_validate(
        {
            "source": "sql",
            "sql": source.model_dump(),
            "id_column": "a",
            "time_column": "b",
            "numeric": {"x": {"min": 0, "max": 1}},
        }
    )
    first = write_freshness(data, tmp_path)
    written = (tmp_path / FRESHNESS_FILE).stat().st_mtime_ns
    assert read_freshness(tmp_path) == first
    assert write_freshness(data, tmp_path) == first
    assert (tmp_path / FRESHNESS_FILE).stat().st_mtime_ns == written  # untouched: same state
    later = tiny_deliveries(2, seed=3).assign(
        delivery_id=["N1", "N2"], pickup_time=pd.Timestamp("2025-06-01")
    )
    append(tmp_path / "data" / "source" / "example.duckdb", later)
    assert write_freshness(data, tmp_path)["rows"] == 42
    assert read_freshness(tmp_path)["max"] == "2025-06-01 00:00:00"


def test_other_sources_record_nothing(tmp_path: Path, config) -> None:
    assert write_freshness(config.params.data, tmp_path) is None
    assert not (tmp_path / FRESHNESS_FILE).exists()


def test_problems_name_the_database_or_the_query(tmp_path: Path, source) -> None:
    with pytest.raises(DataError, match="no DuckDB file at"):
        read_query(source.model_copy(update={"url": "duckdb:///nowhere.duckdb"}), tmp_path)
    with pytest.raises(DataError, match=r"data\.sql\.query failed .*nope"):
        read_query(source.model_copy(update={"query": "select * from nope"}), tmp_path)
    with pytest.raises(SourceUnavailable):
        read_query(
            SqlSource(url="postgresql+psycopg://u:secret@127.0.0.1:1/db", query="select 1"),
            tmp_path,
        )


def test_passwords_never_show() -> None:
    shown = display_url("postgresql+psycopg://user:secret@db.example:5432/prod")
    assert "secret" not in shown and "user" in shown and "db.example" in shown


def test_postgresql_source(postgres_url: str, tmp_path: Path) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        tiny_deliveries(25).to_sql("deliveries", conn, index=False)
    engine.dispose()
    sql = SqlSource(
        url=postgres_url,
        query='select * from deliveries where "precip_mm" >= 0',
        freshness_key="pickup_time",
    )
    assert len(read_query(sql, tmp_path)) == 25
    assert source_state(sql, tmp_path)["rows"] == 25


@pytest.mark.integration
def test_dvc_reruns_ingest_when_the_source_or_the_query_changes(tmp_path: Path) -> None:
    db = duckdb_file(tmp_path / "db" / "source.duckdb", tiny_deliveries(600, seed=1))

    def sql_source(params: dict) -> None:
        params["validate"]["target_rate"] = {"min": 0.02, "max": 0.9}  # the tiny rows' rate
        params["data"]["source"] = "sql"
        params["data"]["sql"] = {
            "url": f"duckdb:///{db}",
            "query": "select * from deliveries",
            "freshness_key": "pickup_time",
        }

    root = copy_project(tmp_path / "proj", sql_source)

    def status() -> set[str]:
        write_freshness(load(root).params.data, root)  # what the training flow does first
        done = subprocess.run(
            [str(BIN / "dvc"), "status", "--json", "ingest"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
        return set(json.loads(done.stdout))

    from pipelines.config import load

    write_freshness(load(root).params.data, root)  # the training flow's first step
    repro = subprocess.run(
        [str(BIN / "dvc"), "repro", "--single-item", "ingest"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": f"{BIN}:/usr/bin:/bin"},
    )
    assert repro.returncode == 0, repro.stdout + repro.stderr
    report = json.loads((root / "reports" / "ingest.json").read_text())
    assert report["source"].startswith("sql: duckdb:///") and report["rows"] == 600
    assert report["freshness"]["rows"] == 600 and len(report["content_hash"]) == 64
    assert status() == set()  # same database, same query: nothing to rerun

    append(db, tiny_deliveries(3, seed=4).assign(delivery_id=["A", "B", "C"]))
    assert status() == {"ingest"}  # the freshness file changed

    subprocess.run([str(BIN / "dvc"), "commit", "-f", "-q", "ingest"], cwd=root, check=False)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["sql"]["query"] = "select * from deliveries where precip_mm >= 0"
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert status() == {"ingest"}  # the query is a param of the stage
