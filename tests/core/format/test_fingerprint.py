"""The schema fingerprint's pure half, no server: comparison names what is missing, extra
or changed, a scope limits it to what a granular restore brought, and the manifest carries
the fingerprint and the checks' answers while version-1 manifests, without them, still load."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from dr_assets.core.errors import IntegrityError
from dr_assets.core.format.fingerprint import (
    FingerprintScope,
    SchemaFingerprint,
    comparable,
    compare,
    split_identity,
)
from dr_assets.core.format.manifest import BackupManifest, RecordedAnswer

V1_STORE = Path(__file__).resolve().parents[2] / "fixtures" / "format_v1" / "store"

ODD_TABLE = '"Odd ""Names"" ✓"."Mixed Case ""Table"" ñ"'
SOURCE = {
    "schema shop": "schema",
    "table shop.orders": "r p (id, note)",
    "column shop.orders.id": "bigint not null",
    "column shop.orders.note": "text",
    "index shop.orders.orders_note_idx": "CREATE INDEX orders_note_idx ON shop.orders (note)",
    "view shop.recent": "v p as SELECT id FROM shop.orders",
    "function shop.total(qty integer, unit numeric)": "CREATE FUNCTION ...",
    "table ledger.entries": "p p (id)",
    "column ledger.entries.id": "bigint",
    f"table {ODD_TABLE}": "r p (\"select\")",
    f"column {ODD_TABLE}.\"select\"": "integer",
    "extension plpgsql": "extension in pg_catalog",
}


def fingerprint(definitions: dict[str, str], major: int = 15) -> SchemaFingerprint:
    return SchemaFingerprint.of(definitions, major)


def test_identical_definitions_give_one_fingerprint_whatever_their_order() -> None:
    backwards = dict(reversed(list(SOURCE.items())))
    assert fingerprint(SOURCE) == fingerprint(backwards)
    assert compare(fingerprint(SOURCE), fingerprint(backwards)).same


def test_comparison_names_what_is_missing_extra_and_changed() -> None:
    restored = {k: v for k, v in SOURCE.items() if k != "index shop.orders.orders_note_idx"}
    restored["column shop.orders.injected"] = "integer"
    restored["view shop.recent"] = "v p as SELECT id, note FROM shop.orders"
    diff = compare(fingerprint(SOURCE), fingerprint(restored))
    assert diff.missing == ["index shop.orders.orders_note_idx"]
    assert diff.extra == ["column shop.orders.injected"]
    assert diff.changed == ["view shop.recent"]
    assert diff.describe() == ("index shop.orders.orders_note_idx: missing; "
                               "column shop.orders.injected: extra; view shop.recent: changed")


def test_description_names_at_most_a_few_and_counts_the_rest() -> None:
    many = {f"table shop.t{i:02}": "r p ()" for i in range(25)}
    text = compare(fingerprint({}), fingerprint(many)).describe(limit=10)
    assert text.count(": extra") == 10 and text.endswith("; and 15 more")


def test_a_scope_compares_only_the_objects_a_granular_restore_brought() -> None:
    only_orders = {k: v for k, v in SOURCE.items()
                   if k.startswith(("table shop.orders", "column shop.orders", "index shop.orders"))}
    scope = FingerprintScope.of(tables=["shop.orders"])
    assert compare(fingerprint(SOURCE), fingerprint(only_orders), scope).same
    # Inside the scope a difference is still named; outside it nothing counts.
    broken = {**only_orders, "column shop.orders.note": "varchar(10)"}
    assert compare(fingerprint(SOURCE), fingerprint(broken), scope).changed == [
        "column shop.orders.note"]
    whole_schema = FingerprintScope.of(schemas=["ledger"])
    ledger = {k: v for k, v in SOURCE.items() if "ledger" in k}
    assert compare(fingerprint(SOURCE), fingerprint(ledger), whole_schema).same
    odd = FingerprintScope.of(tables=['Odd "Names" ✓.Mixed Case "Table" ñ'])
    assert compare(fingerprint(SOURCE), fingerprint({}), odd).missing == [
        f"column {ODD_TABLE}.\"select\"", f"table {ODD_TABLE}"]


@pytest.mark.parametrize(("identity", "kind", "parts"), [
    ("schema shop", "schema", ["shop"]),
    ("column shop.orders.note", "column", ["shop", "orders", "note"]),
    (f"column {ODD_TABLE}.\"a.b\"", "column", ['Odd "Names" ✓', 'Mixed Case "Table" ñ', "a.b"]),
    ("function shop.total(qty integer, unit shop.money)", "function", ["shop", "total"]),
    ("index public.\"日本語の表\".\"日本語の表_pkey\"", "index", ["public", "日本語の表", "日本語の表_pkey"]),
])
def test_identities_split_into_kind_and_unquoted_name_parts(identity: str, kind: str,
                                                            parts: list[str]) -> None:
    assert split_identity(identity) == (kind, parts)


def test_fingerprints_of_other_major_versions_or_schemes_are_not_compared() -> None:
    ours = fingerprint(SOURCE)
    assert comparable(ours, fingerprint(SOURCE)) is None
    assert "PostgreSQL 15, the restore runs on 16" in str(comparable(ours, fingerprint(SOURCE, 16)))
    assert "scheme 0" in str(comparable(replace(ours, scheme=0), ours))


def _v1_manifest() -> BackupManifest:
    [path] = V1_STORE.rglob("*.manifest.json")
    return BackupManifest.from_json(path.read_bytes())


def test_version_1_manifests_load_without_fingerprint_or_answers_and_stay_without() -> None:
    v1 = _v1_manifest()
    assert v1.schema_fingerprint is None and v1.validation_answers is None
    body = v1.to_dict()
    assert "schema_fingerprint" not in body and "validation_answers" not in body


def test_manifest_carries_the_fingerprint_and_answers_and_refuses_an_altered_map() -> None:
    m = replace(_v1_manifest(), schema_fingerprint=fingerprint(SOURCE), validation_answers={
        "orders_recent": RecordedAnswer(sql="select max(id) from orders", answer="42"),
        "broken": RecordedAnswer(sql="select nope", error='column "nope" does not exist'),
    })
    again = BackupManifest.from_json(m.to_json())
    assert again == m
    body = json.loads(m.to_json())
    body["schema_fingerprint"]["objects"]["column shop.orders.note"] = "0" * 16
    with pytest.raises(IntegrityError, match="do not add up to its digest"):
        BackupManifest.from_json(json.dumps(body))
    del body["schema_fingerprint"]["digest"]
    with pytest.raises(IntegrityError, match="schema_fingerprint is malformed"):
        BackupManifest.from_json(json.dumps(body))
