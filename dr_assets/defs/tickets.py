"""The ops' side of launch tickets: a run that writes a database or deletes a backup checks
its ticket before anything else, and fails at once, audited, without a good one."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from dr_assets.core.access.tickets import Ticket, verify_ticket
from dr_assets.core.errors import DRError, MasterKeyError, TicketRefused
from dr_assets.core.runs import TAG_REQUESTED_BY, TAG_TICKET, LaunchRequest
from dr_assets.core.runtime import DRRuntime
from dr_assets.core.statuses import AuditResult

Context = dg.OpExecutionContext | dg.AssetExecutionContext


def _created(context: Context) -> datetime:
    record = context.instance.get_run_record_by_id(context.run.run_id)
    if record is None:  # not stored: judge the ticket by now, which only makes it stricter
        return datetime.now(UTC)
    at = record.create_timestamp
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def checked_ticket(context: Context, rt: DRRuntime, action: str,
                   args: Mapping[str, Any], audited: Mapping[str, Any] | None = None) -> Ticket:
    """The run's ticket for ACTION with ARGS (the op's config as it will act on it), used
    by this run now; else the run fails with why, and an audit row says it was refused
    (AUDITED: the arguments to record, when they differ from ARGS, e.g. with a URL's
    password redacted)."""
    run = context.run
    try:
        ticket = verify_ticket(rt.ticket_keys, run.tags.get(TAG_TICKET), action=action,
                               args=args, run_created=_created(context))
        first = rt.catalog.use_ticket(ticket, run.run_id)
        if first is not None:
            raise TicketRefused(f"the launch ticket was used already, by run {first}: a "
                                "ticket launches one run (a re-execution needs a new one, "
                                "from `drctl ticket mint`)")
    except (TicketRefused, MasterKeyError) as exc:
        claimed = run.tags.get(TAG_REQUESTED_BY, "unknown")
        with contextlib.suppress(DRError):
            rt.catalog.audit(f"dagster:{claimed}", "dagster", action,
                             dict(audited if audited is not None else args),
                             AuditResult.REFUSED, str(exc))
        raise dg.Failure(f"{action} refused: {exc}") from None
    context.log.info(f"launch ticket: {ticket.describe()}")
    return ticket


def scheduled(request: LaunchRequest, rt: DRRuntime, schedule: str) -> LaunchRequest:
    """A schedule's launch, with the ticket its run needs: asked by `schedule:NAME`."""
    return request.ticketed(rt.ticket_keys, who=f"schedule:{schedule}", role="scheduler",
                            now=datetime.now(UTC))
