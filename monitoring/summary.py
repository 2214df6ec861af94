"""The window summary of docs/monitoring-contract.md as typed objects, and its one JSON form.

`WindowSummary.to_json()` gives the contract's JSON (saved as summary.json and in
the history) and `WindowSummary.from_json()` reads it back; nothing else spells
the JSON. The parts are what monitoring's modules compute: `ColumnDrift` and
`DatasetDrift` (drift.py), `SegmentDrift` (segments.py), `VariantQuality`
(quality.py), `NullShare` and `UnknownValues` (input_quality.py), `RetrainVerdict`
(retrain_policy.py). Absent sections of a stale
window are None here and missing from the JSON; figures without data are None
here and null there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

OK, STALE = "ok", "stale"
"""Window statuses: scored, or not scored honestly (see `WindowSummary.problems`)."""


@dataclass(frozen=True)
class ColumnDrift:
    """One column's drift test against the reference, as Evidently names and decides it."""

    method: str
    """The test, e.g. `Wasserstein distance (normed)` or `K-S p_value`."""
    score: float
    threshold: float
    drifted: bool
    """p-values drift below the threshold, distances at or above it."""


@dataclass(frozen=True)
class DatasetDrift:
    """Drift of every compared feature of a window."""

    method: str
    """What computed it: `evidently ValueDrift` (monitoring) or `scipy`."""
    rows_compared: int
    """Window rows compared (after sampling)."""
    reference_rows: int
    """Reference rows compared (after sampling)."""
    share: float
    """Share of the features that drifted (0-1)."""
    threshold_share: float
    dataset_drift: bool
    """Whether `share` reached `threshold_share`."""
    drifted: int
    """How many features drifted."""
    features: dict[str, ColumnDrift]
    """Feature -> its test, in the schema's order."""


@dataclass(frozen=True)
class SegmentFigures:
    """Drift of one segment (the window's and the reference's rows with one value)."""

    rows: int
    reference_rows: int
    share: float
    dataset_drift: bool
    drifted_features: list[str]
    """Sorted by name."""
    prediction_drift: ColumnDrift | None
    """None when either side has no score to compare."""


@dataclass(frozen=True)
class SegmentDrift:
    """Drift per value of `monitoring.segment_by`."""

    column: str
    min_rows: int
    """Segments with fewer rows on either side are skipped."""
    segments: dict[str, SegmentFigures]
    """Value -> its figures, in the schema's category order."""
    skipped: dict[str, str]
    """Value -> why it was not tested."""


@dataclass(frozen=True)
class NullShare:
    """A feature's share of nulls in the window against the reference's, and their test."""

    share: float
    reference_share: float
    method: str
    """`Z-test p_value`: two-proportion test of the two shares."""
    score: float
    threshold: float
    drifted: bool
    """Whether the p-value is below the threshold."""


@dataclass(frozen=True)
class UnknownValues:
    """Rows of the window whose open category held a value params.yaml does not list."""

    rows: int
    share: float
    """Of the window's rows (0-1)."""
    examples: list[str]
    """The commonest such values, at most 5."""


@dataclass(frozen=True)
class CalibrationBin:
    """One probability bin of a variant's labelled rows."""

    bin: str
    """Its range, e.g. `0.3-0.4`."""
    mean_predicted: float
    observed_rate: float | None
    """Share of its rows that were delayed."""
    rows: int


@dataclass(frozen=True)
class VariantQuality:
    """Live quality of one serving variant in a window; None where the denominator is zero."""

    model_version: str | None
    """The version that answered most of the variant's rows."""
    rows: int
    labelled: int
    """Rows with a true outcome."""
    recall: float | None
    precision: float | None
    positive_rate: float | None
    """Share of the labelled rows that were delayed."""
    predicted_positive_rate: float | None
    """Share of all rows the variant warned about."""
    mean_probability: float | None
    calibration_error: float | None
    """Expected calibration error over `calibration` (row-weighted)."""
    calibration: list[CalibrationBin]
    """Non-empty bins, lowest first."""


@dataclass(frozen=True)
class RetrainVerdict:
    """Whether a window asks for retraining, and why (both rules' figures)."""

    fire: bool
    reason: str

    @classmethod
    def not_scored(cls, problems: Sequence[str], status: str = STALE) -> RetrainVerdict:
        """The verdict of a window that was not scored: no new evidence, no request."""
        return cls(False, "window not scored: " + ("; ".join(problems) or f"status {status}"))


@dataclass(frozen=True)
class WindowSpan:
    """The window itself: its time range and how many predictions it held."""

    start: datetime
    """Inclusive."""
    end: datetime
    """Exclusive."""
    rows: int
    labelled: int
    """Predictions with an outcome."""


@dataclass(frozen=True)
class WindowSummary:
    """What monitoring found in one window of the prediction log (docs/monitoring-contract.md).

    A scored window (`status` ok) has `drift`, `prediction_drift` (None without scores
    to compare), `variants` and, when `monitoring.segment_by` is set, `segment_drift`.
    A stale one says why in `problems` and has none of them.
    """

    run_id: str
    finished_at: datetime
    window: WindowSpan
    model_version: str | None
    """The champion version that served the window (the drift reference's)."""
    status: str
    """`ok` or `stale`."""
    problems: list[str]
    retrain: RetrainVerdict
    drift: DatasetDrift | None = None
    prediction_drift: ColumnDrift | None = None
    segment_drift: SegmentDrift | None = None
    variants: dict[str, VariantQuality] | None = None
    """Variant name -> its quality, champion first."""
    nulls: dict[str, NullShare] | None = None
    """Compared feature -> its null share against the reference (scored windows)."""
    unknown_categories: dict[str, UnknownValues] | None = None
    """Open category -> its unlisted values in the window (scored windows)."""

    @property
    def is_scored(self) -> bool:
        """Whether the figures were computed (status ok)."""
        return self.status == OK

    @classmethod
    def stale(
        cls,
        run_id: str,
        window: WindowSpan,
        model_version: str | None,
        problems: Sequence[str],
        finished_at: datetime | None = None,
    ) -> WindowSummary:
        """The summary of a window that could not be scored: its counts and problems only."""
        return cls(
            run_id=run_id,
            finished_at=finished_at or datetime.now(UTC),
            window=window,
            model_version=model_version,
            status=STALE,
            problems=list(problems),
            retrain=RetrainVerdict.not_scored(problems),
        )

    def to_json(self) -> dict[str, Any]:
        """The contract's JSON: plain types, sections absent when None (figures null)."""
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "finished_at": self.finished_at.isoformat(),
            "window": {
                "start": self.window.start.isoformat(),
                "end": self.window.end.isoformat(),
                "rows": self.window.rows,
                "labelled": self.window.labelled,
            },
            "model_version": self.model_version,
            "status": self.status,
            "problems": list(self.problems),
        }
        if self.drift is not None:  # the served probability is tested with the features
            out["drift"] = asdict(self.drift)
            out["prediction_drift"] = _plain(self.prediction_drift)
        if self.segment_drift is not None:
            out["segment_drift"] = asdict(self.segment_drift)
        if self.variants is not None:
            out["variants"] = {name: asdict(q) for name, q in self.variants.items()}
        if self.nulls is not None:
            out["nulls"] = {name: asdict(n) for name, n in self.nulls.items()}
        if self.unknown_categories is not None:
            out["unknown_categories"] = {
                name: asdict(u) for name, u in self.unknown_categories.items()
            }
        out["retrain"] = asdict(self.retrain)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WindowSummary:
        """A summary from its JSON (`to_json`, summary.json, a history line)."""
        window = data["window"]
        drift, segments, variants = (data.get(k) for k in ("drift", "segment_drift", "variants"))
        nulls, unknown = data.get("nulls"), data.get("unknown_categories")
        return cls(
            run_id=data["run_id"],
            finished_at=datetime.fromisoformat(data["finished_at"]),
            window=WindowSpan(
                start=datetime.fromisoformat(window["start"]),
                end=datetime.fromisoformat(window["end"]),
                rows=window["rows"],
                labelled=window["labelled"],
            ),
            model_version=data["model_version"],
            status=data["status"],
            problems=list(data["problems"]),
            retrain=RetrainVerdict(**data["retrain"]),
            drift=None if drift is None else _dataset_drift(drift),
            prediction_drift=_column_drift(data.get("prediction_drift")),
            segment_drift=None if segments is None else _segment_drift(segments),
            variants=None if variants is None else {k: _quality(v) for k, v in variants.items()},
            nulls=None if nulls is None else {k: NullShare(**v) for k, v in nulls.items()},
            unknown_categories=(
                None if unknown is None else {k: UnknownValues(**v) for k, v in unknown.items()}
            ),
        )


def _plain(value: Any) -> Any:
    return None if value is None else asdict(value)


def _column_drift(data: Mapping[str, Any] | None) -> ColumnDrift | None:
    return None if data is None else ColumnDrift(**data)


def _dataset_drift(data: Mapping[str, Any]) -> DatasetDrift:
    features = {name: ColumnDrift(**test) for name, test in data["features"].items()}
    return DatasetDrift(**{**data, "features": features})


def _segment_drift(data: Mapping[str, Any]) -> SegmentDrift:
    segments = {
        value: SegmentFigures(
            **{**figures, "prediction_drift": _column_drift(figures["prediction_drift"])}
        )
        for value, figures in data["segments"].items()
    }
    return SegmentDrift(**{**data, "segments": segments})


def _quality(data: Mapping[str, Any]) -> VariantQuality:
    bins = [CalibrationBin(**b) for b in data["calibration"]]
    return VariantQuality(**{**data, "calibration": bins})


def json_number(value: Any, digits: int = 6) -> float | None:
    """A JSON-safe float for summaries and reports (None for missing or non-finite values)."""
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None
