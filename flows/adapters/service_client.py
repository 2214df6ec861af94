"""The service's admin and status routes over HTTP: what `mlops release` and the release flow use.

Nobody changes the traffic policy behind the service's back: the CLI and the
flows call the admin routes with the admin key, so the service validates,
applies, stores and logs the change the same way for every caller.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows import paths
from pipelines import io
from pipelines.config import Runtime
from pipelines.errors import UserError
from services.auth import load_keys


class ServiceError(UserError, RuntimeError):
    """The service could not be reached or refused a request; the message says which."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status of a refusal; None when the service was not reached."""
        self.exit_code = 2 if status is not None and 400 <= status < 500 else 1


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
        status = response.status_code
        if status >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ServiceError(f"{method} {path}: {response.status_code} {detail}", status)
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
    report = root / paths.PACKAGE
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
