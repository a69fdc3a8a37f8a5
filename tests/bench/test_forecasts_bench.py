"""bench/forecasts.py at a tiny size (real PostgreSQL): over a generated history it times
the estate's forecasts, reads the backups from the forecast indexes and finds every app's
trends. No figure is judged here."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.support.pg import PG_URL

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_the_forecast_bench_over_a_generated_history(
        catalog_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    history = importlib.import_module("catalog_history")
    bench = importlib.import_module("forecasts")
    url = f"{PG_URL}/{catalog_db}"
    history.build_history(url, apps=6, days=120)
    config = history.write_config(tmp_path / "dr.toml", url, history.plan_apps(6))
    out = bench.measure(url, config, repeats=2)
    assert out["apps"] == 6 and out["repeats"] == 2 and out["whole_s"] > 0
    assert out["lines"] >= 12  # every app's dump size and storage at least
    assert out["storage_now_gib"] is not None
    bench.print_report(out)
