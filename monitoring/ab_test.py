"""The A/B test of a challenger from the prediction log: live recall, precision and latency.

Pure functions of a log window (the frame `PredictionLog.read_predictions` returns);
no tool, no I/O, so the release flow and the tests call them alike.

Every acceptance criterion with a live counterpart is tested. Recall (the share of
positive rows each variant flagged) and precision (the share of flagged rows that
were positive) each get a one-sided non-inferiority test, H0: metric_challenger <=
metric_champion - margin, with the Agresti-Caffo adjusted Wald statistic of
statsmodels (one success and one failure added to each variant: no zero variance,
near-nominal error rates at small counts). The challenger is promoted only when
both tests show non-inferiority (an intersection-union test: each at the look's
alpha keeps the promotion's error rate at alpha), and rejected as inferior when
either test shows inferiority at half the look's alpha (Bonferroni over the two).
A challenger whose p99 latency breaks `requirements.latency_budget_ms` is rejected
at the first look, whatever its quality.

The flow polls the log again and again; testing every poll would inflate the error
rate, so the test is only run at `looks` fixed points (when both variants have 1x,
2x, ... `looks`x `min_labelled` outcomes, always on the first outcomes to arrive) at
alpha / looks each (Bonferroni over the looks).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm
from statsmodels.stats.proportion import test_proportions_2indep

from monitoring.summary import json_number

PROMOTE, REJECT, WAIT = "promote", "reject", "wait"
METRICS = ("recall", "precision")


@dataclass(frozen=True)
class VariantCounts:
    """One variant's labelled rows at an A/B look."""

    model_version: str | None
    labelled: int
    """Labelled rows so far (the look uses the first ones)."""
    tested: int
    """Labelled rows the look tested; `positives` of them were positive, `true_positives`
    of those flagged, `warned` flagged in all."""
    positives: int
    true_positives: int
    warned: int
    recall: float | None
    precision: float | None
    latency_p99_ms: float | None = None
    """p99 of the answers this variant gave during the A/B stage (all of them, labelled or not)."""


@dataclass(frozen=True)
class MetricTest:
    """One metric's non-inferiority test at a look."""

    metric: str
    z: float
    p_value: float
    """Of non-inferiority (small: the challenger is not worse by more than the margin)."""
    p_value_inferior: float
    """Of inferiority (small: it is worse by more than the margin)."""
    difference: float
    """Challenger minus champion."""


@dataclass(frozen=True)
class ABVerdict:
    """An A/B test's decision on live recall, precision and latency, with its evidence."""

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
    """The recall test's statistic (the precision test's is in `tests`)."""
    p_value: float | None
    """Of the recall test's non-inferiority."""
    p_value_inferior: float | None
    recall_difference: float | None
    variants: dict[str, VariantCounts]
    reason: str
    tests: dict[str, MetricTest] | None = None
    """Recall and precision tests of the look (None before a look is tested)."""
    latency_budget_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The verdict as plain JSON (the release flow's evidence)."""
        return asdict(self)


def noninferiority_z(
    successes_challenger: Any,
    trials_challenger: Any,
    successes_champion: Any,
    trials_champion: Any,
    margin: float,
) -> Any:
    """Non-inferiority z of the challenger's proportion (Agresti-Caffo adjusted Wald); vectorised.

    z = (p_chal - p_champ + margin) / se with p = (successes + 1) / (trials + 2) and the
    unpooled standard error of those adjusted proportions. Large z: the challenger is
    non-inferior; very negative z: it is worse than the champion by more than the margin.
    For recall the trials are the positive rows and the successes those flagged; for
    precision the trials are the flagged rows and the successes the positive ones.
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # its odds ratio at p = 1, unused here
        result = test_proportions_2indep(
            np.asarray(successes_challenger, dtype="float64"),
            np.asarray(trials_challenger, dtype="float64"),
            np.asarray(successes_champion, dtype="float64"),
            np.asarray(trials_champion, dtype="float64"),
            value=-margin,
            method="agresti-caffo",
            compare="diff",
            alternative="larger",
            return_results=True,
        )
    z = result.statistic
    return float(z) if np.ndim(z) == 0 else np.asarray(z)


def decide(z: Any, alpha: float) -> Any:
    """'promote' where non-inferiority is shown at `alpha`, 'reject' where inferiority is.

    Both are one-sided tests of the same statistic (`noninferiority_z`): promote when
    P(Z >= z) < alpha under H0 p_chal = p_champ - margin, reject when P(Z <= z) < alpha,
    'wait' otherwise. Vectorised: an array of z gives an array of decisions.
    """
    critical = float(norm.isf(alpha))
    z = np.asarray(z, dtype="float64")
    out = np.where(z > critical, PROMOTE, np.where(z < -critical, REJECT, WAIT))
    return str(out) if out.ndim == 0 else out


def _p99(values: pd.Series) -> float | None:
    clean = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype="float64")
    return json_number(np.percentile(clean, 99), 3) if len(clean) else None


def _variant_stats(
    rows: pd.DataFrame, version: str | None, labelled: int, p99: float | None
) -> VariantCounts:
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
        recall=json_number(tp / positives) if positives else None,
        precision=json_number(tp / warned) if warned else None,
        latency_p99_ms=p99,
    )


def _answered(frame: pd.DataFrame, variant: str, version: str | None) -> pd.DataFrame:
    rows = frame[frame["variant"] == variant]
    if version is not None:
        rows = rows[rows["model_version"].astype(str) == str(version)]
    return rows


def _labelled(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows[rows["outcome"].notna()]
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
    latency_budget_ms: float | None = None,
) -> ABVerdict:
    """Decide an A/B test on live recall, precision and latency: 'promote', 'reject' or 'wait'.

    Args:
        frame: Prediction-log rows of the A/B stage (variant, decision, outcome, feedback_at,
            latency_ms).
        alpha: Error rate of the whole stage (split evenly over the looks).
        margin: Non-inferiority margin on recall and on precision (absolute, e.g. 0.05).
        min_labelled: Labelled rows (positive or not) each variant needs per look.
        looks: Number of looks; after the last one without a verdict the challenger is
            rejected for want of evidence (futility).
        champion_version: Count only the champion's rows of this version (None: all).
        challenger_version: Count only the challenger's rows of this version (None: all).
        latency_budget_ms: The challenger's p99 may not exceed it (None: not checked).

    Returns:
        The decision and its reason (human-readable, with the error rate), the look, each
        test's statistics and each variant's counts and p99.
    """
    if looks < 1 or min_labelled < 1:
        raise ValueError("looks and min_labelled must be >= 1")
    versions = {"champion": champion_version, "challenger": challenger_version}
    answered = {v: _answered(frame, v, versions[v]) for v in versions}
    rows = {v: _labelled(r) for v, r in answered.items()}
    counts = {v: len(r) for v, r in rows.items()}
    look = min(min(counts.values()) // min_labelled, looks)
    size = look * min_labelled
    p99 = {v: _p99(r["latency_ms"]) if "latency_ms" in r else None for v, r in answered.items()}
    verdict = ABVerdict(
        decision=WAIT,
        look=look,
        looks=looks,
        alpha=alpha,
        alpha_per_look=json_number(alpha / looks),
        margin=margin,
        min_labelled=min_labelled,
        z=None,
        p_value=None,
        p_value_inferior=None,
        recall_difference=None,
        variants={
            v: _variant_stats(r.head(size) if look else r, versions[v], counts[v], p99[v])
            for v, r in rows.items()
        },
        reason="",
        latency_budget_ms=latency_budget_ms,
    )
    if look == 0:
        return replace(
            verdict,
            reason=f"waiting for outcomes: champion {counts['champion']}/{min_labelled}, "
            f"challenger {counts['challenger']}/{min_labelled} labelled rows for look 1 of {looks}",
        )
    too_slow = _over_budget(p99, latency_budget_ms)
    if too_slow:
        return replace(verdict, decision=REJECT, reason=f"look {look} of {looks}: {too_slow}")
    champ, chal = verdict.variants["champion"], verdict.variants["challenger"]
    if not _testable(champ, chal):
        final = look == looks
        return replace(
            verdict,
            decision=REJECT if final else WAIT,
            reason=f"look {look} of {looks} ({size} labelled rows per variant): no positive "
            f"row among the {'champion' if champ.positives == 0 else 'challenger'}'s, so "
            f"recall cannot be compared"
            + ("; rejected for want of evidence (futility)" if final else "; waiting"),
        )
    return _tested(verdict, champ, chal)


def _over_budget(p99: dict[str, float | None], budget_ms: float | None) -> str:
    """Why the challenger breaks the latency budget ('' when it does not, or is not judged)."""
    slow, usual = p99["challenger"], p99["champion"]
    if budget_ms is None or slow is None or slow <= budget_ms:
        return ""
    champion = "n/a" if usual is None else f"{usual:.1f} ms"
    return (
        f"the challenger's p99 latency {slow:.1f} ms breaks the latency budget of "
        f"{budget_ms:g} ms (champion {champion})"
    )


def _trials(metric: str, counts: VariantCounts) -> int:
    """The denominator of `metric`: positive rows for recall, flagged rows for precision."""
    return counts.positives if metric == "recall" else counts.warned


def _testable(champ: VariantCounts, chal: VariantCounts) -> list[str]:
    """The metrics both variants have a denominator for (recall first)."""
    return [m for m in METRICS if _trials(m, champ) and _trials(m, chal)]


def _metric_test(
    metric: str, champ: VariantCounts, chal: VariantCounts, margin: float
) -> MetricTest:
    z = noninferiority_z(
        chal.true_positives,
        _trials(metric, chal),
        champ.true_positives,
        _trials(metric, champ),
        margin,
    )
    values = (getattr(chal, metric), getattr(champ, metric))
    return MetricTest(
        metric=metric,
        z=float(json_number(z, 4) or 0.0),
        p_value=float(json_number(norm.sf(z)) or 0.0),
        p_value_inferior=float(json_number(norm.cdf(z)) or 0.0),
        difference=float(json_number(values[0] - values[1]) or 0.0),
    )


def _tested(verdict: ABVerdict, champ: VariantCounts, chal: VariantCounts) -> ABVerdict:
    """The verdict of a look where both variants have positive rows (and maybe flagged ones).

    Precision is tested when both variants flagged rows; a challenger that never flags can
    still be shown inferior in recall, but is promoted only on both tests.
    """
    look, looks, alpha, margin = verdict.look, verdict.looks, verdict.alpha, verdict.margin
    per_look, size = alpha / looks, look * verdict.min_labelled
    tests = {m: _metric_test(m, champ, chal, margin) for m in _testable(champ, chal)}
    promote_at, reject_at = float(norm.isf(per_look)), float(norm.isf(per_look / len(METRICS)))
    shown = "; ".join(
        f"{m} {getattr(chal, m) or 0:.3f} vs {getattr(champ, m) or 0:.3f} (z={t.z:.2f})"
        for m, t in tests.items()
    )
    seen = (
        f"look {look} of {looks}, first {size} labelled rows per variant: challenger vs "
        f"champion {shown}"
    )
    rate = f"alpha {alpha:g} over {looks} looks, {per_look:.4g} each"
    inferior = [m for m, t in tests.items() if t.z < -reject_at]
    if len(tests) == len(METRICS) and all(t.z > promote_at for t in tests.values()):
        decision = PROMOTE
        reason = (
            f"{seen}; non-inferior in recall and precision within margin {margin:g} "
            f"(both p < {per_look:.4g}; {rate}: a challenger worse than the champion by more "
            f"than the margin in either is promoted with probability at most {alpha:.0%})"
        )
    elif inferior:
        decision = REJECT
        reason = (
            f"{seen}; inferior in {' and '.join(inferior)}: worse than the champion by more "
            f"than margin {margin:g} (p < {per_look / len(METRICS):.4g}; {rate}, halved over "
            f"the two metrics: a challenger within the margin is rejected this way with "
            f"probability at most {alpha:.0%})"
        )
    elif look == looks:
        decision = REJECT
        reason = (
            f"{seen}; futility: non-inferiority within margin {margin:g} not shown in both "
            f"metrics after the last look; this rejection's error rate is not controlled (it "
            f"depends on the test's power: raise min_labelled_per_variant or the margin to "
            f"reject fewer good challengers)"
        )
    else:
        decision = WAIT
        reason = (
            f"{seen}; inconclusive; next look at {(look + 1) * verdict.min_labelled} labelled "
            f"rows per variant"
        )
    recall = tests["recall"]
    return replace(
        verdict,
        decision=decision,
        reason=reason,
        tests=tests,
        z=recall.z,
        p_value=recall.p_value,
        p_value_inferior=recall.p_value_inferior,
        recall_difference=recall.difference,
    )
