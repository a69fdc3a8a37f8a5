"""A dr.toml of N apps, as a large estate's: four cadences, a few source servers, every app
pointing at one small database (the code location and the schedules never connect to it).
Used by bench/scale.py and by the tests of the code location at a few hundred apps."""

from __future__ import annotations

from pathlib import Path

CADENCES = (1, 6, 12, 24)
SOURCES = ("127.0.0.1:5432", "db-a.internal:5432", "db-b.internal:5432", "db-c.internal:6432")


def estate_toml(apps: int, catalog_url: str, key_file: str, local_dir: str,
                database: str = "postgres") -> str:
    lines = [
        "[catalog]", f'database_url = "{catalog_url}"',
        "[encryption]", f'key_file = "{key_file}"',
        "[[destinations]]", 'name = "local"', 'kind = "local"', f'path = "{local_dir}"',
    ]
    for i in range(apps):
        every = CADENCES[i % len(CADENCES)]
        source = SOURCES[(i // len(CADENCES)) % len(SOURCES)]
        lines += [
            f"[apps.app_{i:05d}]",
            f'database_url = "postgresql://postgres@{source}/{database}"',
            f"rto_hours = {1 + i % 8}", f"rpo_hours = {every * 2}", f"every_hours = {every}",
            "retention_days = 30", f"critical = {'true' if i % 3 == 0 else 'false'}",
        ]
    return "\n".join(lines) + "\n"


def write_estate(root: Path, apps: int, catalog_url: str, database: str = "postgres") -> Path:
    """ROOT/dr.toml for APPS apps (and its master key), returned; the apps on 127.0.0.1
    point at DATABASE, the others at hosts that do not exist (nothing connects to them)."""
    from dr_assets.core.format.keys import generate_key_file

    key = root / "keys" / "master.key"
    if not key.exists():
        generate_key_file(key)
    path = root / "dr.toml"
    path.write_text(estate_toml(apps, catalog_url, "keys/master.key", "backups", database))
    return path
