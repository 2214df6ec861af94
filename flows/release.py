"""Prefect release flow: the service's challenger goes shadow -> A/B -> promoted or rejected.

The steps are plain code in flows/release_steps.py (`run_release`); this module
wires them to the running service, the prediction log and the registry, and
exports the flow run's outcome for Prometheus.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from functools import partial
from pathlib import Path

import pandas as pd
from prefect import flow

from flows import paths
from flows.adapters.service_client import ServiceError, client_for, load_packaged_challenger
from flows.release_ops import ReleaseError, ReleaseState, challenger_threshold
from flows.release_steps import ReleaseConfig, run_release
from monitoring.metrics import export_flow_run
from pipelines.config import Runtime, load
from services.prediction_log.tables import log_url
from services.prediction_log.writer import PredictionLog

log = logging.getLogger(__name__)


class PredictionLogReader:
    """A LogReader over the prediction log (open it with `with`)."""

    def __init__(self, url: str) -> None:
        """The log at `url` (SQLAlchemy URL)."""
        self.log = PredictionLog(url)

    def __enter__(self) -> PredictionLogReader:
        self.log.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.log.close()

    def __call__(self, since: datetime) -> pd.DataFrame:
        """Rows received since `since`."""
        return self.log.read_predictions(start=since)


def _export_run(root: Path, state: str, started: float) -> None:
    try:
        now = time.time()
        export_flow_run("release", state, now - started, now, root / paths.METRICS_DIR)
    except Exception as exc:  # a metrics file must never fail a release
        log.warning("release flow metrics not exported: %s", exc)


@flow(name="release", log_prints=True)
def release_flow(
    root: str = ".",
    url: str | None = None,
    poll_seconds: float = 5.0,
    timeout_minutes: float = 60.0,
) -> ReleaseState:
    """Release the running service's challenger: shadow, A/B, then promote or reject.

    Args:
        root: Project root (config, keys, registry file, state file).
        url: Service URL (default: the runtime's MLOPS_SERVICE_URL).
        poll_seconds: Seconds between reads of the prediction log.
        timeout_minutes: The whole release's limit; then champion-only, stage timed_out.

    Returns:
        The final release state (also in state/release/state.json).
    """
    started = time.time()
    path = Path(root).resolve()
    config, runtime = load(path), Runtime()
    cfg = ReleaseConfig.from_release(
        config.project.release,
        poll_seconds,
        timeout_minutes,
        config.project.requirements.latency_budget_ms,
    )
    client = client_for(path, runtime, url)
    outcome = "failed"
    try:
        try:  # a challenger packaged after the service started joins it here, no restart
            load_packaged_challenger(client, path)
        except ServiceError as exc:
            raise ReleaseError(
                f"could not hand the packaged challenger to the service: {exc}"
            ) from None
        with PredictionLogReader(log_url(runtime, path)) as reader:
            state = run_release(
                client,
                reader,
                cfg,
                path,
                partial(challenger_threshold, path, runtime),
                say=print,
            )
        outcome = "completed"
        return state
    finally:
        _export_run(path, outcome, started)
