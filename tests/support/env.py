"""One test's DR environment: its dr.toml, master key, local store and S3 prefix."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dr_assets.core.backup.take import run_backup
from dr_assets.core.copies.verify import verify_backup
from dr_assets.core.format.keys import generate_key_file
from dr_assets.core.format.manifest import BackupManifest
from dr_assets.core.runtime import DRRuntime
from dr_assets.devstack import seaweed
from tests.support.pg import PG_URL, REPO

BUCKET = "dr-backups"


@dataclass
class DREnv:
    """One test's DR setup: its dr.toml, key, local dir and its own S3 prefix."""

    root: Path
    config_path: Path
    s3: seaweed.SeaweedServer
    s3_prefix: str
    apps: dict[str, str]
    catalog_db: str

    def with_apps(self, apps: dict[str, str]) -> DREnv:
        """The same stores, key and catalog, configured for other apps."""
        path = write_config(self.root, self.s3, self.s3_prefix, self.catalog_db, apps)
        return DREnv(self.root, path, self.s3, self.s3_prefix, apps, self.catalog_db)

    def runtime(self) -> DRRuntime:
        return DRRuntime.load(str(self.config_path))

    def drctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        exe = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "drctl"
        proc = subprocess.run([str(exe), "--config", str(self.config_path), *args],
                              capture_output=True, text=True, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"drctl {' '.join(args)} failed: {proc.stderr}")
        return proc

    @property
    def local_dir(self) -> Path:
        return self.root / "local-backups"


def write_config(root: Path, s3: seaweed.SeaweedServer, prefix: str, catalog: str,
                 apps: dict[str, str], extra_s3: str = "", local_path: str | None = None,
                 s3_endpoint: str | None = None) -> Path:
    lines = [
        "[catalog]",
        f'database_url = "{PG_URL}/{catalog}"',
        "[encryption]",
        'key_file = "keys/master.key"',
        "[[destinations]]",
        'name = "s3"', 'kind = "s3"', f'bucket = "{BUCKET}"', f'prefix = "{prefix}"',
        f'endpoint_url = "{s3_endpoint or s3.endpoint}"',
        f'access_key_id = "{s3.access_key}"', f'secret_access_key = "{s3.secret_key}"',
        'part_size_mb = 5',
        extra_s3,
        "[[destinations]]",
        'name = "local"', 'kind = "local"', f'path = "{local_path or "local-backups"}"',
    ]
    for app, db in apps.items():
        lines += [
            f"[apps.{app}]",
            f'database_url = "{PG_URL}/{db}"',
            "rto_hours = 4", "rpo_hours = 24", "every_hours = 6", "retention_days = 90",
            "critical = true",
        ]
    path = root / "dr.toml"
    path.write_text("\n".join(lines) + "\n")
    if not (root / "keys" / "master.key").exists():
        generate_key_file(root / "keys" / "master.key")
    return path


def verified_backups(rt: DRRuntime, app: str, n: int = 1) -> list[BackupManifest]:
    """n backups of `app` taken by the engine, each verified as the Dagster check would."""
    taken = []
    for _ in range(n):
        m = run_backup(rt.config, app, keyring=rt.keyring, stores=rt.stores,
                       catalog=rt.catalog).manifest
        assert verify_backup(m, rt.stores, rt.catalog).ok
        taken.append(m)
    return taken
