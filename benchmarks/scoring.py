"""Batch scoring throughput in rows/s, each path measured on the same generated frame.

- `predict_matrix`: LightGBM's booster on the pre-encoded matrix, the limit;
- `score_chunks`: the chunked scorer in memory (input checks, featurize, encode, predict);
- `parquet_to_parquet`, `csv_to_csv`: `mlops score` minus the registry: read in chunks,
  score, write atomically (the input files are written beforehand, not timed).

The model is a LightGBM trained here with params.yaml's `train.lgbm` on a sample of
the frame (no MLflow). Prints one JSON object.
Usage: python benchmarks/scoring.py [--rows 1000000] [--chunk-rows 200000] [--train-rows 20000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.config import Config, load
from pipelines.features import FeatureEncoder, featurize
from pipelines.generate import generate_deliveries
from pipelines.lgbm import fit_lgbm, lgbm_settings
from pipelines.model import DelayModel
from pipelines.predict import score_chunks, score_table
from pipelines.schema import Schema, build_schema
from pipelines.tables import open_table

ROOT = Path(__file__).resolve().parents[1]
THRESHOLD, VERSION = 0.5, "bench"


def train(frame, config: Config, schema: Schema, rows: int) -> DelayModel:
    sample = featurize(frame.sample(n=min(rows, len(frame)), random_state=0), schema)
    encoder = FeatureEncoder.from_schema(schema)
    settings = lgbm_settings(config.params.train.lgbm, encoder, config.params.train.seed)
    y = sample[schema.target].to_numpy()
    return DelayModel("lgbm", fit_lgbm(encoder.encode(sample), y, encoder, settings), encoder)


def timed(rows: int, work: Callable[[], object]) -> dict[str, float]:
    start = time.perf_counter()
    work()
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 3), "rows_per_s": round(rows / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=200_000)
    parser.add_argument("--train-rows", type=int, default=20_000)
    args = parser.parse_args()
    config = load(ROOT)
    schema = build_schema(config)
    frame = generate_deliveries(rows=args.rows, seed=config.params.generate.seed)
    model = train(frame, config, schema, args.train_rows)
    matrix = model.encoder.encode(featurize(frame, schema))
    chunks = [frame.iloc[i : i + args.chunk_rows] for i in range(0, len(frame), args.chunk_rows)]

    def in_memory() -> int:
        frames = score_chunks(model, chunks, schema, THRESHOLD, VERSION)
        return sum(len(f) for f in frames)

    results = {
        "predict_matrix": timed(args.rows, lambda: model.predict_matrix(matrix)),
        "score_chunks": timed(args.rows, in_memory),
    }
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        for kind in ("parquet", "csv"):
            source, target = Path(tmp) / f"in.{kind}", Path(tmp) / f"out.{kind}"
            write = frame.to_parquet if kind == "parquet" else frame.to_csv
            write(source, index=False)

            def from_file(source: Path = source, target: Path = target) -> None:
                table = open_table(source, schema, args.chunk_rows)
                score_table(model, table, target, schema, THRESHOLD, VERSION)

            results[f"{kind}_to_{kind}"] = timed(args.rows, from_file)
            results[f"{kind}_to_{kind}"]["input_mb"] = round(source.stat().st_size / 1e6, 1)
    limit = results["predict_matrix"]["rows_per_s"]
    for figures in results.values():
        figures["share_of_limit"] = round(figures["rows_per_s"] / limit, 3)
    lgbm = config.params.train.lgbm
    print(
        json.dumps(
            {
                "benchmark": "scoring",
                "rows": args.rows,
                "chunk_rows": args.chunk_rows,
                "model": {
                    "trees": lgbm.n_estimators,
                    "num_leaves": lgbm.num_leaves,
                    "trained_on_rows": min(args.train_rows, args.rows),
                },
                "baseline": "predict_matrix",
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
