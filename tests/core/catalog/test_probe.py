"""The catalog's health probe answers within its timeout, whatever holds the catalog up."""

from __future__ import annotations

import time

import psycopg2
import pytest

from dr_assets.core.catalog import Catalog
from dr_assets.core.errors import CatalogError
from tests.support.pg import PG_URL


def test_a_locked_catalog_is_down_within_the_timeout_and_up_once_released(
        catalog_db: str) -> None:
    catalog = Catalog(f"{PG_URL}/{catalog_db}", pool_size=1)
    catalog.ensure()
    catalog.probe(1)
    locker = psycopg2.connect(f"{PG_URL}/{catalog_db}")
    try:
        with locker.cursor() as cur:
            cur.execute("LOCK TABLE dr.backups IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(CatalogError, match="catalog did not answer: canceling statement"):
            catalog.probe(0.5)
        assert time.monotonic() - started < 2
    finally:
        locker.rollback()
        locker.close()
    catalog.probe(1)
    catalog.close()


def test_an_unreachable_catalog_is_named_by_its_own_url() -> None:
    url = "postgresql://postgres@127.0.0.1:1/dr_control"  # nothing listens on port 1
    with pytest.raises(CatalogError, match=f"catalog unreachable: cannot connect to {url}: "):
        Catalog(url).probe(1)
