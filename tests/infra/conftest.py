"""The serving fixtures, reused to run the real service under Prometheus."""

from tests.services.conftest import make_router, rows, trained  # noqa: F401
