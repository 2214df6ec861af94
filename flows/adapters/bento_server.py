"""`mlops serve`: the packaged Bento (or the source) under `bentoml serve`, in the foreground."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows import paths
from flows.adapters.package import SERVICE
from flows.adapters.service_client import ServiceError
from pipelines.config import Runtime
from services.auth import ensure_local_keys, load_keys, secrets_path
from services.pins import read_package_report


def serving_env(root: Path, runtime: Runtime) -> dict[str, str]:
    """Environment of a locally served Bento: state (log, keys) under the project root."""
    env = dict(os.environ)
    env.setdefault("MLOPS_STATE_ROOT", str(root))
    env.setdefault("MLOPS_SECRETS_FILE", str(secrets_path(runtime, root)))
    env.setdefault("BENTOML_HOME", str(root / ".bentoml"))
    env.setdefault("PROMETHEUS_DISABLE_CREATED_SERIES", "true")
    return env


@dataclass(frozen=True)
class ServeCommand:
    """What `mlops serve` runs, and where the keys are."""

    args: list[str]
    env: dict[str, str]
    target: str
    created_keys: Path | None


def serve_command(
    root: Path, host: str, port: int, from_source: bool, runtime: Runtime | None = None
) -> ServeCommand:
    """The `bentoml serve` command for the last packaged Bento (or the source)."""
    runtime = runtime or Runtime()
    created = ensure_local_keys(runtime, root)
    load_keys(runtime, root)  # fail here, with the reason, rather than in the server
    if from_source:
        target = SERVICE
    else:
        report = read_package_report(root)
        if report is None:
            raise ServiceError(
                f"{root / paths.PACKAGE} not found: run `mlops package` (or `mlops train`) first"
            )
        target = report.bento
    bentoml = Path(sys.executable).with_name("bentoml")
    args = [str(bentoml), "serve", target, "--host", host, "--port", str(port)]
    if from_source:
        args += ["--working-dir", str(root)]
    return ServeCommand(args, serving_env(root, runtime), target, created)


def run_foreground(command: ServeCommand, cwd: Path) -> int:
    """Run the server until Ctrl-C or SIGTERM, passing the signal on for a graceful stop."""
    proc = subprocess.Popen(command.args, env=command.env, cwd=cwd)

    def forward(signum: int, frame: Any) -> None:
        proc.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:
                proc.send_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGTERM, previous)
