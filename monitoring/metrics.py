"""Prometheus metrics of the monitoring figures: window summaries and flow runs, published.

The metric names and labels are the contract in docs/monitoring-contract.md.
Batch jobs fill their own `CollectorRegistry` and publish it as a *job*:

- to a directory of `<job>.prom` files, replaced atomically, which the exporter
  (`monitoring.exporter`, `mlops exporter`) serves to Prometheus as one page,
  read from disk at each scrape;
- and/or to a Pushgateway when `MLOPS_PUSHGATEWAY_URL` is set (one group per job).

A summary is split over three jobs so that a stale or failed run never erases
the good figures of the last scored window:

| job | written | holds |
|---|---|---|
| `monitoring` | scored windows only | every drift/quality figure and the last success time |
| `monitoring_status` | every run | stale flag and last run time |
| `monitoring_retrain` | when a window asks for retraining | when retraining was last asked for |

Each flow run is the job `flow_<flow>` (its last run replaces the previous one).
Only the `mlops_flow_*` families are shared by several files; the exporter
merges them into one family per name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

PUSHGATEWAY_ENV = "MLOPS_PUSHGATEWAY_URL"
JOB_WINDOW = "monitoring"
JOB_STATUS = "monitoring_status"
JOB_RETRAIN = "monitoring_retrain"
_JOB_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


# ------------------------------------------------------------------ registries


def _timestamp(value: Any) -> float | None:
    """Seconds since the epoch from an ISO-8601 string, a datetime or a number."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value)).timestamp()


def _number(value: Any) -> float | None:
    """A finite gauge value, or None for a missing figure (null is not 0)."""
    if value is None:
        return None
    number = float(value)
    return None if number != number else number  # NaN means unknown too


def _gauge(registry: CollectorRegistry, name: str, doc: str, labels: Iterable[str] = ()) -> Gauge:
    return Gauge(name, doc, list(labels), registry=registry)


def status_metrics(summary: Mapping[str, Any], registry: CollectorRegistry) -> None:
    """Fill `registry` with what every run exports: the stale flag and the last run time.

    Args:
        summary: A window summary (docs/monitoring-contract.md).
        registry: A registry without these metrics yet.
    """
    stale = summary.get("status") != "ok"
    _gauge(registry, "mlops_monitoring_stale", "1 when the last window could not be scored").set(
        1 if stale else 0
    )
    finished = _timestamp(summary.get("finished_at"))
    if finished is not None:
        _gauge(
            registry,
            "mlops_monitoring_last_run_timestamp_seconds",
            "End of the last monitoring run (any outcome)",
        ).set(finished)


def window_metrics(summary: Mapping[str, Any], registry: CollectorRegistry) -> None:
    """Fill `registry` with the figures of a scored window (nothing for a stale one).

    A figure that is null in the summary (e.g. recall without labelled rows) is
    left out, never exported as 0.

    Args:
        summary: A window summary (docs/monitoring-contract.md).
        registry: A registry without these metrics yet.
    """
    if summary.get("status") != "ok":
        return
    version = str(summary.get("model_version") or "")
    window = summary.get("window") or {}
    finished = _timestamp(summary.get("finished_at"))
    if finished is not None:
        _gauge(
            registry,
            "mlops_monitoring_last_success_timestamp_seconds",
            "End of the last run that scored a window",
        ).set(finished)
    if (rows := _number(window.get("rows"))) is not None:
        _gauge(
            registry,
            "mlops_monitoring_window_rows",
            "Predictions in the last scored window",
            ["model_version"],
        ).labels(version).set(rows)

    drift = summary.get("drift") or {}
    if drift:
        if (share := _number(drift.get("share"))) is not None:
            _gauge(
                registry,
                "mlops_drift_share",
                "Share of features drifted (0-1)",
                ["model_version"],
            ).labels(version).set(share)
        if drift.get("dataset_drift") is not None:
            _gauge(
                registry,
                "mlops_dataset_drift",
                "1 when the drifted share reaches the threshold",
                ["model_version"],
            ).labels(version).set(1 if drift["dataset_drift"] else 0)
        features: Mapping[str, Mapping[str, Any]] = drift.get("features") or {}
        if features:
            score = _gauge(
                registry,
                "mlops_feature_drift_score",
                "The feature's drift score",
                ["model_version", "feature", "method"],
            )
            drifted = _gauge(
                registry,
                "mlops_feature_drifted",
                "1 when that feature drifted",
                ["model_version", "feature"],
            )
            for feature, result in sorted(features.items()):
                if (value := _number(result.get("score"))) is not None:
                    score.labels(version, feature, str(result.get("method") or "")).set(value)
                if result.get("drifted") is not None:
                    drifted.labels(version, feature).set(1 if result["drifted"] else 0)

    segmented = summary.get("segment_drift") or {}
    segments: Mapping[str, Mapping[str, Any]] = segmented.get("segments") or {}
    if segments:
        column = str(segmented.get("column") or "")
        labels = ["model_version", "segment_column", "segment"]
        share_gauge = _gauge(
            registry,
            "mlops_segment_drift_share",
            "Share of features drifted in the segment",
            labels,
        )
        drifted_gauge = _gauge(
            registry,
            "mlops_segment_dataset_drift",
            "1 when the segment's drifted share reaches the threshold",
            labels,
        )
        for segment, result in sorted(segments.items()):
            if (share := _number(result.get("share"))) is not None:
                share_gauge.labels(version, column, segment).set(share)
            if result.get("dataset_drift") is not None:
                drifted_gauge.labels(version, column, segment).set(
                    1 if result["dataset_drift"] else 0
                )

    prediction = summary.get("prediction_drift") or {}
    if (value := _number(prediction.get("score"))) is not None:
        _gauge(
            registry,
            "mlops_prediction_drift_score",
            "Drift of the served probability",
            ["model_version", "method"],
        ).labels(version, str(prediction.get("method") or "")).set(value)

    variants: Mapping[str, Mapping[str, Any]] = summary.get("variants") or {}
    if variants:
        _variant_metrics(variants, version, registry)

    retrain = summary.get("retrain") or {}
    if retrain.get("fire") is not None:
        _gauge(
            registry,
            "mlops_retrain_requested",
            "1 when the last window asked for retraining",
        ).set(1 if retrain["fire"] else 0)


def _variant_metrics(
    variants: Mapping[str, Mapping[str, Any]], default_version: str, registry: CollectorRegistry
) -> None:
    labels = ["model_version", "variant"]
    per_variant = {
        "labelled": _gauge(
            registry,
            "mlops_monitoring_labelled_rows",
            "Predictions with an outcome in the last scored window",
            labels,
        ),
        "recall": _gauge(
            registry, "mlops_live_recall", "Recall on labelled rows of the window", labels
        ),
        "precision": _gauge(
            registry, "mlops_live_precision", "Precision on labelled rows of the window", labels
        ),
        "positive_rate": _gauge(
            registry,
            "mlops_live_positive_rate",
            "Share of labelled rows that were delayed",
            labels,
        ),
        "calibration_error": _gauge(
            registry, "mlops_live_calibration_error", "Expected calibration error", labels
        ),
    }
    observed = _gauge(
        registry,
        "mlops_calibration_observed_rate",
        "Observed delay rate per probability bin",
        [*labels, "bin"],
    )
    predicted = _gauge(
        registry,
        "mlops_calibration_predicted_mean",
        "Mean predicted probability per probability bin",
        [*labels, "bin"],
    )
    for variant, figures in sorted(variants.items()):
        version = str(figures.get("model_version") or default_version)
        for key, gauge in per_variant.items():
            if (value := _number(figures.get(key))) is not None:
                gauge.labels(version, variant).set(value)
        for entry in figures.get("calibration") or []:
            bin_ = str(entry.get("bin"))
            if (rate := _number(entry.get("observed_rate"))) is not None:
                observed.labels(version, variant, bin_).set(rate)
            if (mean := _number(entry.get("mean_predicted"))) is not None:
                predicted.labels(version, variant, bin_).set(mean)


def retrain_metrics(summary: Mapping[str, Any], registry: CollectorRegistry) -> None:
    """Fill `registry` with the retraining request time when this scored window asked for one.

    Args:
        summary: A window summary (docs/monitoring-contract.md).
        registry: A registry without this metric yet.
    """
    if summary.get("status") != "ok" or not (summary.get("retrain") or {}).get("fire"):
        return
    finished = _timestamp(summary.get("finished_at"))
    if finished is not None:
        _gauge(
            registry,
            "mlops_retrain_last_requested_timestamp_seconds",
            "When retraining was last asked for",
        ).set(finished)


def summary_metrics(summary: Mapping[str, Any], registry: CollectorRegistry) -> None:
    """Fill `registry` with every contract gauge a window summary gives.

    A stale summary gives only `mlops_monitoring_stale` (1) and the last run
    time: no drift or quality figure, not even 0. To keep the previous figures
    through stale runs, publish with `export_summary`, which splits them by job.

    Args:
        summary: A window summary (docs/monitoring-contract.md).
        registry: A fresh registry (names must be unique in it).
    """
    status_metrics(summary, registry)
    window_metrics(summary, registry)
    retrain_metrics(summary, registry)


def summary_registries(summary: Mapping[str, Any]) -> dict[str, CollectorRegistry]:
    """The summary's metrics by job: status always; window and retrain only when they apply."""
    jobs = {JOB_STATUS: CollectorRegistry()}
    status_metrics(summary, jobs[JOB_STATUS])
    if summary.get("status") == "ok":
        jobs[JOB_WINDOW] = CollectorRegistry()
        window_metrics(summary, jobs[JOB_WINDOW])
        if (summary.get("retrain") or {}).get("fire"):
            jobs[JOB_RETRAIN] = CollectorRegistry()
            retrain_metrics(summary, jobs[JOB_RETRAIN])
    return jobs


def flow_run_metrics(
    flow: str, state: str, seconds: float, finished_at: float, registry: CollectorRegistry
) -> None:
    """Fill `registry` with one flow run: its end time (by state) and its wall time.

    Args:
        flow: Flow name, e.g. `training`, `monitoring`, `release`.
        state: Final state, e.g. `completed`, `failed`.
        seconds: Wall time of the run.
        finished_at: End of the run, seconds since the epoch.
        registry: A registry without these metrics yet.
    """
    _gauge(
        registry,
        "mlops_flow_last_run_timestamp_seconds",
        "End of each flow's last run",
        ["flow", "state"],
    ).labels(flow, state).set(finished_at)
    _gauge(
        registry, "mlops_flow_run_duration_seconds", "Wall time of the flow's last run", ["flow"]
    ).labels(flow).set(seconds)


# ------------------------------------------------------------------ publishing


def _check_job(job: str) -> str:
    if not _JOB_NAME.match(job):
        raise ValueError(f"job name {job!r} must be letters, digits, '_', '.' or '-'")
    return job


def write_metrics(directory: Path, job: str, registry: CollectorRegistry) -> Path:
    """Write `registry` to `<directory>/<job>.prom`, replacing the old file atomically.

    Args:
        directory: The exporter's directory (created when missing).
        job: File name without `.prom`.
        registry: The metrics to write.

    Returns:
        The path written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{_check_job(job)}.prom"
    write_to_textfile(str(path), registry)  # temp file beside it, then rename(2)
    return path


def push(registry: CollectorRegistry, job: str, gateway_url: str, timeout: float = 10.0) -> None:
    """Replace the Pushgateway group of `job` (the grouping key) with `registry`.

    Args:
        registry: The metrics to push.
        job: The group's job label.
        gateway_url: e.g. `http://127.0.0.1:9091`.
        timeout: Seconds to wait for the gateway.
    """
    push_to_gateway(gateway_url, job=_check_job(job), registry=registry, timeout=timeout)


def gateway_url_from_env() -> str | None:
    """The Pushgateway URL from `MLOPS_PUSHGATEWAY_URL`, or None when unset or empty."""
    return os.environ.get(PUSHGATEWAY_ENV) or None


def publish(
    job: str,
    registry: CollectorRegistry,
    directory: Path | None = None,
    gateway_url: str | None = None,
) -> None:
    """Write the job's file (when `directory` is given) and push it (when a gateway is set).

    Args:
        job: Job name: the file name and the Pushgateway group.
        registry: The metrics.
        directory: The exporter's directory, or None for no file.
        gateway_url: Pushgateway URL; None reads `MLOPS_PUSHGATEWAY_URL`.
    """
    if directory is not None:
        write_metrics(directory, job, registry)
    url = gateway_url or gateway_url_from_env()
    if url:
        push(registry, job, url)


def export_summary(
    summary: Mapping[str, Any], directory: Path | None = None, gateway_url: str | None = None
) -> list[str]:
    """Publish a window summary as its jobs; a stale one touches only `monitoring_status`.

    Args:
        summary: A window summary (docs/monitoring-contract.md).
        directory: The exporter's directory, or None for no files.
        gateway_url: Pushgateway URL; None reads `MLOPS_PUSHGATEWAY_URL`.

    Returns:
        The jobs published, figures first, status last.
    """
    jobs = summary_registries(summary)
    order = [j for j in (JOB_WINDOW, JOB_RETRAIN, JOB_STATUS) if j in jobs]
    for job in order:  # status last: a crash before it leaves the previous status
        publish(job, jobs[job], directory, gateway_url)
    return order


def export_flow_run(
    flow: str,
    state: str,
    seconds: float,
    finished_at: float,
    directory: Path | None = None,
    gateway_url: str | None = None,
) -> str:
    """Publish one flow run as the job `flow_<flow>` (replacing that flow's previous run).

    Args:
        flow: Flow name.
        state: Final state.
        seconds: Wall time of the run.
        finished_at: End of the run, seconds since the epoch.
        directory: The exporter's directory, or None for no file.
        gateway_url: Pushgateway URL; None reads `MLOPS_PUSHGATEWAY_URL`.

    Returns:
        The job published.
    """
    registry = CollectorRegistry()
    flow_run_metrics(flow, state, seconds, finished_at, registry)
    job = f"flow_{flow}"
    publish(job, registry, directory, gateway_url)
    return job
