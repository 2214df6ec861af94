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
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

PROMOTE, REJECT, WAIT = "promote", "reject", "wait"


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


@dataclass(frozen=True)
class VariantCounts:
    """One variant's labelled rows at an A/B look."""

    model_version: str | None
    labelled: int
    """Labelled rows so far (the look uses the first ones)."""
    tested: int
    """Labelled rows the look tested; `positives` of them were delayed, `true_positives` warned."""
    positives: int
    true_positives: int
    warned: int
    recall: float | None
    precision: float | None


@dataclass(frozen=True)
class ABVerdict:
    """An A/B test's decision on live recall, with its evidence."""

    decision: str
    """`promote`, `reject` or `wait`."""
    look: int
    """Looks reached (0: not enough outcomes yet)."""
    looks: int
    alpha: float
    alpha_per_look: float | None
    margin: float
    min_labelled: int
    z: float | None
    p_value: float | None
    """Of non-inferiority."""
    p_value_inferior: float | None
    recall_difference: float | None
    variants: dict[str, VariantCounts]
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The verdict as plain JSON (the release flow's evidence)."""
        return asdict(self)


def _num(value: Any, digits: int = 6) -> float | None:
    """A JSON-safe float (None for missing or non-finite values)."""
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def _percentile(values: pd.Series, q: float) -> float | None:
    clean = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype="float64")
    return _num(np.percentile(clean, q), 3) if len(clean) else None


def _latency(values: pd.Series) -> Latency:
    return Latency(_percentile(values, 50), _percentile(values, 99))


def _recall(decision: pd.Series, outcome: pd.Series) -> float | None:
    positives = outcome == 1
    return _num(decision[positives].mean()) if positives.any() else None


# ------------------------------------------------------------------- shadow


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
        error_rate=_num(errors / requests) if requests else None,
        shed_rate=_num(shed / requests) if requests else None,
        agreement=_num((decision == shadow_decision).mean()) if scored_any else None,
        mean_abs_difference=_num(gap.mean()) if gap is not None else None,
        champion_positive_rate=_num(decision.mean()) if scored_any else None,
        challenger_positive_rate=_num(shadow_decision.mean()) if scored_any else None,
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


def _variant_stats(rows: pd.DataFrame, version: str | None, labelled: int) -> VariantCounts:
    outcome = rows["outcome"].astype(int)
    decision = rows["decision"].astype(bool)
    positives = int((outcome == 1).sum())
    tp = int((decision & (outcome == 1)).sum())
    warned = int(decision.sum())
    return VariantCounts(
        model_version=version,
        labelled=labelled,
        tested=len(rows),
        positives=positives,
        true_positives=tp,
        warned=warned,
        recall=_num(tp / positives) if positives else None,
        precision=_num(tp / warned) if warned else None,
    )


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
) -> ABVerdict:
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
        The decision and its reason (human-readable, with the error rate), the look, the
        test's z and p-values, the recall difference and each variant's counts.
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
    versions = {"champion": champion_version, "challenger": challenger_version}
    size = look * min_labelled
    verdict = ABVerdict(
        decision=WAIT,
        look=look,
        looks=looks,
        alpha=alpha,
        alpha_per_look=_num(per_look),
        margin=margin,
        min_labelled=min_labelled,
        z=None,
        p_value=None,
        p_value_inferior=None,
        recall_difference=None,
        variants={
            v: _variant_stats(r.head(size) if look else r, versions[v], counts[v])
            for v, r in rows.items()
        },
        reason="",
    )
    if look == 0:
        return replace(
            verdict,
            reason=f"waiting for outcomes: champion {counts['champion']}/{min_labelled}, "
            f"challenger {counts['challenger']}/{min_labelled} labelled rows for look 1 of {looks}",
        )
    champ, chal = verdict.variants["champion"], verdict.variants["challenger"]
    if champ.positives == 0 or chal.positives == 0:
        final = look == looks
        return replace(
            verdict,
            decision=REJECT if final else WAIT,
            reason=f"look {look} of {looks} ({size} labelled rows per variant): no delayed "
            f"delivery among the {'champion' if champ.positives == 0 else 'challenger'}'s, so "
            f"recall cannot be compared"
            + ("; rejected for want of evidence (futility)" if final else "; waiting"),
        )
    return _tested(verdict, champ, chal)


def _tested(verdict: ABVerdict, champ: VariantCounts, chal: VariantCounts) -> ABVerdict:
    """The verdict of a look where both variants have delayed deliveries: the z-test decides."""
    look, looks, alpha, margin = verdict.look, verdict.looks, verdict.alpha, verdict.margin
    per_look, size = alpha / looks, look * verdict.min_labelled
    if champ.recall is None or chal.recall is None:
        raise ValueError("an A/B look is tested only when both variants have delayed rows")
    z = recall_z(chal.true_positives, chal.positives, champ.true_positives, champ.positives, margin)
    decision = decide(z, per_look)
    p_ni, p_inf = float(norm.sf(z)), float(norm.cdf(z))
    seen = (
        f"look {look} of {looks}, first {size} labelled rows per variant: challenger recall "
        f"{chal.recall:.3f} ({chal.true_positives}/{chal.positives} delayed warned) vs "
        f"champion {champ.recall:.3f} ({champ.true_positives}/{champ.positives})"
    )
    rate = f"alpha {alpha:g} over {looks} looks, {per_look:.4g} each"
    if decision == PROMOTE:
        reason = (
            f"{seen}; non-inferior within margin {margin:g}: z={z:.2f}, p={p_ni:.4g} < "
            f"{per_look:.4g} ({rate}: a challenger worse than the champion by more than the "
            f"margin is promoted with probability at most {alpha:.0%})"
        )
    elif decision == REJECT:
        reason = (
            f"{seen}; inferior: worse than the champion by more than margin {margin:g}, "
            f"z={z:.2f}, p={p_inf:.4g} < {per_look:.4g} ({rate}: a challenger within the "
            f"margin is rejected this way with probability at most {alpha:.0%})"
        )
    elif look == looks:
        decision = REJECT
        reason = (
            f"{seen}; futility: non-inferiority within margin {margin:g} not shown after the "
            f"last look (z={z:.2f}, p={p_ni:.4g} >= {per_look:.4g}); this rejection's error "
            f"rate is not controlled (it depends on the test's power: raise "
            f"min_labelled_per_variant or the margin to reject fewer good challengers)"
        )
    else:
        reason = (
            f"{seen}; inconclusive (z={z:.2f}, p={p_ni:.4g} >= {per_look:.4g}); next look at "
            f"{(look + 1) * verdict.min_labelled} labelled rows per variant"
        )
    return replace(
        verdict,
        decision=str(decision),
        reason=reason,
        z=_num(z, 4),
        p_value=_num(p_ni),
        p_value_inferior=_num(p_inf),
        recall_difference=_num(chal.recall - champ.recall),
    )
