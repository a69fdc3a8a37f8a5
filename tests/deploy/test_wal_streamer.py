"""deploy/k8s/wal-streamer.yaml: one streamer per server, never two at once, its spool on a
volume where the shipped dr.toml puts it, the master key and configuration mounted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "deploy" / "k8s" / "wal-streamer.yaml"


def _docs() -> dict[str, Any]:
    return {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text())}


def test_one_streamer_never_two() -> None:
    spec = _docs()["Deployment"]["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    (container,) = spec["template"]["spec"]["containers"]
    assert container["command"] == ["drctl", "wal", "stream", "main"]


def test_spool_key_and_config_are_mounted() -> None:
    docs = _docs()
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["dr-config"] == "/etc/dr-config" and mounts["dr-master-key"] == "/etc/dr-keys"
    assert volumes["dr-master-key"]["secret"]["secretName"] == "dr-master-key"
    claim = volumes["dr-wal-spool"]["persistentVolumeClaim"]["claimName"]
    assert docs["PersistentVolumeClaim"]["metadata"]["name"] == claim
    config = next(d for d in yaml.safe_load_all((MANIFEST.parent / "dr-config.yaml").read_text())
                  if d["metadata"]["name"] == "dr-config")["data"]["dr.toml"]
    assert f'spool_dir = "{mounts["dr-wal-spool"]}/main"' in config
