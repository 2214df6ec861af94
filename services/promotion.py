"""Promotion: a registry version becomes champion and the champion challenger, everywhere.

The registry aliases move first (champion -> the version, challenger -> the former
champion), then the stored traffic policy (champion-only, the same roles); when the
policy cannot be applied the aliases are put back. So the next `mlops package`, a fresh
replica and every running replica all serve the same champion. Framework-free: the
service and the registry are ports (the Router and registry_models.RegistryAliases).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Protocol

from services.policy import TrafficPolicy
from services.registry_state import RegistryState, RegistryUnavailable, RoleEntry


class ServingPort(Protocol):
    """The service side: the policy in force, the versions it can serve, the policy store."""

    @property
    def policy(self) -> TrafficPolicy:
        """The policy in force."""
        ...

    def ensure_version(self, version: str, role: str = "champion") -> None:
        """Hold `version` (fetched if need be); LookupError when it cannot be had."""
        ...

    def set_policy(self, policy: TrafficPolicy, changed_by: str, reason: str) -> TrafficPolicy:
        """Apply and store a policy; the policy now in force (PolicyError if impossible)."""
        ...


class RegistryPort(Protocol):
    """The model registry's role aliases; RegistryUnavailable when it cannot be reached."""

    def read_state(self) -> RegistryState:
        """The versions the aliases name now."""
        ...

    def set_roles(self, champion: str | None, challenger: str | None) -> RegistryState:
        """Point the aliases at these versions (None removes the alias); the state after."""
        ...


@dataclass(frozen=True)
class PromotionResult:
    """What a promotion left in force."""

    policy: TrafficPolicy
    """The traffic policy in force afterwards."""
    changed: bool
    """False when the version already was the champion (nothing was touched)."""
    note: str
    """One line saying what moved."""
    registry: RegistryState | None
    """The aliases afterwards; None when this service has no registry."""

    def to_json(self) -> dict[str, Any]:
        """The JSON form: the answer of POST /admin/promote."""
        return {
            "policy": self.policy.model_dump(),
            "changed": self.changed,
            "note": self.note,
            "registry": None if self.registry is None else self.registry.to_json(),
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> PromotionResult:
        """Read the route's answer back (what `mlops release` receives)."""
        registry = payload.get("registry")
        return cls(
            TrafficPolicy.model_validate(payload["policy"]),
            bool(payload["changed"]),
            payload["note"],
            None if registry is None else RegistryState.from_json(registry),
        )


def _version(entry: RoleEntry | None) -> str | None:
    return None if entry is None else entry.version


def _roles(champion: str | None, challenger: str | None) -> str:
    later = "none" if challenger is None else f"v{challenger}"
    return f"champion v{champion}, challenger {later}"


def _move(
    registry: RegistryPort, before: RegistryState, champion: str, challenger: str | None
) -> RegistryState:
    """Set the aliases; if that fails half-way, put them back (best effort) and raise."""
    try:
        return registry.set_roles(champion, challenger)
    except RegistryUnavailable:
        with contextlib.suppress(RegistryUnavailable):  # unreachable: nothing moved
            registry.set_roles(_version(before.champion), _version(before.challenger))
        raise


def _already_champion(
    version: str,
    current: TrafficPolicy,
    registry: RegistryPort | None,
    before: RegistryState | None,
) -> PromotionResult:
    """Nothing to do, unless the policy was promoted without the registry: then align it."""
    if registry is None or before is None or _version(before.champion) == version:
        return PromotionResult(current, False, f"v{version} is already the champion", before)
    after = _move(registry, before, version, current.challenger)
    note = f"v{version} already served as champion; registry aliases moved to match"
    return PromotionResult(current, True, f"{note}: {_roles(version, current.challenger)}", after)


def promote(
    version: str,
    service: ServingPort,
    registry: RegistryPort | None,
    changed_by: str = "admin",
    reason: str = "",
) -> PromotionResult:
    """Make `version` champion and the current champion challenger: aliases, then policy.

    Raises:
        RegistryUnavailable: the registry cannot be read or changed (nothing changed), or
            the policy change failed and the aliases could not be put back (it says so).
        LookupError: the service neither holds nor can fetch `version` (nothing changed).
        PolicyError: the policy cannot be applied (the aliases are back where they were).
    """
    before = registry.read_state() if registry is not None else None
    service.ensure_version(version)
    current = service.policy
    former = current.champion
    if former == version:
        return _already_champion(version, current, registry, before)
    after = None
    if registry is not None and before is not None:
        after = _move(registry, before, version, former)
    target = TrafficPolicy.model_validate(
        {
            **current.model_dump(),
            "mode": "champion",
            "challenger_weight": 0.0,
            "champion": version,
            "challenger": former,
        }
    )
    try:
        applied = service.set_policy(target, changed_by, reason or f"promote v{version}")
    except Exception as exc:
        if registry is not None and before is not None:
            _put_back(registry, before, exc)
        raise
    roles = _roles(applied.champion, applied.challenger)
    if after is None:
        note = f"{roles}; no registry here: its aliases were not moved"
        return PromotionResult(applied, True, note, None)
    return PromotionResult(applied, True, f"{roles}, in the registry and the policy", after)


def _put_back(registry: RegistryPort, before: RegistryState, failure: Exception) -> None:
    """Restore the aliases after a failed policy change; RegistryUnavailable if impossible."""
    champion, challenger = _version(before.champion), _version(before.challenger)
    try:
        registry.set_roles(champion, challenger)
    except RegistryUnavailable as exc:
        raise RegistryUnavailable(
            f"the policy change failed ({failure}) and the registry aliases could not be put "
            f"back ({exc}): point them at {_roles(champion, challenger)} by hand"
        ) from failure
