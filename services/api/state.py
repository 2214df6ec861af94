"""What the routes share: the router, keys and loaders once the service has loaded."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException

from services.auth import Keys
from services.promotion import RegistryPort
from services.router import Router
from services.served_model import ServedModel


@dataclass
class ServiceState:
    """What the routes need once the service has loaded: None until then."""

    router: Router | None = None
    keys: Keys | None = None
    load_model: Callable[[str], ServedModel] | None = None
    """Loads a packaged model by its store tag (our own model store only, never request data)."""
    registry: RegistryPort | None = None
    """The model registry's role aliases, moved by a promotion; None: the policy moves alone."""

    def require_router(self) -> Router:
        """The router; HTTP 503 while the models are loading."""
        if self.router is None:
            raise HTTPException(503, "models are loading")
        return self.router

    def count_request(self, route: str, status: int, started: float) -> None:
        """Count an answered request and its latency since `started` (perf_counter)."""
        if self.router is not None:
            m = self.router.metrics
            m.requests.labels(route, str(status)).inc()
            m.request_latency.labels(route).observe(time.perf_counter() - started)
