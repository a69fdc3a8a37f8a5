"""Small probes of local ports and HTTP endpoints, for `make up`."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from dr_assets.devstack.state import process_cmdline


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Something accepts connections on HOST:PORT (a TIME_WAIT leftover does not count)."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def http_status(url: str, timeout: float = 5) -> int | None:
    """The HTTP status URL answers with within TIMEOUT (errors included), or None."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (local http)
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def http_answers(url: str, timeout: float = 5) -> bool:
    """Any HTTP answer (an S3 error included) within TIMEOUT; a hung server gives none."""
    return http_status(url, timeout) is not None


def graphql(url: str, query: str, variables: dict[str, Any] | None = None,
            timeout: float = 10) -> dict[str, Any]:
    """POST a GraphQL query; its `data`, or RuntimeError with the server's message."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 (local http)
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (local http)
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{url} answered HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"{url}: {exc}") from None
    if answer.get("errors"):
        raise RuntimeError(f"{url}: {answer['errors'][0].get('message')}")
    return dict(answer.get("data") or {})


def port_owner(port: int) -> tuple[int, str] | None:
    """Best effort: the PID and command line listening on PORT (needs `ss`)."""
    try:
        out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True,
                             text=True, check=False, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"pid=(\d+)", out)
    if not found:
        return None
    pid = int(found.group(1))
    return pid, process_cmdline(pid) or "?"


def process_cwd(pid: int) -> Path | None:
    """The working directory of PID (Linux), or None when unknown."""
    try:
        return Path(f"/proc/{pid}/cwd").resolve(strict=True)
    except OSError:
        return None
