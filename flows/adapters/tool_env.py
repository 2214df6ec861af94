"""The tools' environment: quiet, offline, their state inside the project.

Set before any of the tools is imported (they read it at import time): by the
`mlops` command, and by the package stage that DVC runs as its own process.
"""

from __future__ import annotations

import os
from pathlib import Path

QUIET_ENV = {
    "DO_NOT_TRACK": "true",  # MLflow only honours "true"
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",  # first flow starts a server: 13-15 s
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "BENTOML_DO_NOT_TRACK": "true",
}


def prepare_env(root: Path) -> None:
    """Quiet, offline tools whose state stays in the project (values already set are kept)."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("PREFECT_HOME", str(root / ".prefect"))
    os.environ.setdefault("BENTOML_HOME", str(root / ".bentoml"))
