"""`drctl ticket mint`: a launch ticket for a run an operator launches by hand in Dagster
(the launchpad, a re-execution), signed with the keys this operator holds."""

from __future__ import annotations

import argparse
import getpass
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dr_assets.cli.output import emit
from dr_assets.core.errors import ConfigError
from dr_assets.core.runs import TAG_SERVER, TAG_TICKET, LaunchRequest, drill_asset_path
from dr_assets.core.runtime import DRRuntime


def add_ticket_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    t = sub.add_parser("ticket", help="launch tickets for runs launched by hand in Dagster")
    t_sub = t.add_subparsers(dest="ticket_command", required=True)
    m = t_sub.add_parser(
        "mint", parents=[common],
        help="a ticket for one run of JOB with exactly this run config (its tag dr/ticket)")
    m.add_argument("job", help="restore_job, retention_job, restore_drill_job or "
                               "SERVER_pitr_drill_job")
    m.add_argument("--run-config", metavar="FILE",
                   help="the run config the run is launched with, as JSON (what the "
                        "launchpad holds; JSON is YAML)")
    m.add_argument("--app", action="append", default=[],
                   help="restore_drill_job: an app whose drill the run selects (repeat)")
    m.add_argument("--server", help="SERVER_pitr_drill_job: the server")
    m.add_argument("--as", dest="who", default=f"drctl:{getpass.getuser()}",
                   help="who asks (default drctl:USER); recorded with the run")
    m.set_defaults(func=cmd_ticket_mint)


def _run_config(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        config = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--run-config {path}: {exc}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"--run-config {path}: a run config is an object ({{\"ops\": ...}})")
    return config


def cmd_ticket_mint(args: argparse.Namespace) -> int:
    rt = DRRuntime.load(args.config)
    for app in args.app:
        rt.config.app(app)
    if args.server:
        rt.config.server(args.server)
    request = LaunchRequest(args.job, _run_config(args.run_config),
                            tags={TAG_SERVER: args.server} if args.server else {},
                            asset_selection=tuple(drill_asset_path(a) for a in args.app))
    bound = request.ticket_action()
    if bound is None:
        raise ConfigError(f"{args.job}: its runs need no ticket (they neither write a database "
                          "nor delete a backup), or it needs --server / --app to say what it does")
    ticketed = request.ticketed(rt.ticket_keys, who=args.who, role="admin",
                                now=datetime.now(UTC))
    ticket = ticketed.tags[TAG_TICKET]
    minutes = rt.config.launch_tickets.ttl_minutes
    emit(args, {"tag": TAG_TICKET, "ticket": ticket, "action": bound[0], "args": bound[1],
                "who": args.who, "valid_minutes": minutes},
         lambda: f"{ticket}\n\nadd it to the run as tag {TAG_TICKET} within {minutes} "
                 f"minutes: {bound[0]} {json.dumps(bound[1], sort_keys=True)} as {args.who}")
    return 0
