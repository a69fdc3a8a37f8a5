"""The restore plan: what a restore will do on a target server, decided before anything is
touched, from the backup's server objects and facts read from the target. Pure.

A plan says whether the server version is compatible, which extensions are available,
which roles will be created and which exist already (and how they differ), the memberships
it will grant, the database and the properties it will get, and what cannot be restored
faithfully: blockers (a restore is refused whatever is asked) and losses (a restore is
refused unless the losses are accepted). Existing roles are never altered or dropped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from dr_assets.core.errors import InvalidName
from dr_assets.core.format.server_objects import (
    USE_DATABASE_ACL,
    USE_DATABASE_OWNER,
    USE_MEMBER,
    USE_OWNER,
    DatabaseProperties,
    Membership,
    PasswordState,
    Role,
    RoleAttributes,
    RoleSettings,
    ServerObjects,
)
from dr_assets.core.names import check_role_name
from dr_assets.core.pg.server_objects import TargetFacts, normal_locale

# Attributes only a superuser may give a role.
SUPERUSER_ONLY = ("superuser", "replication", "bypassrls")
LOCALE_FALLBACK = "C"  # valid with every encoding on every server

LOSS_ROLE_DIFFERS = "role_differs"
LOSS_ATTRIBUTE_DROPPED = "attribute_dropped"
LOSS_NO_VERIFIER = "password_not_captured"
LOSS_MEMBERSHIP = "membership_not_granted"
LOSS_LOCALE = "locale_unavailable"
LOSS_SETTING = "setting_not_applied"
LOSS_GRANT = "grant_not_applied"


@dataclass(frozen=True)
class RestoreOptions:
    """How roles are treated: kept (the default), left out (no_owner: objects and the
    database owned by `owner`, else by the restoring role) or mapped onto existing roles."""

    no_owner: bool = False
    owner: str | None = None
    role_map: tuple[tuple[str, str], ...] = ()
    accept_loss: bool = False

    @classmethod
    def parse(cls, *, no_owner: bool = False, owner: str | None = None,
              role_map: list[str] | tuple[str, ...] = (), accept_loss: bool = False
              ) -> RestoreOptions:
        """From command-line words (OLD=NEW); hostile or malformed names are refused."""
        if owner is not None:
            check_role_name(owner, "--owner role")
            no_owner = True
        pairs = []
        for item in role_map:
            old, sep, new = item.partition("=")
            if not sep or not old or not new:
                raise InvalidName(f"--role-map {item!r} is not OLD=NEW")
            check_role_name(old, "--role-map source role")
            check_role_name(new, "--role-map target role")
            pairs.append((old, new))
        if len({old for old, _ in pairs}) != len(pairs):
            raise InvalidName("--role-map names a role twice")
        return cls(no_owner=no_owner, owner=owner, role_map=tuple(pairs),
                   accept_loss=accept_loss)

    @property
    def mapping(self) -> dict[str, str]:
        return dict(self.role_map)


@dataclass(frozen=True)
class Loss:
    kind: str
    subject: str
    message: str


@dataclass(frozen=True)
class RoleToCreate:
    name: str
    attributes: RoleAttributes
    password: str                   # what will be set, in words (never the verifier)
    settings: tuple[str, ...] = ()
    temporary: bool = False         # exists only during the restore (a --role-map source)


@dataclass(frozen=True)
class RolePresent:
    name: str
    differences: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExtensionCheck:
    name: str
    version: str
    schema: str
    status: str                     # available, other version, missing


@dataclass(frozen=True)
class RestorePlan:
    backup_id: str
    target_server: str
    target_db: str
    source_version: str
    target_version: str
    captured: bool                  # False: a version-1 backup, nothing but the dump
    compatible: bool = True
    extensions: tuple[ExtensionCheck, ...] = ()
    roles_to_create: tuple[RoleToCreate, ...] = ()
    roles_present: tuple[RolePresent, ...] = ()
    role_map: tuple[tuple[str, str], ...] = ()
    memberships: tuple[Membership, ...] = ()
    database: DatabaseProperties | None = None   # None: created with the target's defaults
    no_owner: bool = False
    owner: str | None = None        # --owner: every object handed to this role
    blockers: tuple[str, ...] = ()
    losses: tuple[Loss, ...] = ()
    notes: tuple[str, ...] = ()

    def refusal(self, accept_loss: bool) -> str | None:
        """Why the restore may not go ahead as asked, in the plan's words; None if it may."""
        where = f"restore of {self.backup_id} into {self.target_db} on {self.target_server}"
        if self.blockers:
            return f"{where} refused: " + "; ".join(self.blockers)
        if self.losses and not accept_loss:
            return (f"{where} would not be faithful: " + "; ".join(x.message for x in self.losses)
                    + ": nothing was changed; fix the target, or accept these losses "
                    "(drctl restore --accept-loss)")
        return None

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["role_map"] = dict(self.role_map)
        return body

    def text(self) -> str:
        lines = [f"restore plan for {self.backup_id} into {self.target_db} on "
                 f"{self.target_server}",
                 f"  server: backup from PostgreSQL {self.source_version}, target "
                 f"{self.target_version}: {'compatible' if self.compatible else 'REFUSED'}"]
        lines += [f"  extension {e.name} {e.version} (schema {e.schema}): {e.status}"
                  for e in self.extensions]
        lines += [f"  create role {r.name}" + (" (temporary, for --role-map)" if r.temporary
                                                else f": {_attribute_words(r.attributes)}; "
                                                     f"password {r.password}")
                  for r in self.roles_to_create]
        lines += [f"  role {r.name} exists" + (": differs: " + "; ".join(r.differences)
                                               if r.differences else ", as in the backup")
                  for r in self.roles_present]
        lines += [f"  role {old} mapped to existing {new}" for old, new in self.role_map]
        lines += [f"  grant {m.role} to {m.member}" + (" with admin option" if m.admin_option
                                                        else "") for m in self.memberships]
        db = self.database
        if db is not None:
            locale = (f"{db.locale_provider} {db.icu_locale}, " if db.icu_locale else "")
            lines.append(f"  database {db.name}: owner {db.owner}, encoding {db.encoding}, "
                         f"{locale}collate {db.collate}, ctype {db.ctype}, connection limit "
                         f"{db.connection_limit}, {len(db.settings)} setting(s), "
                         f"{len(db.role_settings)} role setting(s), "
                         f"{'default grants' if db.grants is None else f'{len(db.grants)} grant(s)'}"
                         + (", with its comment" if db.comment else ""))
        if self.no_owner:
            lines.append(f"  objects owned by {self.owner or 'the restoring role'} (--no-owner)")
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  BLOCKER: {b}" for b in self.blockers]
        lines += [f"  LOSS ({x.kind}): {x.message}" for x in self.losses]
        if not self.blockers and not self.losses:
            lines.append("  nothing is lost: the restore can go ahead")
        return "\n".join(lines)


def _attribute_words(a: RoleAttributes) -> str:
    words = [w for w, on in (("LOGIN", a.login), ("SUPERUSER", a.superuser),
                             ("CREATEDB", a.createdb), ("CREATEROLE", a.createrole),
                             ("REPLICATION", a.replication), ("BYPASSRLS", a.bypassrls),
                             ("NOINHERIT", not a.inherit)) if on]
    if a.connection_limit >= 0:
        words.append(f"CONNECTION LIMIT {a.connection_limit}")
    if a.valid_until:
        words.append(f"VALID UNTIL {a.valid_until}")
    return " ".join(words) or "NOLOGIN"


def setting_name(entry: str) -> str:
    return entry.partition("=")[0]


def _known_setting(entry: str, facts: TargetFacts) -> bool:
    # A name with a dot is a placeholder any server accepts (an extension's or the app's).
    name = setting_name(entry)
    return name in facts.settings or "." in name


@dataclass
class _Planner:
    """The plan's steps, gathered in order; `plan_restore` is the way in."""

    objects: ServerObjects
    facts: TargetFacts
    options: RestoreOptions
    blockers: list[str] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    create: dict[str, RoleToCreate] = field(default_factory=dict)
    present: list[RolePresent] = field(default_factory=list)
    wanted: set[str] = field(default_factory=set)

    def loss(self, kind: str, subject: str, message: str) -> None:
        self.losses.append(Loss(kind, subject, message))

    def name(self, role: str) -> str:
        """A role of the backup as the target will know it."""
        return self.options.mapping.get(role, role)

    def available(self, role: str) -> bool:
        """Whether a role of the target's (after mapping) will exist for the restore."""
        return role in self.facts.roles or role in self.create or role.upper() == "PUBLIC"

    def needed(self) -> set[str]:
        """The roles the restore needs: all it refers to, less the owners when objects are
        not owned (--no-owner), and the members of the roles it needs."""
        dropped = {USE_OWNER, USE_DATABASE_OWNER, USE_MEMBER} if self.options.no_owner else {
            USE_MEMBER}
        direct = set()
        for role in self.objects.roles:
            uses = set(role.uses) - dropped
            if self.options.no_owner and role.name == self.objects.database.owner:
                uses.discard(USE_DATABASE_ACL)  # its grants go to the new owner
            if uses:
                direct.add(role.name)
        wanted = set(direct)
        changed = True
        while changed:
            changed = False
            for m in self.objects.memberships:
                if m.role in wanted and m.member not in wanted:
                    wanted.add(m.member)
                    changed = True
        self.notes += [f"role {r.name} is not needed with --no-owner"
                       for r in self.objects.roles if r.name not in wanted]
        return wanted

    def roles(self) -> None:
        facts = self.facts
        mapping = self.options.mapping
        self.wanted = self.needed()
        for role in (r for r in self.objects.roles if r.name in self.wanted):
            if role.name in mapping:
                if role.name not in facts.roles:
                    self.create[role.name] = RoleToCreate(role.name, RoleAttributes(),
                                                          "none", temporary=True)
                continue
            existing = facts.roles.get(role.name)
            if existing is not None:
                diffs = role.attributes.differences(existing.attributes)
                if sorted(role.settings) != sorted(existing.settings):
                    diffs.append(f"settings: backup {list(role.settings)}, target "
                                 f"{list(existing.settings)}")
                self.present.append(RolePresent(role.name, tuple(diffs)))
                if diffs:
                    self.loss(LOSS_ROLE_DIFFERS, role.name,
                              f"role {role.name} exists on the target with other attributes "
                              f"({'; '.join(diffs)}) and is left as it is")
                continue
            self.create[role.name] = self.creatable(role)

    def creatable(self, role: Role) -> RoleToCreate:
        facts = self.facts
        attributes = role.attributes
        if not (facts.superuser or facts.createrole):
            self.blockers.append(
                f"role {role.name} is missing and the restoring role {facts.current_user} may "
                "not create roles (no CREATEROLE): create it first, or use --role-map or "
                "--no-owner")
        elif not facts.superuser:
            dropped = [a for a in SUPERUSER_ONLY if getattr(attributes, a)]
            if dropped:
                attributes = replace(attributes, superuser=False, replication=False,
                                     bypassrls=False)
                self.loss(LOSS_ATTRIBUTE_DROPPED, role.name,
                          f"role {role.name} will be created without "
                          f"{', '.join(a.upper() for a in dropped)} (only a superuser may "
                          f"grant it; {facts.current_user} is not one)")
        if role.password.state == PasswordState.CAPTURED and not facts.superuser:
            self.notes.append(f"the restoring role {facts.current_user} is not a superuser, so "
                              "it cannot keep CREATE ROLE ... PASSWORD out of the server's log "
                              "(log_statement): the password verifiers may appear there")
        if role.password.state == PasswordState.NOT_CAPTURED and attributes.login:
            self.loss(LOSS_NO_VERIFIER, role.name,
                      f"role {role.name} will be created without a password "
                      f"({role.password.reason})")
        settings = []
        for entry in role.settings:
            if _known_setting(entry, facts):
                settings.append(entry)
            else:
                self.loss(LOSS_SETTING, role.name, f"setting {setting_name(entry)} of role "
                          f"{role.name} is unknown to the target and is not applied")
        return RoleToCreate(role.name, attributes, role.password.describe(), tuple(settings))

    def check_map(self) -> None:
        facts = self.facts
        known = {r.name for r in self.objects.roles}
        targets = set(self.options.mapping.values())
        for old, new in self.options.role_map:
            if old not in known:
                self.blockers.append(f"--role-map {old}={new}: the backup refers to no role "
                                     f"{old}")
            if old in facts.roles:
                self.blockers.append(
                    f"--role-map {old}={new}: a role {old} exists on the target; objects of "
                    f"{old} would be restored to it: leave {old} out of --role-map")
            if new not in facts.roles:
                self.blockers.append(f"--role-map {old}={new}: no role {new} on the target")
            if old in targets or old == new:
                self.blockers.append(f"--role-map {old}={new}: a role is both mapped and a "
                                     "target of the mapping")
        if (self.options.role_map or self.options.owner) and not facts.superuser:
            self.blockers.append(f"--role-map and --owner need a superuser to restore; "
                                 f"{facts.current_user} is not one")

    def memberships(self) -> list[Membership]:
        out = []
        for m in self.objects.memberships:
            if m.member not in self.wanted:
                continue
            role, member = self.name(m.role), self.name(m.member)
            if not self.available(role):
                self.loss(LOSS_MEMBERSHIP, member, f"{member} cannot be made a member of "
                          f"{role}: no role {role} on the target")
            elif (role, member) in self.facts.memberships:
                continue
            elif self._new(role) or self._new(member):
                out.append(Membership(role, member, m.admin_option))
            else:
                self.loss(LOSS_MEMBERSHIP, member,
                          f"{member} is not a member of {role} on the target and is left so "
                          "(existing roles are not altered)")
        return out

    def _new(self, role: str) -> bool:
        made = self.create.get(role)
        return made is not None and not made.temporary

    def database(self, target_db: str) -> DatabaseProperties:
        facts, db = self.facts, self.objects.database
        if self.options.owner:
            owner = self.options.owner
            if not self.available(owner):
                self.blockers.append(f"--owner {owner}: no role {owner} on the target")
        elif self.options.no_owner:
            owner = facts.current_user
        else:
            owner = self.name(db.owner)
        collate, ctype = db.collate, db.ctype
        for what, locale in (("collation", db.collate), ("character classification", db.ctype)):
            if normal_locale(locale) not in facts.locales:
                self.loss(LOSS_LOCALE, target_db,
                          f"the database's {what} locale {locale} is not available on the "
                          f"target: {LOCALE_FALLBACK} is used instead")
        if normal_locale(collate) not in facts.locales:
            collate = LOCALE_FALLBACK
        if normal_locale(ctype) not in facts.locales:
            ctype = LOCALE_FALLBACK
        provider, icu_locale, icu_rules = db.locale_provider, db.icu_locale, db.icu_rules
        if provider == "icu" and not facts.icu:
            self.loss(LOSS_LOCALE, target_db, f"the database's ICU locale {icu_locale} needs "
                      "ICU, which the target lacks: the libc locales are used instead")
            provider, icu_locale, icu_rules = "libc", None, None
        settings = []
        for entry in db.settings:
            if _known_setting(entry, facts):
                settings.append(entry)
            else:
                self.loss(LOSS_SETTING, target_db, f"database setting {setting_name(entry)} "
                          "is unknown to the target and is not applied")
        role_settings = []
        for rs in db.role_settings:
            role = self.name(rs.role)
            if not self.available(role):
                self.loss(LOSS_SETTING, role, f"the settings of role {role} in the database "
                          f"are not applied: no role {role} on the target")
                continue
            known = tuple(e for e in rs.settings if _known_setting(e, facts))
            for entry in sorted(set(rs.settings) - set(known)):
                self.loss(LOSS_SETTING, role, f"setting {setting_name(entry)} of role {role} "
                          "in the database is unknown to the target and is not applied")
            if known:
                role_settings.append(RoleSettings(role, known))
        grants = None
        if db.grants is not None:
            kept = []
            for g in db.grants:
                grantee = owner if g.grantee == db.owner else self.name(g.grantee)
                if self.available(grantee):
                    kept.append(replace(g, grantee=grantee))
                else:
                    self.loss(LOSS_GRANT, grantee, f"{g.privilege} on the database is not "
                              f"granted to {grantee}: no role {grantee} on the target")
            grants = tuple(kept)
        return replace(db, name=target_db, owner=owner, collate=collate, ctype=ctype,
                       locale_provider=provider, icu_locale=icu_locale, icu_rules=icu_rules,
                       settings=tuple(settings), role_settings=tuple(role_settings),
                       grants=grants)

    def extensions(self) -> list[ExtensionCheck]:
        out = []
        for ext in self.objects.extensions:
            versions = self.facts.extensions.get(ext.name)
            if versions is None:
                out.append(ExtensionCheck(ext.name, ext.version, ext.schema, "missing"))
                self.blockers.append(
                    f"extension {ext.name} {ext.version} is not available on the target "
                    "(pg_available_extensions), and pg_restore cannot create what needs it: "
                    "install its package on the target (contrib modules: postgresql-contrib) "
                    "and plan again")
            elif ext.version in versions:
                out.append(ExtensionCheck(ext.name, ext.version, ext.schema, "available"))
            else:
                out.append(ExtensionCheck(ext.name, ext.version, ext.schema, "other version"))
                self.notes.append(f"extension {ext.name}: the target has no version "
                                  f"{ext.version}; it is created at its default version "
                                  f"({', '.join(sorted(versions))} available)")
        return out

    def ownership(self) -> None:
        """A restoring role that is not a superuser can only give objects to roles it is a
        member of."""
        facts = self.facts
        if facts.superuser or self.options.no_owner:
            return
        for role in self.objects.roles:
            name = self.name(role.name)
            if USE_OWNER in role.uses and name not in facts.member_of:
                self.blockers.append(
                    f"the restoring role {facts.current_user} is not a superuser and may not "
                    f"give objects to {name}: restore as a superuser, or with --no-owner")


def plan_restore(objects: ServerObjects | None, facts: TargetFacts, *, backup_id: str,
                 source_version: str, target_server: str, target_db: str,
                 options: RestoreOptions = RestoreOptions(), replace_existing: bool = False
                 ) -> RestorePlan:
    """The plan of restoring a backup whose server objects are `objects` (None: a
    version-1 backup) onto the server `facts` describe."""
    blockers: list[str] = []
    exists = target_db in facts.databases
    if exists and not replace_existing:
        blockers.append(f"database {target_db} already exists on the target: choose a new name "
                        "(or restore in place with --replace)")
    if replace_existing and not exists:
        blockers.append(f"database {target_db} does not exist: an in-place restore needs it")
    base = RestorePlan(backup_id=backup_id, target_server=target_server, target_db=target_db,
                       source_version=source_version, target_version=facts.server_version,
                       captured=objects is not None, role_map=options.role_map,
                       no_owner=options.no_owner, owner=options.owner)
    if objects is None:
        return _plan_without_objects(base, facts, options, blockers)
    planner = _Planner(objects, facts, options, blockers=blockers)
    compatible = facts.server_major >= objects.server_major
    if not compatible:
        planner.blockers.append(
            f"the target runs PostgreSQL {facts.server_major}, older than the backup's "
            f"{objects.server_major}: pg_restore cannot load a dump into an older major "
            f"version; restore onto PostgreSQL {objects.server_major} or newer")
    planner.check_map()
    extensions = planner.extensions()
    planner.roles()
    memberships = planner.memberships()
    database = planner.database(target_db)
    planner.ownership()
    return replace(
        base, compatible=compatible, extensions=tuple(extensions),
        roles_to_create=tuple(planner.create.values()), roles_present=tuple(planner.present),
        memberships=tuple(memberships), database=database, blockers=tuple(planner.blockers),
        losses=tuple(planner.losses), notes=tuple(dict.fromkeys(planner.notes)))


def _plan_without_objects(base: RestorePlan, facts: TargetFacts, options: RestoreOptions,
                          blockers: list[str]) -> RestorePlan:
    """A version-1 backup restores exactly as before: the database with the target's
    defaults, the roles as the target has them. Only what was asked is checked."""
    roles: list[RoleToCreate] = []
    for old, new in options.role_map:
        if new not in facts.roles:
            blockers.append(f"--role-map {old}={new}: no role {new} on the target")
        if old in facts.roles:
            blockers.append(f"--role-map {old}={new}: a role {old} exists on the target: "
                            f"leave {old} out of --role-map")
        else:
            roles.append(RoleToCreate(old, RoleAttributes(), "none", temporary=True))
    if options.owner and options.owner not in facts.roles:
        blockers.append(f"--owner {options.owner}: no role {options.owner} on the target")
    if (options.role_map or options.owner) and not facts.superuser:
        blockers.append(f"--role-map and --owner need a superuser to restore; "
                        f"{facts.current_user} is not one")
    return replace(base, roles_to_create=tuple(roles), blockers=tuple(blockers), notes=(
        "server objects not captured: version-1 backup; roles, database properties and "
        "extensions are not checked, and the database gets the target's defaults",))
