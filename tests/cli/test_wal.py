"""`drctl wal`: a bounded stream run that leaves the newest WAL in both stores, the status
that shows it (slot, newest WAL per store, spool backlog), an unknown server refused."""

from __future__ import annotations

import json

from tests.support.pitr import PitrEnv


def test_stream_for_seconds_then_status(pitr_env: PitrEnv) -> None:
    pitr_env.sql("INSERT INTO ticks (note) SELECT 'cli-' || g FROM generate_series(1, 100) g")
    ran = pitr_env.env.drctl("wal", "stream", "main", "--for", "3", "--json")
    assert json.loads(ran.stdout) == {"server": "main", "stopped": True}
    assert "pg_receivewal started" in ran.stderr and "created physical replication slot" in ran.stderr
    status = json.loads(pitr_env.env.drctl("wal", "status", "main", "--json").stdout)
    assert status["slot"]["exists"] and not status["slot"]["active"]
    assert status["slot"]["retained_bytes"] >= 0 and status["alert"] is None
    newest = status["newest_wal"]
    assert set(newest) == {"local", "s3"} and all(newest.values())
    current = str(pitr_env.sql("SELECT pg_walfile_name(pg_current_wal_lsn())")[0][0])
    assert {n["name"] for n in newest.values()} == {current + ".partial"}
    assert status["spool"]["backlog_files"] == 0
    text = pitr_env.env.drctl("wal", "status", "main").stdout
    assert "server main: slot dr_test: inactive" in text and current in text


def test_unknown_server_is_refused(pitr_env: PitrEnv) -> None:
    proc = pitr_env.env.drctl("wal", "status", "nosuch", check=False)
    assert proc.returncode == 1 and "unknown server 'nosuch'" in proc.stderr
    assert "servers in" in proc.stderr and "main" in proc.stderr
