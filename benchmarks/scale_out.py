"""Scale-out on Dask against one process, measured in the same run.

- batch scoring of a generated Parquet file (5M rows by default): `score_table`
  in one process (the baseline) vs `score_partitioned` on a Dask LocalCluster
  of 2 workers through Prefect's DaskTaskRunner (`MLOPS_ENGINE=dask`);
- the hyperparameter search (params.yaml's grid) on the generated training
  rows: one process (the baseline) vs Dask with 1 and with 2 workers.

Dask figures include starting the LocalCluster, as a user's run pays it; the
Prefect temporary server is started before any timing and reported apart.
Both Dask results are checked against the baseline (same scores, same model).
Prints one JSON object.
Usage: python benchmarks/scale_out.py [--rows 5000000] [--search-rows 60000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd
from scoring import THRESHOLD, VERSION, train  # benchmarks/scoring.py: the same model recipe

from flows.adapters import fanout
from pipelines.config import Config, Runtime, load
from pipelines.features import FeatureEncoder, featurize
from pipelines.generate import generate_deliveries
from pipelines.mapping import engine_mapper, local_map
from pipelines.partitioned import PARTITION_ROWS, score_partitioned
from pipelines.predict import score_table
from pipelines.schema import Schema, build_schema
from pipelines.split import split_by_time
from pipelines.tables import CHUNK_ROWS, open_table
from pipelines.tune import search_lgbm

ROOT = Path(__file__).resolve().parents[1]


def seconds_of(work) -> tuple[float, object]:
    start = time.perf_counter()
    result = work()
    return round(time.perf_counter() - start, 3), result


def scoring(config: Config, schema: Schema, rows: int, workers: int, tmp: Path) -> dict:
    frame = generate_deliveries(rows=rows, seed=config.params.generate.seed)
    model = train(frame, config, schema, 20_000)
    source = tmp / "in.parquet"
    frame.to_parquet(source, index=False, row_group_size=CHUNK_ROWS)
    size_mb = round(source.stat().st_size / 1e6, 1)
    del frame
    table = open_table(source, schema, CHUNK_ROWS)
    one_s, _ = seconds_of(
        lambda: score_table(model, table, tmp / "one.parquet", schema, THRESHOLD, VERSION)
    )
    dask = engine_mapper(Runtime(engine="dask", dask_workers=workers), "score-partition")
    dask_s, _ = seconds_of(
        lambda: score_partitioned(
            model, table, tmp / "dask.parquet", schema, THRESHOLD, VERSION, run=dask
        )
    )
    same = pd.read_parquet(tmp / "one.parquet").equals(pd.read_parquet(tmp / "dask.parquet"))
    return {
        "rows": rows,
        "input_mb": size_mb,
        "partition_rows": PARTITION_ROWS,
        "baseline": "one_process",
        "one_process": {"seconds": one_s, "rows_per_s": round(rows / one_s)},
        f"dask_{workers}_workers": {
            "seconds": dask_s,
            "rows_per_s": round(rows / dask_s),
            "speedup": round(one_s / dask_s, 2),
        },
        "same_scores": bool(same),
    }


def trees(model) -> str:
    """The fitted trees, without the parameters section (num_threads differs by process)."""
    return model.booster_.model_to_string().split("\nparameters:")[0]


def search(config: Config, schema: Schema, rows: int, workers: int) -> dict:
    raw = generate_deliveries(rows=rows, seed=config.params.generate.seed)
    frame = featurize(raw, schema)
    split = config.params.split
    splits = split_by_time(
        frame, schema.time_column, schema.target, split.valid_share, split.holdout_share
    )
    encoder = FeatureEncoder.from_schema(schema)
    params, target = config.params.train, config.params.evaluate.recall_target

    def run(mapper):
        return lambda: search_lgbm(splits, schema, encoder, params, target, mapper)

    one_s, (model, _, trials) = seconds_of(run(local_map))
    figures = {"one_process": {"seconds": one_s}}
    same = True
    for n in sorted({1, workers}):
        mapper = engine_mapper(Runtime(engine="dask", dask_workers=n), "search-trial")
        took, (dask_model, _, dask_trials) = seconds_of(run(mapper))
        figures[f"dask_{n}_worker{'s' if n > 1 else ''}"] = {
            "seconds": took,
            "speedup": round(one_s / took, 2),
        }
        same &= dask_trials.equals(trials) and trees(dask_model) == trees(model)
    return {
        "rows": rows,
        "trials": len(trials),
        "trees_per_trial": params.lgbm.n_estimators,
        "baseline": "one_process",
        **figures,
        "same_model": bool(same),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows scored")
    parser.add_argument("--search-rows", type=int, default=60_000, help="rows of the search")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    config = load(ROOT)
    schema = build_schema(config)
    server_s, _ = seconds_of(fanout.prefect_api_url)  # once, before anything is timed
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        scored = scoring(config, schema, args.rows, args.workers, Path(tmp))
    searched = search(config, schema, args.search_rows, args.workers)
    print(
        json.dumps(
            {
                "benchmark": "scale_out",
                "cores": os.cpu_count(),
                "prefect_temporary_server_s": server_s,
                "scoring": scored,
                "search": searched,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
