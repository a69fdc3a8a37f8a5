"""bench/backup_throughput.py reports the bytes a restore read from the store, against the
stored size, and an isolated drill's wall in parts. A real run builds a 1.4 GB database,
too heavy here: this is a tiny run of the same drctl commands on the test's own app, their
JSON fed to the bench's report."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.env import DREnv
from tests.support.pg import drop_db

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))  # how the script finds pgserver beside it
    return importlib.import_module("backup_throughput")


def test_report_names_the_bytes_read_per_restore(
    dr_env: DREnv, tmp_path: Path, make_db: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _bench(monkeypatch)
    backup = json.loads(dr_env.drctl("backup", "shop", "--json").stdout)
    streamed, parallel = make_db("bench_d"), make_db("bench_f")
    drop_db(streamed)
    drop_db(parallel)
    spool = tmp_path / "spool"
    spool.mkdir()
    d = json.loads(dr_env.drctl("restore", backup["backup_id"], "--target-db", streamed,
                                "--json").stdout)
    f = json.loads(dr_env.drctl("restore", backup["backup_id"], "--target-db", parallel,
                                "--jobs", "2", "--spool-dir", str(spool), "--json").stdout)
    stored = int(backup["stored_bytes"])
    assert d["bytes_read"] == f["bytes_read"] == stored
    g = json.loads(dr_env.drctl("drill", "shop", "--json").stdout)
    assert g["passed"] and g["target"] == "isolated"

    # Timings, sizes of the -Fc file and RSS are not what is tested: ones stand in for them.
    s = bench.Samples(
        backup_s=[1.0], pg_dump_fc_s=[1.0], pg_dump_z0_s=[1.0], restore_s=[1.0],
        restore_jobs_s=[1.0], pg_restore_s=[1.0], stored_bytes=[stored],
        raw_bytes=[int(backup["raw_bytes"])], fc_file_bytes=[stored], backup_hwm_kb=[1024],
        backup_ru_maxrss_kb=[1024], restore_hwm_kb=[1024], restore_ru_maxrss_kb=[1024],
        backup_reported_s=[1.0], restore_reported_s=[float(d["seconds"])],
        restore_read_bytes=[int(d["bytes_read"])],
        restore_jobs_read_bytes=[int(f["bytes_read"])],
        drill_s=[100.0], drill_start_s=[float(g["instance_start_seconds"])],
        drill_restore_s=[float(g["restore_seconds"])],
        cpu_s={key: [1.0] for key in (
            "a_drctl_backup", "b_pg_dump_fc_file", "c_pg_dump_fc_z0_devnull",
            "d_drctl_restore", "e_createdb_pg_restore", "f_drctl_restore_jobs",
            "g_drctl_drill_isolated")},
    )
    report = bench.summarize(s, 1 << 20, 1, {}, None)
    assert report["bytes"]["read_per_restore"] == report["bytes"]["read_per_restore_jobs"]
    assert report["bytes"]["read_per_restore"] == stored
    [reads] = [t for t in report["targets"] if t["target"] == "restore_reads"]
    assert reads["value"] == 1.0 and reads["pass"]
    bench.print_text(report)
    out = capsys.readouterr().out
    assert (f"bytes read from the store per restore: (d) {stored:,}, (f) {stored:,} "
            "(medians; the most any run read is 1.000 x the stored size, target 1.0)") in out
    assert "PASS  bytes read per restore <= 1.0 x stored size" in out
    split = report["isolated_drill_seconds"]
    assert split["instance_start"] == round(g["instance_start_seconds"], 2) > 0
    assert split["restore_and_validation"] == round(g["restore_seconds"], 2)
    assert split["rest"] == round(100.0 - g["instance_start_seconds"] - g["restore_seconds"], 2)
    assert "isolated drill (g), medians: server start-up " in out
