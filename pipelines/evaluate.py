"""Offline evaluation: threshold for the recall target, metrics, slices and the gates."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from pipelines.config import Acceptance, EvaluateParams
from pipelines.model import DelayModel
from pipelines.schema import Schema
from pipelines.split import Splits


@dataclass(frozen=True)
class Metrics:
    """A model's quality on one slice of data at one decision threshold."""

    rows: int
    positives: int
    threshold: float
    roc_auc: float
    pr_auc: float
    precision: float
    recall: float
    f1: float
    precision_at_recall: float
    """Best precision reachable at the recall target: threshold-free, comparable across models."""
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int


@dataclass(frozen=True)
class SliceResult:
    """Recall and precision of one value of one slice column (e.g. depot=R2)."""

    column: str
    value: str
    rows: int
    positives: int
    recall: float
    precision: float
    gated: bool
    """False when too few delayed rows to judge; the row is still reported."""


@dataclass(frozen=True)
class Check:
    """One criterion of a gate, with the evidence."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Verdict:
    """A gate's decision: passes only if every check passes."""

    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[str]:
        """One line per failed criterion."""
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"passed": self.passed, "checks": [asdict(c) for c in self.checks]}


@dataclass(frozen=True)
class CandidateReport:
    """Everything evaluation found about one candidate."""

    name: str
    threshold: float
    valid: Metrics
    holdout: Metrics
    slices: tuple[SliceResult, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Evaluation:
    """The evaluate stage's result: per-candidate reports, the chosen one and its gate."""

    candidates: dict[str, CandidateReport]
    chosen: str
    verdict: Verdict
    oracle_roc_auc: float | None
    """ROC AUC of the true probabilities on the holdout: the best any model can do."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the DVC metrics file)."""
        return {
            "chosen": self.chosen,
            "oracle_roc_auc": self.oracle_roc_auc,
            "gate": self.verdict.to_dict(),
            "candidates": {
                name: {
                    "threshold": c.threshold,
                    "valid": asdict(c.valid),
                    "holdout": asdict(c.holdout),
                    "slices": [asdict(s) for s in c.slices],
                }
                for name, c in self.candidates.items()
            },
        }


def precision_at_recall(
    y: np.ndarray, scores: np.ndarray, target: float
) -> tuple[float, float, float]:
    """(threshold, precision, recall) of the highest-precision threshold whose recall >= target."""
    precision, recall, thresholds = precision_recall_curve(y, scores)
    ok = np.flatnonzero(recall[:-1] >= target)
    if len(ok) == 0:  # cannot happen (lowest threshold has recall 1) unless no positives
        return float(np.min(scores)), float(precision[0]), float(recall[0])
    latest_first = ok[::-1]  # on ties prefer the higher threshold: fewer false alarms
    best = latest_first[np.argmax(precision[latest_first])]
    return float(thresholds[best]), float(precision[best]), float(recall[best])


def binary_metrics(
    y: np.ndarray, scores: np.ndarray, threshold: float, recall_target: float
) -> Metrics:
    """Metrics of `scores` flagged at `threshold` (flag when score >= threshold)."""
    y = np.asarray(y).astype(int)
    flagged = scores >= threshold
    tp = int(np.sum(flagged & (y == 1)))
    fp = int(np.sum(flagged & (y == 0)))
    fn = int(np.sum(~flagged & (y == 1)))
    tn = int(np.sum(~flagged & (y == 0)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    both = len(np.unique(y)) == 2
    return Metrics(
        rows=len(y),
        positives=int(y.sum()),
        threshold=float(threshold),
        roc_auc=float(roc_auc_score(y, scores)) if both else float("nan"),
        pr_auc=float(average_precision_score(y, scores)) if both else float("nan"),
        precision=precision,
        recall=recall,
        f1=2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        precision_at_recall=precision_at_recall(y, scores, recall_target)[1] if both else 0.0,
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        true_negatives=tn,
    )


def slice_metrics(
    frame: pd.DataFrame,
    y: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    columns: list[str],
    min_positives: int,
) -> list[SliceResult]:
    """Recall and precision per value of each slice column."""
    flagged = scores >= threshold
    y = np.asarray(y).astype(bool)
    results = []
    for column in columns:
        values = frame[column].astype(str).to_numpy()
        for value in sorted(set(values)):
            mask = values == value
            positives = int(np.sum(y & mask))
            hits = int(np.sum(flagged & y & mask))
            flags = int(np.sum(flagged & mask))
            results.append(
                SliceResult(
                    column=column,
                    value=value,
                    rows=int(mask.sum()),
                    positives=positives,
                    recall=hits / positives if positives else 0.0,
                    precision=hits / flags if flags else 0.0,
                    gated=positives >= min_positives,
                )
            )
    return results


def gate(
    candidate: Metrics, baseline: Metrics, slices: list[SliceResult], acceptance: Acceptance
) -> Verdict:
    """Acceptance criteria from project.yaml, checked on the gold holdout."""
    checks = [
        Check(
            "min_recall",
            candidate.recall >= acceptance.min_recall,
            f"recall {candidate.recall:.3f} (needs >= {acceptance.min_recall})",
        ),
        Check(
            "min_precision",
            candidate.precision >= acceptance.min_precision,
            f"precision {candidate.precision:.3f} (needs >= {acceptance.min_precision})",
        ),
        Check(
            "beats_baseline",
            candidate.roc_auc - baseline.roc_auc >= acceptance.min_auc_gain_over_baseline,
            f"ROC AUC {candidate.roc_auc:.3f} vs baseline {baseline.roc_auc:.3f} "
            f"(needs a gain >= {acceptance.min_auc_gain_over_baseline})",
        ),
    ]
    floor = candidate.recall - acceptance.max_slice_recall_gap
    gated = [s for s in slices if s.gated]
    worst = [s for s in gated if s.recall < floor]
    checks.append(
        Check(
            "slice_recall_gap",
            not worst,
            (
                "below "
                + f"{floor:.3f}: "
                + ", ".join(f"{s.column}={s.value} recall {s.recall:.3f}" for s in worst)
            )
            if worst
            else f"all {len(gated)} judged slices within {acceptance.max_slice_recall_gap} "
            f"of overall recall {candidate.recall:.3f}",
        )
    )
    return Verdict(tuple(checks))


def beats(candidate_score: float, champion_score: float | None, acceptance: Acceptance) -> Verdict:
    """A challenger may not fall below the champion (precision at recall, same holdout)."""
    if champion_score is None:
        return Verdict((Check("not_below_champion", True, "no champion yet"),))
    floor = champion_score - acceptance.max_drop_vs_champion
    return Verdict(
        (
            Check(
                "not_below_champion",
                candidate_score >= floor,
                f"precision at recall {candidate_score:.3f} vs champion {champion_score:.3f} "
                f"(may drop at most {acceptance.max_drop_vs_champion})",
            ),
        )
    )


def evaluate_candidates(
    models: dict[str, DelayModel],
    splits: Splits,
    schema: Schema,
    params: EvaluateParams,
    acceptance: Acceptance,
) -> Evaluation:
    """Threshold each candidate on validation, measure it on the holdout, gate the best ML one."""
    y_valid = splits.valid[schema.target].to_numpy()
    y_hold = splits.holdout[schema.target].to_numpy()
    reports = {}
    for name, model in models.items():
        valid_scores = model.predict_proba(splits.valid)
        threshold = precision_at_recall(y_valid, valid_scores, params.recall_target)[0]
        hold_scores = model.predict_proba(splits.holdout)
        reports[name] = CandidateReport(
            name=name,
            threshold=threshold,
            valid=binary_metrics(y_valid, valid_scores, threshold, params.recall_target),
            holdout=binary_metrics(y_hold, hold_scores, threshold, params.recall_target),
            slices=tuple(
                slice_metrics(
                    splits.holdout,
                    y_hold,
                    hold_scores,
                    threshold,
                    acceptance.slices,
                    params.min_slice_positives,
                )
            ),
        )
    ml = [n for n in reports if n != "baseline"]
    chosen = max(ml, key=lambda n: reports[n].valid.precision_at_recall)
    verdict = gate(
        reports[chosen].holdout,
        reports["baseline"].holdout,
        list(reports[chosen].slices),
        acceptance,
    )
    oracle = None
    if schema.oracle_column and schema.oracle_column in splits.holdout.columns:
        known = splits.holdout[schema.oracle_column].notna().to_numpy()  # production rows lack it
        if known.any() and len(np.unique(y_hold[known])) == 2:
            oracle = float(
                roc_auc_score(y_hold[known], splits.holdout[schema.oracle_column][known])
            )
    return Evaluation(candidates=reports, chosen=chosen, verdict=verdict, oracle_roc_auc=oracle)


def curves(y: np.ndarray, scores: np.ndarray, bins: int) -> dict[str, pd.DataFrame]:
    """ROC, precision-recall and calibration points for plots."""
    fpr, tpr, _ = roc_curve(y, scores)
    precision, recall, _ = precision_recall_curve(y, scores)
    edges = np.quantile(scores, np.linspace(0, 1, bins + 1))
    bucket = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, bins - 1)
    frame = pd.DataFrame({"bucket": bucket, "score": scores, "y": y})
    calibration = (
        frame.groupby("bucket")
        .agg(mean_predicted=("score", "mean"), fraction_delayed=("y", "mean"), rows=("y", "size"))
        .reset_index(drop=True)
    )
    return {
        "roc": _thin(pd.DataFrame({"fpr": fpr, "tpr": tpr})),
        "pr": _thin(pd.DataFrame({"recall": recall, "precision": precision})),
        "calibration": calibration,
    }


def _thin(frame: pd.DataFrame, points: int = 200) -> pd.DataFrame:
    """At most `points` evenly spaced rows, so plot files stay small."""
    if len(frame) <= points:
        return frame
    return frame.iloc[np.linspace(0, len(frame) - 1, points).astype(int)].reset_index(drop=True)


def choose_alias(
    gate_verdict: Verdict, champion_verdict: Verdict, has_champion: bool
) -> str | None:
    """Registry alias a candidate earns: champion if it is the first to pass, else challenger."""
    if not (gate_verdict.passed and champion_verdict.passed):
        return None
    return "challenger" if has_champion else "champion"


def verdict_from_dict(payload: dict[str, Any]) -> Verdict:
    """Rebuild a Verdict from its `to_dict` form."""
    return Verdict(tuple(Check(**c) for c in payload["checks"]))
