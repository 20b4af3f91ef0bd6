"""deploy/ agrees with itself and with the code: the compose file, the Dockerfile, the Caddy
configuration, the systemd unit and the settings example (no Docker engine here, so the files
are parsed, not run)."""

from __future__ import annotations

import configparser
import re
import shlex
import tomllib
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bot.charts.fonts import APT_PACKAGE
from bot.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ENV_EXAMPLE = DEPLOY / ".env.example"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
CADDYFILE = DEPLOY / "Caddyfile"
UNIT = DEPLOY / "xueyong.service"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"

# What an operator would put into deploy/.env for the compose variables without a default.
SAMPLE_ENV = {
    "BOT_TOKEN": "123456:ABC",
    "WEBHOOK_HOST": "bot.example.org",
    "POSTGRES_PASSWORD": "s3cret",
}


# --- the settings --------------------------------------------------------------------------


def _settings_aliases() -> set[str]:
    aliases = set()
    for name, field in Settings.model_fields.items():
        alias = field.alias or field.validation_alias
        assert isinstance(alias, str), f"Settings.{name} has no environment variable name"
        aliases.add(alias)
    return aliases


# `KEY=value`, or `# KEY=value` for a setting listed but left at a default that depends on
# the machine (CONTENT_DIR, REPLICA_ID). Prose in comments never starts with `KEY=`.
_ENV_LINE = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def _env_example() -> list[tuple[str, str, bool]]:
    """(key, value, commented out) for every variable line of deploy/.env.example."""
    entries = []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if match := _ENV_LINE.match(line):
            entries.append((match[2], match[3], match[1] is not None))
    return entries


# --- compose -------------------------------------------------------------------------------

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $VAR; $$ is a dollar.
_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def _interpolations() -> dict[str, set[str]]:
    """Every variable compose.yaml interpolates, with the operators it is used with."""
    found: dict[str, set[str]] = {}
    for match in _INTERPOLATION.finditer(COMPOSE.read_text(encoding="utf-8")):
        name = match["braced"] or match["bare"]
        if name:
            found.setdefault(name, set()).add(match["op"] or "")
    return found


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's substitution, enough for this file (raises on a missing `?` variable)."""

    def replace(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"] or "", match["arg"] or ""
        value = env.get(name)
        if op.endswith("?") and not (value if op == ":?" else value is not None):
            raise KeyError(f"{name}: {arg}")
        if op.endswith("-") and not (value if op == ":-" else value is not None):
            return arg
        return value or ""

    return _INTERPOLATION.sub(replace, text)


def _compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    text = _interpolate(COMPOSE.read_text(encoding="utf-8"), SAMPLE_ENV if env is None else env)
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _built_here(service: dict[str, Any]) -> bool:
    build = service.get("build")
    return isinstance(build, dict) and build.get("dockerfile") == "deploy/Dockerfile"


def _bots() -> dict[str, dict[str, Any]]:
    """The bot replicas: built from deploy/Dockerfile and running its default `xueyong run`."""
    return {name: s for name, s in _services().items() if _built_here(s) and "command" not in s}


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return {name: "service_started" for name in depends}
    return {
        name: (spec or {}).get("condition", "service_started") for name, spec in depends.items()
    }


def _healthcheck(service: dict[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test")
    assert test, "no healthcheck"
    return " ".join(test) if isinstance(test, list) else str(test)


def _service_by_image(prefix: str) -> tuple[str, dict[str, Any]]:
    matches = [(n, s) for n, s in _services().items() if str(s.get("image", "")).startswith(prefix)]
    assert len(matches) == 1, f"expected one service running {prefix}*, found {matches}"
    return matches[0]


def test_two_bot_replicas_in_webhook_mode_share_postgres_and_redis() -> None:
    bots = _bots()
    assert len(bots) == 2, sorted(bots)
    postgres, _ = _service_by_image("postgres:")
    redis, _ = _service_by_image("redis:")
    envs = [_environment(s) for s in bots.values()]
    for env in envs:
        assert urlsplit(env["WEBHOOK_URL"]).scheme == "https"
        assert urlsplit(env["WEBHOOK_URL"]).hostname == SAMPLE_ENV["WEBHOOK_HOST"]
        assert urlsplit(env["WEBHOOK_URL"]).path == env.get("WEBHOOK_PATH", "/telegram/webhook")
        database = urlsplit(env["DATABASE_URL"])
        assert database.scheme == "postgresql+asyncpg"
        assert database.hostname == postgres
        assert database.password == SAMPLE_ENV["POSTGRES_PASSWORD"]
        assert urlsplit(env["REDIS_URL"]).hostname == redis
    for key in ("DATABASE_URL", "REDIS_URL", "WEBHOOK_URL", "HTTP_PORT"):
        assert len({env[key] for env in envs}) == 1, f"replicas disagree on {key}"
    assert len({env["REPLICA_ID"] for env in envs}) == len(envs), "replica ids must differ"
    # Without a token `xueyong run` would quietly start the sandbox: compose must refuse.
    assert all(env["BOT_TOKEN"] == SAMPLE_ENV["BOT_TOKEN"] for env in envs)


def test_replicas_start_after_healthy_stores_and_the_migration() -> None:
    services = _services()
    postgres, _ = _service_by_image("postgres:")
    redis, _ = _service_by_image("redis:")
    migrations = [n for n, s in services.items() if _built_here(s) and s.get("command")]
    assert [services[n]["command"] for n in migrations] == [["migrate"]]
    for name, bot in _bots().items():
        depends = _depends_on(bot)
        assert depends.get(postgres) == "service_healthy", name
        assert depends.get(redis) == "service_healthy", name
        assert depends.get(migrations[0]) == "service_completed_successfully", name
        assert bot.get("restart") == "unless-stopped", name


def test_postgres_and_redis_have_healthchecks_and_volumes() -> None:
    compose = _compose()
    _, postgres = _service_by_image("postgres:")
    assert re.fullmatch(r"postgres:\d+(-\w+)?", postgres["image"]), "pin the major version"
    assert "pg_isready" in _healthcheck(postgres)
    env = _environment(postgres)
    assert env["POSTGRES_PASSWORD"] == SAMPLE_ENV["POSTGRES_PASSWORD"]
    user = urlsplit(_environment(next(iter(_bots().values())))["DATABASE_URL"])
    assert (env["POSTGRES_USER"], env["POSTGRES_DB"]) == (user.username, user.path.lstrip("/"))
    volumes = {v.split(":")[1]: v.split(":")[0] for v in postgres["volumes"]}
    assert volumes["/var/lib/postgresql/data"] in compose["volumes"]

    _, redis = _service_by_image("redis:")
    assert "redis-cli ping" in _healthcheck(redis)
    assert any(v.split(":")[0] in compose["volumes"] for v in redis["volumes"])


def test_stores_are_not_reachable_from_outside() -> None:
    compose = _compose()
    for prefix in ("postgres:", "redis:"):
        name, service = _service_by_image(prefix)
        assert "ports" not in service, f"{name} must not publish a port"
        for network in service["networks"]:
            assert compose["networks"][network].get("internal") is True, (name, network)


def test_proxy_terminates_tls_and_routes_the_webhook_path_to_the_replicas() -> None:
    _, proxy = _service_by_image("caddy:")
    assert {str(p).split(":")[-1] for p in proxy["ports"]} >= {"443", "80"}
    mounts = {v.split(":")[1]: v.split(":")[0] for v in proxy["volumes"]}
    source = mounts["/etc/caddy/Caddyfile"]
    assert (DEPLOY / source).resolve() == CADDYFILE
    bots = _bots()
    assert set(_depends_on(proxy)) == set(bots)
    shared = set(proxy["networks"]) & {n for b in bots.values() for n in b["networks"]}
    assert shared, "the proxy must share a network with the replicas"

    caddy = CADDYFILE.read_text(encoding="utf-8")
    ports = {_environment(b)["HTTP_PORT"] for b in bots.values()}
    upstream_line = re.search(r"^\s*reverse_proxy\s+([^{\n]+?)\s*\{", caddy, re.M)
    assert upstream_line, "no reverse_proxy with upstreams"
    assert set(upstream_line[1].split()) == {f"{name}:{port}" for name in bots for port in ports}
    assert re.search(r"^\s*health_uri\s+/readyz\s*$", caddy, re.M)
    # The route is WEBHOOK_PATH, with the bot's own default when it is not set.
    path = re.search(r"^\s*path\s+\{\$WEBHOOK_PATH(?::(\S+))?\}\s*$", caddy, re.M)
    assert path, "the webhook route must be {$WEBHOOK_PATH}"
    assert path[1] == Settings.model_fields["webhook_path"].default
    assert (
        _environment(proxy)["WEBHOOK_PATH"]
        == _environment(next(iter(bots.values())))["WEBHOOK_PATH"]
    )
    # Every {$VAR} the Caddyfile reads is given to the proxy container.
    placeholders = set(re.findall(r"\{\$([A-Za-z_][A-Za-z0-9_]*)", caddy))
    assert placeholders <= set(_environment(proxy)), placeholders - set(_environment(proxy))
    # An access log would record the secret token header.
    assert not re.search(r"^\s*log\b", caddy, re.M)


def test_every_reference_in_the_compose_file_exists() -> None:
    compose = _compose()
    services = compose["services"]
    aliases = _settings_aliases()
    listed = {key for key, _, _ in _env_example()}
    for name, service in services.items():
        for target in _depends_on(service):
            assert target in services, f"{name} depends on unknown {target}"
        for network in service.get("networks", []):
            assert network in compose["networks"], f"{name}: network {network} not declared"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name}: volume {source} not declared"
        env_files = service.get("env_file")
        if env_files is not None:
            # deploy/.env is the operator's copy of deploy/.env.example, holding the token:
            # only containers of our own image get it, not PostgreSQL, Redis or the proxy.
            assert env_files in (".env", [".env"]), name
            assert _built_here(service), f"{name} must not receive the bot's secrets"
        if _built_here(service):
            unknown = set(_environment(service)) - aliases
            assert not unknown, f"{name} sets variables the bot does not read: {unknown}"
    assert ENV_EXAMPLE.exists()
    # Every variable compose.yaml interpolates is in .env.example, and one without a default
    # uses `:?`, so that compose refuses to start instead of using an empty value.
    for variable, ops in _interpolations().items():
        assert variable in listed, f"compose.yaml uses ${variable}, not in .env.example"
        assert ops <= {":-", ":?"}, f"${variable} used with {ops}"
    for variable in SAMPLE_ENV:
        with pytest.raises(KeyError, match=variable):
            _compose({k: v for k, v in SAMPLE_ENV.items() if k != variable})


def test_env_example_lists_every_setting_and_nothing_unknown() -> None:
    entries = _env_example()
    keys = [key for key, _, _ in entries]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    assert not duplicates, f"listed twice in .env.example: {duplicates}"
    aliases = _settings_aliases()
    missing = sorted(aliases - set(keys))
    assert not missing, f"settings in bot/config.py missing from deploy/.env.example: {missing}"
    compose_only = {name for name in _interpolations() if name not in aliases}
    unknown = sorted(set(keys) - aliases - compose_only)
    assert not unknown, f"deploy/.env.example lists variables nothing reads: {unknown}"


def test_env_example_values_are_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Copied unchanged to .env, the example configures exactly what no .env would."""
    for alias in _settings_aliases():
        monkeypatch.delenv(alias, raising=False)
    monkeypatch.chdir(DEPLOY)  # where no .env is expected; the example is passed explicitly
    from_example = Settings(_env_file=ENV_EXAMPLE)
    defaults = Settings(_env_file=None)
    by_alias = {field.alias: name for name, field in Settings.model_fields.items()}
    for key, value, commented in _env_example():
        if commented or key not in by_alias:
            continue
        name = by_alias[key]
        assert getattr(from_example, name) == getattr(defaults, name), (
            f"deploy/.env.example: {key}={value} is not the default; comment it out or fix it"
        )


# --- Dockerfile ----------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append((keyword.upper(), " ".join(args.split())))
        pending = ""
    assert not pending, "Dockerfile ends in a continuation"
    return instructions


def _args(instruction: str) -> list[str]:
    return [args for keyword, args in _instructions() if keyword == instruction]


def _exec_form(args: str) -> list[str]:
    value = yaml.safe_load(args)  # a JSON array is valid YAML
    assert isinstance(value, list), f"use the exec form: {args}"
    return [str(v) for v in value]


def test_dockerfile_base_user_and_healthcheck() -> None:
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", _args("FROM")[0]), _args("FROM")
    users = _args("USER")
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    # The user is created in the image, and its last USER comes after the installation.
    assert any("useradd" in run and users[-1] in run for run in _args("RUN"))
    keywords = [keyword for keyword, _ in _instructions()]
    last_user = len(keywords) - 1 - keywords[::-1].index("USER")
    assert "pip install" not in " ".join(a for k, a in _instructions()[last_user:] if k == "RUN")

    healthcheck = _args("HEALTHCHECK")
    assert len(healthcheck) == 1
    assert "/healthz" in healthcheck[0]
    exposed = {p.split("/")[0] for args in _args("EXPOSE") for p in args.split()}
    env = " ".join(_args("ENV"))
    port = re.search(r"HTTP_PORT=(\d+)", env)
    assert port and exposed == {port[1]}
    assert re.search(r"HTTP_HOST=0\.0\.0\.0", env), "listen beyond the container's loopback"
    compose_ports = {_environment(b)["HTTP_PORT"] for b in _bots().values()}
    assert compose_ports == {port[1]}


def test_dockerfile_installs_from_the_lock_file_and_runs_xueyong() -> None:
    runs = " ".join(_args("RUN"))
    assert "pip install -r requirements.lock" in runs
    assert "pip install --no-deps -e ." in runs  # as dev.py: the lock decides every version
    assert "requirements-dev.lock" not in runs
    assert re.search(rf"apt-get install [^&]*\b{re.escape(APT_PACKAGE)}\b", runs)
    command = _exec_form(_args("ENTRYPOINT")[-1]) + _exec_form(_args("CMD")[-1])
    assert command == ["xueyong", "run"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["scripts"]["xueyong"] == "bot.__main__:main"


def _distribution(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    assert name, requirement
    return re.sub(r"[-_.]+", "-", name[0]).lower()


def test_the_image_lock_file_pins_every_runtime_dependency() -> None:
    """The image installs requirements.lock alone, with --no-deps for the project: a runtime
    dependency pinned only in requirements-dev.lock would be missing in production."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lines = (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()
    pinned = {
        _distribution(line): line.split("==", 1)[1]
        for line in lines
        if line.strip() and not line.startswith(("#", "-"))
    }
    needed = {_distribution(r) for r in pyproject["project"]["dependencies"]}
    assert needed - set(pinned) == set(), "add them to requirements.lock"


def test_dockerfile_copies_what_exists_and_no_secrets() -> None:
    ignored = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".env", "deploy/.env", ".venv", ".git", "data"} <= set(ignored)
    for args in _args("COPY"):
        *sources, _destination = shlex.split(args)
        assert not any(s.startswith("--") for s in sources), "copy from the context only"
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            excluded = [p for p in ignored if fnmatch(source, p) or fnmatch(source, f"{p}/*")]
            assert not excluded, f"COPY {source} is excluded by {excluded}"
            assert ".env" not in PurePosixPath(source).name


# --- systemd -------------------------------------------------------------------------------


class _Repeated(dict[str, Any]):
    """configparser storage that keeps every value of a repeated key, as systemd does
    (while reading, configparser stores each option as a list of lines)."""

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, list) and key in self:
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(dict_type=_Repeated, strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are CamelCase
    parser.read(UNIT, encoding="utf-8")
    return parser


def test_systemd_unit() -> None:
    unit = _unit()
    assert {"Unit", "Service", "Install"} <= set(unit.sections())
    service = unit["Service"]
    assert service["User"] not in {"root", "0"}
    assert service["Restart"] == "on-failure"
    assert service["EnvironmentFile"].startswith("/"), "an absolute path to the settings"
    executable, *arguments = service["ExecStart"].split()
    assert PurePosixPath(executable).name == "xueyong" and arguments == ["run"]
    hardening = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "RestrictSUIDSGID": "yes",
        "CapabilityBoundingSet": "",
    }
    for key, value in hardening.items():
        assert service.get(key) == value, f"{key}={service.get(key)}"
    # With ProtectSystem=strict only the state directory is writable: the working directory
    # (SQLite's relative data/ path) must be it.
    assert service["WorkingDirectory"] == f"/var/lib/{service['StateDirectory']}"
    assert service["SystemCallFilter"].split("\n") == ["@system-service", "~@privileged"]
    assert "network-online.target" in unit["Unit"]["After"].split()
    assert "network-online.target" in unit["Unit"]["Wants"].split()
    assert unit["Install"]["WantedBy"] == "multi-user.target"
