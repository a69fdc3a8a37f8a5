"""Every validator of a name that reaches SQL, a shell argument, an object key or a log line
refuses a trailing or embedded newline, a NUL and lookalike characters (a Cyrillic letter
for a Latin one, fullwidth digits): names are ASCII and matched whole.

What each accepts, decided per validator:
- app, server, database, role, backup id, slot, validation check and destination names,
  and the entries of replace_allowed: ASCII letters, digits, `_` (destinations also `.`
  and `-`) only, so no control character and no lookalike passes;
- table and schema names given plainly: the same; double-quoted ones are exact PostgreSQL
  names, which may hold any letter (a table may really be called "Shop" with a Cyrillic o),
  but never a control character (a newline or a NUL is refused inside quotes too);
- [dagster] database is only compared, never used: any printable text (no control
  characters), so it can name whatever Dagster's database is called.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dr_assets.core.errors import DRError, InvalidName
from dr_assets.core.names import (
    check_app_name,
    check_backup_id,
    check_database_name,
    check_role_name,
    time_of_backup_id,
)
from dr_assets.core.policy import load_config
from dr_assets.core.restore.plan import RestoreOptions
from dr_assets.core.restore.selection import parse_schema_name, parse_table_name

CYRILLIC_A, CYRILLIC_O, FULLWIDTH_1 = "\u0430", "\u043e", "\uff11"


def hostile(name: str) -> list[str]:
    """Variants of a valid NAME that must all be refused."""
    out = [name + "\n", name[:2] + "\n" + name[2:], name + "\x00", name[:2] + "\x00" + name[2:],
           name + "\r", name + "\t", " " + name, name + FULLWIDTH_1, "\n" + name]
    for latin, lookalike in (("a", CYRILLIC_A), ("o", CYRILLIC_O)):
        if latin in name:
            out.append(name.replace(latin, lookalike, 1))
    for digit in "0123456789":
        if digit in name:
            out.append(name.replace(digit, chr(0xFF10 + int(digit)), 1))
    return out


VALIDATORS: dict[str, tuple[Callable[[str], object], str]] = {
    "app": (check_app_name, "shop_api"),
    "database": (check_database_name, "shop_copy"),
    "role": (check_role_name, "reader_role"),
    "backup id": (check_backup_id, "shop-20260101T000000Z-beef"),
    "table": (parse_table_name, "public.orders"),
    "schema": (parse_schema_name, "sales_data"),
    "--owner": (lambda n: RestoreOptions.parse(no_owner=True, owner=n), "app_owner"),
    "--role-map": (lambda n: RestoreOptions.parse(role_map=[f"{n}=reader"]), "old_role"),
}


@pytest.mark.parametrize("kind", VALIDATORS)
def test_validators_refuse_newlines_nuls_and_lookalikes(kind: str) -> None:
    validate, good = VALIDATORS[kind]
    validate(good)  # the valid name itself passes
    for bad in hostile(good):
        with pytest.raises(InvalidName):
            validate(bad)
            pytest.fail(f"{kind} accepted {bad!r}")


def test_backup_ids_have_ascii_digits_only() -> None:
    assert time_of_backup_id("shop-20260101T000000Z-beef").year == 2026
    fullwidth = "shop-\uff12\uff10\uff12\uff160101T000000Z-beef"  # 2026 in fullwidth digits
    with pytest.raises(InvalidName):
        check_backup_id(fullwidth)
    with pytest.raises(InvalidName):
        time_of_backup_id(fullwidth)


def test_quoted_identifiers_are_exact_but_never_hold_control_characters() -> None:
    assert parse_table_name(f'"Sh{CYRILLIC_O}p".orders') == (f"Sh{CYRILLIC_O}p", "orders")
    assert parse_schema_name(f'"S{CYRILLIC_A}les"') == f"S{CYRILLIC_A}les"
    for bad in ('"sh\nop".orders', '"shop\x00".orders', 'public."orders\n"', '"a\rb".t'):
        with pytest.raises(InvalidName):
            parse_table_name(bad)
    for bad in ('"sales\n"', '"sa\x00les"', '"\t"'):
        with pytest.raises(InvalidName):
            parse_schema_name(bad)


# dr.toml: each (old text, new text) of the estate's file, and the key its error must name.
POLICY_NAMES = {
    "app table": ("[apps.other]", "[apps.{}]", "other"),
    "server table": ("[servers.main]", "[servers.{}]", "main"),
    "slot": ('slot = "dr_main"', 'slot = "{}"', "dr_main"),
    "check name": ('name = "orders_recent"', 'name = "{}"', "orders_recent"),
    "destination": ('name = "local"', 'name = "{}"', "local"),
    "replace_allowed": ("[apps.shop]\n", '[apps.shop]\nreplace_allowed = ["{}"]\n', "shop_two"),
}


def _toml_string(text: str) -> str:
    """TEXT as it goes between double quotes (or as a quoted table key) in TOML."""
    return "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in text)


@pytest.mark.parametrize("kind", POLICY_NAMES)
def test_dr_toml_names_refuse_newlines_nuls_and_lookalikes(estate_config: Path,
                                                           kind: str) -> None:
    old, new, good = POLICY_NAMES[kind]
    text = estate_config.read_text()
    quoted = new.replace(".{}]", '."{}"]')  # a table's name as a quoted TOML key

    def with_name(name: str) -> str:
        return text.replace(old, quoted.format(_toml_string(name)), 1)

    estate_config.write_text(with_name(good))
    load_config(estate_config)  # the valid name loads
    for bad in hostile(good):
        estate_config.write_text(with_name(bad))
        with pytest.raises(DRError) as caught:
            load_config(estate_config)
            pytest.fail(f"{kind} accepted {bad!r}")
        assert "not valid TOML" not in str(caught.value)  # refused by the validator itself
        assert "is not" in str(caught.value), str(caught.value)


def test_dagster_database_refuses_control_characters(estate_config: Path) -> None:
    text = estate_config.read_text()
    for bad in ("dagster\n", "dag\x00ster", ""):
        estate_config.write_text(text + f'[dagster]\ndatabase = "{_toml_string(bad)}"\n')
        with pytest.raises(DRError, match="dagster.database"):
            load_config(estate_config)
    estate_config.write_text(text + f'[dagster]\ndatabase = "d{CYRILLIC_A}gster-prod"\n')
    assert load_config(estate_config).dagster_database == f"d{CYRILLIC_A}gster-prod"


def test_looking_an_app_up_refuses_hostile_names(estate_config: Path) -> None:
    config = load_config(estate_config)
    for bad in hostile("shop"):
        with pytest.raises(DRError):
            config.app(bad)
