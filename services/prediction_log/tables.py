"""The prediction-log database: its tables, and the one way to connect to it.

Both the writer and the policy store open their engine through `open_engine`, so
SQLite always gets its directory, WAL and busy timeout, and the schema is created
the same way (safely when several processes start at once).
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.schema import CreateIndex, CreateTable

from pipelines.config import Runtime
from services.prediction_log.records import require_aware

_SQLITE_BUSY_TIMEOUT_MS = 5_000  # a writer or reader waits this long for a lock before failing
_SCHEMA_LOCK = 0x6D6C6F7073  # PostgreSQL advisory lock serialising concurrent table creation


def default_url(root: Path) -> str:
    """SQLite URL of the project's log, `<root>/serving/predictions.db` (absolute)."""
    return f"sqlite:///{Path(root).resolve() / 'serving' / 'predictions.db'}"


def log_url(runtime: Runtime, root: Path) -> str:
    """The prediction log of this profile: MLOPS_PREDICTION_LOG_URL, else the project's SQLite."""
    return runtime.prediction_log_url or default_url(root)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back UTC-aware on every backend (SQLite drops zones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """UTC before it is stored; a naive timestamp is refused."""
        if value is None:
            return None
        require_aware(value, "timestamp")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """UTC-aware as it is read."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")

metadata = sa.MetaData()
predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(), nullable=False, unique=True),
    sa.Column("received_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("delivery_id", sa.String(), index=True),
    sa.Column("request_key", sa.String()),
    sa.Column("features", _JSON, nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("variant", sa.String(16), nullable=False),
    sa.Column("model_version", sa.String(), nullable=False),
    sa.Column("probability", sa.Double(), nullable=False),
    sa.Column("decision", sa.Boolean(), nullable=False),
    sa.Column("threshold", sa.Double(), nullable=False),
    sa.Column("latency_ms", sa.Double(), nullable=False),
    sa.Column("shadow_version", sa.String()),
    sa.Column("shadow_probability", sa.Double()),
    sa.Column("shadow_latency_ms", sa.Double()),
    sa.Column("shadow_error", sa.Text()),
)
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(), index=True),
    sa.Column("delivery_id", sa.String(), index=True),
    sa.Column("outcome", sa.SmallInteger(), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
)
policy_changes = sa.Table(
    "policy_changes",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("changed_at", UTCDateTime(), nullable=False),
    sa.Column("changed_by", sa.String(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("policy", _JSON, nullable=False),
)


def parse_url(url: str) -> sa.URL:
    """The parsed URL; ValueError for in-memory SQLite (private to one thread)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and (
        parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"
    ):
        raise ValueError(f"{url!r}: in-memory SQLite is private to one thread; use a file URL")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(_SQLITE_BUSY_TIMEOUT_MS)}")
    # WAL: readers never block the writer, nor it them. It is stored in the file, so only
    # the first connection switches; SQLite does not wait on its busy timeout for that
    # switch, so processes opening a new file together retry it here.
    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    cursor.close()


def dumps(value: Any) -> str:
    """Strict JSON text (NaN and infinities refused), as stored in the JSON columns."""
    return json.dumps(value, allow_nan=False)


def _connect(url: str) -> sa.Engine:
    """An engine for `url`; SQLite gets its directory, WAL and a busy timeout."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        Path(str(parsed.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, json_serializer=dumps)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = 10
    return sa.create_engine(
        parsed, json_serializer=dumps, pool_pre_ping=True, connect_args=connect_args
    )


def _create_schema(engine: sa.Engine) -> None:
    """Create missing tables and indexes; safe when several processes do it at once."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # IF NOT EXISTS alone still races in the catalog
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        for table in metadata.sorted_tables:
            conn.execute(CreateTable(table, if_not_exists=True))
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                conn.execute(CreateIndex(index, if_not_exists=True))


def open_engine(url: str) -> sa.Engine:
    """A connected engine on `url` with every table in place (disposed again if that fails)."""
    engine = _connect(url)
    try:
        _create_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
