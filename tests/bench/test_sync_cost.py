"""bench/sync_cost.py counts what a catalog sync reads and lists; a tiny run of it (its own
SeaweedFS, local store and catalog) gives the counts the incremental sync must have. The
seconds it prints are not tested."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_sync_cost_counts_reads_and_listed_keys(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    bench = importlib.import_module("sync_cost")
    figures = bench.measure(backups=6, apps=2, object_bytes=4096, wal_keys=20)
    per_backup = 2 * 2  # a dump and a manifest in each of two stores
    first, steady = figures["first"], figures["steady"]
    assert (first["manifests_read"], first["objects_read"]) == (12, 0)
    assert steady["keys_listed"] == 6 * per_backup  # the WAL keys are never listed
    assert (steady["manifests_read"], steady["objects_read"], steady["stats"]) == (0, 0, 0)
    assert figures["one_new"]["manifests_read"] == 2
    assert figures["repair"]["copies_repaired"] == 1
    assert figures["verify"]["objects_read"] == 7 * 2  # every copy of every backup
    bench.print_figures(figures)
    assert "steady" in capsys.readouterr().out
