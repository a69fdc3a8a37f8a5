"""`drctl report`: the compliance evidence of a period, as HTML, JSON or CSV."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from dr_assets.cli.output import emit
from dr_assets.core.compliance import FORMATS, ReportPeriod, build_report, render_report
from dr_assets.core.errors import ReportError
from dr_assets.core.runtime import DRRuntime


def report_format(args: argparse.Namespace) -> str:
    """--format, else the output file's extension, else JSON with --json on stdout, else HTML.
    With --output, --json shapes the printed summary, not the file."""
    if args.format:
        if args.json and not args.output and args.format != "json":
            raise ReportError(f"--json prints the report as JSON but --format asks for "
                              f"{args.format}: drop one of them")
        return str(args.format)
    if args.output:
        suffix = Path(args.output).suffix.lstrip(".").lower()
        return suffix if suffix in FORMATS else "html"
    return "json" if args.json else "html"


def write_atomically(path: Path, body: str) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise ReportError(f"cannot write {path}: {exc.strerror}: choose a directory that "
                          "exists and is writable") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(body)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ReportError(f"cannot write {path}: {exc.strerror}") from None


def cmd_report(args: argparse.Namespace) -> int:
    period = ReportPeriod.parse(args.from_day, args.to_day)
    fmt = report_format(args)
    rt = DRRuntime.load(args.config)
    report = build_report(rt.config, rt.catalog, period)
    body = render_report(report, fmt)
    if not args.output:
        sys.stdout.write(body)
        return 0
    path = Path(args.output)
    write_atomically(path, body)
    t = report.totals()
    doc = {"output": str(path), "format": fmt, "from": str(period.first_day),
           "to": str(period.last_day), "totals": t, "audit_chain_ok": report.audit_chain.ok}
    emit(args, doc, lambda: (
        f"wrote the {fmt} compliance report for {period.first_day} to {period.last_day} to "
        f"{path}: {t['windows_covered']} of {t['windows_covered'] + t['windows_missed']} "
        f"backup windows covered, {t['verifications_failed']} failed checksum checks, "
        f"{t['drills_within_rto']} of {t['drills']} drills within RTO, audit chain "
        f"{'intact' if report.audit_chain.ok else 'BROKEN'}"))
    return 0
