"""Points of the evaluation plots: ROC, precision-recall and calibration curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve


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
