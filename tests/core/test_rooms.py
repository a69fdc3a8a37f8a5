"""The engine's rooms keep their floors: no core module imports from a floor above its
own, and core imports no Dagster, GraphQL or CLI code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "dr_assets" / "core"
FLOORS = {
    "errors": 0, "names": 0, "statuses": 0,
    "policy": 1, "runs": 1, "format": 1, "pg": 1, "stores": 1, "access": 1, "scheduling": 1,
    "forecasting": 1, "charts": 1,
    "catalog": 2,
    "copies": 3,
    "backup": 4, "restore": 4, "drills": 4, "retention": 4, "health": 4, "compliance": 4,
    "validation": 4, "wal": 4, "anomalies": 4, "delivery": 4,
    "runtime": 5,
}
SHELLS = ("dagster", "strawberry", "starlette", "graphql_api", "dr_assets.defs", "dr_assets.cli",
          "dr_assets.devstack")


def room_of(module: str) -> str:
    return module.removeprefix("dr_assets.core.").split(".")[0]


def core_modules() -> list[Path]:
    return sorted(p for p in CORE.rglob("*.py") if p.name != "__init__.py" or p.parent != CORE)


def imports_of(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def test_every_room_is_on_a_floor() -> None:
    rooms = {p.stem if p.parent == CORE else p.relative_to(CORE).parts[0] for p in core_modules()}
    unplaced = rooms - set(FLOORS)
    assert not unplaced, f"{unplaced}: a new room needs a floor in this test and in core/__init__.py"


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(CORE)))
def test_no_module_reaches_up_a_floor(path: Path) -> None:
    own = FLOORS[path.stem if path.parent == CORE else path.relative_to(CORE).parts[0]]
    for module in imports_of(path):
        assert not module.startswith(SHELLS), f"{path.name} imports the shell module {module}"
        if module.startswith("dr_assets.core."):
            floor = FLOORS[room_of(module)]
            assert floor <= own, f"{path.relative_to(CORE)} (floor {own}) imports {module} (floor {floor})"


def test_room_packages_say_what_they_hold() -> None:
    for init in CORE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"{init.parent.name}/__init__.py has no docstring"
