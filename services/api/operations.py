"""Operations routes (no key): liveness, readiness and the Prometheus metrics."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.api.state import ServiceState


def operations_routes(state: ServiceState) -> APIRouter:
    """GET /health, /ready and /metrics."""
    routes = APIRouter(tags=["operations"])

    @routes.get("/health")
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "alive"}

    @routes.get("/ready")
    async def ready() -> JSONResponse:
        """Readiness: models loaded and keys configured (503 until then)."""
        r = state.router
        if r is None or state.keys is None:
            return JSONResponse({"ready": False}, status_code=503)
        policy = r.policy
        return JSONResponse(
            {
                "ready": True,
                "mode": policy.mode,
                "champion": policy.champion,
                "challenger": policy.challenger,
            }
        )

    @routes.get("/metrics")
    def metrics() -> Response:
        """Prometheus exposition of the service's metrics."""
        r = state.router
        if r is None:
            return Response(b"", media_type=CONTENT_TYPE_LATEST)
        stats = r.log.stats
        r.metrics.log_pending.set(stats.pending)
        r.metrics.log_dropped.set(stats.dropped)
        return Response(generate_latest(r.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return routes
