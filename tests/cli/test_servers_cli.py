"""`drctl base-backup`, `drctl base-backups` and the server section of `drctl retention`
against a real protected server."""

from __future__ import annotations

import json

from tests.support.pitr import PitrEnv


def test_base_backup_then_list_and_retention_preview(pitr_env: PitrEnv) -> None:
    env = pitr_env.env
    taken = json.loads(env.drctl("base-backup", "main", "--json").stdout)
    assert taken["status"] == "completed" and taken["verified"] is True
    assert taken["start_wal"].startswith("00000001") and "wrapped_key" not in json.dumps(taken)
    listed = json.loads(env.drctl("base-backups", "main", "--json").stdout)
    assert [b["backup_id"] for b in listed] == [taken["backup_id"]]
    assert listed[0]["found_in"] == ["local", "s3"] and listed[0]["status"] == "completed"
    stored = json.loads(env.drctl("base-backups", "main", "--from-storage", "--json").stdout)
    assert [(b["backup_id"], b["sha256"]) for b in stored] == [(taken["backup_id"],
                                                               taken["sha256"])]

    everything = json.loads(env.drctl("retention", "--json").stdout)
    [server] = [o for o in everything if o.get("server") == "main"]
    assert [o["app"] for o in everything if "app" in o] == ["shop"]
    assert server["dry_run"] is True and server["would_delete"] == []
    assert server["wal"]["keep_from"] == [taken["start_wal"]]
    text = env.drctl("retention", "--server", "main").stdout
    assert "servers: base backups, and the WAL the kept ones need" in text
    assert f"keep   {taken['backup_id']}" in text and "shop:" not in text
    assert all("server" not in o for o in json.loads(env.drctl("retention", "shop",
                                                               "--json").stdout))

    proc = env.drctl("base-backup", "nope", check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("drctl: ") and "nope" in proc.stderr
