"""Drift check wall time on 100k and 1M rows, Evidently next to scipy; one window's summary.

For each size, a reference (scenario none) and a current frame (scenario winter) of
that many rows come from `generate_deliveries` and are featurised; the oracle's
`true_delay_prob` stands in for the model's scores on both sides. Measured on the
same data:

- `evidently`: `monitoring.drift.evidently_drift` as the monitoring flow runs it,
  each frame sampled to `monitoring.max_report_rows` when larger;
- `evidently_unsampled`: the same on all rows, only up to `--unsampled-max` rows
  (at 1M it takes minutes and GBs, and monitoring never does it);
- `evidently_preset`: Evidently's `DataDriftPreset` (+ a ValueDrift on the score),
  unsampled, up to `--preset-max` rows: what the per-column metrics replace;
- `scipy`: `monitoring.drift.scipy_drift` on all rows, and `scipy_sampled` on
  Evidently's sample, with the agreement of both with Evidently's figures.

Then `summarize_window` on one window of `--window-rows` predictions (log rows as
`PredictionLog.read_predictions` returns them) against a `monitoring.reference_rows`
reference: the monitoring flow's per-window cost minus I/O. Evidently's import is
timed once, first, and excluded from every other figure. Prints one JSON object.
Usage: python benchmarks/drift.py [--sizes 100000 1000000] [--window-rows 5000]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitoring.drift import DriftResult, compared_frames, evidently_drift, scipy_drift
from monitoring.scoring import summarize_window
from monitoring.summary import OK, RetrainVerdict, WindowSpan, WindowSummary
from pipelines.config import load
from pipelines.features import featurize
from pipelines.generate import generate_deliveries
from pipelines.schema import Schema, build_schema

ROOT = Path(__file__).resolve().parents[1]
VERSION, SCENARIO = "bench", "winter"


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = work()
    return out, round(time.perf_counter() - start, 3)


def reference_frame(rows: int, seed: int, schema: Schema) -> pd.DataFrame:
    raw = generate_deliveries(rows=rows, seed=seed)
    return featurize(raw, schema).assign(delay_probability=raw["true_delay_prob"].to_numpy())


def current_raw(rows: int, seed: int) -> pd.DataFrame:
    return generate_deliveries(rows=rows, seed=seed + 1, scenario=SCENARIO)


def current_features(raw: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    return featurize(raw, schema).assign(
        probability=raw["true_delay_prob"].to_numpy(), model_version=VERSION
    )


def log_rows(raw: pd.DataFrame, schema: Schema, seed: int) -> pd.DataFrame:
    """The window as PredictionLog.read_predictions returns it: one in 10 is the challenger's."""
    n, rng = len(raw), np.random.default_rng(seed)
    probability = raw["true_delay_prob"].to_numpy()
    challenger = rng.random(n) < 0.1
    outcome = pd.array(raw["delayed"].to_numpy(), dtype="Int64")
    outcome[rng.random(n) < 0.6] = pd.NA  # feedback has not arrived for most yet
    frame = pd.DataFrame(
        {
            "request_id": [f"req-{i}" for i in range(n)],
            "received_at": pd.Timestamp("2026-01-05T08:00:00Z")
            + pd.to_timedelta(np.arange(n), "s"),
            "delivery_id": raw[schema.id_column].to_numpy(),
            "request_key": raw[schema.key_column].to_numpy() if schema.key_column else None,
            "mode": "canary",
            "variant": np.where(challenger, "challenger", "champion"),
            "model_version": np.where(challenger, "challenger", VERSION),
            "probability": probability,
            "decision": probability >= 0.2,
            "threshold": 0.2,
            "latency_ms": 3.0,
            "shadow_version": None,
            "shadow_probability": np.nan,
            "shadow_latency_ms": np.nan,
            "shadow_error": None,
        }
    )
    times = pd.to_datetime(raw[schema.time_column]).dt.tz_localize("UTC")
    frame[schema.time_column] = [t.isoformat() for t in times]
    for column in schema.input_columns[1:]:
        frame[column] = raw[column].to_numpy()
    frame["outcome"], frame["feedback_at"] = outcome, pd.NaT
    return frame


def figures(result: DriftResult, seconds: float) -> dict[str, Any]:
    drift, prediction = result.drift, result.prediction_drift
    assert prediction is not None
    return {
        "seconds": seconds,
        "rows_compared": drift.rows_compared,
        "reference_rows": drift.reference_rows,
        "share": round(drift.share, 4),
        "dataset_drift": drift.dataset_drift,
        "drifted": [n for n, f in drift.features.items() if f.drifted],
        "prediction_drift": round(prediction.score, 4),
    }


def agreement(a: DriftResult, b: DriftResult) -> dict[str, Any]:
    fa, fb = a.drift.features, b.drift.features
    pa, pb = a.prediction_drift, b.prediction_drift
    assert pa is not None
    assert pb is not None
    diffs = [abs(fa[n].score - fb[n].score) for n in fa]
    diffs.append(abs(pa.score - pb.score))
    return {
        "same_methods": all(fa[n].method == fb[n].method for n in fa),
        "same_flags": all(fa[n].drifted == fb[n].drifted for n in fa) and pa.drifted == pb.drifted,
        "max_score_diff": float(f"{max(diffs):.2e}"),
    }


def preset_run(ref: pd.DataFrame, cur: pd.DataFrame, schema: Schema, share: float) -> float:
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    r, c, prediction = compared_frames(ref, cur, schema, max(len(ref), len(cur)), 0, VERSION)
    assert prediction is not None
    definition = DataDefinition(
        numerical_columns=[*schema.numeric_feature_names, prediction],
        categorical_columns=schema.categorical_names,
    )
    metrics = [DataDriftPreset(columns=schema.feature_names, drift_share=share)]
    report = Report([*metrics, ValueDrift(column=prediction)])
    _, seconds = timed(
        lambda: report.run(
            Dataset.from_pandas(c, data_definition=definition),
            Dataset.from_pandas(r, data_definition=definition),
        )
    )
    return seconds


def drift_at(rows: int, args: argparse.Namespace, schema: Schema, share: float, max_rows: int):
    (ref, cur_raw), generate_s = timed(
        lambda: (reference_frame(rows, args.seed, schema), current_raw(rows, args.seed))
    )
    cur = current_features(cur_raw, schema)
    del cur_raw
    out: dict[str, Any] = {"rows": rows, "generate_s": generate_s, "max_report_rows": max_rows}

    def run_evidently(limit: int) -> tuple[DriftResult, float]:
        (result, _), seconds = timed(
            lambda: evidently_drift(ref, cur, schema, share, limit, args.seed, VERSION)
        )
        return result, seconds

    evidently, seconds = run_evidently(max_rows)
    out["evidently"] = figures(evidently, seconds)
    if rows <= args.unsampled_max and rows > max_rows:
        unsampled, seconds = run_evidently(rows)
        out["evidently_unsampled"] = figures(unsampled, seconds)
    elif rows <= max_rows:
        out["evidently_unsampled"] = "same as evidently (rows <= max_report_rows)"
    else:
        out["evidently_unsampled"] = f"not run (rows > --unsampled-max {args.unsampled_max})"
    if rows <= args.preset_max:
        out["evidently_preset"] = {"seconds": preset_run(ref, cur, schema, share)}
    scipy_full, seconds = timed(
        lambda: scipy_drift(ref, cur, schema, share, rows, args.seed, VERSION)
    )
    out["scipy"] = figures(scipy_full, seconds)
    scipy_same = scipy_full
    if rows > max_rows:
        scipy_same, seconds = timed(
            lambda: scipy_drift(ref, cur, schema, share, max_rows, args.seed, VERSION)
        )
        out["scipy_sampled"] = figures(scipy_same, seconds)
    out["agreement"] = {"evidently_vs_scipy_same_rows": agreement(evidently, scipy_same)}
    if scipy_same is not scipy_full:
        out["agreement"]["evidently_sampled_vs_scipy_all_rows"] = agreement(evidently, scipy_full)
    return out


def window_cost(args: argparse.Namespace, schema: Schema, config: Any) -> dict[str, Any]:
    monitoring = config.project.monitoring
    reference = reference_frame(monitoring.reference_rows, args.seed, schema)
    log = log_rows(current_raw(args.window_rows, args.seed + 10), schema, args.seed)
    end = datetime(2026, 1, 5, 9, tzinfo=UTC)
    start = end - timedelta(minutes=monitoring.window_minutes)
    previous = WindowSpan(start - (end - start), start, 0, 0)  # scored, without drift
    history = [
        WindowSummary("previous", start, previous, VERSION, OK, [], RetrainVerdict(False, ""))
    ]
    runs = []
    summary = None
    for i in range(args.window_repeats):
        (summary, _), seconds = timed(
            lambda i=i: summarize_window(
                log, reference, schema, config, start, end, VERSION, history, f"bench-{i}"
            )
        )
        runs.append(seconds)
    assert summary is not None
    assert summary.drift is not None
    return {
        "rows": len(log),
        "reference_rows": len(reference),
        "seconds": min(runs),
        "runs_s": runs,
        "status": summary.status,
        "share": round(summary.drift.share, 4),
        "dataset_drift": summary.drift.dataset_drift,
        "retrain": asdict(summary.retrain),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--window-rows", type=int, default=5_000)
    parser.add_argument("--window-repeats", type=int, default=3)
    parser.add_argument("--unsampled-max", type=int, default=100_000)
    parser.add_argument("--preset-max", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    config = load(ROOT)
    schema = build_schema(config)
    monitoring = config.project.monitoring

    def import_evidently() -> str:
        import evidently
        from evidently import Report  # noqa: F401
        from evidently.metrics import ValueDrift  # noqa: F401

        return str(evidently.__version__)

    version, import_s = timed(import_evidently)
    sizes = [
        drift_at(rows, args, schema, monitoring.drift_share, monitoring.max_report_rows)
        for rows in args.sizes
    ]
    result = {
        "benchmark": "drift",
        "machine": {
            "cpus": __import__("os").cpu_count(),
            "python": platform.python_version(),
            "pandas": pd.__version__,
            "evidently": version,
        },
        "features": len(schema.feature_names),
        "drift_share": monitoring.drift_share,
        "scenario": SCENARIO,
        "evidently_import_s": import_s,
        "sizes": sizes,
        "summarize_window": window_cost(args, schema, config),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
