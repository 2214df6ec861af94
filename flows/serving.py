"""`mlops serve` and `mlops release`: start the packaged service, talk to its admin routes.

The CLI never changes the traffic policy behind the service's back: it calls
the admin route with the admin key, so the service validates, applies, stores
and logs the change the same way for every caller.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines import io
from pipelines.config import Runtime
from services.auth import ensure_local_keys, load_keys, secrets_path
from services.pins import PACKAGE_REPORT

SOURCE_SERVICE = "services.bento_service:DelayService"


class ServiceError(RuntimeError):
    """The service could not be reached or refused a request; the message says which."""


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
        target = SOURCE_SERVICE
    else:
        report = root / PACKAGE_REPORT
        if not report.is_file():
            raise ServiceError(f"{report} not found: run `mlops package` (or `mlops train`) first")
        target = io.read_json(report)["bento"]
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


class ServiceClient:
    """The service's admin and status routes over HTTP."""

    def __init__(self, url: str, admin_key: str, timeout: float = 10.0) -> None:
        """A client for the service at `url`."""
        self.url, self.admin_key, self.timeout = url.rstrip("/"), admin_key, timeout

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = httpx.request(
                method,
                self.url + path,
                headers={"X-API-Key": self.admin_key},
                timeout=self.timeout,
                **kwargs,
            )
        except httpx.HTTPError as exc:
            raise ServiceError(f"service at {self.url} not reachable: {exc}") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ServiceError(f"{method} {path}: {response.status_code} {detail}")
        return response.json()

    def status(self, history: int = 10) -> dict[str, Any]:
        """The policy in force and its latest changes."""
        return self._call("GET", f"/admin/policy?history={history}")

    def load_challenger(self, tag: str, reason: str, version: str | None = None) -> dict[str, Any]:
        """Hot-load a packaged model (store tag; else registry version) as challenger.

        Returns the policy now in force.
        """
        body = {"tag": tag, "reason": reason, "changed_by": "release-flow", "version": version}
        return self._call("PUT", "/admin/models/challenger", json=body)["policy"]

    def set_policy(self, **update: Any) -> dict[str, Any]:
        """Apply a policy change; returns the policy now in force."""
        body = {k: v for k, v in update.items() if v is not None}
        return self._call("PUT", "/admin/policy", json=body)["policy"]


def load_packaged_challenger(client: ServiceClient, root: Path) -> str | None:
    """Make the service hold the last packaged challenger (hot-loaded, no restart); its version.

    None when nothing packaged has a challenger. Does nothing when the service
    already holds it.
    """
    report = root / PACKAGE_REPORT
    if not report.is_file():
        return None
    challenger = io.read_json(report).get("models", {}).get("challenger")
    if not challenger:
        return None
    policy = client.status(history=1)["policy"]
    if challenger["version"] not in (policy.get("challenger"), policy.get("champion")):
        version = str(challenger["version"])
        client.load_challenger(challenger["tag"], f"packaged challenger v{version}", version)
    return str(challenger["version"])


def client_for(root: Path, runtime: Runtime | None = None, url: str | None = None) -> ServiceClient:
    """A client with the admin key from the environment or the secrets file."""
    runtime = runtime or Runtime()
    return ServiceClient(url or runtime.service_url, load_keys(runtime, root).admin_key)


def previous_champion(history: list[dict[str, Any]], current: str | None) -> str | None:
    """The champion before the current one, from the policy history (newest first)."""
    for change in history:
        champion = change["policy"].get("champion")
        if champion and champion != current:
            return champion
    return None
