"""DVC stage `evaluate`: candidates + holdout -> metrics, plots, figures and the gate.

The gate's verdict is recorded, not enforced here: a failed gate is a result
(the model is not registered), not a crash of the pipeline.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines import figures, io
from pipelines.config import Config
from pipelines.curves import curves
from pipelines.evaluate import Evaluation, evaluate_candidates
from pipelines.explain import contributions
from pipelines.lgbm import prefer_passive_openmp
from pipelines.model import DelayModel
from pipelines.schema import build_schema
from pipelines.split import read_splits
from pipelines.stages.entry import run_stage


def _save(fig: object, path: Path) -> None:
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")  # type: ignore[attr-defined]


def _evaluate(args: argparse.Namespace, config: Config) -> None:
    schema, params = build_schema(config), config.params.evaluate
    acceptance = config.project.acceptance
    splits = read_splits(args.splits)
    models = {p.stem: io.read_joblib(p) for p in sorted(Path(args.models).glob("*.joblib"))}
    result = evaluate_candidates(models, splits, schema, params, acceptance)
    io.write_json(args.metrics, result.to_json())

    y = splits.holdout[schema.target].to_numpy()
    scores = {name: m.predict_proba(splits.holdout) for name, m in models.items()}
    per_model = {name: curves(y, s, params.calibration_bins) for name, s in scores.items()}
    plots = Path(args.plots)
    for name, tables in per_model.items():
        for kind, table in tables.items():
            io.write_csv(plots / f"{kind}_{name}.csv", table)
    _figures(Path(args.figures), result, models[result.chosen], splits.holdout, per_model, config)
    report = result.chosen_report
    verdict = "passed" if result.verdict.passed else "FAILED: " + "; ".join(result.verdict.failures)
    print(f"evaluate: chosen {result.chosen} at threshold {report.threshold:.4f}; gate {verdict}")


def _figures(
    figs: Path,
    result: Evaluation,
    chosen: DelayModel,
    holdout: pd.DataFrame,
    per_model: dict[str, dict[str, pd.DataFrame]],
    config: Config,
) -> None:
    """ROC, PR, confusion, calibration, SHAP summary and importance figures as PNG files."""
    params, acceptance = config.params.evaluate, config.project.acceptance
    matrix = chosen.encoder.encode(holdout)
    sample = matrix[np.random.default_rng(0).permutation(len(matrix))[:5000]]
    _save(
        figures.roc_figure({n: t["roc"] for n, t in per_model.items()}, result.oracle_roc_auc),
        figs / "roc.png",
    )
    _save(
        figures.pr_figure({n: t["pr"] for n, t in per_model.items()}, acceptance.min_recall),
        figs / "pr.png",
    )
    _save(
        figures.confusion_figure(result.chosen_report.holdout, result.chosen),
        figs / "confusion.png",
    )
    _save(
        figures.calibration_figure(per_model[result.chosen]["calibration"], result.chosen),
        figs / "calibration.png",
    )
    _save(
        figures.shap_summary_figure(
            contributions(chosen, sample), chosen.feature_names, params.top_features
        ),
        figs / "shap_summary.png",
    )
    importance = getattr(chosen.estimator, "feature_importances_", None)
    if importance is None:
        importance = np.abs(contributions(chosen, sample)).mean(axis=0)
    _save(
        figures.importance_figure(
            pd.Series(importance, index=chosen.feature_names), params.top_features
        ),
        figs / "importance.png",
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    prefer_passive_openmp()  # before LightGBM starts its threads
    return run_stage(
        __doc__ or "", ["splits", "models", "metrics", "plots", "figures"], _evaluate, argv
    )


if __name__ == "__main__":
    raise SystemExit(main())
