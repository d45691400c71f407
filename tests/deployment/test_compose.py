"""docker-compose.yml agrees with the code and the README: services, pinned images, settings, search attributes.

No Docker engine runs where the tests run, so the stack is never started here: these tests read the file.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from settings import Settings
from starter.cli import app
from starter.codec import new_key
from tests.deployment.conftest import (
    COMPOSE_FILE,
    CONDITIONS,
    DOCKERIGNORE,
    PINNED_TAG,
    ROOT,
    STACK_SECTION,
    Dockerfile,
    command_text,
    depends_on,
    environment,
    image_tag,
    markdown_section,
    table_column,
)
from worker import GRACEFUL_SHUTDOWN
from workflows import search

PREFIX = Settings.model_config.get("env_prefix", "")
SETTINGS_VARIABLES = {PREFIX + name.upper() for name in Settings.model_fields}

# The PostgreSQL image keeps its data here; a container's own layer would lose it with the container.
POSTGRES_DATA = "/var/lib/postgresql/data"

ENV_EXAMPLE = ROOT / ".env.example"

# `${NAME}`, `${NAME:?message}`, `${NAME:-default}`...: what Compose fills in from `.env` or the environment.
REFERENCE = re.compile(r"\$\{(?P<name>\w+)(?::?[-?+][^}]*)?\}")

# Variables whose value is a secret, by name; the compose file may only take them from `.env`.
SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|KEYS?\b|API_KEY")

# The password in a URL's user part, as in `postgresql://user:password@host/db`.
URL_PASSWORD = re.compile(r"://[^:/@\s]+:(?P<password>[^@\s]+)@")


def env_example() -> dict[str, str]:
    """The variables `.env.example` lists, with their (placeholder) values."""
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    pairs = [line.partition("=") for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return {name.strip(): value.strip() for name, _, value in pairs}


def interpolated(value: str, variables: Mapping[str, str]) -> str:
    """`value` with every `${NAME...}` replaced as Compose would from `variables`."""
    return REFERENCE.sub(lambda found: variables[found.group("name")], value)


def published_ports(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """A service's published ports as (host address, host port, container port), short or long form."""
    found = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            found.append((str(port.get("host_ip", "")), str(port.get("published", "")), str(port.get("target"))))
            continue
        parts = str(port).rsplit(":", 2)
        # "8080", "8080:8080" and "127.0.0.1:8080:8080": a missing address means every address of the host.
        parts = ["", "", *parts][-3:]
        found.append((parts[0], parts[1], parts[2]))
    return found


def oms_variables(services: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    """Every `OMS_*` variable any service sets, as (service, variable)."""
    return {
        (name, variable)
        for name, service in services.items()
        for variable in environment(service)
        if variable.startswith(PREFIX)
    }


def built_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services that run our image, built from the Dockerfile."""
    return {name: service for name, service in services.items() if "build" in service}


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """A service's volumes as (source, target), whichever of Compose's two forms each is written in."""
    found = []
    for mount in service.get("volumes") or []:
        if isinstance(mount, str):
            source, _, rest = mount.partition(":")
            found.append((source, rest.split(":")[0]))
        else:
            found.append((mount.get("source", ""), mount.get("target", "")))
    return found


def is_path(source: str) -> bool:
    """Whether a volume source is a bind-mounted path rather than a named volume."""
    return source.startswith((".", "/", "~"))


def duration(text: str) -> timedelta:
    """A Compose duration such as `20s`, `1m30s` or `500ms`."""
    units = {"h": "hours", "m": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds"}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text)
    assert "".join(number + unit for number, unit in parts) == text, f"{text!r} is not a duration"
    return sum((timedelta(**{units[unit]: float(number)}) for number, unit in parts), timedelta())


def test_the_compose_file_runs_exactly_the_services_the_readme_names(
    services: dict[str, dict[str, Any]], readme: str
) -> None:
    named = set(table_column(markdown_section(readme, STACK_SECTION), 0))

    assert named, f"README.md's section {STACK_SECTION!r} lists no services in a table"
    assert not named - set(services), f"README.md names services docker-compose.yml lacks: {named - set(services)}"
    assert not set(services) - named, f"README.md does not describe the services {set(services) - named}"


def test_every_image_is_pinned_to_a_version(services: dict[str, dict[str, Any]]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    unpinned = {}
    for name, service in services.items():
        image = service.get("image")
        if image is None:
            unpinned[name] = "no image (a built image needs a versioned name too)"
            continue
        tag = image_tag(image)
        if tag is None or not PINNED_TAG.fullmatch(tag):
            unpinned[name] = f"{image} is not pinned to a major.minor version"
        elif "build" in service and tag != version:
            unpinned[name] = f"{image} is built from this repository but pyproject.toml's version is {version}"

    assert not unpinned, unpinned


def test_every_oms_variable_the_stack_sets_is_a_setting_the_code_reads(
    services: dict[str, dict[str, Any]], dockerfile: Dockerfile
) -> None:
    set_by = {f"{service}: {variable}" for service, variable in oms_variables(services)}
    set_by |= {f"Dockerfile: {variable}" for variable in dockerfile.env() if variable.startswith(PREFIX)}

    unknown = sorted(where for where in set_by if where.split(": ")[1] not in SETTINGS_VARIABLES)
    assert not unknown, f"not fields of settings.Settings, so nothing reads them: {unknown}"


def test_every_oms_variable_the_stack_sets_is_in_the_readme_configuration_table(
    services: dict[str, dict[str, Any]], readme: str
) -> None:
    documented = set(table_column(markdown_section(readme, "Configuration"), 1))

    undocumented = sorted({variable for _, variable in oms_variables(services)} - documented)
    assert not undocumented, f"README.md's configuration table lacks {undocumented}"


def test_the_worker_environment_is_a_valid_configuration_pointing_at_services_of_the_stack(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker_environment = environment(services["worker"])
    # Compose would turn an unquoted `true` into `True` or refuse it; quoted, the value reaches the code as written.
    unquoted = {variable: value for variable, value in worker_environment.items() if not isinstance(value, str)}
    assert not unquoted, f"quote these values in docker-compose.yml: {unquoted}"
    # What an operator's .env holds, filled in as .env.example says.
    dot_env = {name: "x" for name in env_example()}
    dot_env.update(POSTGRES_PASSWORD="0a1b2c3d", OMS_PAYLOAD_KEYS=new_key("k1"), OMS_PAYLOAD_KEY_ID="k1")
    for variable in SETTINGS_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in worker_environment.items():
        monkeypatch.setenv(variable, interpolated(value, dot_env))

    settings = Settings(_env_file=None)

    database = urlsplit(settings.oms_database_url)
    assert database.scheme == "postgresql+asyncpg", settings.oms_database_url
    addressed = {
        "OMS_TEMPORAL_ADDRESS": settings.temporal_host,
        "OMS_SMTP_HOST": settings.smtp_host,
        "OMS_DATABASE_URL": database.hostname,
    }
    strangers = {variable: host for variable, host in addressed.items() if host not in services}
    assert not strangers, f"the worker is pointed at hosts that are no service of the stack: {strangers}"


def test_the_search_attributes_the_stack_registers_are_the_ones_the_workflow_upserts(
    services: dict[str, dict[str, Any]],
) -> None:
    registering = {
        name: command_text(s) for name, s in services.items() if "search-attribute create" in command_text(s)
    }
    assert len(registering) == 1, f"expected one service registering search attributes, found {sorted(registering)}"
    [(name, command)] = registering.items()
    worker_environment = environment(services["worker"])

    registered = dict(re.findall(r"--name\s+(\w+)\s+--type\s+(\w+)", command))
    namespaces = set(re.findall(r"search-attribute create\s+--namespace\s+(\S+)", command))

    assert registered == {key.name: search.type_name(key) for key in search.ALL}
    assert namespaces == {worker_environment["OMS_TEMPORAL_NAMESPACE"]}, f"{name} registers them in {namespaces}"
    assert environment(services[name])["TEMPORAL_ADDRESS"] == worker_environment["OMS_TEMPORAL_ADDRESS"]


def test_every_dependency_is_a_service_of_the_stack_with_a_valid_condition(
    services: dict[str, dict[str, Any]],
) -> None:
    wrong = [
        f"{name} -> {dependency} ({condition})"
        for name, service in services.items()
        for dependency, condition in depends_on(service).items()
        if dependency not in services or condition not in CONDITIONS
    ]

    assert not wrong, f"depends_on names an unknown service or condition: {wrong}"


def test_a_service_waited_on_until_healthy_has_a_health_check(
    services: dict[str, dict[str, Any]], dockerfile: Dockerfile
) -> None:
    def has_health_check(service: dict[str, Any]) -> bool:
        check = service.get("healthcheck") or {}
        if check.get("disable"):
            return False
        # A built service inherits the Dockerfile's HEALTHCHECK unless it declares its own.
        return bool(check.get("test")) or ("build" in service and bool(dockerfile.all("HEALTHCHECK", final=True)))

    awaited = {
        dependency
        for service in services.values()
        for dependency, condition in depends_on(service).items()
        if condition == "service_healthy"
    }
    unchecked = sorted(name for name in awaited if name in services and not has_health_check(services[name]))

    assert awaited, "no service waits for another to be healthy"
    assert not unchecked, f"waited on until healthy, but without a health check they never are: {unchecked}"


def test_a_service_waited_on_until_completed_is_a_one_shot(services: dict[str, dict[str, Any]]) -> None:
    awaited = {
        dependency
        for service in services.values()
        for dependency, condition in depends_on(service).items()
        if condition == "service_completed_successfully"
    }
    # A restart policy that restarts a clean exit means the dependants would wait for ever.
    restarting = sorted(
        name for name in awaited if services.get(name, {}).get("restart") in {"always", "unless-stopped"}
    )

    assert not restarting, f"one-shot services must not restart after completing: {restarting}"


def test_the_worker_runs_two_replicas_built_from_the_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    build = worker.get("build")
    context = build if isinstance(build, str) else (build or {}).get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else (build or {}).get("dockerfile", "Dockerfile")

    assert build is not None, "the worker is not built from this repository"
    assert (ROOT / context / dockerfile).is_file(), f"{context}/{dockerfile} does not exist"
    assert worker.get("deploy", {}).get("replicas", 1) >= 2, "the stack runs a single worker"
    assert worker.get("command") == ["oms", "worker"], f"the worker service runs {worker.get('command')}"
    # Either would make a second replica collide with the first.
    assert "container_name" not in worker, "a fixed container name allows one replica only"
    assert not worker.get("ports"), "a fixed host port allows one replica only"


def test_a_stopping_worker_has_time_to_finish_its_running_activities(services: dict[str, dict[str, Any]]) -> None:
    # Docker kills a container this long after SIGTERM; 10 s unless the service says otherwise.
    grace = duration(services["worker"].get("stop_grace_period", "10s"))

    assert grace > GRACEFUL_SHUTDOWN, f"stop_grace_period {grace} leaves no time beyond {GRACEFUL_SHUTDOWN}"


def test_every_volume_is_declared_and_databases_keep_their_data_on_named_volumes(
    services: dict[str, dict[str, Any]], compose: dict[str, Any]
) -> None:
    declared = set(compose.get("volumes") or {})
    mounted = {name: mounts(service) for name, service in services.items()}
    named = {name: {(s, t) for s, t in found if not is_path(s)} for name, found in mounted.items()}
    used = {source for found in named.values() for source, _ in found}
    missing_files = [
        f"{name}: {s}" for name, found in mounted.items() for s, _ in found if is_path(s) and not (ROOT / s).exists()
    ]
    postgres = [name for name, service in services.items() if str(service.get("image", "")).startswith("postgres:")]
    unkept = [name for name in postgres if POSTGRES_DATA not in {target for _, target in named[name]}]

    assert not used - declared, f"volumes used but not declared: {sorted(used - declared)}"
    assert not declared - used, f"volumes declared but used by no service: {sorted(declared - used)}"
    assert not missing_files, f"bind-mounted paths missing from the repository: {missing_files}"
    assert postgres, "no PostgreSQL service"
    assert not unkept, f"PostgreSQL without a named volume at {POSTGRES_DATA} loses its data: {unkept}"


def test_every_oms_command_the_stack_runs_is_a_command_of_the_cli(
    services: dict[str, dict[str, Any]], dockerfile: Dockerfile
) -> None:
    commands = {name: service["command"] for name, service in built_services(services).items() if "command" in service}
    for cmd in dockerfile.all("CMD", final=True):
        commands["Dockerfile CMD"] = json.loads(cmd)

    runner = CliRunner()
    unknown = {}
    for where, command in commands.items():
        assert command[0] == "oms", f"{where} runs {command}, not an `oms` command"
        result = runner.invoke(app, [*command[1:], "--help"])
        if result.exit_code != 0:
            unknown[where] = " ".join(command)

    assert commands
    assert not unknown, f"no such `oms` command: {unknown}"


def test_every_published_port_listens_on_the_hosts_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    published = {name: published_ports(service) for name, service in services.items()}
    open_to_all = [f"{name}: {port}" for name, ports in published.items() for port in ports if port[0] != "127.0.0.1"]

    assert any(published.values()), "the stack publishes no port"
    assert not open_to_all, f"published on every address of the host, not 127.0.0.1: {open_to_all}"


def test_no_password_or_key_is_written_in_the_compose_file(services: dict[str, dict[str, Any]]) -> None:
    written = []
    for name, service in services.items():
        for variable, value in environment(service).items():
            text = str(value)
            if SECRET_NAME.search(variable) and not REFERENCE.fullmatch(text):
                written.append(f"{name}: {variable}")
            for found in URL_PASSWORD.finditer(text):
                if not REFERENCE.fullmatch(found.group("password")):
                    written.append(f"{name}: {variable} (the URL's password)")

    assert not written, f"secrets written into docker-compose.yml instead of taken from .env: {sorted(written)}"


def test_every_variable_the_compose_file_takes_from_dot_env_is_in_env_example() -> None:
    used = {found.group("name") for found in REFERENCE.finditer(COMPOSE_FILE.read_text(encoding="utf-8"))}
    listed = env_example()

    assert used, "docker-compose.yml takes nothing from .env"
    assert not used - set(listed), f".env.example does not list {sorted(used - set(listed))}"
    # The example is a template: a value in it would be a secret everybody has.
    filled_in = sorted(name for name in used if listed.get(name))
    assert not filled_in, f".env.example gives values that every copy would share: {filled_in}"


def test_the_dot_env_file_with_the_secrets_is_never_committed_nor_built_into_the_image() -> None:
    def patterns(path: Path) -> set[str]:
        return {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}

    assert ".env" in patterns(ROOT / ".gitignore")
    assert ".env" in patterns(DOCKERIGNORE)


def test_every_oms_service_encrypts_payloads_with_the_keys_from_dot_env(services: dict[str, dict[str, Any]]) -> None:
    oms_services = built_services(services)
    wanted = ("OMS_PAYLOAD_KEYS", "OMS_PAYLOAD_KEY_ID")
    lacking = {
        name: [
            variable
            for variable in wanted
            if (reference := REFERENCE.fullmatch(str(environment(service).get(variable, "")))) is None
            or reference.group("name") != variable
        ]
        for name, service in oms_services.items()
    }

    assert {"worker", "codec-server"} <= set(oms_services)
    assert not {name: missing for name, missing in lacking.items() if missing}, lacking


def test_temporal_ui_decrypts_through_the_codec_server_the_stack_publishes(
    services: dict[str, dict[str, Any]],
) -> None:
    codec = services["codec-server"]
    ui = services["temporal-ui"]
    [(_, codec_port, codec_target)] = published_ports(codec)
    [(_, ui_port, _)] = published_ports(ui)

    assert codec["command"][:2] == ["oms", "codec-server"]
    # Inside its container it listens on every address, or the published port would lead nowhere.
    assert codec["command"][2:] == ["--host", "0.0.0.0"]
    assert codec_target == str(Settings.model_fields["codec_port"].default)
    # The browser calls the codec server, so both addresses are the host's published ones.
    assert environment(ui)["TEMPORAL_CODEC_ENDPOINT"] == f"http://127.0.0.1:{codec_port}"
    assert environment(codec)["OMS_TEMPORAL_UI_URL"] == f"http://127.0.0.1:{ui_port}"
