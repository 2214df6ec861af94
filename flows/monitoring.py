"""Prefect monitoring flow: a window of the prediction log -> drift, live quality, metrics, retrain.

The computation is monitoring's (`monitoring.scoring.score_window`); this flow
reads the window from the prediction log, then saves and publishes what it found.
Each run writes its own directory (state/monitoring/windows/<run id>/summary.json and
drift.html), appends to the history under a file lock, then replaces the
exported metrics atomically: a crashed run leaves the previous reports and
metrics as they were, and two runs at once never write the same file.
When the retraining policy fires, the labelled production rows are exported
for the ingest stage and a Prefect event asks for retraining; the `retrain`
deployment (flows/deployments.py) starts the training flow on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task

from flows.adapters import tracking
from flows.adapters.tracking import ReferenceNotFound
from flows.paths import HISTORY_FILE, METRICS_DIR, REFERENCES_DIR, WINDOWS_DIR
from monitoring import scoring
from monitoring.drift import save_report
from monitoring.history import append_history, read_history
from monitoring.labelled import training_rows
from monitoring.metrics import export_flow_run, export_summary
from monitoring.scoring import ReferenceLoader, ReferenceUnavailable, ScoredWindow
from monitoring.summary import WindowSummary
from pipelines import io
from pipelines.config import Config, Runtime, load
from pipelines.mapping import engine_mapper
from pipelines.schema import Schema, build_schema
from services.prediction_log.tables import log_url
from services.prediction_log.writer import PredictionLog

LABELLED_FILE = "production.parquet"
RETRAIN_EVENT = "mlops.retrain.requested"


@dataclass(frozen=True)
class MonitoringOutcome:
    """What a monitoring run found and did."""

    summary: WindowSummary
    report_dir: Path
    retrain_requested: bool
    labelled_rows_exported: int


def read_window(url: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Predictions received in [start, end), with their outcomes."""
    log = PredictionLog(url)
    log.open()
    try:
        return log.read_predictions(start, end)
    finally:
        log.close()


def reference_for(root: Path, runtime: Runtime, version: str) -> pd.DataFrame:
    """The drift reference of a model version, cached per version after the first download."""
    cached = root / REFERENCES_DIR / f"v{version}.parquet"
    if cached.is_file():
        return pd.read_parquet(cached)
    tracking.connect(root, runtime)
    frame = tracking.load_reference(runtime.model_name, version)
    io.write_parquet(cached, frame)
    return frame


def reference_loader(root: Path, runtime: Runtime) -> ReferenceLoader:
    """`reference_for` as monitoring asks for it: a version without reference is a problem."""

    def load_reference(version: str) -> pd.DataFrame:
        try:
            return reference_for(root, runtime, version)
        except ReferenceNotFound as exc:
            raise ReferenceUnavailable(str(exc)) from exc

    return load_reference


def export_labelled(root: Path, config: Config, schema: Schema, url: str) -> int:
    """Every labelled prediction so far, as training rows for the ingest stage; how many."""
    rows = read_window(url, datetime(1970, 1, 1, tzinfo=UTC), datetime.now(UTC))
    frame = training_rows(rows, schema)
    if frame.empty:
        return 0
    target = root / (config.params.data.labelled_dir or "data/source/labelled") / LABELLED_FILE
    io.write_parquet(target, frame)
    return len(frame)


def request_retraining(summary: WindowSummary, model_name: str) -> None:
    """Emit the Prefect event the `retrain` deployment's trigger listens for."""
    from prefect.events import emit_event

    emit_event(
        event=RETRAIN_EVENT,
        resource={"prefect.resource.id": f"mlops.model.{model_name}", "mlops.model": model_name},
        payload={
            "reason": summary.retrain.reason,
            "model_version": summary.model_version,
            "window_run_id": summary.run_id,
        },
    )


def run_window(
    root: Path,
    start: datetime,
    end: datetime,
    runtime: Runtime | None = None,
    config: Config | None = None,
) -> ScoredWindow:
    """Score one window of the profile's prediction log against the history so far."""
    runtime = runtime or Runtime()
    config = config or load(root)
    return scoring.score_window(
        read_window(log_url(runtime, root), start, end),
        reference_loader(root, runtime),
        config,
        read_history(root / HISTORY_FILE),
        start,
        end,
        run_segments=engine_mapper(runtime, "segment-drift"),
    )


@task
def score_window(root: Path, start: datetime, end: datetime) -> ScoredWindow:
    """Drift and live quality of one window."""
    return run_window(root, start, end)


@task
def save_window(root: Path, summary: WindowSummary, snapshot: Any) -> Path:
    """The window's own directory: summary.json and, when scored, drift.html; then the history."""
    folder = root / WINDOWS_DIR / summary.run_id
    if snapshot is not None:
        save_report(snapshot, folder / "drift.html")
    io.write_json(folder / "summary.json", summary.to_json())
    append_history(root / HISTORY_FILE, summary)
    return folder


@task
def export_metrics(root: Path, summary: WindowSummary) -> list[str]:
    """Replace the exported figures (a stale window only updates the status)."""
    return export_summary(summary, root / METRICS_DIR)


@flow(name="monitoring")
def monitoring_flow(
    root: str = ".",
    window_minutes: float | None = None,
    end: str | None = None,
    request_retrain: bool = True,
) -> MonitoringOutcome:
    """Monitor the latest window (or the one ending at `end`, ISO time) of the prediction log."""
    started = time.time()
    path = Path(root).resolve()
    config, runtime = load(path), Runtime()
    minutes = window_minutes or config.project.monitoring.window_minutes
    stop = datetime.fromisoformat(end) if end else datetime.now(UTC)
    if stop.tzinfo is None:
        stop = stop.replace(tzinfo=UTC)
    state = "failed"
    try:
        summary, snapshot = score_window(path, stop - timedelta(minutes=minutes), stop)
        folder = save_window(path, summary, snapshot)
        export_metrics(path, summary)
        fire = summary.retrain.fire and request_retrain
        exported = 0
        if fire:
            exported = export_labelled(path, config, build_schema(config), log_url(runtime, path))
            request_retraining(summary, runtime.model_name)
        get_run_logger().info(format_summary(summary, exported))
        state = "completed"
        return MonitoringOutcome(summary, folder, fire, exported)
    finally:
        export_flow_run("monitoring", state, time.time() - started, time.time(), path / METRICS_DIR)


def format_summary(summary: WindowSummary, exported: int = 0) -> str:
    """What `mlops monitor` prints about a window."""
    w = summary.window
    lines = [
        f"window {w.start.isoformat()[:19]} .. {w.end.isoformat()[:19]}: {w.rows} predictions, "
        f"{w.labelled} labelled, model v{summary.model_version}: {summary.status}"
    ]
    lines += [f"  problem: {p}" for p in summary.problems]
    drift = summary.drift
    if drift:
        drifted = [f for f, d in drift.features.items() if d.drifted]
        lines.append(
            f"  drift: {drift.drifted} of {len(drift.features)} features "
            f"(share {drift.share:.2f}, threshold {drift.threshold_share:.2f})"
            + (f": {', '.join(drifted)}" if drifted else "")
        )
    pred = summary.prediction_drift
    if pred:
        lines.append(f"  prediction drift: {pred.method} {pred.score:.3f}")
    for variant, q in (summary.variants or {}).items():
        recall = "n/a" if q.recall is None else f"{q.recall:.3f}"
        precision = "n/a" if q.precision is None else f"{q.precision:.3f}"
        lines.append(
            f"  {variant} v{q.model_version}: {q.rows} rows, {q.labelled} labelled, "
            f"live recall {recall}, precision {precision}"
        )
    verdict = "RETRAIN requested" if summary.retrain.fire else "no retraining"
    lines.append(f"  {verdict}: {summary.retrain.reason}")
    if exported:
        lines.append(f"  exported {exported} labelled production rows for training")
    return "\n".join(lines)
