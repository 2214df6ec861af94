"""`mlops simulate`: the example's generated rows as live traffic, true outcomes as late feedback.

Rows come from the example's generator (a drift scenario of your choice), picked
up "now": each request's pickup time is the moment it is sent, and its true
outcome is redrawn for that time, so the sent features and the outcome agree.
Every row gets a random customer id (the A/B routing key) and only the API's
input fields are sent; the outcome stays with the simulator and goes to
POST /feedback by request id `feedback_delay` seconds after the answer, for a
`label_share` of the rows. The sending itself is flows/tools/traffic.py.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flows.tools.traffic import SendOptions, Traffic, TrafficResult, send
from pipelines.config import load
from pipelines.generate import SCENARIOS, delay_logit, generate_deliveries
from pipelines.schema import Schema, build_schema

MAX_ROWS = 2_000_000
"""Deliveries one simulation may plan (rate x duration)."""


def _check(scenario: str, rate: float, duration: float, feedback_delay: float, share: float) -> int:
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, got {scenario!r}")
    if not rate > 0 or not duration > 0:
        raise ValueError(f"rate and duration must be positive, got {rate} and {duration}")
    if feedback_delay < 0 or not 0 <= share <= 1:
        raise ValueError("feedback_delay must be >= 0 and label_share between 0 and 1")
    planned = math.ceil(rate * duration)
    if planned > MAX_ROWS:
        raise ValueError(f"rate x duration plans {planned} deliveries; at most {MAX_ROWS}")
    return planned


def build_traffic(
    schema: Schema,
    scenario: str,
    rows: int,
    rate: float,
    seed: int,
    label_share: float,
    start: datetime,
    generate_start: str = "2025-01-01",
    generate_days: int = 365,
) -> Traffic:
    """Request bodies picked up from `start` on, one every 1/rate s, with their true outcomes.

    Args:
        schema: The API's schema (its input fields are the only ones sent).
        scenario: A generator scenario (`pipelines.generate.SCENARIOS`).
        rows: Number of deliveries.
        rate: Requests per second (spaces the pickup times).
        seed: Seed of the deliveries, customer ids, outcomes and which are labelled.
        label_share: Share of deliveries whose outcome is reported.
        start: Pickup time of the first delivery (timezone-aware).
        generate_start: First day of the generator's calendar (its seasons and scenario).
        generate_days: Length of that calendar.
    """
    rng = np.random.default_rng([seed, 1])
    frame = generate_deliveries(rows, seed, generate_start, generate_days, scenario)
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # mix the seasons
    missing = [c for c in schema.input_columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"the generator has no column {', '.join(missing)}: simulate needs "
            "the courier example's schema"
        )
    offsets = pd.to_timedelta(np.arange(rows) / rate, unit="s")
    pickup = (pd.Timestamp(start).tz_convert(UTC) + offsets).floor("ms")
    frame[schema.time_column] = pickup.tz_localize(None)  # naive UTC, as the generator's
    prob = 1 / (1 + np.exp(-delay_logit(frame, scenario)))  # the outcome of a pickup at that time
    delayed = rng.random(rows) < prob
    labelled = rng.random(rows) < label_share
    token = uuid.uuid4().hex[:8]
    customers = rng.integers(0, 2**62, rows)
    bodies = []
    numeric = [c.name for c in schema.numeric]
    categorical = schema.categorical_names
    for i, record in enumerate(frame[numeric + categorical].to_dict("records")):
        body: dict[str, Any] = {
            schema.id_column: f"SIM-{token}-{i:07d}",
            schema.time_column: pickup[i].isoformat(),
        }
        if schema.key_column:
            body[schema.key_column] = f"SIM{customers[i]:016x}"
        body.update({c: float(record[c]) for c in numeric})
        body.update({c: str(record[c]) for c in categorical})
        bodies.append(body)
    return Traffic(bodies, delayed.tolist(), labelled.tolist())


def simulate(
    url: str,
    api_key: str,
    scenario: str = "none",
    rate: float = 20.0,
    duration: float = 60.0,
    feedback_delay: float = 5.0,
    label_share: float = 1.0,
    seed: int = 0,
    *,
    root: Path | str = ".",
    concurrency: int = 8,
    progress: Callable[[str], None] | None = None,
    progress_seconds: float = 5.0,
    stop: threading.Event | None = None,
) -> TrafficResult:
    """Send `rate` deliveries a second for `duration` seconds to the service at `url`.

    Args:
        url: Base URL of the service.
        api_key: The client API key.
        scenario: Generator scenario of the deliveries.
        rate: Requests per second (5-200 are typical).
        duration: Seconds of sending (feedback may follow for `feedback_delay` more).
        feedback_delay: Seconds between an answer and its outcome's feedback.
        label_share: Share of deliveries whose outcome is reported.
        seed: Seed of the deliveries, customers and outcomes.
        root: Project root: the API's schema comes from its params.yaml.
        concurrency: Predictions in flight at most (and as many feedback posts). Keep it
            small: httpx's pool scans every connection per request, and 8 sustain 200
            req/s against a service answering in a few ms.
        progress: Called with a progress line every `progress_seconds` (None: silent).
        progress_seconds: Seconds between progress lines.
        stop: Set it to stop sending early (pending feedback is still sent).

    Returns:
        Counts, client-side latency percentiles and the answers by variant.

    Raises:
        ValueError: A setting is out of range (the message names it).
    """
    planned = _check(scenario, rate, duration, feedback_delay, label_share)
    config = load(Path(root))
    schema = build_schema(config)
    generate = config.params.generate
    start = datetime.now(UTC) + timedelta(seconds=0.5)
    traffic = build_traffic(
        schema, scenario, planned, rate, seed, label_share, start, generate.start, generate.days
    )
    options = SendOptions(
        rate, duration, feedback_delay, concurrency, progress, progress_seconds, stop
    )
    return send(url, api_key, traffic, schema.target, options, f"scenario {scenario}")
