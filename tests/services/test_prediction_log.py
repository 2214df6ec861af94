"""Prediction log: exact flush/close, outages, overflow, feedback joins, policy history.

Every test that touches the database runs on SQLite and, marked integration, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from services.prediction_log import tables, writer
from services.prediction_log.policy_store import PolicyStore
from services.prediction_log.records import FeedbackRecord, PredictionRecord
from services.prediction_log.tables import default_url
from services.prediction_log.writer import PredictionLog

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
Make = Callable[..., PredictionRecord]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return default_url(tmp_path)
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return default_url(tmp_path)


@pytest.fixture
def prediction() -> Make:
    """Factory: `prediction(3)` is request r3 for delivery D3, received 3 minutes after T0."""

    def make(i: int, **changes: Any) -> PredictionRecord:
        values: dict[str, Any] = {
            "request_id": f"r{i}",
            "received_at": T0 + timedelta(minutes=i),
            "delivery_id": f"D{i}",
            "request_key": f"C{i % 3}",
            "features": {"distance_km": 1.5 * i, "depot": "N1"},
            "mode": "champion",
            "variant": "champion",
            "model_version": "1",
            "probability": 0.25,
            "decision": False,
            "threshold": 0.36,
            "latency_ms": 2.0,
        }
        return PredictionRecord(**{**values, **changes})

    return make


@pytest.fixture
def open_log(url: str) -> Iterator[Callable[..., PredictionLog]]:
    """Factory of open logs on `url` (fast flush interval); all closed after the test."""
    logs: list[PredictionLog] = []

    def make(**kwargs: Any) -> PredictionLog:
        kwargs.setdefault("flush_interval_s", 0.02)
        log = PredictionLog(url, **kwargs)
        log.open()
        logs.append(log)
        return log

    yield make
    for log in logs:
        log.close(timeout=5)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {timeout}s"
        time.sleep(0.01)


def rename_table(url: str, old: str, new: str) -> None:
    """Make the database fail every insert (or work again) from another connection."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE {old} RENAME TO {new}"))
    engine.dispose()


def stored_ids(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        ids = set(conn.execute(sa.text("SELECT request_id FROM predictions")).scalars())
    engine.dispose()
    return ids


# ------------------------------------------------------------------ records and URLs


def test_default_url_is_an_absolute_sqlite_file_under_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = default_url(Path())
    assert url == f"sqlite:///{tmp_path.resolve()}/serving/predictions.db"
    assert not (tmp_path / "serving").exists()  # open() creates it, not default_url
    with PredictionLog(url):
        assert (tmp_path / "serving" / "predictions.db").is_file()


def test_records_reject_naive_times_and_feedback_without_an_id(prediction: Make) -> None:
    with pytest.raises(ValueError, match="received_at must be timezone-aware"):
        prediction(1, received_at=datetime(2025, 3, 1, 8, 0))
    with pytest.raises(ValueError, match="request_id or a delivery_id"):
        FeedbackRecord(outcome=1, received_at=T0)
    with pytest.raises(ValueError, match="outcome must be 0 or 1"):
        FeedbackRecord(outcome=2, received_at=T0, request_id="r1")


def test_in_memory_sqlite_is_refused_because_the_writer_thread_would_not_share_it() -> None:
    with pytest.raises(ValueError, match="in-memory"):
        PredictionLog("sqlite://")


# ------------------------------------------------------------------ writing


def test_every_record_appended_from_many_threads_is_written_by_close(
    url: str, open_log: Callable[..., PredictionLog], prediction: Make
) -> None:
    log = open_log(batch_rows=64)
    threads, per_thread = 8, 150

    def produce(t: int) -> None:
        for i in range(per_thread):
            log.append(prediction(t * per_thread + i))

    workers = [threading.Thread(target=produce, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    log.close()

    assert len(stored_ids(url)) == threads * per_thread
    stats = log.stats
    assert (stats.written, stats.pending, stats.dropped) == (threads * per_thread, 0, 0)


def test_append_works_from_asyncio_handlers(sqlite_url: str, prediction: Make) -> None:
    with PredictionLog(sqlite_url, flush_interval_s=0.02) as log:

        async def handle(i: int) -> None:
            log.append(prediction(i))
            await asyncio.sleep(0)

        async def serve() -> None:
            await asyncio.gather(*(handle(i) for i in range(40)))

        asyncio.run(serve())
        assert log.flush()
        assert log.count() == 40


def test_flush_makes_rows_visible_to_another_reader_while_the_writer_runs(
    url: str, open_log: Callable[..., PredictionLog], prediction: Make
) -> None:
    writer = open_log(flush_interval_s=60, batch_rows=10_000)  # would not write by itself
    reader = open_log()
    for i in range(5):
        writer.append(prediction(i))
    assert reader.count() == 0

    assert writer.flush(timeout=10)

    assert reader.count() == 5
    assert list(reader.read_predictions()["request_id"]) == [f"r{i}" for i in range(5)]
    writer.append(prediction(5))  # still running
    assert writer.flush(timeout=10)
    assert reader.count() == 6


def test_append_before_open_or_after_close_raises(url: str, prediction: Make) -> None:
    log = PredictionLog(url)
    with pytest.raises(RuntimeError, match="not open"):
        log.append(prediction(1))
    log.open()
    log.append(prediction(1))
    log.close()
    log.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        log.append(prediction(2))
    with pytest.raises(RuntimeError, match="closed"):
        log.add_feedback(FeedbackRecord(outcome=1, received_at=T0, request_id="r1"))
    assert stored_ids(url) == {"r1"}


def test_duplicate_request_ids_are_skipped_and_counted_as_dropped(
    url: str, open_log: Callable[..., PredictionLog], prediction: Make
) -> None:
    log = open_log()
    log.append(prediction(1, probability=0.9))
    log.append(prediction(1, probability=0.1))  # same batch
    assert log.flush()
    log.append(prediction(1, probability=0.2))  # a later batch
    log.append(prediction(2))
    assert log.flush()

    frame = log.read_predictions()
    assert list(frame["request_id"]) == ["r1", "r2"]
    assert frame["probability"].iloc[0] == 0.9  # the first one stays
    assert (log.stats.written, log.stats.dropped) == (2, 2)


def test_a_record_the_database_rejects_is_dropped_without_losing_its_batch(
    url: str,
    open_log: Callable[..., PredictionLog],
    prediction: Make,
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = open_log(flush_interval_s=60)
    for i in range(4):
        log.append(prediction(i))
    log.append(prediction(9, probability="not a number"))
    with caplog.at_level(logging.ERROR, logger=writer.__name__):
        assert log.flush()

    assert stored_ids(url) == {"r0", "r1", "r2", "r3"}
    assert (log.stats.written, log.stats.dropped, log.stats.pending) == (4, 1, 0)
    assert "dropped prediction r9" in caplog.text


def test_features_are_stored_as_json_safe_values(
    url: str, open_log: Callable[..., PredictionLog], prediction: Make
) -> None:
    log = open_log()
    features = {"count": np.int64(3), "gap": float("nan"), "when": T0, "tags": ("a", "b")}
    log.append(prediction(1, features=features))
    assert log.flush()

    row = log.read_predictions().iloc[0]
    assert row["count"] == 3
    assert row["gap"] is None or pd.isna(row["gap"])
    assert row["when"] == T0.isoformat()
    assert list(row["tags"]) == ["a", "b"]


# ------------------------------------------------------------------ outages


def test_writer_keeps_rows_while_the_database_fails_and_writes_them_after(
    url: str, open_log: Callable[..., PredictionLog], prediction: Make
) -> None:
    log = open_log(batch_rows=10)
    rename_table(url, "predictions", "predictions_away")
    for i in range(30):
        log.append(prediction(i))
    log.add_feedback(FeedbackRecord(outcome=1, received_at=T0, request_id="r3"))
    wait_until(lambda: log.stats.failed_batches >= 2)
    assert not log.flush(timeout=0.1)
    assert log.stats.pending == 31
    assert log.stats.written == 0

    rename_table(url, "predictions_away", "predictions")

    assert log.flush(timeout=20)
    assert log.count() == 30
    stats = log.stats
    assert (stats.written, stats.feedback_written, stats.pending, stats.dropped) == (30, 1, 0, 0)
    assert log.read_predictions()["outcome"].iloc[3] == 1


def test_sqlite_writer_waits_out_a_locked_database(
    sqlite_url: str, prediction: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tables, "_SQLITE_BUSY_TIMEOUT_MS", 20)
    path = sqlite_url.removeprefix("sqlite:///")
    with PredictionLog(sqlite_url, flush_interval_s=0.02) as log:
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
        for i in range(10):
            log.append(prediction(i))
        wait_until(lambda: log.stats.failed_batches >= 1)
        assert log.count() == 0  # WAL: readers are not blocked by the lock
        locker.execute("ROLLBACK")
        locker.close()
        assert log.flush(timeout=20)
        assert log.count() == 10


def test_full_queue_drops_the_oldest_records_and_counts_them(
    url: str, open_log: Callable[..., PredictionLog], prediction: Make
) -> None:
    log = open_log(batch_rows=5, max_pending=20)
    rename_table(url, "predictions", "predictions_away")
    for i in range(50):
        log.append(prediction(i))
    assert (log.stats.pending, log.stats.dropped) == (20, 30)

    rename_table(url, "predictions_away", "predictions")
    log.close()

    ids = stored_ids(url)
    assert len(ids) == 20
    # the newest are all kept; only a batch in flight when the queue overflowed may survive
    assert {f"r{i}" for i in range(35, 50)} <= ids
    assert (log.stats.written, log.stats.dropped) == (20, 30)


def test_close_gives_up_after_its_timeout_and_logs_the_loss(
    url: str, prediction: Make, caplog: pytest.LogCaptureFixture
) -> None:
    log = PredictionLog(url, flush_interval_s=0.02)
    log.open()
    rename_table(url, "predictions", "predictions_away")
    for i in range(3):
        log.append(prediction(i))
    wait_until(lambda: log.stats.failed_batches >= 1)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger=writer.__name__):
        log.close(timeout=0.3)

    assert time.monotonic() - started < 5
    assert "3 records not written" in caplog.text
    assert (log.stats.pending, log.stats.dropped) == (0, 3)
    with pytest.raises(RuntimeError, match="closed"):
        log.append(prediction(4))


def test_schema_creation_is_safe_when_many_processes_open_at_once(url: str) -> None:
    def open_and_close(i: int) -> None:
        store: PolicyStore | PredictionLog = PolicyStore(url) if i % 2 else PredictionLog(url)
        store.open()
        store.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(open_and_close, range(6)))
    with PredictionLog(url) as log:
        assert log.count() == 0


@pytest.mark.integration
def test_writer_reconnects_after_postgres_drops_its_connections(
    postgres_url: str, prediction: Make
) -> None:
    with PredictionLog(postgres_url, flush_interval_s=0.02) as log:
        log.append(prediction(1))
        assert log.flush()
        ours = sa.make_url(postgres_url).query["application_name"]
        engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name AND pid <> pg_backend_pid()"
                ),
                {"name": ours},
            )
        engine.dispose()
        log.append(prediction(2))
        assert log.flush()
        assert log.count() == 2


# ------------------------------------------------------------------ reading


def test_feedback_joins_by_request_id_else_delivery_id_and_the_latest_wins(
    url: str, open_log: Callable[..., PredictionLog], prediction: Make
) -> None:
    log = open_log()
    for i in range(1, 5):
        log.append(prediction(i))
    hour = timedelta(hours=1)
    feedback = [
        FeedbackRecord(outcome=1, received_at=T0 + 2 * hour, request_id="r1"),
        FeedbackRecord(outcome=0, received_at=T0 + hour, request_id="r1"),  # older, stored later
        FeedbackRecord(outcome=1, received_at=T0 + hour, delivery_id="D2"),
        FeedbackRecord(outcome=0, received_at=T0 + hour, request_id="r3"),
        FeedbackRecord(outcome=1, received_at=T0 + 3 * hour, delivery_id="D3"),  # id wins
        FeedbackRecord(outcome=1, received_at=T0, request_id="nobody"),
    ]
    for record in feedback:
        log.add_feedback(record)
    assert log.flush()

    frame = log.read_predictions().set_index("request_id")
    assert str(frame["outcome"].dtype) == "Int64"
    assert frame.loc["r1", "outcome"] == 1
    assert frame.loc["r1", "feedback_at"] == T0 + 2 * hour
    assert frame.loc["r2", "outcome"] == 1
    assert frame.loc["r3", "outcome"] == 0
    assert frame.loc["r3", "feedback_at"] == T0 + hour
    assert frame.loc["r4", "outcome"] is pd.NA
    assert pd.isna(frame.loc["r4", "feedback_at"])
    assert log.stats.feedback_written == 6


def test_window_is_half_open_oldest_first_and_in_utc(
    url: str, open_log: Callable[..., PredictionLog], prediction: Make
) -> None:
    log = open_log()
    for i in (3, 0, 4, 1, 2):
        log.append(prediction(i))
    assert log.flush()
    paris = timezone(timedelta(hours=2))

    window = log.read_predictions(
        start=(T0 + timedelta(minutes=1)).astimezone(paris), end=T0 + timedelta(minutes=3)
    )

    assert list(window["request_id"]) == ["r1", "r2"]
    assert str(window["received_at"].dtype) == "datetime64[ns, UTC]"
    assert window["received_at"].iloc[0] == T0 + timedelta(minutes=1)
    assert list(log.read_predictions(limit=2)["request_id"]) == ["r0", "r1"]
    assert list(log.read_predictions(start=T0 + timedelta(minutes=4))["request_id"]) == ["r4"]
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        log.read_predictions(start=datetime(2025, 3, 1))


def test_features_become_columns_with_their_own_names(
    url: str, open_log: Callable[..., PredictionLog], prediction: Make
) -> None:
    log = open_log()
    log.append(prediction(1, features={"distance_km": 3.5, "depot": "N1", "mode": "odd"}))
    log.append(prediction(2, features={"distance_km": 7.0, "weather": "rain"}))
    log.append(
        prediction(3, mode="shadow", shadow_version="2", shadow_probability=0.4, shadow_error=None)
    )
    assert log.flush()

    frame = log.read_predictions()

    assert list(frame.columns) == [
        "request_id", "received_at", "delivery_id", "request_key", "mode", "variant",
        "model_version", "probability", "decision", "threshold", "latency_ms",
        "shadow_version", "shadow_probability", "shadow_latency_ms", "shadow_error",
        "depot", "distance_km", "feature.mode", "weather", "outcome", "feedback_at",
    ]  # fmt: skip
    assert list(frame["distance_km"]) == [3.5, 7.0, 4.5]
    assert frame["weather"].iloc[1] == "rain" and pd.isna(frame["weather"].iloc[0])
    assert list(frame["mode"]) == ["champion", "champion", "shadow"]
    assert frame["feature.mode"].iloc[0] == "odd"
    assert frame["shadow_probability"].iloc[2] == 0.4
    assert pd.isna(frame["shadow_probability"].iloc[0])
    assert frame["decision"].dtype == bool


def test_an_empty_window_has_every_column_and_no_rows(
    url: str, open_log: Callable[..., PredictionLog]
) -> None:
    frame = open_log().read_predictions()
    assert frame.empty
    assert {"request_id", "received_at", "outcome", "feedback_at"} <= set(frame.columns)
    assert str(frame["outcome"].dtype) == "Int64"


# ------------------------------------------------------------------ traffic policy


def test_policy_history_is_append_only_newest_first_and_survives_a_restart(url: str) -> None:
    with PolicyStore(url) as store:
        assert store.current() is None
        first = store.record({"mode": "shadow", "challenger": "2"}, "ci", "new challenger")
        second = store.record({"mode": "ab", "challenger_weight": 0.1}, "ops", "shadow looked fine")
        assert store.current() == second
        assert second.id > first.id
        assert second.changed_at >= first.changed_at
        assert second.changed_at.tzinfo is not None

    with PolicyStore(url) as reopened:
        assert reopened.current() == second
        assert reopened.history() == [second, first]
        assert reopened.history(limit=1) == [second]
        current = reopened.current()
        assert current is not None
        assert current.policy == {"mode": "ab", "challenger_weight": 0.1}


def test_policy_must_be_json(url: str) -> None:
    with PolicyStore(url) as store:
        with pytest.raises(TypeError):
            store.record({"mode": object()}, "ci", "bad")
        assert store.history() == []
