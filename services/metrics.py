"""The service's Prometheus metrics: stable names with the `mlops_` prefix.

| name | type | labels | meaning |
|---|---|---|---|
| mlops_requests_total | counter | route, status | HTTP requests answered, by status code |
| mlops_request_latency_seconds | histogram | route | time to answer, inside the service |
| mlops_predictions_total | counter | variant, model_version | rows answered |
| mlops_prediction_latency_seconds | histogram | variant, model_version | model time per request |
| mlops_prediction_errors_total | counter | variant, model_version | model failures |
| mlops_predicted_probability | histogram | variant, model_version | answered probability |
| mlops_decisions_total | counter | variant, model_version, decision | rows warned (1) or not |
| mlops_shadow_predictions_total | counter | model_version, outcome | shadow rows: ok, error, shed |
| mlops_shadow_disagreements_total | counter | model_version | shadow rows whose decision differs |
| mlops_shadow_abs_difference | histogram | model_version | abs(challenger - champion) probability |
| mlops_shadow_latency_seconds | histogram | model_version | challenger time per shadow job |
| mlops_feedback_total | counter | outcome | outcomes received (0 or 1) |
| mlops_unknown_category_total | counter | column | rows with an unlisted value (scored as other) |
| mlops_model_info | gauge | variant, model_version | 1 for each model in its current role |
| mlops_traffic_mode | gauge | mode | 1 for the mode in force |
| mlops_challenger_weight | gauge | | share of keys the challenger answers (ab, canary) |
| mlops_policy_changes_total | counter | changed_by | traffic-policy changes applied |
| mlops_prediction_log_pending | gauge | | log rows waiting for the database |
| mlops_prediction_log_dropped_total | gauge | | log rows given up (queue overflow) |
| mlops_ready | gauge | | 1 when the models are loaded |
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

from pipelines.features import count_unknown
from pipelines.schema import Schema

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
PROBABILITY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


def use_process_local_values() -> None:
    """Keep metric values in memory even though `bentoml serve` set PROMETHEUS_MULTIPROC_DIR.

    BentoML sets that directory for its own metrics, which the service switches
    off. File-backed values cost 50-150 us per request and cannot clear labels;
    each service process answers its own /metrics, so memory is right. Call it in
    the service process before any metric is created.
    """
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    os.environ.pop("prometheus_multiproc_dir", None)
    values.ValueClass = values.MutexValue


class ServingMetrics:
    """Every metric of one service process, registered in `registry`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Create the metrics (names must be unique in the registry)."""
        self.registry = registry
        self._add_answer_metrics(registry)
        self._add_shadow_metrics(registry)
        self._add_state_metrics(registry)

    def _add_answer_metrics(self, registry: CollectorRegistry) -> None:
        """Requests, rows answered, their latency, errors, probabilities and decisions."""
        model = ["variant", "model_version"]
        self.requests = Counter(
            "mlops_requests", "HTTP requests answered", ["route", "status"], registry=registry
        )
        self.request_latency = Histogram(
            "mlops_request_latency_seconds",
            "Time to answer inside the service",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.predictions = Counter("mlops_predictions", "Rows answered", model, registry=registry)
        self.prediction_latency = Histogram(
            "mlops_prediction_latency_seconds",
            "Model time per request",
            model,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.prediction_errors = Counter(
            "mlops_prediction_errors", "Model failures", model, registry=registry
        )
        self.probability = Histogram(
            "mlops_predicted_probability",
            "Answered delay probability",
            model,
            buckets=PROBABILITY_BUCKETS,
            registry=registry,
        )
        self.decisions = Counter(
            "mlops_decisions", "Warnings (1) or not (0)", [*model, "decision"], registry=registry
        )

    def _add_shadow_metrics(self, registry: CollectorRegistry) -> None:
        """The challenger's shadow rows: outcome, disagreement, difference and latency."""
        self.shadow = Counter(
            "mlops_shadow_predictions",
            "Shadow rows: ok, error or shed",
            ["model_version", "outcome"],
            registry=registry,
        )
        self.shadow_disagreements = Counter(
            "mlops_shadow_disagreements",
            "Shadow rows whose decision differs from the champion's",
            ["model_version"],
            registry=registry,
        )
        self.shadow_difference = Histogram(
            "mlops_shadow_abs_difference",
            "abs(challenger - champion) probability",
            ["model_version"],
            buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0),
            registry=registry,
        )
        self.shadow_latency = Histogram(
            "mlops_shadow_latency_seconds",
            "Challenger time per shadow job",
            ["model_version"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def _add_state_metrics(self, registry: CollectorRegistry) -> None:
        """Outcomes, unlisted categories, models in their roles, the policy, the log, readiness."""
        model = ["variant", "model_version"]
        self.feedback = Counter(
            "mlops_feedback", "Outcomes received", ["outcome"], registry=registry
        )
        self.unknown_categories = Counter(
            "mlops_unknown_category",
            "Rows whose open category held an unlisted value (scored as other)",
            ["column"],
            registry=registry,
        )
        self.model_info = Gauge(
            "mlops_model_info", "1 for each model in its current role", model, registry=registry
        )
        self.traffic_mode = Gauge(
            "mlops_traffic_mode", "1 for the mode in force", ["mode"], registry=registry
        )
        self.challenger_weight = Gauge(
            "mlops_challenger_weight", "Share of keys the challenger answers", registry=registry
        )
        self.policy_changes = Counter(
            "mlops_policy_changes",
            "Traffic-policy changes applied",
            ["changed_by"],
            registry=registry,
        )
        self.log_pending = Gauge(
            "mlops_prediction_log_pending", "Log rows waiting for the database", registry=registry
        )
        self.log_dropped = Gauge(
            "mlops_prediction_log_dropped_total", "Log rows given up", registry=registry
        )
        self.ready = Gauge("mlops_ready", "1 when the models are loaded", registry=registry)


def count_unknown_categories(
    metrics: ServingMetrics, schema: Schema, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Count, per open category, the request rows holding a value it does not list."""
    for column, n in count_unknown(schema, rows).items():
        metrics.unknown_categories.labels(column).inc(n)
