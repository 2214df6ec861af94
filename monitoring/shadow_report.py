"""Shadow evaluation of a challenger from the prediction log: agreement, errors, latency.

A pure function of a log window (the frame `PredictionLog.read_predictions`
returns); no tool, no I/O, so the release flow and the tests call it alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from monitoring.summary import json_number


@dataclass(frozen=True)
class Latency:
    """Latency percentiles in milliseconds (None without a timed request)."""

    p50_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class ShadowReport:
    """How the challenger scored the champion's requests in shadow; None where nothing to count."""

    challenger_version: str | None
    champion_versions: list[str]
    challenger_threshold: float
    requests: int
    """Shadowed requests; `scored` of them were scored by the challenger."""
    scored: int
    errors: int
    """Shadow jobs that failed (shed jobs not counted: shedding is load, not a fault)."""
    shed: int
    error_rate: float | None
    shed_rate: float | None
    agreement: float | None
    """Share of the scored requests where both models decided alike."""
    mean_abs_difference: float | None
    champion_positive_rate: float | None
    challenger_positive_rate: float | None
    labelled: int
    champion_recall: float | None
    challenger_recall: float | None
    champion_latency: Latency
    """The requests'; the challenger's is its shadow jobs'."""
    challenger_latency: Latency

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON (the release flow's evidence)."""
        return asdict(self)


def _percentile(values: pd.Series, q: float) -> float | None:
    clean = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype="float64")
    return json_number(np.percentile(clean, q), 3) if len(clean) else None


def _latency(values: pd.Series) -> Latency:
    return Latency(_percentile(values, 50), _percentile(values, 99))


def _recall(decision: pd.Series, outcome: pd.Series) -> float | None:
    positives = outcome == 1
    return json_number(decision[positives].mean()) if positives.any() else None


def shadow_report(
    frame: pd.DataFrame, challenger_threshold: float, challenger_version: str | None = None
) -> ShadowReport:
    """How the challenger scored, in shadow, the requests the champion answered.

    Args:
        frame: Prediction-log rows (any mode); only rows with a shadow version count.
        challenger_threshold: The challenger's decision threshold. The log keeps only
            the answering model's threshold, so the caller names the challenger's
            (the registry's `threshold` tag of that version).
        challenger_version: Count only this shadow version (None: every shadow row).

    Returns:
        The counts, their rates, the agreement of both decisions, the positive rates,
        recalls on the labelled shadowed rows, and both models' latency.
    """
    rows = frame[frame["shadow_version"].notna()] if len(frame) else frame
    if challenger_version is not None and len(rows):
        rows = rows[rows["shadow_version"].astype(str) == str(challenger_version)]
    requests = len(rows)
    errors_col = rows["shadow_error"] if requests else pd.Series(dtype="object")
    shed = int((errors_col == "shed").sum())
    errors = int(errors_col.notna().sum()) - shed
    scored = rows[rows["shadow_probability"].notna()] if requests else rows
    decision = scored["decision"].astype(bool) if len(scored) else pd.Series(dtype=bool)
    shadow_decision = (
        scored["shadow_probability"] >= challenger_threshold
        if len(scored)
        else pd.Series(dtype=bool)
    )
    labelled = scored[scored["outcome"].notna()] if len(scored) else scored
    outcome = labelled["outcome"].astype(int) if len(labelled) else pd.Series(dtype=int)
    versions = sorted({str(v) for v in rows["shadow_version"].dropna()}) if requests else []
    scored_any, labelled_any = len(scored) > 0, len(labelled) > 0
    gap = (scored["shadow_probability"] - scored["probability"]).abs() if scored_any else None
    return ShadowReport(
        challenger_version=challenger_version or (versions[0] if len(versions) == 1 else None),
        champion_versions=sorted({str(v) for v in rows["model_version"]}) if requests else [],
        challenger_threshold=float(challenger_threshold),
        requests=requests,
        scored=len(scored),
        errors=errors,
        shed=shed,
        error_rate=json_number(errors / requests) if requests else None,
        shed_rate=json_number(shed / requests) if requests else None,
        agreement=json_number((decision == shadow_decision).mean()) if scored_any else None,
        mean_abs_difference=json_number(gap.mean()) if gap is not None else None,
        champion_positive_rate=json_number(decision.mean()) if scored_any else None,
        challenger_positive_rate=json_number(shadow_decision.mean()) if scored_any else None,
        labelled=len(labelled),
        champion_recall=_recall(decision[labelled.index], outcome) if labelled_any else None,
        challenger_recall=(
            _recall(shadow_decision[labelled.index], outcome) if labelled_any else None
        ),
        champion_latency=_latency(rows["latency_ms"] if requests else pd.Series(dtype=float)),
        challenger_latency=_latency(
            scored["shadow_latency_ms"] if scored_any else pd.Series(dtype=float)
        ),
    )
