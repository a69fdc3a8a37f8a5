"""How drctl prints: one JSON document with --json, readable text otherwise."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


def table(columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[object]]) -> list[str]:
    """A text table's lines: each column a (header, format spec) pair; a spec of "" lets the
    last column run on."""
    line = " ".join("{:" + spec + "}" for _, spec in columns)
    return [line.format(*(h for h, _ in columns)).rstrip(),
            *(line.format(*row).rstrip() for row in rows)]


def emit(args: argparse.Namespace, doc: Any, text: Callable[[], str]) -> None:
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    else:
        print(text())


def progress_printer(args: argparse.Namespace) -> Callable[[int, int, float], None] | None:
    if args.json or not sys.stderr.isatty():
        return None

    def show(raw: int, stored: int, elapsed: float) -> None:
        rate = raw / elapsed if elapsed > 0 else 0
        sys.stderr.write(f"\r  dumped {human(raw)}, stored {human(stored)}, "
                         f"{human(rate)}/s, {elapsed:.0f} s   ")
        sys.stderr.flush()

    return show


def copies_lines(destinations: Mapping[str, Any], doc: Mapping[str, Any]) -> list[str]:
    """A backup's per-destination results, then its verification when it was verified."""
    lines = [f"  {name}: {d.status}" + (f" ({d.error})" if d.error else "")
             for name, d in destinations.items()]
    if "verified" in doc:
        lines.append("  checksum verified on every copy" if doc["verified"] else
                     "  VERIFY FAILED: " + "; ".join(doc["verify_errors"]))
    return lines
