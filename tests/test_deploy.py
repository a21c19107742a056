"""deploy/: the systemd units, the container image and the compose file are checked against the code they
run (Docker itself is not available to the tests): every command is a real `presswire` command, every
PRESSWIRE_* variable a real setting, the workers' connection pools fit PostgreSQL's max_connections.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import fields
from pathlib import Path

import click
import pytest
import yaml

from conftest import ROOT
from ingest.cli import cli
from ingest.settings import SECTIONS, load_settings
from store import db

DEPLOY = ROOT / "deploy"
UNITS = sorted(DEPLOY.glob("*.service"))
HARDENING = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/presswire",
             "PrivateTmp": "yes", "ProtectHome": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
             "SystemCallFilter": "@system-service", "Restart": "on-failure", "KillSignal": "SIGTERM"}


def _unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """{section: {key: [values]}}: systemd allows a key more than once (SystemCallFilter=...)."""
    unit: dict[str, dict[str, list[str]]] = {}
    section = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            unit.setdefault(section, {}).setdefault(key.strip(), []).append(value.strip())
    return unit


def _resolve(args: list[str]) -> click.Command:
    """The click command `presswire ARGS` would run, its options parsed (nothing is executed)."""
    command: click.Command = cli
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        name, args = args[0], args[1:]
        assert name in command.commands, f"`presswire` has no command {name!r} (in {sorted(command.commands)})"
        command = command.commands[name]
    with command.make_context("presswire", list(args), resilient_parsing=False):
        return command


def test_deploy_has_a_worker_and_a_serve_unit():
    assert {p.name for p in UNITS} >= {"presswire.service", "presswire-serve.service"}


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_runs_a_real_console_script_command(unit):
    [exec_start] = [shlex.split(v) for v in _unit(unit)["Service"]["ExecStart"]]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert Path(exec_start[0]).name in scripts and scripts[Path(exec_start[0]).name] == "ingest.__main__:main"
    _resolve(exec_start[1:])


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_is_sandboxed_restarts_on_failure_and_stops_cleanly(unit):
    parsed = _unit(unit)
    service = parsed["Service"]
    assert {k: service.get(k, [None])[0] for k in HARDENING} == HARDENING
    assert {"MemoryMax", "TimeoutStopSec", "EnvironmentFile"} <= set(service)
    assert {"StartLimitIntervalSec", "StartLimitBurst"} <= set(parsed["Unit"])


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_accepts_the_unit(unit, tmp_path):
    """systemd's own parser: unknown or misspelt directives and bad values are errors. ExecStart must
    exist, so the copy points at this environment's presswire."""
    here = Path(sys.executable).parent / "presswire"
    copy = tmp_path / unit.name
    copy.write_text(re.sub(r"^ExecStart=\S+", f"ExecStart={here}", unit.read_text(), flags=re.M))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(copy)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


# --- the container image and the compose file -------------------------------------------------------

def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _interpolate(value: str) -> str:
    """Compose's ${VAR:-default} with the defaults (the tests set none of these variables)."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))


def _presswire_services(compose: dict) -> dict[str, dict]:
    return {name: svc for name, svc in compose["services"].items() if svc.get("image", "").startswith("presswire")}


def _dockerfile() -> list[str]:
    return [line for line in (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_image_is_python_slim_runs_presswire_as_a_user_and_checks_health():
    lines = _dockerfile()
    final = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM")):]
    assert final[0] == "FROM python:3.11-slim"
    user = [line.split()[1] for line in final if line.startswith("USER")]
    assert user and user[-1] not in ("root", "0")
    assert any(line.startswith("HEALTHCHECK") for line in final)
    assert 'ENTRYPOINT ["presswire"]' in final
    assert '"presswire[postgres]"' in " ".join(final)
    assert "postgres" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def test_image_copies_files_that_exist_and_the_ignore_file_keeps_them():
    copies = [line.split()[1:-1] for line in _dockerfile() if line.startswith("COPY") and "--from" not in line]
    sources = [src for srcs in copies for src in srcs]
    assert sources and all((ROOT / src).exists() for src in sources), sources
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert all(f"!{src}" in ignore or f"!{src}/**" in ignore for src in sources)


def test_compose_has_postgres_a_migration_workers_and_serve():
    services = _compose()["services"]
    assert services["postgres"]["healthcheck"]["test"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert int(_interpolate(services["worker"]["deploy"]["replicas"])) >= 2
    for name in ("worker", "serve"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["serve"]["healthcheck"]["test"]


def test_compose_commands_are_presswire_commands():
    """Each command parses, files it names included: a bind-mounted file is looked for on this side."""
    for name, svc in _presswire_services(_compose()).items():
        mounts = dict(reversed(v.split(":")[:2]) for v in svc.get("volumes", []) if v.startswith("./"))
        _resolve([str(DEPLOY / mounts[arg]) if arg in mounts else arg for arg in svc["command"]])


def test_compose_configures_presswire_through_real_settings_only():
    """Env-only: each PRESSWIRE_* variable names a [section] key, and its value loads as that key's type."""
    known = {f"PRESSWIRE_{section.upper()}_{f.name.upper()}" for section, cls in SECTIONS.items()
             for f in fields(cls)}
    for name, svc in _presswire_services(_compose()).items():
        env = {k: _interpolate(v) for k, v in svc["environment"].items()}
        assert set(env) <= known, f"{name}: not settings: {sorted(set(env) - known)}"
        settings = load_settings(None, environ=env)  # a bad value is a ConfigError
        assert settings.database.url.startswith("postgresql+psycopg://") and settings.config_path is None
        assert not [v for v in svc.get("volumes", []) if v.endswith(".toml:ro") or "presswire.toml" in v]


def test_compose_database_url_matches_the_postgres_service():
    compose = _compose()
    pg = {k: _interpolate(v) for k, v in compose["services"]["postgres"]["environment"].items()}
    url = _interpolate(compose["services"]["worker"]["environment"]["PRESSWIRE_DATABASE_URL"])
    assert url == (f"postgresql+psycopg://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/"
                   f"{pg['POSTGRES_DB']}")


def test_compose_workers_connection_pools_fit_max_connections():
    """Every worker at its pool's limit (pool + overflow), serve likewise, plus a margin for psql and
    migrations, stays under PostgreSQL's max_connections."""
    compose = _compose()
    services = compose["services"]
    command = services["postgres"]["command"]
    max_connections = int(next(c.split("=")[1] for c in command if c.startswith("max_connections=")))
    per_process = {name: 2 * db.pool_size_for(load_settings(None, environ={
        k: _interpolate(v) for k, v in svc["environment"].items()}).poll.concurrency)
        for name, svc in _presswire_services(compose).items()}
    replicas = int(_interpolate(services["worker"]["deploy"]["replicas"]))
    assert replicas * per_process["worker"] + per_process["serve"] + 10 <= max_connections
