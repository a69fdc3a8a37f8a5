"""The operator docs stay true to the code.

- Every `drctl ...` line in a ```sh block of docs/runbooks.md and README.md parses with the
  real parser (`build_parser().parse_args`), its subcommand's `--help` works in the
  installed `drctl`, and it passes the checks drctl itself makes before doing anything
  (`--replace` needs `--yes`, a known app, a well-formed backup id or `--as-of` time).
- Every `dagster job launch` line names a job of the code location with valid run config.
- Every GraphQL operation in a ```graphql block validates against the API's schema and
  stays within its depth limit.
- The YAML under deploy/ parses, carries the same run queue limits as the local
  instance, and the dr.toml it ships loads with the project's config loader.

Nothing here needs PostgreSQL, S3 or Dagster running.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import graphql
import pytest
import yaml
from graphql.language import DocumentNode, FragmentDefinitionNode, OperationDefinitionNode

from dr_assets.cli import build_parser
from dr_assets.core.format.manifest import parse_time
from dr_assets.core.names import check_backup_id, check_database_name
from dr_assets.core.policy import load_config
from dr_assets.core.restore.selection import Selection
from dr_assets.core.runs import TAG_BACKUP_SLOT
from dr_assets.core.wal.restore_requests import requested_target

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = REPO / "docs" / "runbooks.md"
OPERATIONS = REPO / "docs" / "operations.md"
DOC_FILES = [RUNBOOKS, REPO / "README.md"]
DEPLOY = REPO / "deploy"
DAGSTER_K8S = DEPLOY / "dagster.k8s.yaml"
HELM_VALUES = DEPLOY / "helm" / "values.yaml"
DR_CONFIG_MANIFEST = DEPLOY / "k8s" / "dr-config.yaml"

FENCE = re.compile(r"^[ \t]*```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^[ \t]*```[ \t]*$", re.M | re.S)
SHELL_LANGS = {"sh", "bash", "shell", "console"}
SAMPLE_ID = "scholarship_api-20261126T060000Z-3f9a"
# Placeholder words a doc may use in place of a real value, and what stands in for them.
PLACEHOLDERS = {
    "BACKUP_ID": SAMPLE_ID,
    "ID": SAMPLE_ID,
    "APP": "scholarship_api",
    "NAME": "scholarship_api_check",
    "NEW_PATH": "/tmp/new-master.key",
    "PATH": "/tmp/master.key",
    "URL": "postgresql://postgres@127.0.0.1:5432/postgres",
    "RUN_ID": "00000000-0000-0000-0000-000000000000",
}
ANGLE = re.compile(r"<[^<>\s]+>")


def _blocks(path: Path, langs: set[str]) -> list[str]:
    if not path.exists():
        return []
    return [m.group("body") for m in FENCE.finditer(path.read_text()) if m.group("lang") in langs]


def _shell_lines(path: Path) -> list[str]:
    lines = []
    for body in _blocks(path, SHELL_LANGS):
        for raw in body.splitlines():
            line = raw.strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def _substitute(token: str) -> str:
    if token in PLACEHOLDERS:
        return PLACEHOLDERS[token]
    return ANGLE.sub("placeholder", token)


def _drctl_commands() -> list[tuple[str, list[str]]]:
    """(doc and line, argv after `drctl`), placeholders replaced."""
    found = []
    for path in DOC_FILES:
        for line in _shell_lines(path):
            if line.startswith("drctl "):
                argv = [_substitute(t) for t in shlex.split(line, comments=True)[1:]]
                found.append((f"{path.name}: {line}", argv))
    return found


COMMANDS = _drctl_commands()


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[Any] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _command_path(argv: list[str]) -> tuple[str, ...]:
    """The subcommand words of argv (`restore`, `catalog sync`), skipping options."""
    parser = build_parser()
    path: list[str] = []
    i = 0
    while i < len(argv):
        sub = _subparsers(parser)
        if sub is None:
            break
        token = argv[i]
        if token.startswith("-"):
            action = parser._option_string_actions.get(token.split("=", 1)[0])
            takes_value = action is not None and action.nargs != 0 and "=" not in token
            i += 2 if takes_value else 1
            continue
        assert token in sub.choices, f"drctl {' '.join(path)}: no subcommand {token!r}"
        parser = sub.choices[token]
        path.append(token)
        i += 1
    return tuple(path)


def _drctl_binary() -> str:
    for candidate in (REPO / ".venv" / "bin" / "drctl", Path(sys.executable).with_name("drctl")):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("drctl")
    assert found, "drctl is not installed: run make install"
    return found


def _repo_config() -> Any:
    return load_config(REPO / "dr.toml")


# --- drctl ------------------------------------------------------------------------


def test_the_docs_have_drctl_commands() -> None:
    assert len([c for c, _ in COMMANDS if c.startswith("runbooks.md")]) >= 30


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_drctl_command_parses(where: str, argv: list[str]) -> None:
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args = build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{where}: drctl refuses the arguments: {stderr.getvalue().strip()}")
    _check_like_drctl(where, args)


def _check_like_drctl(where: str, args: argparse.Namespace) -> None:
    """The refusals drctl makes before touching anything, applied to the doc's command."""
    apps = set(_repo_config().apps)
    if getattr(args, "target_db", None):
        check_database_name(args.target_db)
    if args.command == "restore":
        if requested_target(args.to_time, args.to_lsn, args.to_latest) is not None:
            assert args.backup_id in apps, f"{where}: --to-time takes an app, not {args.backup_id!r}"
            assert args.target_db, f"{where}: recovery to a moment needs --target-db"
        elif args.as_of:
            parse_time(args.as_of)
            assert args.backup_id in apps, f"{where}: --as-of takes an app, not {args.backup_id!r}"
        else:
            check_backup_id(args.backup_id)
            assert args.backup_id.rsplit("-", 2)[0] in apps, f"{where}: unknown app in the id"
        if Selection.of(args.table, args.schema) is not None:
            assert not args.replace, f"{where}: a selection goes into a new database only"
        if args.replace:
            assert args.yes, f"{where}: --replace without --yes is refused"
        else:
            assert args.target_db, f"{where}: a restore needs --target-db or --replace --yes"
            assert not args.force_disconnect, f"{where}: --force-disconnect only acts with --replace"
    elif args.command in ("verify", "contents"):
        check_backup_id(args.backup_id)
    elif args.command == "rollback":
        assert args.yes, f"{where}: rollback without --yes is refused"
    elif args.command == "backup" and args.app == "release":
        check_backup_id(args.backup_id)
        assert args.reason and args.reason.strip(), f"{where}: a release needs --reason"
        return
    if args.command in ("backup", "drill", "rollback") or (
            args.command in ("backups", "retention") and args.app):
        assert args.app in apps, f"{where}: unknown app {args.app!r}"


PATHS = sorted({_command_path(argv) for _, argv in COMMANDS})


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) for p in PATHS])
def test_drctl_subcommand_help(path: tuple[str, ...]) -> None:
    proc = subprocess.run([_drctl_binary(), *path, "--help"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: drctl {' '.join(path)}"), proc.stdout[:200]


def test_runbooks_cover_the_operations() -> None:
    used = {" ".join(_command_path(argv)) for where, argv in COMMANDS
            if where.startswith("runbooks.md")}
    wanted = {"status", "backups", "backup", "verify", "restore", "rollback", "catalog sync",
              "retention", "drill", "audit verify", "key rotate", "alerts", "token", "apps"}
    assert wanted <= used, wanted - used
    restores = [argv for where, argv in COMMANDS
                if where.startswith("runbooks.md") and argv[:1] == ["restore"]]
    for flags in (["--from-storage", "--target-db"], ["--from-storage", "--replace", "--yes"],
                  ["--from-storage", "--as-of"]):
        assert any(all(f in argv for f in flags) for argv in restores), flags
    assert any(argv[:1] == ["backups"] and "--from-storage" in argv for _, argv in COMMANDS)
    assert any(argv[:1] == ["verify"] and "--from-storage" in argv for _, argv in COMMANDS)


def test_runbook_shell_blocks_hold_one_known_command_per_line() -> None:
    for line in _shell_lines(RUNBOOKS):
        assert line.split()[0] in ("drctl", "make", "dagster"), line
        assert not line.endswith("\\"), f"one command per line: {line}"
        assert not re.search(r"\s(&&|\|\||;|\|)\s", line), f"one command per line: {line}"


# --- Dagster CLI lines --------------------------------------------------------------


def _dagster_lines() -> list[list[str]]:
    return [shlex.split(line) for path in DOC_FILES for line in _shell_lines(path)
            if line.startswith("dagster ")]


def test_dagster_lines_name_real_jobs_schedules_and_config(monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg

    # dr_assets.definitions builds its Definitions at import, from $DR_CONFIG.
    monkeypatch.setenv("DR_CONFIG", str(REPO / "dr.toml"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        definitions = importlib.import_module("dr_assets.definitions")
        defs = definitions.build_definitions(str(REPO / "dr.toml"))
        schedules = {s.name for s in defs.schedules or []}
        sensors = {s.name for s in defs.sensors or []}
        keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
        lines = _dagster_lines()
        assert lines
        for argv in lines:
            if argv[1:3] == ["job", "launch"]:
                job = defs.resolve_job_def(argv[argv.index("-j") + 1])
                config = (json.loads(argv[argv.index("--config-json") + 1])
                          if "--config-json" in argv else {})
                dg.validate_run_config(job, config)
            elif argv[1:3] == ["schedule", "start"]:
                assert argv[3] in schedules, argv
            elif argv[1:3] == ["sensor", "start"]:
                assert argv[3] in sensors, argv
            elif argv[1:3] == ["asset", "materialize"]:
                assert argv[argv.index("--select") + 1] in keys, argv


# --- GraphQL ------------------------------------------------------------------------


def _fragment_spreads(node: Any) -> list[str]:
    names: list[str] = []

    class Spreads(graphql.Visitor):
        def enter_fragment_spread(self, spread: Any, *_: Any) -> None:
            names.append(spread.name.value)

    graphql.visit(node, Spreads())
    return names


def _operations() -> list[tuple[str, DocumentNode]]:
    """Each operation of each ```graphql block, with the fragments it uses."""
    out: list[tuple[str, DocumentNode]] = []
    for path in DOC_FILES:
        for n, body in enumerate(_blocks(path, {"graphql"}), start=1):
            doc = graphql.parse(body)
            fragments = {d.name.value: d for d in doc.definitions
                         if isinstance(d, FragmentDefinitionNode)}
            for op in doc.definitions:
                if not isinstance(op, OperationDefinitionNode):
                    continue
                needed: dict[str, FragmentDefinitionNode] = {}
                pending: list[Any] = [op]
                while pending:
                    for name in _fragment_spreads(pending.pop()):
                        if name in fragments and name not in needed:
                            needed[name] = fragments[name]
                            pending.append(fragments[name])
                label = op.name.value if op.name else f"{op.operation.value} #{len(out) + 1}"
                out.append((f"{path.name} block {n}: {label}",
                            DocumentNode(definitions=(op, *needed.values()))))
    return out


OPERATIONS_FOUND = _operations()


def _depth(selection_set: Any, fragments: dict[str, FragmentDefinitionNode], level: int = 0) -> int:
    """Depth as the API's QueryDepthLimiter counts it: root fields are 0."""
    deepest = level - 1
    for sel in selection_set.selections if selection_set else ():
        if isinstance(sel, graphql.FieldNode):
            if sel.name.value.startswith("__"):
                continue
            inner = _depth(sel.selection_set, fragments, level + 1) if sel.selection_set else level
            deepest = max(deepest, inner)
        elif isinstance(sel, graphql.InlineFragmentNode):
            deepest = max(deepest, _depth(sel.selection_set, fragments, level))
        elif isinstance(sel, graphql.FragmentSpreadNode):
            deepest = max(deepest, _depth(fragments[sel.name.value].selection_set, fragments, level))
    return deepest


def test_the_docs_have_graphql_operations() -> None:
    assert len([w for w, _ in OPERATIONS_FOUND if w.startswith("runbooks.md")]) >= 15


@pytest.mark.parametrize(("where", "doc"), OPERATIONS_FOUND, ids=[w for w, _ in OPERATIONS_FOUND])
def test_graphql_operation_validates(where: str, doc: DocumentNode) -> None:
    from graphql_api.schema import MAX_DEPTH, schema

    errors = graphql.validate(schema._schema, doc)
    assert not errors, f"{where}: {[e.message for e in errors]}"
    op = doc.definitions[0]
    assert isinstance(op, OperationDefinitionNode)
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    assert _depth(op.selection_set, fragments) <= MAX_DEPTH, where


def test_runbooks_use_the_operations_they_name() -> None:
    roots: set[str] = set()
    for where, doc in OPERATIONS_FOUND:
        if where.startswith("runbooks.md"):
            op = doc.definitions[0]
            assert isinstance(op, OperationDefinitionNode)
            roots |= {s.name.value for s in op.selection_set.selections
                      if isinstance(s, graphql.FieldNode)}
    wanted = {"globalStatus", "executiveSummary", "backups", "alerts", "storageUtilization",
              "drills", "auditLog", "createBackup", "scheduleDrill", "restoreBackup",
              "applyRetention", "acknowledgeAlert", "run"}
    assert wanted <= roots, wanted - roots


# --- deploy/ --------------------------------------------------------------------------


def _yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


def test_deploy_has_the_expected_files() -> None:
    assert {DAGSTER_K8S, HELM_VALUES, DR_CONFIG_MANIFEST} <= set(_yaml_files())
    assert (DEPLOY / "README.md").exists()


@pytest.mark.parametrize("path", _yaml_files(), ids=[str(p.relative_to(REPO)) for p in _yaml_files()])
def test_deploy_yaml_parses(path: Path) -> None:
    docs = list(yaml.safe_load_all(path.read_text()))
    assert docs and all(isinstance(d, dict) for d in docs), path


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _backup_limit(limits: list[dict[str, Any]]) -> dict[str, Any]:
    matching = [lim for lim in limits if lim.get("key") == TAG_BACKUP_SLOT]
    assert len(matching) == 1, limits
    return matching[0]


def _env_refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        if set(node) == {"env"}:
            return {node["env"]}
        return set().union(*(_env_refs(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_env_refs(v) for v in node)) if node else set()
    return set()


def test_k8s_instance_config(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _load(DAGSTER_K8S)
    limit = _backup_limit(cfg["concurrency"]["runs"]["tag_concurrency_limits"])
    assert limit == {"key": "dr/backup", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    local = _load(REPO / "dagster_home" / "dagster.yaml")
    assert limit == _backup_limit(local["concurrency"]["runs"]["tag_concurrency_limits"])
    # The dump pools hold queued runs back (run granularity) in both instances.
    for instance in (cfg, local):
        concurrency = instance["concurrency"]
        assert concurrency["pools"] == {"default_limit": 2, "granularity": "run"}
        [dump] = [t for t in concurrency["runs"]["tag_concurrency_limits"]
                  if t["key"] == "dr/dump"]
        assert "value" not in dump  # every dr/dump run counts: the global limit
        assert dump["limit"] < concurrency["runs"]["max_concurrent_runs"]  # room for restores
    if "postgres_db" in cfg.get("storage", {}).get("postgres", {}):
        assert cfg["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert cfg["run_launcher"]["class"] == "K8sRunLauncher"
    assert cfg["telemetry"]["enabled"] is False

    # The instance schema Dagster itself applies (private API: structure, not class config).
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config_schema
    from dagster._core.run_coordinator import QueuedRunCoordinator

    for name in _env_refs(cfg):
        monkeypatch.setenv(name, "5432" if name.endswith("_PORT") else "x")
    result = process_config(dagster_instance_config_schema(), cfg)
    assert result.success, [e.message for e in result.errors or []]
    result = process_config(QueuedRunCoordinator.config_type(), cfg["run_coordinator"]["config"])
    assert result.success, [e.message for e in result.errors or []]
    # And the whole instance as Dagster reads it (the concurrency block's own checks).
    from dagster._core.instance.config import validate_concurrency_config
    validate_concurrency_config(cfg)


def _mounted(path: str, volume: str, mounts: list[dict[str, Any]]) -> bool:
    return any(m["name"] == volume and path.startswith(m["mountPath"].rstrip("/") + "/")
               for m in mounts)


def test_helm_values() -> None:
    values = _load(HELM_VALUES)
    assert values["postgresql"]["enabled"] is False
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]
    assert values["telemetry"]["enabled"] is False
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] is True and coordinator["type"] == "QueuedRunCoordinator"
    assert "tagConcurrencyLimits" not in coordinator["config"]["queuedRunCoordinator"]
    instance = _load(DAGSTER_K8S)["concurrency"]
    assert values["concurrency"]["runs"]["tagConcurrencyLimits"] == instance["runs"][
        "tag_concurrency_limits"]
    assert values["concurrency"]["runs"]["maxConcurrentRuns"] == instance["runs"][
        "max_concurrent_runs"]
    assert values["concurrency"]["pools"] == {"defaultLimit": instance["pools"]["default_limit"],
                                              "granularity": instance["pools"]["granularity"]}

    (code,) = values["dagster-user-deployments"]["deployments"]
    assert "dr_assets.definitions" in code["dagsterApiGrpcArgs"]
    assert code["image"]["repository"].endswith("pg-dr-control")
    assert code["image"]["tag"] not in ("", "latest")
    assert code["includeConfigInLaunchedRuns"]["enabled"] is True
    volumes = {v["name"]: v for v in code["volumes"]}
    assert {m["name"] for m in code["volumeMounts"]} == set(volumes)
    env = _configmap_data("dr-env")
    assert {"name": "dr-env"} in code["envConfigMaps"]
    assert volumes["dr-config"]["configMap"]["name"] == "dr-config"
    assert _mounted(env["DR_CONFIG"], "dr-config", code["volumeMounts"])
    assert "secret" in volumes["dr-master-key"]
    assert _mounted(env["DR_MASTER_KEY_FILE"], "dr-master-key", code["volumeMounts"])
    assert "persistentVolumeClaim" in volumes["dr-local-backups"]
    assert any(m["name"] == "dr-local-backups" and m["mountPath"] == env["DR_LOCAL_BACKUP_DIR"]
               for m in code["volumeMounts"])


def test_k8s_instance_mounts_match_the_helm_values() -> None:
    launcher = _load(DAGSTER_K8S)["run_launcher"]["config"]
    (code,) = _load(HELM_VALUES)["dagster-user-deployments"]["deployments"]
    assert launcher["volumes"] == code["volumes"]
    assert launcher["volume_mounts"] == code["volumeMounts"]
    assert [s["name"] for s in code["envSecrets"]] == launcher["env_secrets"]
    assert {"dr-env", "dagster-pg-env"} <= set(launcher["env_config_maps"])
    pg_env = _configmap_data("dagster-pg-env")
    wanted = _env_refs(_load(DAGSTER_K8S)["storage"]) - {"DAGSTER_PG_PASSWORD"}
    assert wanted <= set(pg_env), wanted - set(pg_env)


def _configmap_data(name: str) -> dict[str, str]:
    for doc in yaml.safe_load_all(DR_CONFIG_MANIFEST.read_text()):
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == name:
            return {k: str(v) for k, v in doc["data"].items()}
    raise AssertionError(f"no ConfigMap {name} in {DR_CONFIG_MANIFEST}")


def test_shipped_dr_toml_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _configmap_data("dr-config")["dr.toml"]
    for name, value in _configmap_data("dr-env").items():
        monkeypatch.setenv(name, value)
    for name in set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text)):
        if name.endswith("DATABASE_URL") or name == "DR_CATALOG_URL":
            monkeypatch.setenv(name, "postgresql://dr@db.internal:5432/example")
        elif name not in _configmap_data("dr-env"):
            monkeypatch.setenv(name, "from-a-secret")
    path = tmp_path / "dr.toml"
    path.write_text(text)
    config = load_config(path)
    assert set(config.apps) == set(_repo_config().apps)
    assert config.encryption.key_file == Path(_configmap_data("dr-env")["DR_MASTER_KEY_FILE"])
    assert {d.kind for d in config.destinations} == {"s3", "local"}


def test_docs_link_each_other() -> None:
    readme = (REPO / "README.md").read_text()
    for target in ("docs/runbooks.md", "docs/operations.md", "deploy/README.md"):
        assert target in readme, target
    assert OPERATIONS.exists()


def test_only_the_api_and_the_operators_reach_the_full_dagster_webserver() -> None:
    """Issue 15 item 1: the webserver that launches runs is behind a NetworkPolicy letting
    in the API's pods (by the labels deploy/k8s/api.yaml gives them) and one operators'
    network; the chart starts a --read-only webserver for everyone else."""
    policies = {d["metadata"]["name"]: d["spec"] for d in yaml.safe_load_all(
        (DEPLOY / "k8s" / "dagster-network-policy.yaml").read_text())}
    webserver = policies["dagster-webserver-launch-only-from-api-and-operators"]
    assert webserver["podSelector"]["matchLabels"] == {"component": "dagster-webserver"}
    assert webserver["policyTypes"] == ["Ingress"]
    [rule] = webserver["ingress"]
    [api] = [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "api.yaml").read_text())
             if d["kind"] == "Deployment"]
    api_labels = api["spec"]["template"]["metadata"]["labels"]
    sources = rule["from"]
    pods = [s["podSelector"]["matchLabels"] for s in sources if "podSelector" in s]
    assert pods and all(labels.items() <= api_labels.items() for labels in pods)
    assert [s for s in sources if "ipBlock" in s], "the operators' network"
    assert len(sources) == len(pods) + 1  # nothing else
    assert _load(HELM_VALUES)["dagsterWebserver"]["enableReadOnly"] is True
