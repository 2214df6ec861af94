"""Evaluation figures (matplotlib, headless): data in, Figure out."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pipelines.metrics import Metrics


def _figure(width: float = 5.0, height: float = 4.0) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def roc_figure(curves_by_model: dict[str, pd.DataFrame], oracle_auc: float | None) -> Figure:
    """ROC curves of every candidate on the holdout."""
    fig = _figure()
    ax = fig.add_subplot()
    for name, roc in curves_by_model.items():
        ax.plot(roc["fpr"], roc["tpr"], label=name)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    title = "ROC (holdout)" + (f", best achievable AUC {oracle_auc:.3f}" if oracle_auc else "")
    ax.set(xlabel="false positive rate", ylabel="recall", title=title)
    ax.legend(loc="lower right")
    return fig


def pr_figure(curves_by_model: dict[str, pd.DataFrame], recall_floor: float) -> Figure:
    """Precision-recall curves with the recall floor marked."""
    fig = _figure()
    ax = fig.add_subplot()
    for name, pr in curves_by_model.items():
        ax.plot(pr["recall"], pr["precision"], label=name)
    ax.axvline(recall_floor, linestyle=":", color="grey")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (holdout)")
    ax.legend(loc="upper right")
    return fig


def confusion_figure(metrics: Metrics, name: str) -> Figure:
    """Confusion matrix at the chosen threshold."""
    fig = _figure(4, 3.5)
    ax = fig.add_subplot()
    cells = np.array(
        [
            [metrics.true_negatives, metrics.false_positives],
            [metrics.false_negatives, metrics.true_positives],
        ]
    )
    ax.imshow(cells, cmap="Blues")
    for (i, j), value in np.ndenumerate(cells):
        ax.text(j, i, str(value), ha="center", va="center")
    ax.set_xticks([0, 1], ["on time", "delayed"])
    ax.set_yticks([0, 1], ["on time", "delayed"])
    ax.set(xlabel="predicted", ylabel="actual", title=f"{name} @ {metrics.threshold:.3f}")
    return fig


def calibration_figure(calibration: pd.DataFrame, name: str) -> Figure:
    """Mean score against observed delay rate, per score bucket."""
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(calibration["mean_predicted"], calibration["fraction_delayed"], marker="o")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="mean score", ylabel="observed delay rate", title=f"Calibration: {name}")
    return fig


def shap_summary_figure(contrib: np.ndarray, names: list[str], top: int) -> Figure:
    """Mean |SHAP| per feature (bars), the most influential first."""
    strength = np.abs(contrib).mean(axis=0)
    order = np.argsort(strength)[::-1][:top][::-1]
    fig = _figure(5, 0.3 * len(order) + 1.2)
    ax = fig.add_subplot()
    ax.barh([names[i] for i in order], strength[order])
    ax.set(xlabel="mean |contribution| (log-odds)", title="SHAP summary")
    fig.tight_layout()
    return fig


def importance_figure(importance: pd.Series, top: int) -> Figure:
    """Model-native feature importance (e.g. LightGBM gain)."""
    shown = importance.sort_values().tail(top)
    fig = _figure(5, 0.3 * len(shown) + 1.2)
    ax = fig.add_subplot()
    ax.barh(shown.index.astype(str), shown.to_numpy())
    ax.set(xlabel="importance", title="Feature importance")
    fig.tight_layout()
    return fig
