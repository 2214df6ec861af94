"""Pipeline wall time on 100k and 1M rows, and a no-op rerun next to a bare `dvc status`.

Each size runs in a fresh temporary checkout (git + DVC), with plain `dvc repro`
(no tracking), so the figures are the stages' own cost. Prints one JSON object.
Usage: python benchmarks/pipeline.py [--rows 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import BIN, copy_project, run


def timed(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = run(args, cwd)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return round(time.perf_counter() - start, 2)


def measure(rows: int, workdir: Path) -> dict[str, float | int]:
    root = copy_project(workdir / f"rows{rows}", lambda p: p["generate"].update(rows=rows))
    dvc = str(BIN / "dvc")
    return {
        "rows": rows,
        "full_repro_s": timed([dvc, "repro"], root),
        "noop_repro_s": timed([dvc, "repro"], root),
        "baseline_dvc_status_s": timed([dvc, "status"], root),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        results = [measure(rows, Path(tmp)) for rows in args.rows]
    print(json.dumps({"benchmark": "pipeline", "results": results}, indent=2))


if __name__ == "__main__":
    main()
