"""`mlops replay`: your own rows as live traffic, in time order, their outcomes later.

The rows of a CSV or Parquet file (with the columns params.yaml `data`
describes and the target of project.yaml) are sent to the running service in
the order of the time column, at `rate` per second, with only the API's
input fields (id, key, the time column and the raw features; nulls stay
null). Each row's true outcome goes to POST /feedback by request id
`outcome_delay` seconds after its answer, for a `label_share` of the rows, so
serve -> monitor -> retrain -> release runs on your data. The sending itself is
flows/tools/traffic.py.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flows.tools.traffic import SendOptions, Traffic, TrafficResult, send
from pipelines.config import load
from pipelines.ingest import DataError, read_table
from pipelines.schema import Schema, build_schema

MAX_ROWS = 2_000_000
"""Rows one replay may send (a bound on memory and on the service's log)."""


def _json_value(value: Any) -> Any:
    """A JSON-ready value: None for missing ones, plain Python numbers and strings."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _outcomes(frame: pd.DataFrame, schema: Schema, positive_label: Any) -> list[bool | None]:
    """Each row's outcome as the feedback route takes it: positive or not (None if unknown)."""
    target = frame[schema.target]
    known = target.notna()
    return [bool(v == positive_label) if k else None for v, k in zip(target, known, strict=True)]


def build_replay_traffic(
    frame: pd.DataFrame,
    schema: Schema,
    positive_label: Any,
    label_share: float,
    seed: int,
    source: str,
) -> Traffic:
    """Request bodies in time order, with each row's outcome and whether it is reported.

    Args:
        frame: The rows, with the schema's id, input and target columns.
        schema: The API's schema: only its input fields are sent.
        positive_label: The target value that is the positive class (project.yaml).
        label_share: Share of the rows whose outcome is reported (rows with an unknown
            outcome never are).
        seed: Seed of which rows are labelled.
        source: The file's name, for error messages.

    Raises:
        DataError: A column the API needs is missing (named), or the file has no rows.
    """
    fields = [schema.id_column, *([schema.key_column] if schema.key_column else [])]
    fields += schema.input_columns
    missing = [c for c in [*fields, schema.target] if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(map(repr, missing))}")
    if frame.empty:
        raise DataError(f"{source}: no rows to replay")
    times = pd.to_datetime(frame[schema.time_column], errors="coerce")
    ordered = frame.assign(_at=times).sort_values("_at", kind="stable", na_position="last")
    outcomes = _outcomes(ordered, schema, positive_label)
    reported = np.random.default_rng(seed).random(len(ordered)) < label_share
    bodies = []
    for record in ordered[fields].to_dict("records"):
        body = {name: _json_value(value) for name, value in record.items()}
        body[schema.id_column] = str(body[schema.id_column])
        if schema.key_column and body[schema.key_column] is not None:
            body[schema.key_column] = str(body[schema.key_column])
        bodies.append(body)
    labelled = [bool(r) and o is not None for r, o in zip(reported, outcomes, strict=True)]
    return Traffic(bodies, outcomes, labelled)


def replay(
    url: str,
    api_key: str,
    path: Path,
    rate: float,
    *,
    outcome_delay: float = 5.0,
    label_share: float = 1.0,
    limit: int | None = None,
    seed: int = 0,
    root: Path | str = ".",
    concurrency: int = 8,
    progress: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> TrafficResult:
    """Send the rows of `path` to the service at `url` in time order, `rate` per second.

    Args:
        url: Base URL of the service.
        api_key: The client API key.
        path: A CSV or Parquet file with the project's columns.
        rate: Requests per second.
        outcome_delay: Seconds between an answer and its outcome's feedback.
        label_share: Share of rows whose outcome is reported.
        limit: Send at most this many rows (the earliest); None: all of them.
        seed: Seed of which rows are labelled.
        root: Project root: the schema comes from its params.yaml and project.yaml.
        concurrency: Predictions in flight at most.
        progress: Called with a progress line every few seconds (None: silent).
        stop: Set it to stop sending early (pending feedback is still sent).

    Raises:
        DataError: The file cannot be read or lacks a column (named).
        ValueError: A setting is out of range (named).
    """
    if not rate > 0:
        raise ValueError(f"rate must be positive, got {rate}")
    if not 0 <= label_share <= 1 or outcome_delay < 0:
        raise ValueError("label_share must be between 0 and 1 and outcome_delay >= 0")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    config = load(Path(root))
    schema = build_schema(config)
    frame = read_table(path)
    rows = min(len(frame), limit or MAX_ROWS)
    if len(frame) > rows and limit is None:
        raise DataError(f"{path}: {len(frame)} rows; replay sends at most {MAX_ROWS} (--limit)")
    traffic = build_replay_traffic(
        frame, schema, config.project.framing.positive_label, label_share, seed, str(path)
    )
    traffic = Traffic(traffic.bodies[:rows], traffic.outcomes[:rows], traffic.labelled[:rows])
    options = SendOptions(
        rate,
        duration=rows / rate + 1.0,
        outcome_delay=outcome_delay,
        concurrency=concurrency,
        progress=progress,
        stop=stop,
    )
    return send(url, api_key, traffic, schema.target, options, Path(path).name)
