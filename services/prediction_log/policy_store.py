"""The traffic-policy history: one row per change, the latest is the policy in force.

It lives in the prediction-log database, so every replica and the CLI see one policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from services.prediction_log.tables import dumps, open_engine, parse_url, policy_changes


@dataclass(frozen=True)
class PolicyChange:
    """One stored traffic policy: who set it, when and why."""

    id: int
    changed_at: datetime
    changed_by: str
    reason: str
    policy: dict[str, Any]
    """The policy as stored (TrafficPolicy fields)."""

    def to_json(self) -> dict[str, Any]:
        """The JSON form: an entry of GET /admin/policy's `history`."""
        return {
            "id": self.id,
            "changed_at": self.changed_at.isoformat(),
            "changed_by": self.changed_by,
            "reason": self.reason,
            "policy": self.policy,
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> PolicyChange:
        """Read the JSON form back (a history entry as the admin route answers it)."""
        return cls(
            id=int(payload["id"]),
            changed_at=datetime.fromisoformat(payload["changed_at"]),
            changed_by=payload["changed_by"],
            reason=payload["reason"],
            policy=dict(payload["policy"]),
        )


class PolicyStore:
    """Append-only history of traffic policies; the latest row is the policy in force."""

    def __init__(self, url: str) -> None:
        parse_url(url)
        self.url = url
        self._engine: sa.Engine | None = None

    def __enter__(self) -> PolicyStore:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> None:
        """Connect and create missing tables; a second call does nothing."""
        if self._engine is None:
            self._engine = open_engine(self.url)

    def _require(self) -> sa.Engine:
        if self._engine is None:
            raise RuntimeError("policy store is not open")
        return self._engine

    def current(self) -> PolicyChange | None:
        """The policy in force: the latest change, or None if none was ever recorded."""
        latest = self.history(limit=1)
        return latest[0] if latest else None

    def record(self, policy: dict[str, Any], changed_by: str, reason: str) -> PolicyChange:
        """Store a new policy as the latest change (one transaction) and return it."""
        stored = json.loads(dumps(dict(policy)))  # fails here if not JSON; detaches the dict
        changed_at = datetime.now(UTC)
        insert = policy_changes.insert().values(
            changed_at=changed_at, changed_by=changed_by, reason=reason, policy=stored
        )
        with self._require().begin() as conn:
            key = conn.execute(insert).inserted_primary_key
        assert key is not None
        return PolicyChange(int(key[0]), changed_at, changed_by, reason, stored)

    def history(self, limit: int = 50) -> list[PolicyChange]:
        """Up to `limit` changes, newest first."""
        query = sa.select(policy_changes).order_by(policy_changes.c.id.desc()).limit(limit)
        with self._require().connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            PolicyChange(
                id=int(r["id"]),
                changed_at=r["changed_at"],
                changed_by=r["changed_by"],
                reason=r["reason"],
                policy=r["policy"],
            )
            for r in rows
        ]

    def close(self) -> None:
        """Release connections; idempotent."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
