"""bench/trend_charts.py at a tiny size (real PostgreSQL): over a generated history and its
dr.toml it times every chart query in both windows, draws the routes' SVGs and a month's
report Trends, and prints the queries' plans. No figure is judged here."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.support.pg import PG_URL

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_the_trend_charts_bench_over_a_generated_history(
        catalog_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    history = importlib.import_module("catalog_history")
    bench = importlib.import_module("trend_charts")
    url = f"{PG_URL}/{catalog_db}"
    history.build_history(url, apps=4, days=40)
    config = history.write_config(tmp_path / "dr.toml", url, history.plan_apps(4))
    out = bench.measure(url, str(config), apps=3, repeats=2)
    assert out["apps"] == 4 and out["sampled_apps"] == 3
    for days in bench.WINDOWS:
        w = out[f"days_{days}"]
        assert w["drill_times_ms"]["n"] == w["backup_sizes_ms"]["n"] == 6
        assert w["storage_by_day_ms"]["n"] == 2 and w["chart_route_ms"]["n"] == 6
        assert w["rows_per_app_and_pass"] > 0 and w["storage_svg_bytes"] > 1000
    assert out["report_trends"]["charts"] == 2 * 4 + 1
    assert set(out["plans"]) == {"drill_times", "backup_sizes", "storage_by_day"}
    bench.print_report(out)
    assert "plan of storage_by_day" in capsys.readouterr().out
