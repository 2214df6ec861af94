"""Monitoring tests use small windows: the settings they were written for, not project.yaml's."""

from __future__ import annotations

import pytest

from pipelines.config import Config


@pytest.fixture(scope="session")
def config(config: Config) -> Config:
    """The project's config with min_rows and retrain.min_labelled at 200."""
    monitoring = config.project.monitoring
    small = monitoring.model_copy(
        update={
            "min_rows": 200,
            "retrain": monitoring.retrain.model_copy(update={"min_labelled": 200}),
        }
    )
    return config.model_copy(
        update={"project": config.project.model_copy(update={"monitoring": small})}
    )
