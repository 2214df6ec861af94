"""Shared fixtures: the project's config, tiny delivery frames, a temp project repo, servers."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.config import Config, load
from pipelines.schema import Schema, build_schema

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROJECT_FILES = (
    "pipelines",
    "flows",
    "services",
    "dvc.yaml",
    "params.yaml",
    "project.yaml",
    "pyproject.toml",
)


@pytest.fixture(scope="session")
def config() -> Config:
    return load(ROOT)


@pytest.fixture(scope="session")
def schema(config: Config) -> Schema:
    return build_schema(config)


def tiny_deliveries(n: int = 20, seed: int = 0) -> pd.DataFrame:
    """A small raw batch that satisfies the schema; delays follow rain and depot load."""
    rng = np.random.default_rng(seed)
    precip = rng.uniform(0, 20, n)
    load_ = rng.uniform(0.4, 1.6, n)
    delayed = ((precip / 20 + load_ / 1.6 + rng.normal(0, 0.2, n)) > 1.2).astype("int64")
    delayed[:2] = [0, 1]  # both classes, always
    return pd.DataFrame(
        {
            "delivery_id": [f"DLV{i:06d}" for i in range(n)],
            "customer_id": [f"C{i % 7:04d}" for i in range(n)],
            "pickup_time": pd.date_range("2025-03-01 08:00", periods=n, freq="37min"),
            "distance_km": rng.uniform(1, 80, n),
            "weight_kg": rng.uniform(0.1, 20, n),
            "volume_l": rng.uniform(0.5, 60, n),
            "precip_mm": precip,
            "temperature_c": rng.uniform(-5, 25, n),
            "traffic_index": rng.uniform(0, 1, n),
            "depot_load": load_,
            "service_tier": rng.choice(["standard", "express", "same_day"], n),
            "depot": rng.choice(["N1", "C1", "S1", "R1"], n),
            "area_type": rng.choice(["urban", "suburban", "rural"], n),
            "weather": rng.choice(["clear", "rain"], n),
            "carrier": rng.choice(["own_fleet", "swiftship"], n),
            "dest_postcode": [f"{10000 + i:05d}" for i in range(n)],
            "true_delay_prob": np.clip(precip / 25, 0.01, 0.99),
            "delayed": delayed,
        }
    )


@pytest.fixture
def deliveries() -> Callable[..., pd.DataFrame]:
    """Factory for tiny raw batches: `deliveries(n=40, seed=1)`."""
    return tiny_deliveries


def open_schema(schema: Schema) -> Schema:
    """The schema with null policies and an open category: precip_mm may be null (30%,
    median), depot is open (unlisted values -> other) and may be null (20%)."""
    from dataclasses import replace

    from pipelines.schema import NullPolicy

    numeric = tuple(
        replace(c, nulls=NullPolicy(0.3, "median")) if c.name == "precip_mm" else c
        for c in schema.numeric
    )
    categorical = tuple(
        replace(c, unknown="other", nulls=NullPolicy(0.2, "most_frequent"))
        if c.name == "depot"
        else c
        for c in schema.categorical
    )
    return replace(schema, numeric=numeric, categorical=categorical)


def with_gaps(
    frame: pd.DataFrame, every: int = 7, new_depots: tuple[str, ...] = ()
) -> pd.DataFrame:
    """`frame` with precip_mm null on every `every`-th row, depot null on every
    (`every`+3)-th, and depot values cycling through `new_depots` on every 5th row."""
    out = frame.copy()
    out["precip_mm"] = out["precip_mm"].astype("float64")
    out.loc[out.index[::every], "precip_mm"] = np.nan
    out["depot"] = out["depot"].astype(object)
    if new_depots:
        rows = out.index[2::5]
        out.loc[rows, "depot"] = [new_depots[i % len(new_depots)] for i in range(len(rows))]
    out.loc[out.index[1 :: every + 3], "depot"] = None
    return out


def copy_project(target: Path, params_update: Callable[[dict], None] | None = None) -> Path:
    """A fresh project checkout in `target`: source, config, git and DVC initialised."""
    import yaml

    target.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, target / name)
    (target / "data" / "source").mkdir(parents=True)
    (target / "data" / "source" / ".gitkeep").touch()
    (target / ".gitignore").write_text("/quarantine/\nmlflow.db\nmlartifacts/\n.prefect/\n")
    if params_update is not None:
        params = yaml.safe_load((target / "params.yaml").read_text())
        params_update(params)
        (target / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git(target, "init", "-q")
    run([str(BIN / "dvc"), "init", "-q"], target)
    for name in ("config", ".gitignore"):  # the committed DVC config: its default remote
        shutil.copy2(ROOT / ".dvc" / name, target / ".dvc" / name)
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "project")
    return target


def run(args: list[str], cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.update(kwargs.pop("env", {}) or {})  # type: ignore[arg-type]
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, deadline_s: float, proc: subprocess.Popen | None = None) -> None:
    """Poll `url` until it answers 200, the process dies, or the deadline passes."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {deadline_s}s")


@contextlib.contextmanager
def background(
    args: list[str], log: Path, stop_s: float = 20, **popen: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """A process with its output in `log`; terminated on exit, killed if it will not stop."""
    with log.open("w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, **popen)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=stop_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prefect server on 127.0.0.1 for the session; yields its API URL."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "DO_NOT_TRACK": "true",
    }
    env.pop("PREFECT_API_URL", None)
    args = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}/api"
    with background(args, home / "server.log", env=env) as proc:
        wait_http(f"{url}/health", 120, proc)
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL schema for one test, dropped afterwards.

    The URL puts the schema first on the search path and names its connections after it,
    so teardown can disconnect whatever the test left open. Skips when the server at
    127.0.0.1:5432 is unreachable, fails instead under CI=true.
    """
    import uuid

    import sqlalchemy as sa

    server = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    admin = sa.create_engine(
        server,
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
        connect_args={"connect_timeout": 5},
    )
    name = f"mlops_test_{uuid.uuid4().hex}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {name}"))
    except sa.exc.OperationalError as exc:
        message = f"PostgreSQL not reachable at 127.0.0.1:5432: {exc.orig}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield f"{server}?options=-csearch_path%3D{name}&application_name={name}"
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": name},
            )
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        admin.dispose()
