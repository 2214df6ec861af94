"""The service's metrics: unlisted values of open categories counted by column."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from services.metrics import ServingMetrics, count_unknown_categories
from tests.conftest import open_schema


def test_unlisted_values_of_open_categories_are_counted_by_column(schema) -> None:
    metrics = ServingMetrics(CollectorRegistry())
    rows = [{"depot": "Z1"}, {"depot": "Z2"}, {"depot": "N1"}, {"depot": None}]

    count_unknown_categories(metrics, open_schema(schema), rows)
    count_unknown_categories(metrics, open_schema(schema), rows[:1])
    count_unknown_categories(metrics, schema, rows)  # closed: nothing to count (refused before)

    text = generate_latest(metrics.registry).decode()
    assert 'mlops_unknown_category_total{column="depot"} 3.0' in text
