"""Prometheus multiprocess mode: two gunicorn workers, one scrape sums both."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import serve

pytestmark = pytest.mark.integration
TARGET = "tests.support.metrics_app:app"
ROUTE = "/items/<int:item_id>"


def counted(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "aaf_requests_total" and sample.labels.get("route") == ROUTE
    )


def test_two_gunicorn_workers_are_summed_in_one_scrape(tmp_path: Path) -> None:
    requests = 40
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    with serve(TARGET, server="gunicorn", env=env) as base_url:
        for n in range(requests):
            # A new connection each time, so both workers get a share of the requests.
            response = httpx.get(f"{base_url}/items/{n}", headers={"connection": "close"})
            assert response.status_code == 200
        # A worker counts after its response is sent: a scrape may come just before that.
        total = 0.0
        for _ in range(50):
            scrape = httpx.get(f"{base_url}/metrics", timeout=30)
            assert scrape.status_code == 200
            total = counted(scrape.text)
            if total == requests:
                break
            time.sleep(0.05)
        assert total == requests
        assert "aaf_requests_in_flight" in scrape.text
    # Both workers wrote their own files (their unlabelled gauges exist from import on).
    assert len(list(tmp_path.glob("gauge_livesum_*.db"))) == 2
