"""Where the train and evaluate stages spend their time, on a table of real size.

Runs the stages' own core functions in this process on generated rows (default
150k rows, 15 columns: the generator's), step by step, and prints one JSON
object: each step's seconds and the two stages' totals. Machine load is
recorded before and after: compare figures from a quiet machine only.
Usage: python benchmarks/train_cost.py [--rows 150000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from pipelines import figures
from pipelines.baselines import build_baseline
from pipelines.config import load
from pipelines.curves import curves
from pipelines.evaluate import evaluate_candidates
from pipelines.explain import contributions
from pipelines.features import FeatureEncoder, featurize
from pipelines.generate import generate_deliveries
from pipelines.model import DelayModel
from pipelines.schema import build_schema
from pipelines.split import split_by_time
from pipelines.train import fit_logreg
from pipelines.tune import search_lgbm

ROOT = Path(__file__).resolve().parents[1]


def timed(steps: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    value = fn()
    steps[name] = round(time.perf_counter() - start, 2)
    return value


def measure(rows: int) -> dict[str, Any]:
    config = load(ROOT)
    schema, params = build_schema(config), config.params
    steps: dict[str, float] = {}
    raw = timed(steps, "generate", lambda: generate_deliveries(rows, 7, "2025-01-01", 365, "none"))
    features = timed(steps, "featurize", lambda: featurize(raw, schema))
    split = params.split
    splits = timed(
        steps,
        "split",
        lambda: split_by_time(
            features, schema.time_column, schema.target, split.valid_share, split.holdout_share
        ),
    )
    encoder = FeatureEncoder.from_schema(schema)
    x_train = encoder.encode(splits.train)
    y_train = splits.train[schema.target].to_numpy()
    baseline = build_baseline(params.train.baseline.rules, encoder)
    logreg = timed(
        steps, "fit_logreg", lambda: fit_logreg(x_train, y_train, encoder, params.train.logreg)
    )
    recall = params.evaluate.recall_target
    lgbm, settings, trials = timed(
        steps,
        "search_lgbm",
        lambda: search_lgbm(splits, schema, encoder, params.train, recall),
    )
    models = {
        "baseline": DelayModel("baseline", baseline, encoder),
        "logreg": DelayModel("logreg", logreg, encoder),
        "lgbm": DelayModel("lgbm", lgbm, encoder, dict(settings)),
    }
    evaluation = timed(
        steps,
        "evaluate_candidates",
        lambda: evaluate_candidates(
            models, splits, schema, params.evaluate, config.project.acceptance
        ),
    )
    y = splits.holdout[schema.target].to_numpy()
    scores = {n: m.predict_proba(splits.holdout) for n, m in models.items()}
    timed(steps, "curves", lambda: {n: curves(y, s, 10) for n, s in scores.items()})
    chosen = models[evaluation.chosen]
    matrix = chosen.encoder.encode(splits.holdout)
    sample = matrix[np.random.default_rng(0).permutation(len(matrix))[:5000]]
    shap = timed(steps, "explain_5000_rows", lambda: contributions(chosen, sample))
    with tempfile.TemporaryDirectory() as tmp:
        timed(
            steps,
            "figures",
            lambda: figures.shap_summary_figure(shap, chosen.feature_names, 15).savefig(
                Path(tmp) / "shap.png"
            ),
        )
    return {
        "rows": rows,
        "train_rows": len(splits.train),
        "columns": len(schema.input_columns),
        "trials": len(trials),
        "steps_s": steps,
        "train_stage_s": round(steps["fit_logreg"] + steps["search_lgbm"], 2),
        "evaluate_stage_s": round(
            sum(
                steps[k] for k in ("evaluate_candidates", "curves", "explain_5000_rows", "figures")
            ),
            2,
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=150_000)
    args = parser.parse_args()
    load_before = os.getloadavg()
    result = measure(args.rows)
    print(
        json.dumps(
            {
                "benchmark": "train_cost",
                "cpus": os.cpu_count(),
                "load_before": [round(x, 2) for x in load_before],
                "load_after": [round(x, 2) for x in os.getloadavg()],
                **result,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
