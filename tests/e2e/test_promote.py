"""One promote: `mlops release promote` moves the traffic policy and the registry together.

A real MLflow registry (SQLite) with two versions, `mlops package`, the Bento
served by `mlops serve`, then `mlops release promote` and `mlops release rollback`
from the shell: the aliases, reports/registry.json and what a fresh
`mlops package` pins must all follow the policy.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import httpx
import pytest

from flows.adapters.tool_env import QUIET_ENV
from pipelines import io
from tests.conftest import BIN, ROOT, background, free_port, run, wait_http
from tests.pipelines.test_predict import train_tiny_model

pytestmark = pytest.mark.e2e

KEYS = {"MLOPS_API_KEY": "client-key-for-promote-1", "MLOPS_ADMIN_KEY": "admin-key-for-promote-1"}
# Logs a model as the training flow does and registers it with its threshold and
# fingerprint tags; the first one gets the alias champion, the second challenger.
REGISTER = """
import sys
from pathlib import Path

import mlflow

from flows.adapters import registry, tracking
from flows.adapters.mlflow_model import ARTIFACT_KEY, DelayModelPyfunc
from pipelines.config import Runtime

root, model_path = Path(sys.argv[1]), sys.argv[2]
runtime = Runtime()
tracking.connect(root, runtime)
for alias, threshold in (("champion", 0.4), ("challenger", 0.3)):
    with mlflow.start_run(run_name=alias):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=DelayModelPyfunc(),
            artifacts={ARTIFACT_KEY: model_path},
            pip_requirements=tracking.PIP_REQUIREMENTS,
        )
    tags = {"threshold": repr(threshold), tracking.FINGERPRINT_TAG: f"fp-{alias}"}
    version = registry.register(info.model_uri, runtime.model_name, tags)
    registry.set_alias(runtime.model_name, alias, version)
"""
ALIASES = """
import sys
from pathlib import Path

from flows.adapters import registry, tracking
from pipelines.config import Runtime

runtime = Runtime()
tracking.connect(Path(sys.argv[1]), runtime)
state = registry.snapshot(runtime.model_name)
print(state.champion.version, state.challenger.version)
"""


def environment(root: Path) -> dict[str, str]:
    """The project's own stores and keys, whatever the developer's environment says."""
    return {
        **QUIET_ENV,
        **KEYS,
        "MLOPS_TRACKING_URI": "",
        "MLOPS_MODEL_NAME": "parcel-delay",
        "PREFECT_HOME": str(root / ".prefect"),
        "BENTOML_HOME": str(root / ".bentoml"),
    }


def mlops(root: Path, *args: str) -> str:
    done = run([str(BIN / "mlops"), "--root", str(root), *args], root, env=environment(root))
    assert done.returncode == 0, f"mlops {' '.join(args)}:\n{done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout


def aliases(root: Path) -> tuple[str, str]:
    done = run([sys.executable, "-c", ALIASES, str(root)], root, env=environment(root))
    assert done.returncode == 0, done.stderr[-3000:]
    champion, challenger = done.stdout.split()
    return champion, challenger


def pinned(root: Path) -> tuple[str, str]:
    models = io.read_json(root / "reports" / "package.json")["models"]
    return models["champion"]["version"], models["challenger"]["version"]


def test_promote_by_cli_moves_policy_aliases_registry_json_and_the_next_package(
    tmp_path: Path, config, schema
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    for name in ("params.yaml", "project.yaml", "pipelines", "services"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    io.write_joblib(root / "model.joblib", train_tiny_model(config, schema))
    done = run(
        [sys.executable, "-c", REGISTER, str(root), str(root / "model.joblib")],
        root,
        env=environment(root),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    mlops(root, "package")
    assert pinned(root) == ("1", "2")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = [str(BIN / "mlops"), "--root", str(root), "serve", "--port", str(port)]
    env = {**os.environ, **environment(root)}
    with background(serve, tmp_path / "serve.log", cwd=root, env=env) as proc:
        try:
            wait_http(f"{url}/ready", 240, proc)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}\n{(tmp_path / 'serve.log').read_text()[-4000:]}") from None
        out = mlops(root, "release", "promote", "--url", url, "--reason", "v2 is better")
        assert "mode champion; champion v2, challenger v1" in out
        ready = httpx.get(f"{url}/ready", timeout=10).json()
        assert (ready["champion"], ready["challenger"]) == ("2", "1")
        assert aliases(root) == ("2", "1")
        registry = io.read_json(root / "reports" / "registry.json")
        assert (registry["champion"]["version"], registry["challenger"]["version"]) == ("2", "1")

        again = mlops(root, "release", "promote", "--version", "2", "--url", url)
        assert "already the champion" in again

        back = mlops(root, "release", "rollback", "--url", url)
        assert "champion v1, challenger v2" in back
        assert aliases(root) == ("1", "2")
        twice = mlops(root, "release", "rollback", "--url", url)
        assert "already the champion" in twice and aliases(root) == ("1", "2")

        mlops(root, "release", "promote", "--url", url)
    mlops(root, "package")  # a fresh package pins what the promotion left
    assert pinned(root) == ("2", "1")
