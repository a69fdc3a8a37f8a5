"""Launch tickets: who asked for a run that writes a database or deletes a backup, signed
where the asking was checked (the API after its RBAC and audit, a schedule, `drctl` run by
an operator holding the keys) and verified by the run's op before it does anything.

Dagster's webserver launches whatever run config it is given, to anyone who reaches it. A
ticket binds one action and its exact arguments to a person, a role and a time: a run
whose config differs from what was signed, whose ticket was minted too long before the run
was created, is signed with a key this control plane does not hold, or whose nonce another
run already used, is refused. The ticket is a tag of the run (`dr/ticket`), so the run
records who asked.

The format: base64url(canonical JSON payload) "." base64url(HMAC-SHA256(key, domain +
payload)). Symmetric keys because every process that checks a ticket (a run's op) already
holds the master key, which opens every backup; the ticket keys are derived from the
master keys unless [launch_tickets] key_file names keys of their own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dr_assets.core.errors import TicketRefused
from dr_assets.core.format.keys import KEY_BYTES, Keyring, MasterKey, read_key_file
from dr_assets.core.policy import LaunchTicketSettings

VERSION = 1
MAX_TICKET_CHARS = 16384  # a ticket longer than this is refused unread
CLOCK_SKEW = timedelta(minutes=1)  # between the minting host and Dagster's
_DOMAIN = b"pgdr-launch-ticket\0"
_SHOWN = 80  # characters of a refused value a message repeats

# The actions a ticket may name, as the ops check them.
RESTORE = "restore"
RETENTION = "retention"
DRILL = "drill"
PITR_DRILL = "pitr_drill"
ACTIONS = (RESTORE, RETENTION, DRILL, PITR_DRILL)

# The run-config keys that are not the action's arguments: who asked comes from the ticket.
_NOT_ARGUMENTS = frozenset({"requested_by"})


@dataclass(frozen=True)
class TicketKey:
    key_id: str
    secret: bytes = field(repr=False)

    @classmethod
    def derived(cls, master: MasterKey) -> TicketKey:
        """The ticket key of a master key (or of a key file of the tickets' own): HKDF, so
        a ticket's signature says nothing of the key that opens the backups."""
        secret = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                      info=_DOMAIN + b"key").derive(master.secret)
        return cls(key_id="t" + hashlib.sha256(_DOMAIN + secret).hexdigest()[:15], secret=secret)

    def sign(self, body: bytes) -> bytes:
        return hmac.new(self.secret, _DOMAIN + body, hashlib.sha256).digest()


@dataclass(frozen=True)
class TicketKeys:
    """The current key signs; previous keys still verify tickets minted before a rotation."""

    current: TicketKey
    previous: tuple[TicketKey, ...] = ()
    ttl: timedelta = timedelta(minutes=15)

    def get(self, key_id: str) -> TicketKey | None:
        return next((k for k in (self.current, *self.previous) if k.key_id == key_id), None)


def load_ticket_keys(settings: LaunchTicketSettings, keyring: Keyring | None) -> TicketKeys:
    """The keys [launch_tickets] names, else those derived from the master KEYRING (which
    is needed then only)."""
    ttl = timedelta(minutes=settings.ttl_minutes)
    if settings.key_file is None:
        if keyring is None:
            raise ValueError("ticket keys derive from the master keyring: pass it")
        return TicketKeys(TicketKey.derived(keyring.current),
                          tuple(TicketKey.derived(k) for k in keyring.previous), ttl)
    return TicketKeys(TicketKey.derived(read_key_file(settings.key_file)),
                      tuple(TicketKey.derived(read_key_file(p))
                            for p in settings.previous_key_files), ttl)


@dataclass(frozen=True)
class Ticket:
    """A verified ticket: who asked for what, when, with which key."""

    who: str
    role: str
    action: str
    args: Mapping[str, Any]
    issued_at: datetime
    expires_at: datetime
    nonce: str
    key_id: str

    def describe(self) -> str:
        return (f"{self.action} asked by {self.who} ({self.role}), ticket issued "
                f"{self.issued_at.isoformat()}")


def action_arguments(config: Mapping[str, Any]) -> dict[str, Any]:
    """What a ticket binds of a run's config: every key but who asked, empty values (the
    run config's defaults: "", false, [], none) left out, so the launcher's config and the
    op's config with its defaults filled in give the same arguments."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(config.items())
            if k not in _NOT_ARGUMENTS and v not in ("", False, None, [], ())}


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_ticket(keys: TicketKeys, *, who: str, role: str, action: str,
                args: Mapping[str, Any], now: datetime) -> str:
    """A ticket for ACTION with ARGS (as `action_arguments` gives them), good for the keys'
    ttl from NOW."""
    if action not in ACTIONS:
        raise ValueError(f"unknown ticket action {action!r}: one of {', '.join(ACTIONS)}")
    payload = {"v": VERSION, "kid": keys.current.key_id, "who": who, "role": role,
               "action": action, "args": action_arguments(args),
               "iat": int(now.timestamp()), "exp": int((now + keys.ttl).timestamp()),
               "nonce": secrets.token_urlsafe(18)}
    body = _b64(_canonical(payload))
    return f"{body}.{_b64(keys.current.sign(body.encode()))}"


def _shown(value: object) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=True)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


HOW = ("runs that write a database or delete a backup are launched through the API, by a "
       "schedule, or with a ticket from `drctl ticket mint`")


def _payload(keys: TicketKeys, text: str | None) -> dict[str, Any]:
    if not text:
        raise TicketRefused(f"the run has no launch ticket (tag dr/ticket): {HOW}")
    if len(text) > MAX_TICKET_CHARS:
        raise TicketRefused(f"the launch ticket is {len(text)} characters, over "
                            f"{MAX_TICKET_CHARS}: not a ticket this control plane minted")
    body, _, signature = text.partition(".")
    try:
        payload = json.loads(_unb64(body))
        given = _unb64(signature)
    except (ValueError, binascii.Error):
        raise TicketRefused("the launch ticket is malformed: not a ticket this control "
                            "plane minted") from None
    if not isinstance(payload, dict) or payload.get("v") != VERSION:
        raise TicketRefused("the launch ticket is not of a version this control plane reads")
    key = keys.get(str(payload.get("kid")))
    if key is None:
        raise TicketRefused(f"the launch ticket is signed with key {_shown(payload.get('kid'))}, "
                            "which this control plane does not hold (rotated out, or not ours)")
    if not hmac.compare_digest(key.sign(body.encode()), given):
        raise TicketRefused("the launch ticket's signature does not match: it was altered "
                            "or not minted with our keys")
    return payload


def _ticket(payload: dict[str, Any]) -> Ticket:
    try:
        return Ticket(who=str(payload["who"]), role=str(payload["role"]),
                      action=str(payload["action"]), args=dict(payload["args"]),
                      issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
                      expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
                      nonce=str(payload["nonce"]), key_id=str(payload["kid"]))
    except (KeyError, TypeError, ValueError):
        raise TicketRefused("the launch ticket lacks who, role, action, args, iat, exp or "
                            "nonce") from None


def verify_ticket(keys: TicketKeys, text: str | None, *, action: str,
                  args: Mapping[str, Any], run_created: datetime) -> Ticket:
    """The ticket TEXT, if it is ours, unaltered, for ACTION with exactly ARGS (the run's
    config, through `action_arguments`), and was good when the run was created; else
    TicketRefused saying which. Whether its nonce was used already is the catalog's
    (catalog/tickets.py): a ticket is used once."""
    ticket = _ticket(_payload(keys, text))
    if ticket.action != action:
        raise TicketRefused(f"the launch ticket is for {_shown(ticket.action)}, not {action}")
    wanted = action_arguments(args)
    if ticket.args != wanted:
        differ = sorted(k for k in {*ticket.args, *wanted} if ticket.args.get(k) != wanted.get(k))
        raise TicketRefused(
            f"the run's {', '.join(differ[:5])} differ from what its launch ticket allows "
            f"(ticket {_shown({k: ticket.args.get(k) for k in differ[:5]})}, run "
            f"{_shown({k: wanted.get(k) for k in differ[:5]})}): the run config was changed "
            "after the ticket was minted")
    if run_created > ticket.expires_at:
        raise TicketRefused(f"the launch ticket expired at {ticket.expires_at.isoformat()}, "
                            f"before the run was created ({run_created.isoformat()}): {HOW}")
    if run_created < ticket.issued_at - CLOCK_SKEW:
        raise TicketRefused(f"the launch ticket was issued at {ticket.issued_at.isoformat()}, "
                            "after the run was created")
    return ticket
