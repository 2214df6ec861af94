"""Live quality of each serving variant in a window: recall, precision, calibration.

Figures that need outcomes use only the labelled rows (those with feedback); a
figure whose denominator is zero is None (null in JSON), never 0, so "no data"
is not mistaken for "bad model".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from monitoring.summary import CalibrationBin, VariantQuality

CALIBRATION_BINS = 10


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def calibration(probability: np.ndarray, outcome: np.ndarray) -> list[CalibrationBin]:
    """Equal-width probability bins (10) with their mean score, observed rate and size.

    Args:
        probability: Predicted probabilities of labelled rows, in [0, 1].
        outcome: Their outcomes (0/1), same length.

    Returns:
        One bin per non-empty bin, lowest first (`bin` is e.g. "0.3-0.4"). A score of
        exactly 1 falls in the top bin.
    """
    probability = np.asarray(probability, dtype="float64")
    outcome = np.asarray(outcome, dtype="float64")
    index = np.clip(np.floor(probability * CALIBRATION_BINS), 0, CALIBRATION_BINS - 1)
    out = []
    for b in range(CALIBRATION_BINS):
        members = index == b
        rows = int(members.sum())
        if rows:
            out.append(
                CalibrationBin(
                    bin=f"{b / CALIBRATION_BINS:.1f}-{(b + 1) / CALIBRATION_BINS:.1f}",
                    mean_predicted=float(probability[members].mean()),
                    observed_rate=float(outcome[members].mean()),
                    rows=rows,
                )
            )
    return out


def expected_calibration_error(bins: Sequence[CalibrationBin]) -> float | None:
    """Row-weighted mean gap between predicted and observed rate over `calibration` bins.

    Bins without an observed rate (`calibration` gives none) are left out.
    """
    known = [
        (b.rows, b.mean_predicted, b.observed_rate) for b in bins if b.observed_rate is not None
    ]
    total = sum(rows for rows, _, _ in known)
    if not total:
        return None
    gap = sum(rows * abs(predicted - observed) for rows, predicted, observed in known)
    return float(gap / total)


def _most_common(values: pd.Series) -> str:
    counts = values.astype(str).value_counts(sort=False)
    return str(counts.idxmax())


def group_quality(frame: pd.DataFrame) -> VariantQuality:
    """Quality of one group of predictions (rows of one variant).

    Args:
        frame: Rows with `probability`, `decision` and `outcome` (nullable 0/1), and
            `model_version`.

    Returns:
        The summary's per-variant entry: `model_version` (the one that answered most
        rows), `predicted_positive_rate` and `mean_probability` over all rows, the
        outcome figures and the calibration over the labelled rows.
    """
    probability = frame["probability"].to_numpy(dtype="float64")
    decision = frame["decision"].astype(bool).to_numpy()
    labelled = frame["outcome"].notna().to_numpy()
    outcome = frame["outcome"][labelled].astype("int64").to_numpy() == 1
    predicted = decision[labelled]
    hits = int((predicted & outcome).sum())
    bins = calibration(probability[labelled], outcome)
    rows = len(frame)
    return VariantQuality(
        model_version=_most_common(frame["model_version"]) if rows else None,
        rows=rows,
        labelled=int(labelled.sum()),
        recall=_ratio(hits, int(outcome.sum())),
        precision=_ratio(hits, int(predicted.sum())),
        positive_rate=_ratio(int(outcome.sum()), int(labelled.sum())),
        predicted_positive_rate=_ratio(int(decision.sum()), rows),
        mean_probability=float(probability.mean()) if rows else None,
        calibration_error=expected_calibration_error(bins),
        calibration=bins,
    )


def variant_quality(frame: pd.DataFrame) -> dict[str, VariantQuality]:
    """`group_quality` of each variant ('champion', 'challenger') present in the window.

    Args:
        frame: The window (`window.current_frame`, or the log itself): `variant`,
            `model_version`, `probability`, `decision`, `outcome`.

    Returns:
        Variant name -> its figures, champion first then the others by name.
    """
    variants = frame["variant"].astype(str)
    names = sorted(variants[frame["variant"].notna()].unique(), key=lambda v: (v != "champion", v))
    return {name: group_quality(frame[variants == name]) for name in names}
