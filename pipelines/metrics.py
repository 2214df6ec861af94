"""Quality of scores against labels: threshold-free and at a threshold, overall and per slice."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score


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
