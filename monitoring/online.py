"""Online evaluation of a challenger from the prediction log: shadow agreement and the A/B test.

Pure functions of a log window (the frame `PredictionLog.read_predictions` returns);
no tool, no I/O, so the release flow and the tests call them alike.

The A/B decision is a one-sided non-inferiority test on live recall (the share of
delayed deliveries each variant warned about), H0: recall_challenger <=
recall_champion - margin, with the Agresti-Caffo adjusted Wald statistic (add one
warned and one missed delivery to each variant: no zero variance, near-nominal
error rates at small counts). The flow polls the log again and again; testing every
poll would inflate the error rate, so the test is only run at `looks` fixed points
(when both variants have 1x, 2x, ... `looks`x `min_labelled` outcomes, always on the
first outcomes to arrive) at alpha / looks each (Bonferroni): over the whole A/B
stage the chance of promoting a challenger that is worse than the margin, or of
rejecting one as inferior that is not, stays below alpha.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

PROMOTE, REJECT, WAIT = "promote", "reject", "wait"


def _num(value: Any, digits: int = 6) -> float | None:
    """A JSON-safe float (None for missing or non-finite values)."""
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def _percentile(values: pd.Series, q: float) -> float | None:
    clean = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype="float64")
    return _num(np.percentile(clean, q), 3) if len(clean) else None


def _latency(values: pd.Series) -> dict[str, float | None]:
    return {"p50_ms": _percentile(values, 50), "p99_ms": _percentile(values, 99)}


def _recall(decision: pd.Series, outcome: pd.Series) -> float | None:
    positives = outcome == 1
    return _num(decision[positives].mean()) if positives.any() else None


# ------------------------------------------------------------------- shadow


def shadow_report(
    frame: pd.DataFrame, challenger_threshold: float, challenger_version: str | None = None
) -> dict[str, Any]:
    """How the challenger scored, in shadow, the requests the champion answered.

    Args:
        frame: Prediction-log rows (any mode); only rows with a shadow version count.
        challenger_threshold: The challenger's decision threshold. The log keeps only
            the answering model's threshold, so the caller names the challenger's
            (the registry's `threshold` tag of that version).
        challenger_version: Count only this shadow version (None: every shadow row).

    Returns:
        requests (shadowed), scored, errors, shed, their rates (errors exclude shed
        jobs: shedding is load, not a fault of the model), agreement (share of scored
        rows where both decisions match), mean_abs_difference of the probabilities,
        positive rates, recalls on the labelled shadowed rows, and latency p50/p99 of
        both models (the champion's is the request's, the challenger's its shadow job's).
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
    return {
        "challenger_version": challenger_version or (versions[0] if len(versions) == 1 else None),
        "champion_versions": sorted({str(v) for v in rows["model_version"]}) if requests else [],
        "challenger_threshold": float(challenger_threshold),
        "requests": requests,
        "scored": len(scored),
        "errors": errors,
        "shed": shed,
        "error_rate": _num(errors / requests) if requests else None,
        "shed_rate": _num(shed / requests) if requests else None,
        "agreement": _num((decision == shadow_decision).mean()) if len(scored) else None,
        "mean_abs_difference": _num(
            (scored["shadow_probability"] - scored["probability"]).abs().mean()
        )
        if len(scored)
        else None,
        "champion_positive_rate": _num(decision.mean()) if len(scored) else None,
        "challenger_positive_rate": _num(shadow_decision.mean()) if len(scored) else None,
        "labelled": len(labelled),
        "champion_recall": _recall(decision[labelled.index], outcome) if len(labelled) else None,
        "challenger_recall": _recall(shadow_decision[labelled.index], outcome)
        if len(labelled)
        else None,
        "champion_latency": _latency(rows["latency_ms"] if requests else pd.Series(dtype=float)),
        "challenger_latency": _latency(
            scored["shadow_latency_ms"] if len(scored) else pd.Series(dtype=float)
        ),
    }


# ---------------------------------------------------------------------- A/B


def recall_z(
    tp_challenger: Any,
    positives_challenger: Any,
    tp_champion: Any,
    positives_champion: Any,
    margin: float,
) -> Any:
    """Non-inferiority z of the challenger's recall (Agresti-Caffo adjusted Wald); vectorised.

    z = (p_chal - p_champ + margin) / se with p = (tp + 1) / (positives + 2) and the
    unpooled standard error of those adjusted proportions. Large z: the challenger is
    non-inferior; very negative z: it is worse than the champion by more than the margin.

    Args:
        tp_challenger: Delayed deliveries the challenger warned about (scalar or array).
        positives_challenger: Delayed deliveries the challenger answered.
        tp_champion: Delayed deliveries the champion warned about.
        positives_champion: Delayed deliveries the champion answered.
        margin: How much lower the challenger's recall may be (>= 0).

    Returns:
        z, a float or an array shaped like the inputs.
    """
    n1 = np.asarray(positives_challenger, dtype="float64") + 2
    n0 = np.asarray(positives_champion, dtype="float64") + 2
    p1 = (np.asarray(tp_challenger, dtype="float64") + 1) / n1
    p0 = (np.asarray(tp_champion, dtype="float64") + 1) / n0
    se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    z = (p1 - p0 + margin) / se
    return float(z) if np.ndim(z) == 0 else z


def decide(z: Any, alpha: float) -> Any:
    """'promote' where non-inferiority is shown at `alpha`, 'reject' where inferiority is.

    Both are one-sided tests of the same statistic (`recall_z`): promote when
    P(Z >= z) < alpha under H0 recall_chal = recall_champ - margin, reject when
    P(Z <= z) < alpha, 'wait' otherwise. Vectorised: an array of z gives an array of decisions.
    """
    critical = float(norm.isf(alpha))
    z = np.asarray(z, dtype="float64")
    out = np.where(z > critical, PROMOTE, np.where(z < -critical, REJECT, WAIT))
    return str(out) if out.ndim == 0 else out


def _variant_stats(rows: pd.DataFrame, version: str | None, labelled: int) -> dict[str, Any]:
    outcome = rows["outcome"].astype(int)
    decision = rows["decision"].astype(bool)
    positives = int((outcome == 1).sum())
    tp = int((decision & (outcome == 1)).sum())
    warned = int(decision.sum())
    return {
        "model_version": version,
        "labelled": labelled,
        "tested": len(rows),
        "positives": positives,
        "true_positives": tp,
        "warned": warned,
        "recall": _num(tp / positives) if positives else None,
        "precision": _num(tp / warned) if warned else None,
    }


def _labelled(frame: pd.DataFrame, variant: str, version: str | None) -> pd.DataFrame:
    rows = frame[(frame["variant"] == variant) & frame["outcome"].notna()]
    if version is not None:
        rows = rows[rows["model_version"].astype(str) == str(version)]
    # first outcomes to arrive first: later feedback never changes an earlier look's rows
    keys = [c for c in ("feedback_at", "received_at", "request_id") if c in rows.columns]
    return rows.sort_values(keys, kind="stable")


def ab_test(
    frame: pd.DataFrame,
    alpha: float,
    margin: float,
    min_labelled: int,
    looks: int = 3,
    champion_version: str | None = None,
    challenger_version: str | None = None,
) -> dict[str, Any]:
    """Decide an A/B test on live recall: 'promote', 'reject' or 'wait', with the evidence.

    Args:
        frame: Prediction-log rows of the A/B stage (variant, decision, outcome, feedback_at).
        alpha: Error rate of the whole stage (split evenly over the looks).
        margin: Non-inferiority margin on recall (absolute, e.g. 0.02).
        min_labelled: Labelled rows (delayed or not) each variant needs per look.
        looks: Number of looks; after the last one without a verdict the challenger is
            rejected for want of evidence (futility).
        champion_version: Count only the champion's rows of this version (None: all).
        challenger_version: Count only the challenger's rows of this version (None: all).

    Returns:
        decision, reason (human-readable, with the error rate), look, looks, alpha,
        alpha_per_look, margin, z, p_value (of non-inferiority), p_value_inferior,
        recall_difference and per-variant n, positives, recalls and precisions.
    """
    if looks < 1 or min_labelled < 1:
        raise ValueError("looks and min_labelled must be >= 1")
    per_look = alpha / looks
    rows = {
        "champion": _labelled(frame, "champion", champion_version),
        "challenger": _labelled(frame, "challenger", challenger_version),
    }
    counts = {v: len(r) for v, r in rows.items()}
    look = min(min(counts.values()) // min_labelled, looks)
    out: dict[str, Any] = {
        "decision": WAIT,
        "look": look,
        "looks": looks,
        "alpha": alpha,
        "alpha_per_look": _num(per_look),
        "margin": margin,
        "min_labelled": min_labelled,
        "z": None,
        "p_value": None,
        "p_value_inferior": None,
        "recall_difference": None,
    }
    versions = {"champion": champion_version, "challenger": challenger_version}
    if look == 0:
        out["variants"] = {v: _variant_stats(r, versions[v], counts[v]) for v, r in rows.items()}
        out["reason"] = (
            f"waiting for outcomes: champion {counts['champion']}/{min_labelled}, "
            f"challenger {counts['challenger']}/{min_labelled} labelled rows for look 1 of {looks}"
        )
        return out
    size = look * min_labelled
    out["variants"] = {
        v: _variant_stats(r.head(size), versions[v], counts[v]) for v, r in rows.items()
    }
    champ, chal = out["variants"]["champion"], out["variants"]["challenger"]
    final = look == looks
    if champ["positives"] == 0 or chal["positives"] == 0:
        out["decision"] = REJECT if final else WAIT
        out["reason"] = (
            f"look {look} of {looks} ({size} labelled rows per variant): no delayed delivery "
            f"among the {'champion' if champ['positives'] == 0 else 'challenger'}'s, so recall "
            f"cannot be compared"
            + ("; rejected for want of evidence (futility)" if final else "; waiting")
        )
        return out
    z = recall_z(
        chal["true_positives"],
        chal["positives"],
        champ["true_positives"],
        champ["positives"],
        margin,
    )
    verdict = decide(z, per_look)
    p_ni, p_inf = float(norm.sf(z)), float(norm.cdf(z))
    out.update(
        z=_num(z, 4),
        p_value=_num(p_ni),
        p_value_inferior=_num(p_inf),
        recall_difference=_num(chal["recall"] - champ["recall"]),
    )
    seen = (
        f"look {look} of {looks}, first {size} labelled rows per variant: challenger recall "
        f"{chal['recall']:.3f} ({chal['true_positives']}/{chal['positives']} delayed warned) vs "
        f"champion {champ['recall']:.3f} ({champ['true_positives']}/{champ['positives']})"
    )
    rate = f"alpha {alpha:g} over {looks} looks, {per_look:.4g} each"
    if verdict == PROMOTE:
        out["decision"] = PROMOTE
        out["reason"] = (
            f"{seen}; non-inferior within margin {margin:g}: z={z:.2f}, p={p_ni:.4g} < "
            f"{per_look:.4g} ({rate}: a challenger worse than the champion by more than the "
            f"margin is promoted with probability at most {alpha:.0%})"
        )
    elif verdict == REJECT:
        out["decision"] = REJECT
        out["reason"] = (
            f"{seen}; inferior: worse than the champion by more than margin {margin:g}, "
            f"z={z:.2f}, p={p_inf:.4g} < {per_look:.4g} ({rate}: a challenger within the "
            f"margin is rejected this way with probability at most {alpha:.0%})"
        )
    elif final:
        out["decision"] = REJECT
        out["reason"] = (
            f"{seen}; futility: non-inferiority within margin {margin:g} not shown after the "
            f"last look (z={z:.2f}, p={p_ni:.4g} >= {per_look:.4g}); this rejection's error "
            f"rate is not controlled (it depends on the test's power: raise "
            f"min_labelled_per_variant or the margin to reject fewer good challengers)"
        )
    else:
        out["reason"] = (
            f"{seen}; inconclusive (z={z:.2f}, p={p_ni:.4g} >= {per_look:.4g}); next look at "
            f"{(look + 1) * min_labelled} labelled rows per variant"
        )
    return out
