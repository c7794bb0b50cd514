"""The cluster stack (docker-compose.yml) and the worker image (Dockerfile), checked statically.

No Docker engine is needed: each test reads the files and asserts a property whose absence
breaks a user's ``docker compose up`` or ``--scale worker=N``, or silently changes what runs
(a floating image tag, a search attribute duragent upserts but the cluster never registered).
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from duragent._names import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

REQUIRED_SERVICES = {"postgresql", "temporal", "temporal-admin-tools", "temporal-ui", "worker"}
TEMPORAL_PORT = 7233
UI_PORT = 8080
SA_TYPES = {"KEYWORD": "Keyword", "DOUBLE": "Double", "INT": "Int"}
"""duragent's ``SearchAttributeKey`` types, as the ``temporal`` CLI spells them."""
VERSION_TAG = re.compile(r"^v?\d+\.\d+")
"""A pinned tag names at least major.minor: ``16.6``, ``1.29.1``, ``1.29.1-tctl-1.18.4``."""


# -- reading the files -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return parse_dockerfile(DOCKERFILE.read_text())


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, comments dropped, continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The instructions of the last ``FROM`` stage: the image that actually ships."""
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert starts, "the Dockerfile has no FROM"
    return instructions[starts[-1] :]


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict, whether written as a mapping or as KEY=VALUE items."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def dependencies(service: dict[str, Any]) -> dict[str, str]:
    """``{service: condition}``; the short list form means ``service_started``."""
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return dict.fromkeys(depends, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in depends.items()}


def published_container_ports(service: dict[str, Any]) -> set[int]:
    """Container ports a service publishes on the host, from short or long port syntax."""
    ports: set[int] = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            if entry.get("published") is not None:
                ports.add(int(entry["target"]))
            continue
        spec = str(entry).split("/")[0]  # drop /tcp
        parts = spec.rsplit(":", 2)
        if len(parts) >= 2:  # [host_ip:]host_port:container_port; a bare port is not published
            ports.add(int(parts[-1]))
    return ports


def image_tag(image: str) -> str | None:
    """The tag of ``[registry[:port]/]name[:tag][@digest]``, or None when there is none."""
    name = image.split("@")[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def command_text(service: dict[str, Any]) -> str:
    parts: list[str] = []
    for key in ("entrypoint", "command"):
        value = service.get(key) or []
        parts.extend([value] if isinstance(value, str) else [str(v) for v in value])
    return "\n".join(parts)


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip().lstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether ``.dockerignore`` keeps ``path`` (relative to the context) out of the build."""
    for pattern in patterns:
        if pattern.startswith("!"):
            continue
        for candidate in {pattern, pattern.removeprefix("**/")}:
            if fnmatch.fnmatch(path, candidate) or path.startswith(candidate.rstrip("/") + "/"):
                return True
    return False


# -- docker-compose.yml ------------------------------------------------------------------------


def test_the_stack_has_every_service(services: dict[str, dict[str, Any]]) -> None:
    missing = REQUIRED_SERVICES - services.keys()
    assert not missing, f"docker-compose.yml lacks services {sorted(missing)}"


def test_every_image_is_pinned_to_a_version(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert "image" in service or "build" in service, f"{name} has neither image nor build"
        if "image" not in service:
            continue
        image = str(service["image"])
        tag = image_tag(image)
        assert tag is not None, f"{name}: {image} has no tag, so Docker pulls whatever `latest` is"
        assert tag != "latest", f"{name}: {image} floats; pin a version"
        assert VERSION_TAG.match(tag), f"{name}: {image} should name an explicit version"


def test_the_worker_is_built_from_this_repository(services: dict[str, dict[str, Any]]) -> None:
    build = services["worker"].get("build")
    assert build is not None, "the worker service must build the repository's Dockerfile"
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (COMPOSE_FILE.parent / context).resolve() == ROOT
    assert (ROOT / context / dockerfile).resolve() == DOCKERFILE.resolve()
    assert DOCKERFILE.is_file()


def test_the_worker_can_be_scaled(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    # A fixed name or host port makes the second replica of `--scale worker=N` fail to start.
    assert "container_name" not in worker
    assert not worker.get("ports"), "a published worker port collides between replicas"
    assert worker.get("restart") in ("always", "unless-stopped", "on-failure")


def test_the_worker_reaches_the_temporal_service(services: dict[str, dict[str, Any]]) -> None:
    env = environment(services["worker"])
    host, _, port = env.get("TEMPORAL_ADDRESS", "").rpartition(":")
    assert host == "temporal" and port == str(TEMPORAL_PORT), env.get("TEMPORAL_ADDRESS")
    assert env.get("TEMPORAL_NAMESPACE"), "TEMPORAL_NAMESPACE must be set for the worker"
    assert "temporal" in dependencies(services["worker"])


def test_the_worker_takes_api_keys_from_the_host(services: dict[str, dict[str, Any]]) -> None:
    env = environment(services["worker"])
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        # A pass-through, never a literal: a key written here ends up in version control.
        assert key in env, f"the worker should receive {key} from the host"
        assert re.fullmatch(rf"\$\{{{key}(:?-[^}}]*)?\}}", env[key]), f"{key}={env[key]!r}"


def test_temporal_and_the_ui_are_published(services: dict[str, dict[str, Any]]) -> None:
    assert TEMPORAL_PORT in published_container_ports(services["temporal"])
    assert UI_PORT in published_container_ports(services["temporal-ui"])
    ui_env = environment(services["temporal-ui"])
    assert ui_env.get("TEMPORAL_ADDRESS") == f"temporal:{TEMPORAL_PORT}"


def test_temporal_waits_for_a_healthy_postgresql(services: dict[str, dict[str, Any]]) -> None:
    temporal = services["temporal"]
    assert dependencies(temporal).get("postgresql") == "service_healthy"
    env = environment(temporal)
    assert env.get("DB") == "postgres12"
    assert env.get("POSTGRES_SEEDS") == "postgresql"
    assert env.get("POSTGRES_PWD") and env.get("POSTGRES_USER")
    pg_env = environment(services["postgresql"])
    assert env["POSTGRES_USER"] == pg_env.get("POSTGRES_USER")
    assert env["POSTGRES_PWD"] == pg_env.get("POSTGRES_PASSWORD")


def test_dependency_conditions_can_be_met(services: dict[str, dict[str, Any]]) -> None:
    # Compose refuses `service_healthy` on a service without a healthcheck, and waits forever
    # for a restarting service to "complete successfully".
    for name, service in services.items():
        for target, condition in dependencies(service).items():
            assert target in services, f"{name} depends on unknown service {target}"
            if condition == "service_healthy":
                check = services[target].get("healthcheck") or {}
                runs = check.get("test") not in (None, [], ["NONE"]) and not check.get("disable")
                assert runs, f"{name} waits for {target} to be healthy: it needs a healthcheck"
            if condition == "service_completed_successfully":
                assert str(services[target].get("restart", "no")) in ("no", "False")


def test_compose_registers_exactly_duragents_search_attributes(
    services: dict[str, dict[str, Any]],
) -> None:
    admin = services["temporal-admin-tools"]
    script = command_text(admin)
    assert "temporal operator search-attribute create" in script
    registered = dict(re.findall(r"--name\s+(\w+)\s+--type\s+(\w+)", script))
    expected = {key.name: SA_TYPES[key.indexed_value_type.name] for key in SEARCH_ATTRIBUTES}
    assert registered == expected


def test_search_attributes_land_in_the_workers_namespace(
    services: dict[str, dict[str, Any]],
) -> None:
    admin_namespace = environment(services["temporal-admin-tools"]).get("TEMPORAL_NAMESPACE")
    assert admin_namespace == environment(services["worker"]).get("TEMPORAL_NAMESPACE")
    assert "--namespace" in command_text(services["temporal-admin-tools"])
    # The AgentRun workflow upserts these on every run: workers wait until they exist.
    worker_deps = dependencies(services["worker"])
    assert worker_deps.get("temporal-admin-tools") == "service_completed_successfully"


def test_every_mounted_file_exists(services: dict[str, dict[str, Any]]) -> None:
    mounts = 0
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            if isinstance(volume, dict):
                source = volume.get("source", "") if volume.get("type") == "bind" else ""
            else:
                source = str(volume).split(":")[0]
            if not source.startswith((".", "/")):
                continue  # a named volume
            mounts += 1
            path = (COMPOSE_FILE.parent / source).resolve()
            assert path.exists(), f"{name} mounts {source}, which does not exist"
            assert path.is_relative_to(ROOT), f"{name} mounts {source} from outside the repo"
    assert mounts, "expected at least the Temporal dynamic config to be mounted"


def test_temporal_reads_the_mounted_dynamic_config(services: dict[str, dict[str, Any]]) -> None:
    temporal = services["temporal"]
    configured = environment(temporal).get("DYNAMIC_CONFIG_FILE_PATH")
    assert configured, "the temporal service should load deploy/temporal's dynamic config"
    in_container = PurePosixPath("/etc/temporal") / configured  # auto-setup's working directory
    sources = {
        PurePosixPath(target): source
        for source, target, *_ in (str(v).split(":") for v in temporal.get("volumes") or [])
    }
    assert in_container in sources, f"{in_container} is not mounted into the temporal service"
    config = yaml.safe_load((COMPOSE_FILE.parent / sources[in_container]).read_text())
    assert isinstance(config, dict) and config
    for key, entries in config.items():
        assert isinstance(entries, list) and entries, key
        assert all(isinstance(e, dict) and "value" in e for e in entries), key


# -- Dockerfile and .dockerignore --------------------------------------------------------------


def test_the_base_image_is_pinned(dockerfile: list[tuple[str, str]]) -> None:
    stages: set[str] = set()
    for keyword, args in dockerfile:
        if keyword != "FROM":
            continue
        words = [w for w in args.split() if not w.startswith("--")]
        image = words[0]
        if len(words) >= 3 and words[1].lower() == "as":
            stages.add(words[2].lower())
        if image.lower() in stages:
            continue  # FROM an earlier stage
        assert "$" not in image, f"FROM {image}: pin the image literally"
        tag = image_tag(image)
        assert tag and VERSION_TAG.match(tag), f"FROM {image} should name an explicit version"
        assert "python" not in image or tag.startswith("3.11"), f"FROM {image}: Python 3.11"


def test_the_image_runs_as_a_non_root_user(dockerfile: list[tuple[str, str]]) -> None:
    users = [args for keyword, args in final_stage(dockerfile) if keyword == "USER"]
    assert users, "the final stage never switches away from root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"USER {users[-1]} is root"


def test_the_image_starts_a_duragent_worker(dockerfile: list[tuple[str, str]]) -> None:
    argv: list[str] = []
    for keyword in ("ENTRYPOINT", "CMD"):
        found = [args for kw, args in final_stage(dockerfile) if kw == keyword]
        if found:
            text = found[-1]
            argv += json.loads(text) if text.startswith("[") else shlex.split(text)
    joined = " ".join(argv)
    assert "duragent worker" in joined, f"the image runs {argv}"
    app = argv[argv.index("--app") + 1]
    module, _, attribute = app.partition(":")
    assert attribute, f"--app {app} must be module:attribute"
    assert importlib.util.find_spec(module) is not None, f"--app {app}: no module {module}"


def test_the_build_context_holds_what_the_image_copies(dockerfile: list[tuple[str, str]]) -> None:
    patterns = dockerignore_patterns()
    copied = 0
    for keyword, args in dockerfile:
        if keyword not in ("COPY", "ADD") or "--from" in args:
            continue
        words = [w for w in args.split() if not w.startswith("--")]
        for source in words[:-1]:
            copied += 1
            source = source.removeprefix("./")
            assert (ROOT / source).exists(), f"{keyword} {source}: not in the repository"
            assert not ignored(source, patterns), f"{keyword} {source}: excluded by .dockerignore"
    assert copied


def test_the_build_context_leaves_out_state_and_secrets() -> None:
    patterns = dockerignore_patterns()
    for path in (".git", ".venv", ".duragent", ".env", "duragent/__pycache__"):
        assert ignored(path, patterns), f".dockerignore should exclude {path}"
