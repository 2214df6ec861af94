"""What the prediction log stores: one answered request, or one true outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


def require_aware(value: datetime, name: str) -> None:
    """Raise ValueError when `value` has no time zone (the log keeps UTC instants only)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


@dataclass(frozen=True)
class PredictionRecord:
    """One answered request: the input row, who answered, and the shadow model's score if any."""

    request_id: str
    received_at: datetime
    delivery_id: str | None
    request_key: str | None
    features: dict[str, Any]
    mode: str
    variant: str
    model_version: str
    probability: float
    decision: bool
    threshold: float
    latency_ms: float
    shadow_version: str | None = None
    shadow_probability: float | None = None
    shadow_latency_ms: float | None = None
    shadow_error: str | None = None

    def __post_init__(self) -> None:
        require_aware(self.received_at, "received_at")


@dataclass(frozen=True)
class FeedbackRecord:
    """A true outcome (1 = delayed), tied to a prediction by request id or delivery id."""

    outcome: int
    received_at: datetime
    request_id: str | None = None
    delivery_id: str | None = None

    def __post_init__(self) -> None:
        if self.request_id is None and self.delivery_id is None:
            raise ValueError("feedback needs a request_id or a delivery_id")
        if self.outcome not in (0, 1):
            raise ValueError(f"outcome must be 0 or 1, got {self.outcome!r}")
        require_aware(self.received_at, "received_at")
