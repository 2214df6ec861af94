"""`mlops simulate`: live traffic for a running service, with the true outcomes as late feedback.

Deliveries come from the example's generator (a drift scenario of your choice), picked
up "now": each request's pickup time is the moment it is sent, and its true outcome is
redrawn for that time, so the sent features and the outcome agree. Every delivery gets
a random customer id (the A/B routing key) and only the API's input fields are sent;
the outcome stays with the simulator and goes to POST /feedback by request id
`feedback_delay` seconds after the answer, for a `label_share` of the deliveries.

Requests are paced in real time at `rate` per second (open loop) on one asyncio event
loop with at most `concurrency` predictions in flight: when the service is slower than
that, sending falls behind rather than piling up connections.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import load
from pipelines.generate import SCENARIOS, delay_logit, generate_deliveries
from pipelines.schema import Schema, build_schema

MAX_ROWS = 2_000_000
"""Deliveries one simulation may plan (rate x duration)."""


@dataclass(frozen=True)
class Traffic:
    """What the simulator sends, and what it keeps to itself."""

    bodies: list[dict[str, Any]]
    """Request bodies: the API's input fields only."""
    delayed: list[bool]
    """The true outcome of each delivery (sent as feedback, never with the request)."""
    labelled: list[bool]
    """Whether the outcome of each delivery is reported at all."""


@dataclass(frozen=True)
class SimulationResult:
    """Counts and client-side latencies of one simulation."""

    scenario: str
    rate: float
    seconds: float
    """Wall time, the feedback after the last answer included."""
    sending_seconds: float
    """Wall time of the sending itself (the achieved rate is sent / sending_seconds)."""
    planned: int
    sent: int
    answered: int
    errors: dict[str, int]
    """Failed predictions by HTTP status (or transport error name)."""
    feedback_sent: int
    feedback_errors: dict[str, int]
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    variants: dict[str, int]
    """Answers by variant (champion / challenger)."""
    model_versions: dict[str, int]
    delayed_share: float
    """Share of the sent deliveries that were truly delayed."""

    def summary(self) -> str:
        """One line: what was sent and answered, how fast, by whom."""
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) or "none"
        variants = ", ".join(f"{k} {v}" for k, v in sorted(self.variants.items())) or "none"
        p50 = "n/a" if self.latency_p50_ms is None else f"{self.latency_p50_ms:.1f}"
        p99 = "n/a" if self.latency_p99_ms is None else f"{self.latency_p99_ms:.1f}"
        fb_errors = sum(self.feedback_errors.values())
        return (
            f"simulated {self.scenario}: sent {self.sent}/{self.planned} in "
            f"{self.sending_seconds:.1f} s ({self.sent / max(self.sending_seconds, 1e-9):.1f} "
            f"req/s, target {self.rate:g}); answered "
            f"{self.answered}, errors {errors}; p50 {p50} ms, p99 {p99} ms; variants {variants}; "
            f"feedback {self.feedback_sent} sent"
            + (f", {fb_errors} failed" if fb_errors else "")
            + f"; {self.delayed_share:.1%} truly delayed"
        )


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


@dataclass
class _Tally:
    sent: int = 0
    answered: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    feedback_sent: int = 0
    feedback_errors: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    variants: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)

    def line(self, elapsed: float) -> str:
        recent = self.latencies_ms[-2000:]
        p50 = f"{np.percentile(recent, 50):.1f} ms" if recent else "n/a"
        return (
            f"[{elapsed:6.1f} s] sent {self.sent}, answered {self.answered}, errors "
            f"{sum(self.errors.values())}, feedback {self.feedback_sent}, p50 {p50}"
        )


async def _post(client: Any, path: str, body: bytes) -> tuple[str | None, Any]:
    """(error key or None, JSON answer)."""
    import httpx

    try:
        response = await client.post(path, content=body)
    except httpx.HTTPError as exc:
        return type(exc).__name__, None
    if response.status_code >= 300:
        return str(response.status_code), None
    try:
        return None, response.json()
    except ValueError:
        return "bad-json", None


async def _run(
    url: str,
    api_key: str,
    traffic: Traffic,
    target: str,
    rate: float,
    duration: float,
    feedback_delay: float,
    concurrency: int,
    progress: Callable[[str], None] | None,
    progress_seconds: float,
    stop: threading.Event | None,
) -> tuple[_Tally, float, float]:
    """(tally, sending seconds, total seconds)."""
    import httpx

    tally = _Tally()
    loop = asyncio.get_running_loop()
    in_flight = asyncio.Semaphore(concurrency)
    feedback_slots = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()
    limits = httpx.Limits(
        max_connections=2 * concurrency, max_keepalive_connections=2 * concurrency
    )
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    payloads = [json.dumps(b, separators=(",", ":")).encode() for b in traffic.bodies]

    async def one(client: httpx.AsyncClient, i: int) -> None:
        try:
            t0 = time.perf_counter()
            error, answer = await _post(client, "/predict", payloads[i])
            answered_at = loop.time()
            if error is not None:
                tally.errors[error] += 1
                return
            tally.latencies_ms.append((time.perf_counter() - t0) * 1000)
            tally.answered += 1
            tally.variants[str(answer.get("variant"))] += 1
            tally.versions[str(answer.get("model_version"))] += 1
        finally:
            in_flight.release()
        if not traffic.labelled[i]:
            return
        await asyncio.sleep(max(0.0, answered_at + feedback_delay - loop.time()))
        feedback = {"request_id": answer["request_id"], target: traffic.delayed[i]}
        async with feedback_slots:
            error, _ = await _post(client, "/feedback", json.dumps(feedback).encode())
        if error is None:
            tally.feedback_sent += 1
        else:
            tally.feedback_errors[error] += 1

    async def report(started: float) -> None:
        assert progress is not None
        while True:
            await asyncio.sleep(progress_seconds)
            progress(tally.line(loop.time() - started))

    timeout = httpx.Timeout(10.0, pool=30.0)
    async with httpx.AsyncClient(
        base_url=url.rstrip("/"), headers=headers, limits=limits, timeout=timeout
    ) as client:
        started = loop.time()
        reporter = asyncio.create_task(report(started)) if progress else None
        for i in range(len(traffic.bodies)):
            if stop is not None and stop.is_set():
                break
            wait = started + i / rate - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if loop.time() - started >= duration:
                break
            await in_flight.acquire()
            tally.sent += 1
            task = asyncio.create_task(one(client, i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        sending = loop.time() - started
        if tasks:
            await asyncio.gather(*tasks)
        if reporter is not None:
            reporter.cancel()
        return tally, sending, loop.time() - started


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
) -> SimulationResult:
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
    """
    planned = _check(scenario, rate, duration, feedback_delay, label_share)
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    config = load(Path(root))
    schema = build_schema(config)
    generate = config.params.generate
    start = datetime.now(UTC) + timedelta(seconds=0.5)
    traffic = build_traffic(
        schema, scenario, planned, rate, seed, label_share, start, generate.start, generate.days
    )
    tally, sending, seconds = asyncio.run(
        _run(
            url,
            api_key,
            traffic,
            schema.target,
            rate,
            duration,
            feedback_delay,
            concurrency,
            progress,
            progress_seconds,
            stop,
        )
    )
    latencies = np.asarray(tally.latencies_ms, dtype="float64")
    sent_delayed = traffic.delayed[: tally.sent]
    return SimulationResult(
        scenario=scenario,
        rate=rate,
        seconds=seconds,
        sending_seconds=sending,
        planned=planned,
        sent=tally.sent,
        answered=tally.answered,
        errors=dict(tally.errors),
        feedback_sent=tally.feedback_sent,
        feedback_errors=dict(tally.feedback_errors),
        latency_p50_ms=float(np.percentile(latencies, 50)) if len(latencies) else None,
        latency_p99_ms=float(np.percentile(latencies, 99)) if len(latencies) else None,
        variants=dict(tally.variants),
        model_versions=dict(tally.versions),
        delayed_share=float(np.mean(sent_delayed)) if sent_delayed else 0.0,
    )
