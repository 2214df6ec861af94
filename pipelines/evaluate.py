"""Offline evaluation: each candidate thresholded and measured, and the two gates.

The first gate (`gate`) checks the chosen candidate against project.yaml's
acceptance criteria on the gold holdout. The second (`champion_gate`) says
the candidate does not fall below the champion: the champion is re-scored on
the same holdout and compared by precision at the recall target (`beats`).
`Evaluation` is the evaluate stage's result and the JSON of
metrics/evaluation.json (`to_json` / `from_json`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from pipelines.config import Acceptance, EvaluateParams
from pipelines.metrics import (
    Metrics,
    SliceResult,
    binary_metrics,
    precision_at_recall,
    slice_metrics,
)
from pipelines.model import DelayModel
from pipelines.schema import Schema
from pipelines.split import Splits


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

    def to_json(self) -> dict[str, Any]:
        """The JSON form: `passed` and every check."""
        return {"passed": self.passed, "checks": [asdict(c) for c in self.checks]}

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> Verdict:
        """Read the JSON form back (`passed` follows from the checks)."""
        return cls(tuple(Check(**c) for c in payload["checks"]))


@dataclass(frozen=True)
class CandidateReport:
    """Everything evaluation found about one candidate."""

    name: str
    threshold: float
    valid: Metrics
    holdout: Metrics
    slices: tuple[SliceResult, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """The JSON form of one candidate (its name is the key it is filed under)."""
        return {
            "threshold": self.threshold,
            "valid": asdict(self.valid),
            "holdout": asdict(self.holdout),
            "slices": [asdict(s) for s in self.slices],
        }

    @classmethod
    def from_json(cls, name: str, payload: dict[str, Any]) -> CandidateReport:
        """Read the JSON form of candidate `name` back."""
        return cls(
            name=name,
            threshold=payload["threshold"],
            valid=Metrics(**payload["valid"]),
            holdout=Metrics(**payload["holdout"]),
            slices=tuple(SliceResult(**s) for s in payload["slices"]),
        )


@dataclass(frozen=True)
class Evaluation:
    """The evaluate stage's result: per-candidate reports, the chosen one and its gate."""

    candidates: dict[str, CandidateReport]
    chosen: str
    verdict: Verdict
    oracle_roc_auc: float | None
    """ROC AUC of the true probabilities on the holdout: the best any model can do."""

    @property
    def chosen_report(self) -> CandidateReport:
        """The report of the chosen candidate."""
        return self.candidates[self.chosen]

    def to_json(self) -> dict[str, Any]:
        """The JSON form: metrics/evaluation.json, a DVC metrics file."""
        return {
            "chosen": self.chosen,
            "oracle_roc_auc": self.oracle_roc_auc,
            "gate": self.verdict.to_json(),
            "candidates": {name: c.to_json() for name, c in self.candidates.items()},
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> Evaluation:
        """Read metrics/evaluation.json's content back."""
        return cls(
            candidates={
                name: CandidateReport.from_json(name, c)
                for name, c in payload["candidates"].items()
            },
            chosen=payload["chosen"],
            verdict=Verdict.from_json(payload["gate"]),
            oracle_roc_auc=payload.get("oracle_roc_auc"),
        )


# ---------------------------------------------------------------- the two gates


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


def champion_score(
    champion: DelayModel, holdout: pd.DataFrame, target: str, recall_target: float
) -> float:
    """Precision at the recall target of the champion re-scored on `holdout` (column `target`)."""
    y = holdout[target].to_numpy()
    return precision_at_recall(y, champion.predict_proba(holdout), recall_target)[1]


def champion_gate(
    candidate: CandidateReport,
    champion: DelayModel | None,
    holdout: pd.DataFrame,
    target: str,
    params: EvaluateParams,
    acceptance: Acceptance,
) -> Verdict:
    """The second gate: `candidate` does not fall below the champion on the same gold holdout.

    `champion` is the model the registry's champion alias names, None when no
    model has it yet (then the gate passes). Both are compared by precision at
    `params.recall_target`: the candidate's from its report, the champion's
    re-scored on `holdout` now.
    """
    score = (
        None
        if champion is None
        else champion_score(champion, holdout, target, params.recall_target)
    )
    return beats(candidate.holdout.precision_at_recall, score, acceptance)


def choose_alias(
    gate_verdict: Verdict, champion_verdict: Verdict, has_champion: bool
) -> str | None:
    """Registry alias a candidate earns: champion if it is the first to pass, else challenger."""
    if not (gate_verdict.passed and champion_verdict.passed):
        return None
    return "challenger" if has_champion else "champion"


# ----------------------------------------------------------------- evaluation


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
