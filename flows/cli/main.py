"""`mlops`: the parser and the dispatch.

Nearly nothing is imported here, so `mlops --help` answers at once;
`flows.cli.commands` (and what a command needs) is imported after the
arguments are parsed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from flows.adapters.tool_env import prepare_env

SCENARIOS = ("none", "winter", "rural_depot", "holiday_backlog", "carrier_change")
"""The example generator's drift scenarios (pipelines/generate.py); checked by a test."""
RELEASE_ACTIONS = {
    "status": "the policy in force, its latest changes and where the release flow is",
    "champion": "champion-only: the champion answers every request",
    "shadow": "the challenger scores every request off the answer path",
    "ab": "the challenger answers --weight of the customers (sticky per customer)",
    "canary": "like ab, falling back to champion-only when the challenger breaks its limits",
    "promote": "the challenger becomes champion (policy and registry aliases together)",
    "rollback": "the previous champion back at once (policy and registry aliases)",
    "run": "the release flow: shadow, A/B test, then promote or reject",
}


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults and keeps the descriptions' line breaks."""


def _project_version() -> str:
    try:
        return version("mlops-template")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str, run: str
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=summary, description=summary, formatter_class=_Formatter)
    parser.set_defaults(run=run)
    return parser


def _training_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    train = _command(
        sub, "train", "run the training flow: DVC stages, tracking, gate, registry", "cmd_train"
    )
    train.add_argument("--no-register", action="store_true", help="track only; leave the registry")

    exp = _command(
        sub,
        "experiment",
        "try a params variation without touching params.yaml (`dvc exp run --temp`)",
        "cmd_experiment",
    )
    exp.add_argument(
        "-S",
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a params.yaml value, e.g. -S train.lgbm.num_leaves=63",
    )
    exp.add_argument("-n", "--name", help="experiment name (default: exp-<timestamp>)")

    exps = _command(
        sub, "experiments", "list tracked experiments with their metrics", "cmd_experiments"
    )
    exps.add_argument("--limit", type=int, default=20, help="experiments shown, newest first")

    ini = _command(
        sub,
        "init",
        "profile your data; write params.yaml `data` and project.yaml's framing for review",
        "cmd_init",
    )
    source = ini.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="a CSV or Parquet file (best under data/source/)")
    source.add_argument("--sql", metavar="QUERY", help="a query whose rows are the data")
    ini.add_argument(
        "--url", help="database of --sql (default duckdb:///data/source/example.duckdb)"
    )
    ini.add_argument("--target", help="the 0/1 column to predict (default: guessed)")
    ini.add_argument("--time", help="the date-time column that orders rows (default: guessed)")
    ini.add_argument("--id", help="a column unique per row (default: guessed)")
    ini.add_argument("--dry-run", action="store_true", help="print what would be written only")

    cfg = _command(
        sub, "config", "check params.yaml and project.yaml (or print their schema)", "cmd_config"
    )
    cfg.add_argument("--schema", action="store_true", help="print the JSON schema of both files")

    scr = _command(sub, "score", "score a CSV or Parquet file with a registered model", "cmd_score")
    scr.add_argument("--input", type=Path, required=True, help="rows to score (.csv/.parquet)")
    scr.add_argument(
        "--output", type=Path, required=True, help="scores to write (.csv/.parquet), atomically"
    )
    which = scr.add_mutually_exclusive_group()
    which.add_argument("--alias", default="champion", help="registry alias")
    which.add_argument("--version", type=int, help="registry version number instead of an alias")
    scr.add_argument("--chunk-rows", type=int, default=200_000, help="rows per chunk")
    scr.add_argument(
        "--partition-rows",
        type=int,
        default=500_000,
        help="rows per partition on the Dask engine (MLOPS_ENGINE=dask)",
    )
    scr.add_argument(
        "--skip-invalid",
        action="store_true",
        help="score the valid rows; write the others with reasons to <output>.rejected.csv",
    )
    scr.add_argument("--quiet", action="store_true", help="no progress bar")


def _serving_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _command(sub, "package", "build the Bento: service + champion (+ challenger)", "cmd_package")

    srv = _command(
        sub, "serve", "serve the packaged Bento locally (packages it if needed)", "cmd_serve"
    )
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on")
    srv.add_argument("--port", type=int, default=3000, help="port to listen on")
    srv.add_argument("--from-source", action="store_true", help="serve services/ as it is now")

    rel = _command(sub, "release", "traffic policy of the running service", "cmd_release")
    rel.description = "traffic policy of the running service\n\n" + "\n".join(
        f"  {action:<9} {meaning}" for action, meaning in RELEASE_ACTIONS.items()
    )
    rel.add_argument("action", choices=list(RELEASE_ACTIONS), help="what to do (see above)")
    rel.add_argument("--weight", type=float, help="challenger share for ab / canary")
    rel.add_argument(
        "--version", help="promote: the version to make champion (default: the challenger)"
    )
    rel.add_argument("--reason", help="why (kept in the policy history)")
    rel.add_argument("--history", type=int, default=10, help="changes shown by status")
    rel.add_argument("--url", help="service URL (default: MLOPS_SERVICE_URL or :3000)")
    rel.add_argument("--poll-seconds", type=float, default=5.0, help="run: log read interval")
    rel.add_argument(
        "--timeout-minutes", type=float, default=60.0, help="run: then champion-only (timed_out)"
    )


def _loop_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = _command(
        sub,
        "simulate",
        "send generated example rows, then their true outcomes, to the running service",
        "cmd_simulate",
    )
    sim.add_argument("--scenario", default="none", choices=SCENARIOS, help="drift scenario")
    sim.add_argument("--rate", type=float, default=20.0, help="requests per second (5-200)")
    sim.add_argument("--duration", type=float, default=60.0, help="seconds of sending")
    sim.add_argument(
        "--feedback-delay", type=float, default=5.0, help="seconds from answer to outcome"
    )
    sim.add_argument("--label-share", type=float, default=1.0, help="share of outcomes reported")
    sim.add_argument("--seed", type=int, default=0, help="random seed of the generated rows")
    sim.add_argument("--concurrency", type=int, default=8, help="predictions in flight at most")
    sim.add_argument("--url", help="service URL (default: MLOPS_SERVICE_URL or :3000)")

    rep = _command(
        sub,
        "replay",
        "send your own rows (CSV/Parquet) to the running service in time order, outcomes later",
        "cmd_replay",
    )
    rep.add_argument("--input", type=Path, required=True, help="rows with the project's columns")
    rep.add_argument("--rate", type=float, default=20.0, help="requests per second")
    rep.add_argument(
        "--outcome-delay", type=float, default=5.0, help="seconds from answer to outcome"
    )
    rep.add_argument("--label-share", type=float, default=1.0, help="share of outcomes reported")
    rep.add_argument("--limit", type=int, help="send at most this many rows (the earliest)")
    rep.add_argument("--seed", type=int, default=0, help="seed of which outcomes are reported")
    rep.add_argument("--concurrency", type=int, default=8, help="predictions in flight at most")
    rep.add_argument("--url", help="service URL (default: MLOPS_SERVICE_URL or :3000)")

    mon = _command(sub, "monitor", "drift and live quality of the latest log window", "cmd_monitor")
    mon.add_argument("--minutes", type=float, help="window length (default: project.yaml)")
    mon.add_argument("--end", help="window end, ISO time (default: now)")
    mon.add_argument("--no-retrain", action="store_true", help="report only; never ask to retrain")

    exporter = _command(
        sub, "exporter", "serve the monitoring metrics for Prometheus", "cmd_exporter"
    )
    exporter.add_argument("--host", default="127.0.0.1", help="address to listen on")
    exporter.add_argument("--port", type=int, default=9108, help="port to listen on")

    orch = _command(
        sub, "orchestrate", "serve the Prefect deployments and their triggers", "cmd_orchestrate"
    )
    orch.add_argument("--no-schedule", action="store_true", help="monitoring only on demand")

    demo = _command(
        sub, "demo", "the whole loop: train, serve, drift, retrain, release", "cmd_demo"
    )
    demo.add_argument("--rate", type=float, default=48.0, help="simulated requests per second")
    demo.add_argument("--phase", type=float, default=25.0, help="seconds of traffic per window")
    demo.add_argument("--scenario", default="winter", choices=SCENARIOS, help="drift scenario")


def build_parser() -> argparse.ArgumentParser:
    """The `mlops` argument parser."""
    parser = argparse.ArgumentParser(
        prog="mlops",
        description="Train, track, serve, monitor and release a model (DVC + MLflow + Prefect "
        "+ BentoML + Evidently).",
        formatter_class=_Formatter,
    )
    parser.add_argument("--root", type=Path, default=Path(), help="project root")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_project_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _training_commands(sub)
    _serving_commands(sub)
    _loop_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mlops` command: parse, then run the command."""
    args = build_parser().parse_args(argv)
    args.root = args.root.resolve()
    prepare_env(args.root)  # before any tool is imported
    from flows.cli import commands  # after parsing: what a command imports costs seconds
    from pipelines.errors import UserError

    try:
        commands.check_runtime()  # a bad MLOPS_* variable is named before any work starts
        return int(getattr(commands, args.run)(args))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
