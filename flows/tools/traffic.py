"""Paced traffic for a running service: request bodies now, their true outcomes later.

What to send is a `Traffic` (request bodies, each row's outcome, whether the
outcome is reported); `send` posts the bodies to POST /predict at `rate` per
second in real time (open loop) on one asyncio event loop, with at most
`concurrency` predictions in flight: when the service is slower than that,
sending falls behind rather than piling up connections. Each reported outcome
goes to POST /feedback by request id `outcome_delay` seconds after its answer.
`mlops simulate` builds the Traffic from the example's generator.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np


@dataclass(frozen=True)
class Traffic:
    """What is sent, and what the sender keeps to itself until later."""

    bodies: list[dict[str, Any]]
    """Request bodies: the API's input fields only."""
    outcomes: list[Any]
    """The true outcome of each row (sent as feedback, never with the request)."""
    labelled: list[bool]
    """Whether the outcome of each row is reported at all."""


@dataclass(frozen=True)
class SendOptions:
    """How fast and how long to send, and when outcomes follow."""

    rate: float
    """Requests per second."""
    duration: float
    """Seconds of sending (feedback may follow for `outcome_delay` more)."""
    outcome_delay: float = 5.0
    concurrency: int = 8
    """Predictions in flight at most (and as many feedback posts). Keep it small: httpx's
    pool scans every connection per request, and 8 sustain 200 req/s against a service
    answering in a few ms."""
    progress: Callable[[str], None] | None = None
    """Called with a progress line every `progress_seconds` (None: silent)."""
    progress_seconds: float = 5.0
    stop: threading.Event | None = None
    """Set it to stop sending early (pending feedback is still sent)."""


@dataclass(frozen=True)
class TrafficResult:
    """Counts and client-side latencies of one run of traffic."""

    name: str
    """What was sent (a scenario, a file)."""
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
    positive_share: float | None
    """Share of the sent rows whose outcome is true (None for outcomes that are not 0/1)."""

    def summary(self) -> str:
        """One line: what was sent and answered, how fast, by whom."""
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) or "none"
        variants = ", ".join(f"{k} {v}" for k, v in sorted(self.variants.items())) or "none"
        p50 = "n/a" if self.latency_p50_ms is None else f"{self.latency_p50_ms:.1f}"
        p99 = "n/a" if self.latency_p99_ms is None else f"{self.latency_p99_ms:.1f}"
        fb_errors = sum(self.feedback_errors.values())
        positive = "" if self.positive_share is None else f"; {self.positive_share:.1%} positive"
        return (
            f"sent {self.name}: {self.sent}/{self.planned} in "
            f"{self.sending_seconds:.1f} s ({self.sent / max(self.sending_seconds, 1e-9):.1f} "
            f"req/s, target {self.rate:g}); answered "
            f"{self.answered}, errors {errors}; p50 {p50} ms, p99 {p99} ms; variants {variants}; "
            f"feedback {self.feedback_sent} sent"
            + (f", {fb_errors} failed" if fb_errors else "")
            + positive
        )


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


async def _post(client: httpx.AsyncClient, path: str, body: bytes) -> tuple[str | None, Any]:
    """(error key or None, JSON answer)."""
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


class _Sender:
    """One run: paces the predictions, schedules the feedback, keeps the tally."""

    def __init__(self, traffic: Traffic, target: str, options: SendOptions) -> None:
        self.traffic, self.target, self.options = traffic, target, options
        self.tally = _Tally()
        self.payloads = [json.dumps(b, separators=(",", ":")).encode() for b in traffic.bodies]

    async def run(self, url: str, api_key: str) -> tuple[float, float]:
        """Send everything; (sending seconds, total seconds)."""
        opts, loop = self.options, asyncio.get_running_loop()
        self.in_flight = asyncio.Semaphore(opts.concurrency)
        self.feedback_slots = asyncio.Semaphore(opts.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        pool = 2 * opts.concurrency
        async with httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            timeout=httpx.Timeout(10.0, pool=30.0),
        ) as client:
            started = loop.time()
            reporter = asyncio.create_task(self.report(started)) if opts.progress else None
            for i in range(len(self.payloads)):
                if opts.stop is not None and opts.stop.is_set():
                    break
                wait = started + i / opts.rate - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if loop.time() - started >= opts.duration:
                    break
                await self.in_flight.acquire()
                self.tally.sent += 1
                task = asyncio.create_task(self.one(client, i))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            sending = loop.time() - started
            if tasks:
                await asyncio.gather(*tasks)
            if reporter is not None:
                reporter.cancel()
            return sending, loop.time() - started

    async def one(self, client: httpx.AsyncClient, i: int) -> None:
        """Predict row `i`; report its outcome later when it is labelled."""
        tally, loop = self.tally, asyncio.get_running_loop()
        try:
            t0 = time.perf_counter()
            error, answer = await _post(client, "/predict", self.payloads[i])
            answered_at = loop.time()
            if error is not None:
                tally.errors[error] += 1
                return
            tally.latencies_ms.append((time.perf_counter() - t0) * 1000)
            tally.answered += 1
            tally.variants[str(answer.get("variant"))] += 1
            tally.versions[str(answer.get("model_version"))] += 1
        finally:
            self.in_flight.release()
        if self.traffic.labelled[i]:
            await asyncio.sleep(max(0.0, answered_at + self.options.outcome_delay - loop.time()))
            await self.feedback(client, answer["request_id"], self.traffic.outcomes[i])

    async def feedback(self, client: httpx.AsyncClient, request_id: str, outcome: Any) -> None:
        """Report one outcome by request id."""
        body = json.dumps({"request_id": request_id, self.target: outcome}).encode()
        async with self.feedback_slots:
            error, _ = await _post(client, "/feedback", body)
        if error is None:
            self.tally.feedback_sent += 1
        else:
            self.tally.feedback_errors[error] += 1

    async def report(self, started: float) -> None:
        """A progress line every `progress_seconds` until cancelled."""
        loop, progress = asyncio.get_running_loop(), self.options.progress
        assert progress is not None
        while True:
            await asyncio.sleep(self.options.progress_seconds)
            progress(self.tally.line(loop.time() - started))


def send(
    url: str, api_key: str, traffic: Traffic, target: str, options: SendOptions, name: str
) -> TrafficResult:
    """Send `traffic` to the service at `url`; the outcomes go in the `target` field."""
    if not options.rate > 0 or not options.duration > 0:
        raise ValueError(
            f"rate and duration must be positive, got {options.rate}, {options.duration}"
        )
    if options.outcome_delay < 0 or options.concurrency < 1:
        raise ValueError("the outcome delay must be >= 0 and the concurrency >= 1")
    sender = _Sender(traffic, target, options)
    sending, seconds = asyncio.run(sender.run(url, api_key))
    tally = sender.tally
    latencies = np.asarray(tally.latencies_ms, dtype="float64")
    sent = traffic.outcomes[: tally.sent]
    binary = bool(sent) and all(isinstance(o, bool) for o in sent)
    return TrafficResult(
        name=name,
        rate=options.rate,
        seconds=seconds,
        sending_seconds=sending,
        planned=len(traffic.bodies),
        sent=tally.sent,
        answered=tally.answered,
        errors=dict(tally.errors),
        feedback_sent=tally.feedback_sent,
        feedback_errors=dict(tally.feedback_errors),
        latency_p50_ms=float(np.percentile(latencies, 50)) if len(latencies) else None,
        latency_p99_ms=float(np.percentile(latencies, 99)) if len(latencies) else None,
        variants=dict(tally.variants),
        model_versions=dict(tally.versions),
        positive_share=float(np.mean(sent)) if binary else None,
    )
