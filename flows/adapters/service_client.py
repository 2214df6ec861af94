"""The service's admin and status routes over HTTP: what `mlops release` and the release flow use.

Nobody changes the traffic policy behind the service's back: the CLI and the
flows call the admin routes with the admin key, so the service validates,
applies, stores and logs the change the same way for every caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pipelines.config import Runtime
from pipelines.errors import UserError
from services.auth import load_keys
from services.pins import read_package_report
from services.policy import TrafficPolicy
from services.promotion import PromotionResult

PROMOTE_TIMEOUT_S = 120.0
"""How long a promotion may take: the service imports MLflow and moves the registry aliases."""


class ServiceError(UserError, RuntimeError):
    """The service could not be reached or refused a request; the message says which."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status of a refusal; None when the service was not reached."""
        self.exit_code = 2 if status is not None and 400 <= status < 500 else 1


@dataclass(frozen=True)
class PolicyChange:
    """One entry of the service's policy history."""

    changed_at: datetime
    changed_by: str
    reason: str
    policy: TrafficPolicy

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> PolicyChange:
        """From the admin route's JSON."""
        return cls(
            datetime.fromisoformat(payload["changed_at"]),
            payload["changed_by"],
            payload["reason"],
            TrafficPolicy.model_validate(payload["policy"]),
        )


@dataclass(frozen=True)
class PolicyStatus:
    """The policy in force and its latest changes, newest first."""

    policy: TrafficPolicy
    history: list[PolicyChange]


class ServiceClient:
    """The service's admin and status routes over HTTP."""

    def __init__(self, url: str, admin_key: str, timeout: float = 10.0) -> None:
        """A client for the service at `url`."""
        self.url, self.admin_key, self.timeout = url.rstrip("/"), admin_key, timeout

    def _call(self, method: str, path: str, timeout: float | None = None, **kwargs: Any) -> Any:
        import httpx

        try:
            response = httpx.request(
                method,
                self.url + path,
                headers={"X-API-Key": self.admin_key},
                timeout=timeout or self.timeout,
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
            raise ServiceError(f"{method} {path}: {status} {detail}", status)
        return response.json()

    def status(self, history: int = 10) -> PolicyStatus:
        """The policy in force and its latest changes."""
        found = self._call("GET", f"/admin/policy?history={history}")
        return PolicyStatus(
            TrafficPolicy.model_validate(found["policy"]),
            [PolicyChange.from_json(change) for change in found["history"]],
        )

    def load_challenger(self, tag: str, reason: str, version: str | None = None) -> TrafficPolicy:
        """Hot-load a packaged model (store tag; else registry version) as challenger.

        Returns the policy now in force.
        """
        body = {"tag": tag, "reason": reason, "changed_by": "release-flow", "version": version}
        found = self._call("PUT", "/admin/models/challenger", json=body)
        return TrafficPolicy.model_validate(found["policy"])

    def set_policy(self, **update: Any) -> TrafficPolicy:
        """Change the mode or the challenger's weight; returns the policy now in force."""
        body = {k: v for k, v in update.items() if v is not None}
        found = self._call("PUT", "/admin/policy", json=body)
        return TrafficPolicy.model_validate(found["policy"])

    def promote(self, version: str, reason: str, changed_by: str) -> PromotionResult:
        """Make `version` champion (the champion becomes challenger): policy and registry aliases.

        Repeating it changes nothing and says so (`changed` is False).
        """
        body = {"version": version, "reason": reason, "changed_by": changed_by}
        # the service's first promotion imports MLflow and writes to the registry: seconds
        answer = self._call(
            "POST", "/admin/promote", timeout=max(self.timeout, PROMOTE_TIMEOUT_S), json=body
        )
        return PromotionResult.from_json(answer)


def load_packaged_challenger(client: ServiceClient, root: Path) -> str | None:
    """Make the service hold the last packaged challenger (hot-loaded, no restart); its version.

    None when nothing packaged has a challenger. Does nothing when the service
    already holds it.
    """
    report = read_package_report(root)
    challenger = None if report is None else report.models.get("challenger")
    if challenger is None:
        return None
    policy = client.status(history=1).policy
    if challenger.version not in (policy.challenger, policy.champion):
        reason = f"packaged challenger v{challenger.version}"
        client.load_challenger(challenger.tag, reason, challenger.version)
    return challenger.version


def client_for(root: Path, runtime: Runtime | None = None, url: str | None = None) -> ServiceClient:
    """A client with the admin key from the environment or the secrets file."""
    runtime = runtime or Runtime()
    return ServiceClient(url or runtime.service_url, load_keys(runtime, root).admin_key)
