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
from collections.abc import Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

from monitoring.summary import DatasetDrift, SegmentDrift, VariantQuality, WindowSummary

PUSHGATEWAY_ENV = "MLOPS_PUSHGATEWAY_URL"
JOB_WINDOW = "monitoring"
JOB_STATUS = "monitoring_status"
JOB_RETRAIN = "monitoring_retrain"
_JOB_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


# ------------------------------------------------------------------ registries

_VERSION = ("model_version",)
_VARIANT = ("model_version", "variant")
_SEGMENT = ("model_version", "segment_column", "segment")
_FEATURE = ("model_version", "feature")
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mlops_monitoring_stale": ("1 when the last window could not be scored", ()),
    "mlops_monitoring_last_run_timestamp_seconds": (
        "End of the last monitoring run (any outcome)",
        (),
    ),
    "mlops_monitoring_last_success_timestamp_seconds": (
        "End of the last run that scored a window",
        (),
    ),
    "mlops_monitoring_window_rows": ("Predictions in the last scored window", _VERSION),
    "mlops_drift_share": ("Share of features drifted (0-1)", _VERSION),
    "mlops_dataset_drift": ("1 when the drifted share reaches the threshold", _VERSION),
    "mlops_feature_drift_score": ("The feature's drift score", (*_VERSION, "feature", "method")),
    "mlops_feature_drifted": ("1 when that feature drifted", (*_VERSION, "feature")),
    "mlops_segment_drift_share": ("Share of features drifted in the segment", _SEGMENT),
    "mlops_segment_dataset_drift": (
        "1 when the segment's drifted share reaches the threshold",
        _SEGMENT,
    ),
    "mlops_prediction_drift_score": ("Drift of the served probability", (*_VERSION, "method")),
    "mlops_feature_null_share": ("Share of the window's rows with the feature null", _FEATURE),
    "mlops_feature_null_drifted": ("1 when the null share differs from the reference", _FEATURE),
    "mlops_unknown_category_share": (
        "Share of the window's rows with an unlisted value (scored as other)",
        (*_VERSION, "column"),
    ),
    "mlops_monitoring_labelled_rows": (
        "Predictions with an outcome in the last scored window",
        _VARIANT,
    ),
    "mlops_live_recall": ("Recall on labelled rows of the window", _VARIANT),
    "mlops_live_precision": ("Precision on labelled rows of the window", _VARIANT),
    "mlops_live_positive_rate": ("Share of labelled rows that were delayed", _VARIANT),
    "mlops_live_calibration_error": ("Expected calibration error", _VARIANT),
    "mlops_calibration_observed_rate": (
        "Observed delay rate per probability bin",
        (*_VARIANT, "bin"),
    ),
    "mlops_calibration_predicted_mean": (
        "Mean predicted probability per probability bin",
        (*_VARIANT, "bin"),
    ),
    "mlops_retrain_requested": ("1 when the last window asked for retraining", ()),
    "mlops_retrain_last_requested_timestamp_seconds": ("When retraining was last asked for", ()),
    "mlops_flow_last_run_timestamp_seconds": ("End of each flow's last run", ("flow", "state")),
    "mlops_flow_run_duration_seconds": ("Wall time of the flow's last run", ("flow",)),
}
"""Every exported metric: its HELP text and label names (the contract's table)."""

_QUALITY = {
    "labelled": "mlops_monitoring_labelled_rows",
    "recall": "mlops_live_recall",
    "precision": "mlops_live_precision",
    "positive_rate": "mlops_live_positive_rate",
    "calibration_error": "mlops_live_calibration_error",
}
"""`VariantQuality` field -> the gauge exporting it per variant."""


def _number(value: float | None) -> float | None:
    """A finite gauge value, or None for a missing figure (null is not 0)."""
    if value is None:
        return None
    number = float(value)
    return None if number != number else number  # NaN means unknown too


def _gauge(registry: CollectorRegistry, name: str) -> Gauge:
    doc, labels = METRICS[name]
    return Gauge(name, doc, list(labels), registry=registry)


def status_metrics(summary: WindowSummary, registry: CollectorRegistry) -> None:
    """Fill `registry` with what every run exports: the stale flag and the last run time.

    Args:
        summary: A window summary (docs/monitoring-contract.md).
        registry: A registry without these metrics yet.
    """
    _gauge(registry, "mlops_monitoring_stale").set(0 if summary.is_scored else 1)
    _gauge(registry, "mlops_monitoring_last_run_timestamp_seconds").set(
        summary.finished_at.timestamp()
    )


def window_metrics(summary: WindowSummary, registry: CollectorRegistry) -> None:
    """Fill `registry` with the figures of a scored window (nothing for a stale one).

    A figure that is null in the summary (e.g. recall without labelled rows) is
    left out, never exported as 0.

    Args:
        summary: A window summary (docs/monitoring-contract.md).
        registry: A registry without these metrics yet.
    """
    if not summary.is_scored:
        return
    version = str(summary.model_version or "")
    _gauge(registry, "mlops_monitoring_last_success_timestamp_seconds").set(
        summary.finished_at.timestamp()
    )
    _gauge(registry, "mlops_monitoring_window_rows").labels(version).set(summary.window.rows)
    if summary.drift is not None:
        _drift_metrics(summary.drift, version, registry)
    if summary.segment_drift is not None and summary.segment_drift.segments:
        _segment_metrics(summary.segment_drift, version, registry)
    prediction = summary.prediction_drift
    if prediction is not None and (value := _number(prediction.score)) is not None:
        gauge = _gauge(registry, "mlops_prediction_drift_score")
        gauge.labels(version, prediction.method).set(value)
    if summary.variants:
        _variant_metrics(summary.variants, version, registry)
    _input_metrics(summary, version, registry)
    _gauge(registry, "mlops_retrain_requested").set(1 if summary.retrain.fire else 0)


def _drift_metrics(drift: DatasetDrift, version: str, registry: CollectorRegistry) -> None:
    if (share := _number(drift.share)) is not None:
        _gauge(registry, "mlops_drift_share").labels(version).set(share)
    _gauge(registry, "mlops_dataset_drift").labels(version).set(1 if drift.dataset_drift else 0)
    if not drift.features:
        return
    score = _gauge(registry, "mlops_feature_drift_score")
    drifted = _gauge(registry, "mlops_feature_drifted")
    for feature, result in sorted(drift.features.items()):
        if (value := _number(result.score)) is not None:
            score.labels(version, feature, result.method).set(value)
        drifted.labels(version, feature).set(1 if result.drifted else 0)


def _input_metrics(summary: WindowSummary, version: str, registry: CollectorRegistry) -> None:
    """Null shares per feature and unlisted-category shares per open column (when present)."""
    if summary.nulls:
        share = _gauge(registry, "mlops_feature_null_share")
        drifted = _gauge(registry, "mlops_feature_null_drifted")
        for feature, nulls in sorted(summary.nulls.items()):
            share.labels(version, feature).set(nulls.share)
            drifted.labels(version, feature).set(1 if nulls.drifted else 0)
    if summary.unknown_categories:
        unknown = _gauge(registry, "mlops_unknown_category_share")
        for column, values in sorted(summary.unknown_categories.items()):
            unknown.labels(version, column).set(values.share)


def _segment_metrics(segmented: SegmentDrift, version: str, registry: CollectorRegistry) -> None:
    share = _gauge(registry, "mlops_segment_drift_share")
    drifted = _gauge(registry, "mlops_segment_dataset_drift")
    for segment, result in sorted(segmented.segments.items()):
        labels = (version, segmented.column, segment)
        if (value := _number(result.share)) is not None:
            share.labels(*labels).set(value)
        drifted.labels(*labels).set(1 if result.dataset_drift else 0)


def _variant_metrics(
    variants: Mapping[str, VariantQuality], default_version: str, registry: CollectorRegistry
) -> None:
    per_variant = {field: _gauge(registry, name) for field, name in _QUALITY.items()}
    observed = _gauge(registry, "mlops_calibration_observed_rate")
    predicted = _gauge(registry, "mlops_calibration_predicted_mean")
    for variant, quality in sorted(variants.items()):
        version = str(quality.model_version or default_version)
        for field, gauge in per_variant.items():
            if (value := _number(getattr(quality, field))) is not None:
                gauge.labels(version, variant).set(value)
        for entry in quality.calibration:
            if (rate := _number(entry.observed_rate)) is not None:
                observed.labels(version, variant, entry.bin).set(rate)
            if (mean := _number(entry.mean_predicted)) is not None:
                predicted.labels(version, variant, entry.bin).set(mean)


def retrain_metrics(summary: WindowSummary, registry: CollectorRegistry) -> None:
    """Fill `registry` with the retraining request time when this scored window asked for one.

    Args:
        summary: A window summary (docs/monitoring-contract.md).
        registry: A registry without this metric yet.
    """
    if summary.is_scored and summary.retrain.fire:
        _gauge(registry, "mlops_retrain_last_requested_timestamp_seconds").set(
            summary.finished_at.timestamp()
        )


def summary_metrics(summary: WindowSummary, registry: CollectorRegistry) -> None:
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


def summary_registries(summary: WindowSummary) -> dict[str, CollectorRegistry]:
    """The summary's metrics by job: status always; window and retrain only when they apply."""
    jobs = {JOB_STATUS: CollectorRegistry()}
    status_metrics(summary, jobs[JOB_STATUS])
    if summary.is_scored:
        jobs[JOB_WINDOW] = CollectorRegistry()
        window_metrics(summary, jobs[JOB_WINDOW])
        if summary.retrain.fire:
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
    _gauge(registry, "mlops_flow_last_run_timestamp_seconds").labels(flow, state).set(finished_at)
    _gauge(registry, "mlops_flow_run_duration_seconds").labels(flow).set(seconds)


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
    summary: WindowSummary, directory: Path | None = None, gateway_url: str | None = None
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
