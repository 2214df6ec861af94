"""One window of the prediction log -> the window summary of docs/monitoring-contract.md.

The cost of a window is Evidently's (a few seconds); everything else is one pass
over the window. A window that cannot be scored honestly comes back stale with
its problems, without drift or quality figures, and never raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from monitoring.drift import evidently_drift
from monitoring.quality import variant_quality
from monitoring.retrain_policy import decide
from monitoring.segments import segment_drift
from monitoring.window import WindowProblem, current_frame, window_problems
from pipelines.config import Config, Project
from pipelines.mapping import Mapper, local_map
from pipelines.schema import Schema


def summarize_window(
    log_rows: pd.DataFrame,
    reference: pd.DataFrame | None,
    schema: Schema,
    config: Project | Config,
    start: datetime,
    end: datetime,
    model_version: str | None,
    history: Sequence[dict[str, Any]],
    run_id: str,
    seed: int = 0,
    run_segments: Mapper = local_map,
) -> tuple[dict[str, Any], Any | None]:
    """The window's summary and, when it was scored, its Evidently snapshot.

    Args:
        log_rows: The window, as `PredictionLog.read_predictions(start, end)` returns it.
        reference: The drift reference of `model_version` (flows.adapters.tracking.load_reference),
            or None when there is none.
        schema: The project schema.
        config: project.yaml (or the whole config): `monitoring` and `acceptance.min_recall`.
        start: Start of the window (inclusive).
        end: End of the window (exclusive).
        model_version: The champion version that served the window (the reference's).
        history: Earlier window summaries, oldest first, for the retraining policy.
        run_id: Identifier of this monitoring run.
        seed: Seed of the sampling of windows larger than `monitoring.max_report_rows`.
        run_segments: The mapper the drift tests of `monitoring.segment_by` go through.

    Returns:
        The summary dict (status `ok`, or `stale` with `problems` and no drift or
        variants) and the Evidently snapshot (None when stale).
    """
    project = config.project if isinstance(config, Config) else config
    settings = project.monitoring
    labelled = int(log_rows["outcome"].notna().sum()) if "outcome" in log_rows.columns else 0
    summary: dict[str, Any] = {
        "run_id": run_id,
        "finished_at": None,
        "window": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "rows": len(log_rows),
            "labelled": labelled,
        },
        "model_version": model_version,
        "status": "stale",
        "problems": window_problems(log_rows, reference, schema, settings.min_rows, model_version),
    }
    snapshot = None
    if not summary["problems"] and reference is not None:
        try:
            frame = current_frame(log_rows, schema)
        except WindowProblem as exc:
            summary["problems"] = exc.problems
        else:
            drift, snapshot = evidently_drift(
                reference,
                frame,
                schema,
                settings.drift_share,
                settings.max_report_rows,
                seed,
                model_version,
            )
            summary["status"] = "ok"
            summary.update(drift)
            if settings.segment_by is not None:
                summary["segment_drift"] = segment_drift(
                    reference,
                    frame,
                    schema,
                    settings.segment_by,
                    settings.drift_share,
                    settings.min_segment_rows,
                    settings.max_report_rows,
                    seed,
                    model_version,
                    run_segments,
                )
            summary["variants"] = variant_quality(frame)
    summary["retrain"] = decide(history, summary, settings, project.acceptance.min_recall)
    summary["finished_at"] = datetime.now(UTC).isoformat()
    return summary, snapshot
