"""One window of the prediction log -> the window summary of docs/monitoring-contract.md.

`score_window` is the whole computation the monitoring flow asks for: which model
version served the window, its drift reference, the compared schema, then
`summarize_window`. The cost of a window is Evidently's (a few seconds);
everything else is one pass over the window. A window that cannot be scored
honestly comes back stale with its problems, without drift or quality figures,
and never raises.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pandas as pd

from monitoring.drift import evidently_drift
from monitoring.input_quality import null_drift, unknown_categories
from monitoring.quality import variant_quality
from monitoring.retrain_policy import decide
from monitoring.segments import segment_drift
from monitoring.summary import OK, STALE, RetrainVerdict, SegmentDrift, WindowSpan, WindowSummary
from monitoring.window import WindowProblem, current_frame, window_problems
from pipelines.config import Config, Monitoring, Project
from pipelines.mapping import Mapper, local_map
from pipelines.schema import Schema, build_schema


class ReferenceUnavailable(LookupError):
    """The serving model version has no drift reference; the message says why."""


ReferenceLoader = Callable[[str], pd.DataFrame]
"""The drift reference of a model version; raises `ReferenceUnavailable` when it has none."""


class ScoredWindow(NamedTuple):
    """A window's summary and, when it was scored, its Evidently snapshot (for drift.html)."""

    summary: WindowSummary
    snapshot: Any | None


_UNDECIDED = RetrainVerdict(False, "not decided yet")
"""A scored window's verdict until the retraining policy has read the window."""


def new_run_id(end: datetime) -> str:
    """An identifier for the monitoring run of the window ending at `end`: its time, then random."""
    return f"{end.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


def serving_version(rows: pd.DataFrame) -> str | None:
    """The champion version that answered most of the window (None without champion rows)."""
    champion = rows.loc[rows["variant"] == "champion", "model_version"] if len(rows) else rows
    if len(champion) == 0:
        return None
    return str(champion.mode().iloc[0])


def drift_schema(schema: Schema, ignore: Sequence[str]) -> Schema:
    """The schema monitoring compares: every feature but the ones project.yaml leaves out."""
    keep = set(schema.feature_names) - set(ignore)
    return replace(
        schema,
        numeric=tuple(c for c in schema.numeric if c.name in keep),
        categorical=tuple(c for c in schema.categorical if c.name in keep),
        time_features=tuple(t for t in schema.time_features if t.name in keep),
    )


def window_span(rows: pd.DataFrame, start: datetime, end: datetime) -> WindowSpan:
    """The window's time range and counts: its predictions, and those with an outcome."""
    labelled = int(rows["outcome"].notna().sum()) if "outcome" in rows.columns else 0
    return WindowSpan(start=start, end=end, rows=len(rows), labelled=labelled)


def score_window(
    rows: pd.DataFrame,
    load_reference: ReferenceLoader,
    config: Config,
    history: Sequence[WindowSummary],
    start: datetime,
    end: datetime,
    run_id: str | None = None,
    run_segments: Mapper = local_map,
) -> ScoredWindow:
    """Score one window of the prediction log, from its rows to its summary.

    Args:
        rows: The window, as `PredictionLog.read_predictions(start, end)` returns it.
        load_reference: The drift reference of the version that served the window.
        config: The project's config (`monitoring`, `acceptance.min_recall`, the schema).
        history: Earlier window summaries, oldest first, for the retraining policy.
        start: Start of the window (inclusive).
        end: End of the window (exclusive).
        run_id: Identifier of this monitoring run (None: `new_run_id(end)`).
        run_segments: The mapper the drift tests of `monitoring.segment_by` go through.

    Returns:
        The summary (stale with its problems when the window cannot be scored, the
        reference's absence included) and the Evidently snapshot (None when stale).
    """
    schema = drift_schema(build_schema(config), config.project.monitoring.drift_ignore)
    run_id = run_id or new_run_id(end)
    version = serving_version(rows)
    reference = None
    problems: list[str] = []
    if version is not None:
        try:
            reference = load_reference(version)
        except ReferenceUnavailable as exc:
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
            history,
            run_id,
            run_segments=run_segments,
        )
    except WindowProblem as exc:  # a window that cannot be scored is reported, not raised
        span = window_span(rows, start, end)
        summary, snapshot = WindowSummary.stale(run_id, span, version, [str(exc)]), None
    if problems and summary.is_scored:
        summary = replace(summary, status=STALE, problems=problems)
    elif problems:
        summary = replace(summary, problems=[*summary.problems, *problems])
    return ScoredWindow(summary, snapshot)


def summarize_window(
    log_rows: pd.DataFrame,
    reference: pd.DataFrame | None,
    schema: Schema,
    config: Project | Config,
    start: datetime,
    end: datetime,
    model_version: str | None,
    history: Sequence[WindowSummary],
    run_id: str,
    seed: int = 0,
    run_segments: Mapper = local_map,
) -> tuple[WindowSummary, Any | None]:
    """The window's summary and, when it was scored, its Evidently snapshot.

    Args:
        log_rows: The window, as `PredictionLog.read_predictions(start, end)` returns it.
        reference: The drift reference of `model_version` (flows.adapters.tracking.load_reference),
            or None when there is none.
        schema: The compared schema (`drift_schema`).
        config: project.yaml (or the whole config): `monitoring` and `acceptance.min_recall`.
        start: Start of the window (inclusive).
        end: End of the window (exclusive).
        model_version: The champion version that served the window (the reference's).
        history: Earlier window summaries, oldest first, for the retraining policy.
        run_id: Identifier of this monitoring run.
        seed: Seed of the sampling of windows larger than `monitoring.max_report_rows`.
        run_segments: The mapper the drift tests of `monitoring.segment_by` go through.

    Returns:
        The summary (status `ok`, or `stale` with `problems` and no drift or
        variants) and the Evidently snapshot (None when stale).
    """
    project = config.project if isinstance(config, Config) else config
    settings = project.monitoring
    problems = window_problems(log_rows, reference, schema, settings.min_rows, model_version)
    span = window_span(log_rows, start, end)
    if problems or reference is None:
        return WindowSummary.stale(run_id, span, model_version, problems), None
    try:
        frame = current_frame(log_rows, schema)
    except WindowProblem as exc:
        return WindowSummary.stale(run_id, span, model_version, exc.problems), None
    drift, snapshot = evidently_drift(
        reference,
        frame,
        schema,
        settings.drift_share,
        settings.max_report_rows,
        seed,
        model_version,
    )
    scored = WindowSummary(
        run_id=run_id,
        finished_at=datetime.now(UTC),  # replaced below, once the verdict is in
        window=span,
        model_version=model_version,
        status=OK,
        problems=[],
        retrain=_UNDECIDED,
        drift=drift.drift,
        prediction_drift=drift.prediction_drift,
        segment_drift=_segments(
            reference, frame, schema, settings, seed, model_version, run_segments
        ),
        variants=variant_quality(frame),
        nulls=null_drift(reference, frame, schema),
        unknown_categories=unknown_categories(log_rows, schema),
    )
    verdict = decide(history, scored, settings, project.acceptance)
    return replace(scored, retrain=verdict, finished_at=datetime.now(UTC)), snapshot


def _segments(
    reference: pd.DataFrame,
    frame: pd.DataFrame,
    schema: Schema,
    settings: Monitoring,
    seed: int,
    model_version: str | None,
    run: Mapper,
) -> SegmentDrift | None:
    """Drift per value of `monitoring.segment_by` (None when it is not set)."""
    if settings.segment_by is None:
        return None
    return segment_drift(
        reference,
        frame,
        schema,
        settings.segment_by,
        settings.drift_share,
        settings.min_segment_rows,
        settings.max_report_rows,
        seed,
        model_version,
        run,
    )
