"""PostgreSQL's client tools on this machine: the binary of a server's major version (or
the closest newer one) and the version a binary reports, asked once per binary.
"""

from __future__ import annotations

import re
import shutil
from functools import cache
from pathlib import Path

from dr_assets.core.errors import ToolError
from dr_assets.core.pg.command import run

PG_LIB = Path("/usr/lib/postgresql")  # Debian: one bin/ per major version


@cache
def tool_version(path: str) -> str:
    """What `path --version` prints, e.g. "pg_dump (PostgreSQL) 15.6"."""
    return run([path, "--version"]).strip()


def major_of(version: str) -> int:
    """The major version in what a tool reports ("pg_dump (PostgreSQL) 15.6" -> 15); 0 if none."""
    match = re.search(r"(\d+)(?:\.\d+)?", version)
    return int(match.group(1)) if match else 0


def binary_major(path: str) -> int:
    """The major version of a PostgreSQL binary; 0 if it cannot say."""
    try:
        out = tool_version(path)
    except ToolError:
        return 0  # a binary that cannot say its version is no candidate
    return major_of(out)


def find_tool(tool: str, server_major_version: int) -> str:
    """The tool of the server's major version, else the closest newer one, else an error."""
    candidates: list[tuple[int, str]] = []
    if PG_LIB.is_dir():
        for d in PG_LIB.iterdir():
            binary = d / "bin" / tool
            if d.name.isdigit() and binary.exists():
                candidates.append((int(d.name), str(binary)))
    on_path = shutil.which(tool)
    if on_path:
        candidates.append((binary_major(on_path), on_path))
    usable = sorted(c for c in candidates if c[0] >= server_major_version)
    if not usable:
        found = ", ".join(f"{v}" for v, _ in sorted(candidates)) or "none"
        raise ToolError(
            f"no {tool} for PostgreSQL {server_major_version} (found versions: {found}): "
            f"install postgresql-client-{server_major_version}"
        )
    return usable[0][1]
