"""Traffic policy: which model answers a request, as pure functions of the policy and a key.

champion  the champion answers everything
shadow    the champion answers; the challenger scores the same rows off the response path
ab        a weighted split, sticky by request key (a customer keeps its variant while
          the weight stays; raising the weight only moves customers towards the challenger)
canary    like ab with a small weight, withdrawn automatically when a guardrail breaks
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

Mode = Literal["champion", "shadow", "ab", "canary"]
Variant = Literal["champion", "challenger"]
MODES: tuple[Mode, ...] = ("champion", "shadow", "ab", "canary")


class TrafficPolicy(BaseModel):
    """The routing in force; stored as one row per change in the prediction-log database."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode = "champion"
    challenger_weight: Annotated[float, Field(ge=0, le=1)] = 0.0
    """Share of request keys the challenger answers in ab and canary modes."""
    salt: str = "v1"
    """Changing the salt reshuffles which keys go to which variant."""
    champion: str | None = None
    """Registry version serving as champion; None means the one packaged as champion."""
    challenger: str | None = None

    @model_validator(mode="after")
    def _weight_fits_mode(self) -> TrafficPolicy:
        if self.mode in ("ab", "canary") and not 0 < self.challenger_weight < 1:
            raise ValueError(f"mode {self.mode} needs 0 < challenger_weight < 1")
        return self

    @property
    def uses_challenger(self) -> bool:
        """True when the challenger scores any request (answering or in shadow)."""
        return self.mode != "champion"


def bucket(key: str, salt: str) -> float:
    """A stable position in [0, 1) for a key: the same key always lands in the same place."""
    digest = hashlib.blake2b(f"{salt}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def route(policy: TrafficPolicy, key: str) -> Variant:
    """The variant that answers a request with this key."""
    if policy.mode in ("ab", "canary") and bucket(key, policy.salt) < policy.challenger_weight:
        return "challenger"
    return "champion"


@dataclass(frozen=True)
class Guardrails:
    """Limits a canary challenger must respect (from project.yaml)."""

    max_error_rate: float
    max_p99_ms: float
    min_requests: int
    window_requests: int


class CanaryWatch:
    """The challenger's latest outcomes in canary; says when a guardrail breaks.

    Not thread-safe on its own: the router calls it under its lock.
    """

    def __init__(self, guardrails: Guardrails) -> None:
        """Start with an empty window."""
        self.guardrails = guardrails
        self._latency_ms: deque[float] = deque(maxlen=guardrails.window_requests)
        self._errors: deque[bool] = deque(maxlen=guardrails.window_requests)

    def reset(self) -> None:
        """Forget the window (a new canary starts)."""
        self._latency_ms.clear()
        self._errors.clear()

    def observe(self, latency_ms: float, failed: bool) -> None:
        """Record one challenger request."""
        self._latency_ms.append(latency_ms)
        self._errors.append(failed)

    def breach(self) -> str | None:
        """Why the canary must stop, or None while it is within its guardrails."""
        g, n = self.guardrails, len(self._errors)
        if n < g.min_requests:
            return None
        error_rate = sum(self._errors) / n
        if error_rate > g.max_error_rate:
            return (
                f"challenger error rate {error_rate:.1%} over its last {n} requests "
                f"is above {g.max_error_rate:.1%}"
            )
        p99 = float(np.percentile(np.fromiter(self._latency_ms, float), 99))
        if p99 > g.max_p99_ms:
            return (
                f"challenger p99 {p99:.1f} ms over its last {n} requests "
                f"is above {g.max_p99_ms:g} ms"
            )
        return None
