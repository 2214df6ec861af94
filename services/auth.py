"""API keys: one for predict and feedback, a separate one for the admin routes.

Keys come from the environment (MLOPS_API_KEY, MLOPS_ADMIN_KEY) or from a
secrets file outside version control (`api_key=...` and `admin_key=...` lines,
by default <root>/.secrets/serving.env, which .gitignore excludes). Callers
send `Authorization: Bearer <key>` or `X-API-Key: <key>`.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from pipelines.config import ConfigError, Runtime

SECRETS_FILE = Path(".secrets") / "serving.env"


@dataclass(frozen=True)
class Keys:
    """The two keys a service accepts."""

    api_key: str
    admin_key: str

    def role(self, presented: str | None) -> str | None:
        """The caller's role, admin or client, or None for a wrong key (constant-time)."""
        if not presented:
            return None
        if hmac.compare_digest(presented.encode(), self.admin_key.encode()):
            return "admin"
        if hmac.compare_digest(presented.encode(), self.api_key.encode()):
            return "client"
        return None


def secrets_path(runtime: Runtime, root: Path) -> Path:
    """The secrets file this runtime reads."""
    return Path(runtime.secrets_file) if runtime.secrets_file else root / SECRETS_FILE


def read_secrets(path: Path) -> dict[str, str]:
    """`key=value` lines of a secrets file ('#' starts a comment); empty when it is absent."""
    if not path.is_file():
        return {}
    values = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"{path}:{number}: expected name=value")
        values[name.strip()] = value.strip()
    return values


def load_keys(runtime: Runtime, root: Path) -> Keys:
    """The keys from the environment, else the secrets file; ConfigError naming what is missing."""
    path = secrets_path(runtime, root)
    stored = read_secrets(path)
    api_key = runtime.api_key or stored.get("api_key")
    admin_key = runtime.admin_key or stored.get("admin_key")
    missing = [n for n, v in (("api_key", api_key), ("admin_key", admin_key)) if not v]
    if missing:
        raise ConfigError(
            f"no {' or '.join(missing)}: set MLOPS_API_KEY and MLOPS_ADMIN_KEY "
            f"or write them to {path} (`mlops serve` creates one for local use)"
        )
    if api_key is None or admin_key is None:  # for the type checker; `missing` covers it
        raise ConfigError("no keys")
    if len(api_key) < 16 or len(admin_key) < 16:
        raise ConfigError("api_key and admin_key must be at least 16 characters long")
    if hmac.compare_digest(api_key, admin_key):
        raise ConfigError("api_key and admin_key must differ")
    return Keys(api_key, admin_key)


def ensure_local_keys(runtime: Runtime, root: Path) -> Path | None:
    """Create a secrets file with random keys when no key is configured; its path if created."""
    path = secrets_path(runtime, root)
    if runtime.api_key or runtime.admin_key or path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    body = f"api_key={secrets.token_urlsafe(24)}\nadmin_key={secrets.token_urlsafe(24)}\n"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(body)
    tmp.replace(path)
    return path
