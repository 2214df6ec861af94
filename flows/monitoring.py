"""Prefect monitoring flow: a window of the prediction log -> drift, live quality, metrics, retrain.

Each run writes its own directory (state/monitoring/windows/<run id>/summary.json and
drift.html), appends to the history under a file lock, then replaces the
exported metrics atomically: a crashed run leaves the previous reports and
metrics as they were, and two runs at once never write the same file.
When the retraining policy fires, the labelled production rows are exported
for the ingest stage and a Prefect event asks for retraining; the `retrain`
deployment (flows/deployments.py) starts the training flow on it.
"""

from __future__ import annotations

import fcntl
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task

from flows.paths import HISTORY_FILE, METRICS_DIR, REFERENCES_DIR, WINDOWS_DIR
from pipelines import io
from pipelines.config import Config, Runtime, load
from pipelines.mapping import engine_mapper
from pipelines.schema import Schema, build_schema
from services.prediction_log import PredictionLog, default_url

LABELLED_FILE = "production.parquet"
RETRAIN_EVENT = "mlops.retrain.requested"


@dataclass(frozen=True)
class MonitoringOutcome:
    """What a monitoring run found and did."""

    summary: dict[str, Any]
    report_dir: Path
    retrain_requested: bool
    labelled_rows_exported: int


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_history(root: Path, limit: int = 50) -> list[dict[str, Any]]:
    """The latest window summaries, oldest first."""
    path = root / HISTORY_FILE
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()[-limit:]
    return [json.loads(line) for line in lines if line.strip()]


def append_history(root: Path, summary: dict[str, Any]) -> None:
    """Add a summary to the history; concurrent runs take turns (file lock)."""
    path = root / HISTORY_FILE
    with _locked(path.with_suffix(".lock")), path.open("a") as handle:
        handle.write(json.dumps(summary, sort_keys=True, default=str) + "\n")


def log_url(root: Path, runtime: Runtime) -> str:
    """The prediction log this profile uses."""
    return runtime.prediction_log_url or default_url(root)


def read_window(url: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Predictions received in [start, end), with their outcomes."""
    log = PredictionLog(url)
    log.open()
    try:
        return log.read_predictions(start, end)
    finally:
        log.close()


def serving_version(rows: pd.DataFrame) -> str | None:
    """The champion version that answered most of the window."""
    champion = rows.loc[rows["variant"] == "champion", "model_version"] if len(rows) else rows
    if len(champion) == 0:
        return None
    return str(champion.mode().iloc[0])


def reference_for(root: Path, runtime: Runtime, version: str) -> pd.DataFrame:
    """The drift reference of a model version, cached per version after the first download."""
    cached = root / REFERENCES_DIR / f"v{version}.parquet"
    if cached.is_file():
        return pd.read_parquet(cached)
    from flows.adapters import tracking

    tracking.connect(root, runtime)
    frame = tracking.load_reference(runtime.model_name, version)
    io.write_parquet(cached, frame)
    return frame


def export_labelled(root: Path, config: Config, schema: Schema, url: str) -> int:
    """Every labelled prediction so far, as training rows for the ingest stage; how many."""
    rows = read_window(url, datetime(1970, 1, 1, tzinfo=UTC), datetime.now(UTC))
    labelled = rows[rows["outcome"].notna()].drop_duplicates("request_id")
    if labelled.empty:
        return 0
    key = schema.key_column
    frame = pd.DataFrame(
        {
            schema.id_column: labelled["delivery_id"].fillna(labelled["request_id"]).to_numpy(),
            **({key: labelled["request_key"].to_numpy()} if key else {}),
            **{c: labelled[c].to_numpy() for c in schema.input_columns},
            schema.target: labelled["outcome"].astype("int64").to_numpy(),
        }
    )
    frame = frame.drop_duplicates(schema.id_column, keep="last")
    target = root / (config.params.data.labelled_dir or "data/source/labelled") / LABELLED_FILE
    io.write_parquet(target, frame)
    return len(frame)


def request_retraining(summary: dict[str, Any], model_name: str) -> None:
    """Emit the Prefect event the `retrain` deployment's trigger listens for."""
    from prefect.events import emit_event

    emit_event(
        event=RETRAIN_EVENT,
        resource={"prefect.resource.id": f"mlops.model.{model_name}", "mlops.model": model_name},
        payload={
            "reason": summary["retrain"]["reason"],
            "model_version": summary.get("model_version"),
            "window_run_id": summary["run_id"],
        },
    )


def drift_schema(schema: Schema, ignore: list[str]) -> Schema:
    """The schema monitoring compares: every feature but the ones project.yaml leaves out."""
    keep = set(schema.feature_names) - set(ignore)
    return replace(
        schema,
        numeric=tuple(c for c in schema.numeric if c.name in keep),
        categorical=tuple(c for c in schema.categorical if c.name in keep),
        time_features=tuple(t for t in schema.time_features if t.name in keep),
    )


def run_window(
    root: Path,
    start: datetime,
    end: datetime,
    runtime: Runtime | None = None,
    config: Config | None = None,
) -> tuple[dict[str, Any], Any]:
    """Score one window: the summary (docs/monitoring-contract.md) and the Evidently snapshot."""
    from monitoring.scoring import summarize_window
    from monitoring.window import WindowProblem

    runtime = runtime or Runtime()
    config = config or load(root)
    schema = drift_schema(build_schema(config), config.project.monitoring.drift_ignore)
    run_id = f"{end.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"
    rows = read_window(log_url(root, runtime), start, end)
    version = serving_version(rows)
    reference = None
    problems: list[str] = []
    if version is not None:
        from flows.adapters.tracking import ReferenceNotFound

        try:
            reference = reference_for(root, runtime, version)
        except ReferenceNotFound as exc:
            problems.append(str(exc))
    try:
        summary, snapshot = summarize_window(
            rows,
            reference,
            schema,
            config,
            start,
            end,
            version,
            read_history(root),
            run_id,
            run_segments=engine_mapper(runtime, "segment-drift"),
        )
    except WindowProblem as exc:  # a window that cannot be scored is reported, not raised
        summary, snapshot = _stale(run_id, start, end, version, rows, [str(exc)]), None
    if problems and summary.get("status") == "ok":
        summary = {**summary, "status": "stale", "problems": problems}
    elif problems:
        summary = {**summary, "problems": [*summary.get("problems", []), *problems]}
    return summary, snapshot


def _stale(
    run_id: str,
    start: datetime,
    end: datetime,
    version: str | None,
    rows: pd.DataFrame,
    problems: list[str],
) -> dict[str, Any]:
    labelled = int(rows["outcome"].notna().sum()) if "outcome" in rows else 0
    return {
        "run_id": run_id,
        "finished_at": datetime.now(UTC).isoformat(),
        "window": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "rows": len(rows),
            "labelled": labelled,
        },
        "model_version": version,
        "status": "stale",
        "problems": problems,
        "retrain": {"fire": False, "reason": "window not scored: " + "; ".join(problems)},
    }


@task
def score_window(root: Path, start: datetime, end: datetime) -> tuple[dict[str, Any], Any]:
    """Drift and live quality of one window."""
    return run_window(root, start, end)


@task
def save_window(root: Path, summary: dict[str, Any], snapshot: Any) -> Path:
    """The window's own directory: summary.json and, when scored, drift.html."""
    folder = root / WINDOWS_DIR / summary["run_id"]
    if snapshot is not None:
        from monitoring.drift import save_report

        save_report(snapshot, folder / "drift.html")
    io.write_json(folder / "summary.json", summary)
    append_history(root, summary)
    return folder


@task
def export_metrics(root: Path, summary: dict[str, Any]) -> list[str]:
    """Replace the exported figures (a stale window only updates the status)."""
    from monitoring.metrics import export_summary

    return export_summary(summary, root / METRICS_DIR)


@flow(name="monitoring")
def monitoring_flow(
    root: str = ".",
    window_minutes: float | None = None,
    end: str | None = None,
    request_retrain: bool = True,
) -> MonitoringOutcome:
    """Monitor the latest window (or the one ending at `end`, ISO time) of the prediction log."""
    from monitoring.metrics import export_flow_run

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
        fire = bool(summary.get("retrain", {}).get("fire")) and request_retrain
        exported = 0
        if fire:
            exported = export_labelled(path, config, build_schema(config), log_url(path, runtime))
            request_retraining(summary, runtime.model_name)
        get_run_logger().info(format_summary(summary, exported))
        state = "completed"
        return MonitoringOutcome(summary, folder, fire, exported)
    finally:
        export_flow_run("monitoring", state, time.time() - started, time.time(), path / METRICS_DIR)


def format_summary(summary: dict[str, Any], exported: int = 0) -> str:
    """What `mlops monitor` prints about a window."""
    w = summary["window"]
    lines = [
        f"window {w['start'][:19]} .. {w['end'][:19]}: {w['rows']} predictions, "
        f"{w['labelled']} labelled, model v{summary.get('model_version')}: {summary['status']}"
    ]
    lines += [f"  problem: {p}" for p in summary.get("problems", [])]
    drift = summary.get("drift")
    if drift:
        drifted = [f for f, d in drift["features"].items() if d["drifted"]]
        lines.append(
            f"  drift: {drift['drifted']} of {len(drift['features'])} features "
            f"(share {drift['share']:.2f}, threshold {drift['threshold_share']:.2f})"
            + (f": {', '.join(drifted)}" if drifted else "")
        )
    pred = summary.get("prediction_drift")
    if pred:
        lines.append(f"  prediction drift: {pred['method']} {pred['score']:.3f}")
    for variant, q in (summary.get("variants") or {}).items():
        recall = "n/a" if q.get("recall") is None else f"{q['recall']:.3f}"
        precision = "n/a" if q.get("precision") is None else f"{q['precision']:.3f}"
        lines.append(
            f"  {variant} v{q['model_version']}: {q['rows']} rows, {q['labelled']} labelled, "
            f"live recall {recall}, precision {precision}"
        )
    retrain = summary.get("retrain", {})
    verdict = "RETRAIN requested" if retrain.get("fire") else "no retraining"
    lines.append(f"  {verdict}: {retrain.get('reason', '')}")
    if exported:
        lines.append(f"  exported {exported} labelled production rows for training")
    return "\n".join(lines)
