"""The `mlops` commands: each turns its arguments into one call and prints the result.

Modules that import Prefect, MLflow, BentoML, DVC or pandas at their top
(seconds each here) are imported by the command that needs them, so a
command pays only for what it uses and a config error is reported at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

from flows import paths
from flows.adapters.service_client import client_for
from flows.release_ops import (
    STATE_FILE,
    ReleaseError,
    describe_state,
    promote,
    read_state,
    rollback,
)
from pipelines.config import Params, Project, Runtime, load, load_runtime
from pipelines.schema import build_schema
from services.auth import load_keys
from services.policy import TrafficPolicy


def check_runtime() -> None:
    """ConfigError naming each bad MLOPS_* variable, before any work starts."""
    load_runtime()


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def cmd_train(args: argparse.Namespace) -> int:
    """Run the training flow and print its summary."""
    from flows.training import format_training, training_flow

    outcome = training_flow(root=str(args.root), register_model=not args.no_register)
    print(format_training(outcome))
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    """Run a params variation as a DVC experiment and track it."""
    from flows.experiments import experiment_flow

    name = args.name or "exp-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    result = experiment_flow(root=str(args.root), overrides=args.set, name=name)
    ev = result.evaluation
    chosen = ev.chosen_report.holdout
    print(f"experiment {result.name}: commit {result.commit[:10]}, MLflow run {result.run_id}")
    print(
        f"  chosen {ev.chosen}: recall {chosen.recall:.3f}, precision "
        f"{chosen.precision:.3f}, precision@recall {chosen.precision_at_recall:.3f}, "
        f"gate {'passed' if ev.verdict.passed else 'failed'}"
    )
    return 0


def cmd_experiments(args: argparse.Namespace) -> int:
    """List tracked experiments, newest first."""
    from dataclasses import astuple, fields

    from flows.experiments import ExperimentRow, list_experiments

    rows = list_experiments(args.root, args.limit)
    if not rows:
        print("no experiments yet: try `mlops experiment -S train.lgbm.num_leaves=63`")
        return 0
    print("  ".join(f.name for f in fields(ExperimentRow)))
    for row in rows:
        print("  ".join(_fmt(value) for value in astuple(row)))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Profile the data, write the drafted configuration (backing up both files), report."""
    from pipelines.draft import init_project, read_source

    frame, source = read_source(args.root, args.data, args.sql, args.url)
    result = init_project(
        args.root, frame, source, args.target, args.time, args.id, write=not args.dry_run
    )
    print(result.text())
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    """Check params.yaml and project.yaml, or print their JSON schemas."""
    if args.schema:
        schemas = {
            "params.yaml": Params.model_json_schema(by_alias=True),
            "project.yaml": Project.model_json_schema(),
        }
        print(json.dumps(schemas, indent=2))
        return 0
    config = load(args.root)

    schema = build_schema(config)
    print(f"params.yaml and project.yaml are valid ({config.project.name})")
    print(
        f"  target: {schema.target}; features ({len(schema.feature_names)}): "
        f"{', '.join(schema.feature_names)}"
    )
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Score a CSV or Parquet file with a registered model; print one summary line."""
    for option, value in (
        ("--chunk-rows", args.chunk_rows),
        ("--partition-rows", args.partition_rows),
    ):
        if value < 1:
            print(f"error: {option} must be positive, got {value}", file=sys.stderr)
            return 2
    from flows.scoring import score_file

    result = score_file(
        args.root,
        args.input,
        args.output,
        alias=args.alias,
        version=None if args.version is None else str(args.version),
        chunk_rows=args.chunk_rows,
        partition_rows=args.partition_rows,
        skip_invalid=args.skip_invalid,
        quiet=args.quiet,
    )
    rejected = (
        f"; {result.rejected} rows rejected -> {result.rejected_path}"
        if result.rejected_path is not None
        else ""
    )
    print(
        f"scored {result.rows} rows in {result.seconds:.2f} s ({result.rows_per_second:,.0f} "
        f"rows/s) with model version {result.version} -> {result.output}{rejected}"
    )
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    """Build the Bento from the registry's champion and challenger."""
    from flows.adapters.package import describe, package

    print(describe(package(args.root)))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the packaged Bento (or the source) on the embedded defaults."""
    from flows.adapters.bento_server import run_foreground, serve_command

    if not args.from_source:
        cmd_package(args)  # unchanged registry and code: nothing is rebuilt
    command = serve_command(args.root, args.host, args.port, args.from_source)
    if command.created_keys:
        print(f"created API and admin keys in {command.created_keys} (never commit it)")
    url = f"http://{args.host}:{args.port}"
    print(f"serving {command.target} at {url} (docs: {url}/docs); Ctrl-C stops it")
    return run_foreground(command, args.root)


def _show_policy(policy: TrafficPolicy) -> str:
    weight = policy.challenger_weight
    split = f", challenger weight {weight:.0%}" if policy.mode in ("ab", "canary") else ""
    challenger = f"v{policy.challenger}" if policy.challenger else "none"
    return f"mode {policy.mode}{split}; champion v{policy.champion}, challenger {challenger}"


def cmd_simulate(args: argparse.Namespace) -> int:
    """Send simulated deliveries, then their true outcomes, to the running service."""
    from flows.tools.simulate import simulate

    runtime = Runtime()
    try:
        result = simulate(
            args.url or runtime.service_url,
            load_keys(runtime, args.root).api_key,
            args.scenario,
            args.rate,
            args.duration,
            args.feedback_delay,
            args.label_share,
            args.seed,
            root=args.root,
            concurrency=args.concurrency,
            progress=print,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0 if result.answered else 1


def cmd_replay(args: argparse.Namespace) -> int:
    """Send the user's own rows, then their true outcomes, to the running service."""
    from flows.tools.replay import replay

    runtime = Runtime()
    try:
        result = replay(
            args.url or runtime.service_url,
            load_keys(runtime, args.root).api_key,
            args.input,
            args.rate,
            outcome_delay=args.outcome_delay,
            label_share=args.label_share,
            limit=args.limit,
            seed=args.seed,
            root=args.root,
            concurrency=args.concurrency,
            progress=print,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0 if result.answered else 1


def cmd_release_run(args: argparse.Namespace) -> int:
    """Run the release flow on the service's challenger; print where it ended and why."""
    from flows.release import release_flow

    state = release_flow(
        root=str(args.root),
        url=args.url,
        poll_seconds=args.poll_seconds,
        timeout_minutes=args.timeout_minutes,
    )
    print("\n".join(state.describe()))
    return 0 if state.stage in ("promoted", "rejected") else 1


def cmd_release(args: argparse.Namespace) -> int:
    """Show or change the running service's traffic policy (through its admin routes)."""
    if args.action == "run":
        return cmd_release_run(args)
    client = client_for(args.root, url=args.url)
    reason = args.reason or f"mlops release {args.action}"
    if args.action == "status":
        status = client.status(history=args.history)
        print(_show_policy(status.policy))
        for change in status.history:
            print(
                f"  {change.changed_at.isoformat()[:19]}  {change.changed_by:<18} "
                f"{_show_policy(change.policy)}  {change.reason}"
            )
        print("\n".join(describe_state(read_state(args.root / STATE_FILE))))
        return 0
    if args.action == "promote":
        version = args.version or client.status(history=1).policy.challenger
        if not version:
            raise ReleaseError("no challenger to promote (name one with --version)")
        done = promote(client, args.root, version, reason, "admin-cli")
        print(done.note)
        policy = done.policy
    elif args.action == "rollback":
        rolled, notes = rollback(client, args.root, reason)
        print("\n".join(notes))
        policy = rolled.policy if rolled else client.status(history=1).policy
    else:
        policy = client.set_policy(mode=args.action, challenger_weight=args.weight, reason=reason)
    print(_show_policy(policy))
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    """Run the monitoring flow on the latest window of the prediction log."""
    from flows.monitoring import format_summary, monitoring_flow

    outcome = monitoring_flow(
        root=str(args.root),
        window_minutes=args.minutes,
        end=args.end,
        request_retrain=not args.no_retrain,
    )
    print(format_summary(outcome.summary, outcome.labelled_rows_exported))
    print(f"report: {outcome.report_dir}")
    return 0


def cmd_exporter(args: argparse.Namespace) -> int:
    """Serve the monitoring metrics for Prometheus until interrupted."""
    from monitoring.exporter import serve_exporter

    directory = args.root / paths.METRICS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    print(f"monitoring metrics from {directory} at http://{args.host}:{args.port}/metrics")
    with contextlib.suppress(KeyboardInterrupt):
        serve_exporter(directory, args.host, args.port)
    return 0


def cmd_orchestrate(args: argparse.Namespace) -> int:
    """Serve the retrain, monitoring and release deployments with their triggers."""
    if not os.environ.get("PREFECT_API_URL"):
        print(
            "error: set PREFECT_API_URL to a Prefect server (`prefect server start`): "
            "events and automations need one that outlives this process",
            file=sys.stderr,
        )
        return 2
    from flows.deployments import serve_deployments

    serve_deployments(args.root, schedule_monitoring=not args.no_schedule)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole loop on the embedded defaults, with a timeline."""
    from flows.tools.demo import run_demo

    return run_demo(args.root, rate=args.rate, phase_seconds=args.phase, scenario=args.scenario)
