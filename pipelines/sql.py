"""SQL sources (`data.source: sql`): the query's rows, and the source's freshness.

`read_query` runs `data.sql.query` and returns its rows; the ingest stage
snapshots them to Parquet. DuckDB files (`duckdb:///relative.duckdb`,
`duckdb:////absolute.duckdb`) are read with DuckDB itself, opened read-only;
any other URL goes through SQLAlchemy (PostgreSQL: `postgresql+psycopg://...`).

DVC cannot see a database change, so `write_freshness` records the source's state
(the query's row count and the max of `freshness_key`) in `FRESHNESS_FILE`, inside
`data/source/`, which the ingest stage depends on: when the state changes, the
next `dvc repro` reruns ingest. The training flow writes it before the stages;
before a plain `dvc repro`, run `python -m pipelines.stages.freshness`. A change
to the query itself is a change of the `data` params, which DVC sees.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines import io
from pipelines.config import DataParams, SqlSource
from pipelines.errors import DataError, UserError

if TYPE_CHECKING:
    import pandas as pd

FRESHNESS_FILE = Path("data") / "source" / "sql-freshness.json"
"""The SQL source's state, written before the ingest stage runs (a dependency of it)."""
DUCKDB = "duckdb://"


class SourceUnavailable(UserError, ConnectionError):
    """The database cannot be reached now; trying again later may work."""

    exit_code = 1


def display_url(url: str) -> str:
    """The URL without its password, for messages and reports."""
    if url.startswith(DUCKDB):
        return url
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a malformed URL: show only its scheme
        return url.split("://", 1)[0] + "://..."


def duckdb_path(url: str, root: Path) -> Path:
    """The DuckDB file of a `duckdb:///relative` or `duckdb:////absolute` URL."""
    rest = url.removeprefix(DUCKDB)
    if not rest.startswith("/") or rest == "/":
        raise DataError(f"data.sql.url {url!r}: write duckdb:///path/to/file.duckdb")
    path = Path(rest[1:])
    return path if path.is_absolute() else root / path


def _query(text: str) -> str:
    return text.strip().rstrip(";").strip()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _run(sql: SqlSource, root: Path, statement: str) -> pd.DataFrame:
    """The rows of `statement` on the source's database, errors naming the URL."""
    shown = display_url(sql.url)
    if sql.url.startswith(DUCKDB):
        import duckdb

        path = duckdb_path(sql.url, root)
        if not path.is_file():
            raise DataError(f"data.sql.url {shown}: no DuckDB file at {path}")
        try:
            with duckdb.connect(str(path), read_only=True) as conn:
                return conn.execute(statement).df()
        except duckdb.IOException as exc:
            raise SourceUnavailable(f"data.sql.url {shown}: cannot open {path}: {exc}") from exc
        except duckdb.Error as exc:
            raise DataError(f"data.sql.query failed on {shown}: {exc}") from exc
    return _run_sqlalchemy(sql.url, shown, statement)


def _run_sqlalchemy(url: str, shown: str, statement: str) -> pd.DataFrame:
    import pandas as pd
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise DataError(f"data.sql.url {shown}: not a usable SQLAlchemy URL: {exc}") from exc
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(sa.text(statement), conn)
    except sa.exc.OperationalError as exc:
        raise SourceUnavailable(f"data.sql.url {shown}: {exc.orig}") from exc
    except sa.exc.DBAPIError as exc:
        raise DataError(f"data.sql.query failed on {shown}: {exc.orig}") from exc
    finally:
        engine.dispose()


def read_query(sql: SqlSource, root: Path | str = ".") -> pd.DataFrame:
    """Every row of `sql.query`, as the database types them."""
    return _run(sql, Path(root), _query(sql.query))


def source_state(sql: SqlSource, root: Path | str = ".") -> dict[str, Any]:
    """The query's row count and the max of its freshness key: cheap to ask, changes with data."""
    latest = f", max({_quoted(sql.freshness_key)}) as latest" if sql.freshness_key else ""
    statement = f"select count(*) as row_count{latest} from ({_query(sql.query)}) as source"  # noqa: S608 - the user's own query
    row = _run(sql, Path(root), statement).iloc[0]
    state: dict[str, Any] = {"rows": int(row["row_count"])}
    if sql.freshness_key:
        value = row["latest"]
        state["freshness_key"] = sql.freshness_key
        state["max"] = None if value is None or value != value else str(value)
    return state


def write_freshness(data: DataParams, root: Path | str = ".") -> dict[str, Any] | None:
    """Record the SQL source's state for DVC (None for other sources: nothing written).

    The file is rewritten only when the state changed, so an unchanged source
    leaves the ingest stage's dependency exactly as it was.
    """
    if data.source != "sql" or data.sql is None:
        return None
    root = Path(root)
    state = {"url": display_url(data.sql.url), **source_state(data.sql, root)}
    target = root / FRESHNESS_FILE
    text = json.dumps(state, indent=2, sort_keys=True) + "\n"
    if not target.is_file() or target.read_text() != text:
        io.write_text(target, text)
    return state


def read_freshness(root: Path | str = ".") -> dict[str, Any] | None:
    """The state `write_freshness` last recorded, None when there is none."""
    path = Path(root) / FRESHNESS_FILE
    return json.loads(path.read_text()) if path.is_file() else None
