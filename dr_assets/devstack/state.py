"""Where the dev stack keeps its files, and the PID files of the processes `make up` starts.

Everything lives under the repo root (the folder of dr.toml): `.dr/run/NAME.pid` holds
the PID of a process `make up` started (plain text, for humans and `kill`), and
`.dr/run/NAME.json` beside it records its command line, log and details, so `make down`
can tell our process from an unrelated one that later reused the PID.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dr_assets.core.policy import DEFAULT_CONFIG, config_path


@dataclass(frozen=True)
class Paths:
    """The repo root and the dev stack's folders under `.dr/` (all created on demand)."""

    root: Path
    config: Path

    @classmethod
    def discover(cls, explicit: str | None = None) -> Paths:
        """dr.toml from --config / DR_CONFIG, else the nearest one in cwd or a parent."""
        given = explicit or os.environ.get("DR_CONFIG")
        if given:
            cfg = config_path(given).resolve()
            return cls(root=cfg.parent, config=cfg)
        here = Path.cwd().resolve()
        for folder in (here, *here.parents):
            if (folder / DEFAULT_CONFIG).is_file():
                return cls(root=folder, config=folder / DEFAULT_CONFIG)
        return cls(root=here, config=here / DEFAULT_CONFIG)

    @classmethod
    def from_args(cls, command: str, doc: str | None, argv: Sequence[str] | None) -> Paths:
        """The paths of `python -m dr_assets.devstack.COMMAND [--config dr.toml]`."""
        parser = argparse.ArgumentParser(prog=f"python -m dr_assets.devstack.{command}",
                                         description=doc.splitlines()[0] if doc else None)
        parser.add_argument("--config", help="path to dr.toml (default: $DR_CONFIG or the "
                            "nearest dr.toml in this folder or above)")
        return cls.discover(parser.parse_args(argv).config)

    @property
    def dr_dir(self) -> Path:
        return self.root / ".dr"

    @property
    def run_dir(self) -> Path:
        return self.dr_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.dr_dir / "logs"

    @property
    def seaweed_dir(self) -> Path:
        return self.dr_dir / "seaweed"

    def show(self, path: Path) -> str:
        """A path as printed to the user: relative to the repo root when under it."""
        try:
            return str(path.resolve().relative_to(self.root))
        except ValueError:
            return str(path)


# -- processes ------------------------------------------------------------------------------

def installed_program(name: str, install_hint: str) -> str:
    """A program installed with this interpreter's packages (beside it in the venv), else
    one on PATH, else a RuntimeError saying how to install it."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: {install_hint}")
    return found


def process_cmdline(pid: int) -> str | None:
    """The command line of a live process, or None when it is gone (or a zombie)."""
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").exists():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return None
            return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except (OSError, IndexError):
            return None
    try:  # no /proc (macOS): ask ps
        out = subprocess.run(["ps", "-o", "stat=,command=", "-p", str(pid)],
                             capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return None
    if not out or out.startswith("Z"):
        return None
    return out.split(None, 1)[1] if " " in out else ""


@dataclass(frozen=True)
class ProcessRecord:
    name: str
    pid: int
    cmdline: str
    started_at: float
    log: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def alive(self) -> bool:
        """True when the PID still runs the command we started (not a reused PID)."""
        current = process_cmdline(self.pid)
        return current is not None and (not self.cmdline or current == self.cmdline)


class RunDir:
    """The PID files in `.dr/run/`: one per process that `make up` started."""

    def __init__(self, paths: Paths) -> None:
        self.dir = paths.run_dir

    def _pid_file(self, name: str) -> Path:
        return self.dir / f"{name}.pid"

    def _info_file(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def record(self, name: str, pid: int, *, log: Path | None = None,
               details: Mapping[str, Any] | None = None) -> ProcessRecord:
        self.dir.mkdir(parents=True, exist_ok=True)
        rec = ProcessRecord(name=name, pid=pid, cmdline=process_cmdline(pid) or "",
                            started_at=time.time(), log=str(log) if log else None,
                            details=dict(details or {}))
        info = {"pid": rec.pid, "cmdline": rec.cmdline, "started_at": rec.started_at,
                "log": rec.log, "details": rec.details}
        self._info_file(name).write_text(json.dumps(info, indent=2) + "\n")
        self._pid_file(name).write_text(f"{pid}\n")
        return rec

    def get(self, name: str) -> ProcessRecord | None:
        """The record of NAME if its PID file exists (alive or not: ask `.alive()`)."""
        try:
            pid = int(self._pid_file(name).read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            info = json.loads(self._info_file(name).read_text())
        except (OSError, ValueError):
            info = {}
        return ProcessRecord(name=name, pid=pid, cmdline=str(info.get("cmdline") or ""),
                             started_at=float(info.get("started_at") or 0),
                             log=info.get("log"), details=info.get("details") or {})

    def names(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("*.pid"))

    def __iter__(self) -> Iterator[ProcessRecord]:
        for name in self.names():
            rec = self.get(name)
            if rec is not None:
                yield rec

    def remove(self, name: str) -> None:
        self._pid_file(name).unlink(missing_ok=True)
        self._info_file(name).unlink(missing_ok=True)


def spawn(run: RunDir, name: str, argv: Sequence[str], *, log: Path, cwd: Path,
          env: Mapping[str, str] | None = None,
          details: Mapping[str, Any] | None = None) -> ProcessRecord:
    """Start a long-running service in its own session, output to LOG, and record its PID.

    For services added later (dagster-webserver, dagster-daemon, the API): start it with
    this, add a ManagedProcess to `services.SERVICES`, and `make down` stops it.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True,
                                env=dict(env) if env is not None else None)
    return run.record(name, proc.pid, log=log, details=details)
