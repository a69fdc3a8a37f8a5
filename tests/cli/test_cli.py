"""`drctl` end to end: JSON documents, exit codes, one-sentence errors, no secrets leaked."""

from __future__ import annotations

import json
import os
from pathlib import Path

from dr_assets.core.backup.take import run_backup
from tests.support.env import DREnv
from tests.support.faults import children_named
from tests.support.pg import PG_URL, run_sql


def test_backup_list_verify_as_json(dr_env: DREnv) -> None:
    apps = json.loads(dr_env.drctl("apps", "--json").stdout)
    assert [a["name"] for a in apps] == ["shop"] and apps[0]["rpo_hours"] == 24
    backup = json.loads(dr_env.drctl("backup", "shop", "--json").stdout)
    assert {"backup_id", "status", "stored_bytes", "sha256", "destinations"} <= set(backup)
    assert backup["status"] == "completed" and len(backup["sha256"]) == 64
    listed = json.loads(dr_env.drctl("backups", "shop", "--json").stdout)
    assert [b["backup_id"] for b in listed] == [backup["backup_id"]]
    from_storage = json.loads(dr_env.drctl("backups", "--from-storage", "--json").stdout)
    assert [b["backup_id"] for b in from_storage] == [backup["backup_id"]]
    assert sorted(from_storage[0]["found_in"]) == ["local", "s3"]
    verify = json.loads(dr_env.drctl("verify", backup["backup_id"], "--json").stdout)
    assert verify["ok"] is True and len(verify["copies"]) == 2


def test_errors_are_one_sentence_on_stderr_with_nonzero_exit(dr_env: DREnv) -> None:
    proc = dr_env.drctl("backup", "payroll", "--json", check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("drctl: unknown app 'payroll'") and "shop" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = dr_env.drctl("restore", "shop-20990101T000000Z-beef", "--target-db", "x", check=False)
    assert proc.returncode == 1 and "was not found" in proc.stderr
    proc = dr_env.drctl("backup", check=False)
    assert proc.returncode == 2  # usage error from argparse


def test_key_generate_refuses_to_overwrite(dr_env: DREnv, tmp_path: Path) -> None:
    path = tmp_path / "new" / "k.key"
    out = json.loads(dr_env.drctl("key", "generate", str(path), "--json").stdout)
    assert len(out["key_id"]) == 16 and oct(path.stat().st_mode)[-3:] == "600"
    before = path.read_bytes()
    proc = dr_env.drctl("key", "generate", str(path), check=False)
    assert proc.returncode == 1 and "refusing to overwrite" in proc.stderr
    assert path.read_bytes() == before


def test_database_password_never_leaks(dr_env: DREnv) -> None:
    """Trust auth accepts any password, so a URL with one still connects for real."""
    secret = "s3cr3t-Pa55word"
    db = dr_env.apps["shop"]
    url = PG_URL.replace("postgresql://postgres@", f"postgresql://postgres:{secret}@")
    text = dr_env.config_path.read_text().replace(f'"{PG_URL}/{db}"', f'"{url}/{db}"')
    dr_env.config_path.write_text(text)
    rt = dr_env.runtime()
    seen: dict[str, str] = {}

    def spy(raw: int, stored: int, elapsed: float) -> None:
        for pid in children_named("pg_dump"):
            seen["cmdline"] = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
            seen["environ"] = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")

    result = run_backup(rt.config, "shop", keyring=rt.keyring, stores=rt.stores,
                        catalog=rt.catalog, progress=spy)
    assert seen, "pg_dump was not observed"
    assert secret not in seen["cmdline"]
    assert f"PGPASSWORD={secret}" in seen["environ"]
    assert secret not in result.manifest.to_json().decode()
    for path in dr_env.local_dir.rglob("*.json"):
        assert secret not in path.read_text()
    catalog_dump = run_sql(dr_env.catalog_db, "SELECT b::text FROM dr.backups b")
    assert all(secret not in str(r) for r in catalog_dump)
    for args in (("apps", "--json"), ("backups", "--json")):
        assert secret not in dr_env.drctl(*args).stdout
    assert os.environ.get("PGPASSWORD") != secret


def test_drill_status_retention_and_alerts_commands(dr_env: DREnv) -> None:
    backup = json.loads(dr_env.drctl("backup", "shop", "--json").stdout)
    assert backup["verified"] is True
    status = json.loads(dr_env.drctl("status", "--json").stdout)
    [app] = status["apps"]
    assert app["rpo_met"] is True and app["rto_met"] is False  # no drill yet
    assert app["score"] == 80.0  # 40 RPO + 25 success + 15 integrity, no drill
    drill = json.loads(dr_env.drctl("drill", "shop", "--json").stdout)
    assert drill["passed"] and drill["rto_met"] and drill["scratch_dropped"]
    assert drill["backup_id"] == backup["backup_id"] and drill["rows"] == 23000
    status = json.loads(dr_env.drctl("status", "--json").stdout)
    assert status["health_score"] == 100.0 and status["status"] == "HEALTHY"
    [plan] = json.loads(dr_env.drctl("retention", "shop", "--json").stdout)
    assert plan["dry_run"] is True and plan["would_delete"] == []
    assert plan["would_purge"] == {"backups": 0}  # no row of a backup deleted 400 days ago
    assert "newest verified" in plan["decisions"][0]["reason"] or "within" in plan["decisions"][0]["reason"]
    assert json.loads(dr_env.drctl("alerts", "--json").stdout) == []
