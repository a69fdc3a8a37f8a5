"""docker-compose.yml cannot run here (no Docker engine): keep it consistent by test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def _env_vars_of(node: Any) -> set[str]:
    """Every `env: NAME` reference in a dagster.yaml tree."""
    found: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "env" and isinstance(v, str):
                found.add(v)
            else:
                found |= _env_vars_of(v)
    elif isinstance(node, list):
        for v in node:
            found |= _env_vars_of(v)
    return found


def test_services_and_health_checks() -> None:
    services = _compose()["services"]
    assert {"postgres", "minio", "dagster-webserver", "dagster-daemon", "api"} <= set(services)
    for name in ("postgres", "minio", "dagster-webserver", "dagster-daemon", "api"):
        assert "healthcheck" in services[name], name


def test_dagster_services_get_every_variable_dagster_yaml_reads() -> None:
    wanted = _env_vars_of(yaml.safe_load((REPO / "dagster_home" / "dagster.yaml").read_text()))
    assert {"DAGSTER_PG_USER", "DAGSTER_PG_HOST", "DAGSTER_PG_DB"} <= wanted
    services = _compose()["services"]
    for name in ("dagster-webserver", "dagster-daemon", "api"):
        env = services[name]["environment"]
        assert wanted <= set(env), (name, wanted - set(env))
        assert env["DAGSTER_PG_HOST"] in services  # points at a compose service
        assert env["DAGSTER_PG_DB"] == services["postgres"]["environment"]["POSTGRES_DB"]
        assert env["DAGSTER_PG_USER"] == services["postgres"]["environment"]["POSTGRES_USER"]
        assert "minio:9000" in env["DR_S3_ENDPOINT"]
        assert env["DAGSTER_URL"].endswith(":3000")


def test_ports_match_the_commands() -> None:
    services = _compose()["services"]
    assert "127.0.0.1:3000:3000" in services["dagster-webserver"]["ports"]
    assert "3000" in services["dagster-webserver"]["command"]
    assert "127.0.0.1:8080:8080" in services["api"]["ports"]
    assert "8080" in services["api"]["command"]


def test_no_secret_is_hard_coded() -> None:
    compose = _compose()
    for name, svc in compose["services"].items():
        env = svc.get("environment", {})
        items = env.items() if isinstance(env, dict) else (e.split("=", 1) for e in env)
        for key, value in items:
            if re.search(r"PASSWORD|SECRET|ROOT_USER|_KEY_ID", key):
                assert str(value).startswith("${"), (name, key)
            if "postgresql://" in str(value):
                assert "${POSTGRES_PASSWORD" in str(value) or "@" not in str(value), (name, key)
    assert compose["secrets"]["dr_master_key"]["file"] == "./secrets/master.key"
    assert "secrets/" in (REPO / ".gitignore").read_text()


def test_volumes_are_declared_and_the_image_has_the_instance_config() -> None:
    compose = _compose()
    used = {v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])}
    assert used <= set(compose["volumes"]), used - set(compose["volumes"])
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "dagster_home/dagster.yaml /opt/dagster/dagster_home/dagster.yaml" in dockerfile
    assert "DAGSTER_HOME=/opt/dagster/dagster_home" in dockerfile
    assert "postgresql-client-15" in dockerfile
