"""The Docker Compose stack, checked by reading it: no Docker engine is needed.

docker-compose.yaml, Dockerfile, .env.example and .dockerignore must agree with each other and with
the repository: the schema, the services and their wiring, the image version, the variables, the
bind mounts and the connections Airflow will build from the environment.

The `${VAR}` handling below follows Compose's interpolation rules (`$$` escapes, `${VAR:-default}`,
`${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, `$VAR`; anything else
after a `$` is an error), and is itself tested on inline examples first.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
REQUIREMENTS = ROOT / "requirements.txt"
CONSTRAINTS = ROOT / "constraints.txt"
PYPROJECT = ROOT / "pyproject.toml"
GITIGNORE = ROOT / ".gitignore"
COMPOSE_SCHEMA = Path(__file__).resolve().parents[2] / "shared/data/compose-spec.json"

AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)
ONE_SHOT_SERVICES = ("airflow-init", "warehouse-seed")
EXPECTED_SERVICES = {
    *AIRFLOW_SERVICES,
    "airflow-init",
    "postgres",
    "redis",
    "warehouse",
    "warehouse-seed",
    "integra-sandbox",
}
# Services that run the project image without being Airflow components.
PROJECT_IMAGE_HELPERS = ("warehouse-seed", "integra-sandbox")
DATA_MOUNT = "/opt/airflow/data"
SANDBOX_DEFAULT_URL = "http://integra-sandbox:8765/api/v1"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET")
# Bind-mount sources that are run-time output, git-ignored, so absent from a fresh clone: Docker
# creates them on the first `up` (and airflow-init fixes their owner), as in the official file.
RUNTIME_OUTPUT_DIRS = {"logs"}


# --- Compose interpolation --------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class InterpolationError(ValueError):
    """A `$` Compose cannot interpret (it refuses the whole file)."""


class MissingVariableError(InterpolationError):
    """A `${VAR:?message}` / `${VAR?message}` whose variable is empty / unset."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"required variable {name} is missing a value: {message}")
        self.name = name


@dataclass(frozen=True)
class Ref:
    """One variable reference: `${name<op><arg>}` or `$name` (op and arg empty)."""

    name: str
    op: str = ""
    arg: str = ""


def _tokens(text: str) -> Iterator[str | Ref]:
    """Literal text and references, left to right; `$$` yields a literal `$`."""
    i, n = 0, len(text)
    while i < n:
        dollar = text.find("$", i)
        if dollar < 0:
            yield text[i:]
            return
        if dollar > i:
            yield text[i:dollar]
        nxt = text[dollar + 1 : dollar + 2]
        if nxt == "$":
            yield "$"
            i = dollar + 2
        elif nxt == "{":
            name = _NAME.match(text, dollar + 2)
            if not name:
                raise InterpolationError(f"invalid interpolation format in {text!r}")
            j = name.end()
            op = next((o for o in _OPERATORS if text.startswith(o, j)), "")
            j += len(op)
            depth, k = 1, j
            while k < n:
                if text.startswith("$$", k):
                    k += 2
                    continue
                if text.startswith("${", k):
                    depth, k = depth + 1, k + 2
                    continue
                if text[k] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            else:
                raise InterpolationError(f"unterminated ${{ in {text!r}")
            if not op and k != j:
                raise InterpolationError(f"invalid interpolation format in {text!r}")
            yield Ref(name.group(), op, text[j:k])
            i = k + 1
        elif name := _NAME.match(text, dollar + 1):
            yield Ref(name.group())
            i = name.end()
        else:
            raise InterpolationError(f"invalid interpolation format in {text!r} (write $$ for a literal $)")


def references(text: str) -> list[Ref]:
    """Every reference in text, including those nested in defaults and messages."""
    found: list[Ref] = []
    for token in _tokens(text):
        if isinstance(token, Ref):
            found.append(token)
            found.extend(references(token.arg))
    return found


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Text as Compose would pass it to the container, with env as the .env file."""
    parts: list[str] = []
    for token in _tokens(text):
        if isinstance(token, str):
            parts.append(token)
            continue
        is_set = token.name in env
        value = env.get(token.name, "")
        present = bool(value) if token.op.startswith(":") else is_set
        if token.op == "":
            parts.append(value)
        elif token.op in (":-", "-"):
            parts.append(value if present else interpolate(token.arg, env))
        elif token.op in (":?", "?"):
            if not present:
                raise MissingVariableError(token.name, interpolate(token.arg, env))
            parts.append(value)
        else:  # ":+", "+"
            parts.append(interpolate(token.arg, env) if present else "")
    return "".join(parts)


def strings_in(node: Any) -> Iterator[str]:
    """Every string value in a YAML tree (Compose interpolates values, not keys)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from strings_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings_in(value)


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, Mapping):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(value, env) for value in node]
    return node


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=value lines of a .env file; comments and blank lines skipped, matching quotes removed."""
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not _NAME.fullmatch(key.strip()):
            raise ValueError(f"not a KEY=value line: {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def undocumented_env_keys(text: str) -> list[str]:
    """Keys not preceded by a comment (directly, or through the assignments of their group)."""
    missing: list[str] = []
    last_kind = "blank"
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            last_kind = "comment"
        elif not line:
            last_kind = "blank"
        else:
            if last_kind not in ("comment", "documented"):
                missing.append(line.partition("=")[0])
            last_kind = "documented" if last_kind in ("comment", "documented") else "bare"
    return missing


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore glob: `*` and `?` stay within one path segment, `**/` spans any number."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore patterns exclude a context path (last match wins, `!` re-includes).

    A pattern matching a directory excludes everything under it, so each leading part of the
    path is tried.
    """
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _glob_regex(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


# --- The interpolation helpers on inline examples ----------------------------------------------------


def test_references_follow_compose_rules():
    text = "a ${A} $B $${NOT_A} $$NOT_B ${C:-x} ${D:?need D} ${E:-${F}} ${G-} ${H:+on} tail$$"
    assert [ref.name for ref in references(text)] == ["A", "B", "C", "D", "E", "F", "G", "H"]
    assert Ref("C", ":-", "x") in references(text)
    assert Ref("D", ":?", "need D") in references(text)
    assert references("no variables, $$ only") == []


def test_interpolate_follows_compose_rules():
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("${SET}-${UNSET}-$SET", env) == "v--v"
    assert interpolate("${EMPTY:-d} ${EMPTY-d} ${UNSET-d}", env) == "d  d"
    assert interpolate("${UNSET:-${SET}x}", env) == "vx"
    assert interpolate("${SET:+yes}${EMPTY:+no}${EMPTY+set}", env) == "yesset"
    assert interpolate("$${SET} $$(id -u)", env) == "${SET} $(id -u)"
    assert interpolate("${SET:?boom}", env) == "v"
    with pytest.raises(MissingVariableError, match="EMPTY is missing a value: set it"):
        interpolate("x${EMPTY:?set it}", env)
    with pytest.raises(MissingVariableError, match="UNSET"):
        interpolate("${UNSET?}", env)
    interpolate("${EMPTY?}", env)  # set, even if empty


@pytest.mark.parametrize("bad", ["$(id -u)", "cost: 5$", "${}", "${A B}", "${A", "${1X}"])
def test_interpolate_rejects_what_compose_rejects(bad):
    with pytest.raises(InterpolationError):
        interpolate(bad, {"A": "a"})


def test_env_file_helpers():
    text = "# what A is\nA=1\nB='two words'\n\n# C and D\nC=\nD=\"q\"\n\nE=bare\n"
    assert parse_env_file(text) == {"A": "1", "B": "two words", "C": "", "D": "q", "E": "bare"}
    assert undocumented_env_keys(text) == ["E"]
    with pytest.raises(ValueError, match="KEY=value"):
        parse_env_file("not an assignment\n")


def test_dockerignored_helper():
    patterns = [".venv", "**/__pycache__", "*.txt", "!requirements.txt", "logs"]
    assert dockerignored(".venv/bin/python", patterns)
    assert dockerignored("__pycache__/x.pyc", patterns)
    assert dockerignored("src/integra/__pycache__/x.pyc", patterns)
    assert dockerignored("constraints.txt", patterns)
    assert not dockerignored("requirements.txt", patterns)
    assert not dockerignored("include/sql/notes.txt", patterns)  # `*` stays in one segment
    assert not dockerignored("dags/logs.py", patterns)
    assert not dockerignored("Dockerfile", patterns)


# --- Loading the real files ---------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    """docker-compose.yaml as Compose sees it before interpolation (YAML merge keys resolved)."""
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


@cache
def env_example() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE.read_text(encoding="utf-8"))


def filled_env() -> dict[str, str]:
    """.env.example with its empty secrets filled in, as a user does after generating them."""
    return {
        key: value or (f"test-{key.lower().replace('_', '-')}" if SECRET_NAME.search(key) else value)
        for key, value in env_example().items()
    }


@cache
def compose_refs() -> list[Ref]:
    return [ref for text in strings_in(compose()) for ref in references(text)]


def interpolated(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    return interpolate_tree(compose(), filled_env() if env is None else env)


def service_env(name: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    environment = interpolated(env)["services"][name].get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def depends_on(service: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return deps


def volume_specs(service: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(type, source, target) of every volume entry, short or long syntax."""
    specs = []
    for entry in service.get("volumes", []):
        if isinstance(entry, str):
            source, _, rest = entry.partition(":")
            target = rest.split(":", 1)[0]
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            specs.append((kind, source, target))
        else:
            specs.append((entry["type"], entry.get("source", ""), entry["target"]))
    return specs


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    buffer = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        logical.append(buffer + stripped)
        buffer = ""
    pairs = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        pairs.append((instruction.upper(), args.strip()))
    return pairs


def base_image() -> tuple[str, str]:
    """(airflow version, python version) of the Dockerfile's FROM apache/airflow:X-pythonY."""
    froms = [args for instruction, args in dockerfile_instructions() if instruction == "FROM"]
    assert len(froms) == 1, froms
    match = re.fullmatch(r"apache/airflow:(?P<airflow>[0-9][^-\s]*)-python(?P<python>\d+\.\d+)", froms[0])
    assert match, f"FROM should be apache/airflow:<version>-python<X.Y>, got {froms[0]!r}"
    return match["airflow"], match["python"]


def pinned_version(path: Path, dist: str) -> str:
    pins = re.findall(rf"(?im)^{re.escape(dist)}==(\S+)\s*$", path.read_text(encoding="utf-8"))
    assert len(pins) == 1, f"{path.name} should pin {dist} exactly once, found {pins}"
    return pins[0]


# --- The compose file -----------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification():
    if not COMPOSE_SCHEMA.is_file():
        pytest.skip(f"Compose Specification schema not found at {COMPOSE_SCHEMA}")
    import jsonschema

    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    # Compose validates the interpolated model; the raw one must pass as well.
    for label, document in (("raw", compose()), ("interpolated", interpolated())):
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        assert not errors, f"{label}: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
        )


def test_every_expected_service_exists():
    assert set(services()) >= EXPECTED_SERVICES, EXPECTED_SERVICES - set(services())


def test_airflow_services_share_the_common_anchor():
    common = compose()["x-airflow-common"]
    common_env = common["environment"]
    assert common_env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        service = services()[name]
        assert service["image"] == common["image"], name
        assert service["build"] == common["build"], name
        missing_or_changed = {key for key, value in common_env.items() if service["environment"].get(key) != value}
        assert not missing_or_changed, f"{name} does not share {sorted(missing_or_changed)}"
        assert set(volume_specs(common)) <= set(volume_specs(service)), name
        for dep, spec in depends_on(common).items():
            assert depends_on(service).get(dep) == spec, f"{name} lost depends_on {dep}"
    for name in AIRFLOW_SERVICES:
        assert services()[name]["user"] == common["user"], name
    commands = {name: services()[name]["command"] for name in AIRFLOW_SERVICES}
    assert commands == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
        "airflow-worker": "celery worker",
    }


def test_project_image_is_built_once_and_shared():
    common = compose()["x-airflow-common"]
    assert common["build"] in (".", {"context": "."})
    for name in PROJECT_IMAGE_HELPERS:
        # Same image *and* build: compose builds it once and never tries to pull it.
        assert services()[name]["image"] == common["image"], name
        assert services()[name]["build"] == common["build"], name


def test_depends_on_names_existing_services_with_sound_conditions():
    all_services = services()
    for name, service in all_services.items():
        for dep, spec in depends_on(service).items():
            assert dep in all_services, f"{name} depends on unknown service {dep}"
            assert dep != name
            condition = spec.get("condition", "service_started")
            if condition == "service_healthy":
                assert "healthcheck" in all_services[dep], f"{name} waits for {dep} to be healthy"
            elif condition == "service_completed_successfully":
                assert dep in ONE_SHOT_SERVICES, f"{name} waits for {dep} to exit"
            else:
                assert condition == "service_started", condition
    assert depends_on(all_services["warehouse-seed"])["warehouse"]["condition"] == "service_healthy"
    for name in AIRFLOW_SERVICES:
        assert depends_on(all_services[name])["airflow-init"]["condition"] == "service_completed_successfully"


def test_long_running_services_have_healthchecks_and_one_shots_do_not_restart():
    for name, service in services().items():
        if name in ONE_SHOT_SERVICES:
            assert service.get("restart", "no") == "no", name
        else:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
            assert service.get("restart") == "always", name


def test_build_contexts_and_dockerfiles_exist():
    builds = [(name, s["build"]) for name, s in services().items() if "build" in s]
    assert builds
    for name, build in builds:
        spec = {"context": build} if isinstance(build, str) else build
        context = (ROOT / spec["context"]).resolve()
        assert context.is_dir(), f"{name}: build context {context} missing"
        dockerfile = context / spec.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} missing"


def test_bind_mounted_host_paths_exist():
    ignored = GITIGNORE.read_text(encoding="utf-8").split()
    for name, service in interpolated()["services"].items():
        for kind, source, target in volume_specs(service):
            if kind != "bind":
                continue
            relative = PurePosixPath(source).as_posix().removeprefix("./")
            if relative in RUNTIME_OUTPUT_DIRS:
                assert f"/{relative}/" in ignored or f"{relative}/" in ignored, (
                    f"{relative} is treated as run-time output but is not git-ignored"
                )
                continue
            assert (ROOT / source).exists(), f"{name}: bind source {source} (-> {target}) missing"


def test_named_volumes_are_declared():
    declared = set(compose().get("volumes") or {})
    used = {source for service in services().values() for kind, source, _ in volume_specs(service) if kind == "volume"}
    assert used == declared


def test_every_airflow_container_shares_the_batch_data_volume():
    data_volumes = set()
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        env = service_env(name)
        assert env["INTEGRA_DATA_PATH"] == f"file://{DATA_MOUNT}", name
        mounts = [(kind, source) for kind, source, target in volume_specs(services()[name]) if target == DATA_MOUNT]
        assert len(mounts) == 1, f"{name} must mount {DATA_MOUNT} once, got {mounts}"
        assert mounts[0][0] == "volume", f"{name} must mount a named volume at {DATA_MOUNT}"
        data_volumes.add(mounts[0][1])
    assert len(data_volumes) == 1, f"all Airflow containers must share one data volume, got {data_volumes}"


def test_core_settings_point_at_the_right_services():
    all_services = interpolated()["services"]
    env = service_env("airflow-scheduler")
    execution = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (execution.hostname, execution.port, execution.path) == ("airflow-apiserver", 8080, "/execution/")
    assert any(str(p).endswith(":8080") for p in all_services["airflow-apiserver"]["ports"])
    assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).hostname == "redis"
    postgres_env = {k: str(v) for k, v in all_services["postgres"]["environment"].items()}
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
        url = urlsplit(env[key])
        assert url.hostname == "postgres", key
        assert (url.username, url.password, url.path.lstrip("/")) == (
            postgres_env["POSTGRES_USER"],
            postgres_env["POSTGRES_PASSWORD"],
            postgres_env["POSTGRES_DB"],
        ), key
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "true"
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    filled = filled_env()
    assert env["AIRFLOW__CORE__FERNET_KEY"] == filled["AIRFLOW_FERNET_KEY"]
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == filled["AIRFLOW_JWT_SECRET"]
    assert env["AIRFLOW__API__SECRET_KEY"] == filled["AIRFLOW_API_SECRET_KEY"]


def test_admin_login_is_configured_for_the_simple_auth_manager():
    env = service_env("airflow-init")
    filled = filled_env()
    passwords_file = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == f"{filled['AIRFLOW_ADMIN_USERNAME']}:admin"
    assert env["_AIRFLOW_ADMIN_USERNAME"] == filled["AIRFLOW_ADMIN_USERNAME"]
    assert env["_AIRFLOW_ADMIN_PASSWORD"] == filled["AIRFLOW_ADMIN_PASSWORD"]
    script = "\n".join(services()["airflow-init"]["command"])
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in script
    assert "airflow db migrate" in script
    # The api-server reads (and may rewrite) the file the init container wrote: same volume.
    auth_dir = str(PurePosixPath(passwords_file).parent)
    mounts = {
        name: {source for kind, source, target in volume_specs(services()[name]) if target == auth_dir}
        for name in ("airflow-init", "airflow-apiserver")
    }
    assert mounts["airflow-init"] == mounts["airflow-apiserver"] != set(), mounts


# --- Variables and .env.example ---------------------------------------------------------------------------


def test_env_example_lists_exactly_the_compose_variables():
    used = {ref.name for ref in compose_refs()}
    listed = set(env_example())
    assert used - listed == set(), f"used in docker-compose.yaml, missing from .env.example: {used - listed}"
    assert listed - used == set(), f"listed in .env.example, unused by docker-compose.yaml: {listed - used}"


def test_env_example_documents_every_variable():
    assert undocumented_env_keys(ENV_EXAMPLE.read_text(encoding="utf-8")) == []
    assert env_example()["AIRFLOW_UID"] == "50000"
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert "Fernet.generate_key()" in text
    assert "openssl rand -hex 32" in text


def test_secrets_are_required_and_defaults_match_env_example():
    example = env_example()
    for ref in compose_refs():
        if SECRET_NAME.search(ref.name):
            assert ref.op == ":?", f"secret {ref.name} must be ${{{ref.name}:?...}}, not {ref.op or 'bare'}"
        elif ref.op == ":-" and ref.arg:
            assert ref.arg == example[ref.name], f"{ref.name}: compose default {ref.arg!r} != .env.example"
        else:
            assert ref.op in ("", ":-"), f"{ref.name}: unexpected operator {ref.op}"
    for key, value in example.items():
        if SECRET_NAME.search(key) and key != "INTEGRA_API_TOKEN":
            assert value == "", f"{key}: .env.example must not ship a usable secret"


def test_compose_interpolates_and_refuses_to_start_without_secrets():
    interpolated()  # no stray `$`: every string is valid for Compose
    missing = set()
    env = dict(env_example())
    while True:
        try:
            interpolate_tree(compose(), env)
            break
        except MissingVariableError as exc:
            missing.add(exc.name)
            env[exc.name] = "x"
    assert missing == {key for key, value in env_example().items() if SECRET_NAME.search(key) and not value}
    assert "AIRFLOW_FERNET_KEY" in missing


# --- Connections --------------------------------------------------------------------------------------


def parse_connection(conn_id: str, value: str):
    from airflow.sdk import Connection

    if value.lstrip().startswith("{"):
        return Connection.from_json(value, conn_id=conn_id)
    return Connection.from_uri(value, conn_id=conn_id)


def test_warehouse_connection_parses_to_the_warehouse_service():
    env = service_env("airflow-worker")
    filled = filled_env()
    conn = parse_connection("integra_warehouse", env["AIRFLOW_CONN_INTEGRA_WAREHOUSE"])
    assert conn.conn_type == "postgres"
    assert (conn.host, conn.port) == ("warehouse", 5432)
    assert (conn.login, conn.password, conn.schema) == (
        filled["WAREHOUSE_USER"],
        filled["WAREHOUSE_PASSWORD"],
        filled["WAREHOUSE_DB"],
    )
    warehouse = interpolated()["services"]["warehouse"]
    assert warehouse["image"].startswith("postgres:")
    assert (
        warehouse["environment"]["POSTGRES_USER"],
        warehouse["environment"]["POSTGRES_PASSWORD"],
        warehouse["environment"]["POSTGRES_DB"],
    ) == (conn.login, conn.password, conn.schema)
    # The seeder writes where the DAGs read.
    assert service_env("warehouse-seed")["WAREHOUSE_DSN"] == env["AIRFLOW_CONN_INTEGRA_WAREHOUSE"]


def test_ledger_connection_is_its_own_database_on_the_metadata_server():
    """The ledger needs enforced keys and transactions: PostgreSQL, not the warehouse, not Airflow's own DB."""
    env = service_env("airflow-worker")
    filled = filled_env()
    conn = parse_connection("integra_ledger", env["AIRFLOW_CONN_INTEGRA_LEDGER"])
    assert conn.conn_type == "postgres"
    assert (conn.host, conn.port) == ("postgres", 5432)
    assert (conn.login, conn.password) == (filled["AIRFLOW_DB_USER"], filled["AIRFLOW_DB_PASSWORD"])
    assert conn.schema == filled["INTEGRA_LEDGER_DB"]
    assert conn.schema != filled["AIRFLOW_DB_NAME"]
    init = interpolated()["services"]["airflow-init"]["command"][-1]
    assert "python -m integra.ledger upgrade" in init
    assert init.index("airflow db migrate") < init.index("python -m integra.ledger upgrade")


@pytest.mark.parametrize(
    ("base_url", "expected_host"),
    [
        pytest.param(None, SANDBOX_DEFAULT_URL, id="env-example"),
        pytest.param("", SANDBOX_DEFAULT_URL, id="empty-means-sandbox"),
        pytest.param("https://api.example.test/api/v1", "https://api.example.test/api/v1", id="real-api"),
    ],
)
def test_integra_connection_parses_to_the_api_base_url(base_url, expected_host):
    env = filled_env()
    if base_url is not None:
        env["INTEGRA_BASE_URL"] = base_url
    conn = parse_connection("integra_default", service_env("airflow-worker", env)["AIRFLOW_CONN_INTEGRA_DEFAULT"])
    assert conn.conn_type == "http"
    assert conn.host == expected_host
    assert conn.password == env["INTEGRA_API_TOKEN"]


def test_sandbox_serves_the_default_integra_url_with_the_same_token():
    assert env_example()["INTEGRA_BASE_URL"] == SANDBOX_DEFAULT_URL
    url = urlsplit(SANDBOX_DEFAULT_URL)
    sandbox = interpolated()["services"][url.hostname]
    args = [str(arg) for arg in sandbox["command"]]
    assert args[:2] == ["python", "/opt/airflow/include/integra_sandbox/server.py"]
    assert args[args.index("--port") + 1] == str(url.port)
    assert args[args.index("--host") + 1] == "0.0.0.0"
    assert args[args.index("--token") + 1] == filled_env()["INTEGRA_API_TOKEN"]


def test_helper_scripts_exist_behind_their_mounts():
    for name, script in (
        ("integra-sandbox", "/opt/airflow/include/integra_sandbox/server.py"),
        ("warehouse-seed", "/opt/airflow/include/demo/leads.py"),
    ):
        service = services()[name]
        assert script in " ".join(map(str, service["command"])), name
        host_paths = [
            ROOT / source / PurePosixPath(script).relative_to(target)
            for kind, source, target in volume_specs(service)
            if kind == "bind" and PurePosixPath(script).is_relative_to(target)
        ]
        assert host_paths, f"{name}: {script} is not under a bind mount"
        assert host_paths[0].is_file(), f"{name}: {host_paths[0]} missing"


# --- Dockerfile, versions, build context -------------------------------------------------------------------


def test_versions_agree_across_dockerfile_requirements_constraints_and_compose():
    airflow_version, python_version = base_image()
    assert pinned_version(REQUIREMENTS, "apache-airflow") == airflow_version
    assert pinned_version(CONSTRAINTS, "apache-airflow") == airflow_version
    image_defaults = {ref.arg for ref in compose_refs() if ref.name == "AIRFLOW_IMAGE_NAME"}
    assert len(image_defaults) == 1
    for image in (*image_defaults, env_example()["AIRFLOW_IMAGE_NAME"]):
        assert image.rsplit(":", 1)[1] == airflow_version, image
    requires_python = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["requires-python"]
    assert SpecifierSet(requires_python).contains(f"{python_version}.0"), (python_version, requires_python)


def test_dockerfile_installs_requirements_under_constraints():
    instructions = dockerfile_instructions()
    installs = [args for instruction, args in instructions if instruction == "RUN" and "pip install" in args]
    assert len(installs) == 1, installs
    assert re.search(r"-r\s+\S*requirements\.txt", installs[0])
    assert re.search(r"-c\s+\S*constraints\.txt", installs[0])
    assert "--no-cache-dir" in installs[0]
    users = [args for instruction, args in instructions if instruction == "USER"]
    assert users, "the Dockerfile should say which user installs"
    assert users[-1] == "airflow"
    assert "/opt/airflow/integra-src" in installs[0], "the image must install the integra package itself"
    env_lines = [args for instruction, args in instructions if instruction == "ENV"]
    assert not any("PYTHONPATH" in line for line in env_lines), env_lines  # installed, not on a path


def test_files_copied_into_the_image_exist_and_are_in_the_build_context():
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    copies = [args for instruction, args in dockerfile_instructions() if instruction in ("COPY", "ADD")]
    sources = [src for args in copies for src in [a for a in args.split() if not a.startswith("--")][:-1]]
    assert {"requirements.txt", "constraints.txt", "pyproject.toml", "src"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not dockerignored(source, patterns), f"{source} is excluded by .dockerignore"


def test_dockerignore_keeps_local_state_and_secrets_out():
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    for path in (".git/config", ".venv/bin/python", ".airflow/airflow.db", ".cache/x", ".env"):
        assert dockerignored(path, patterns), path
    for path in (".pytest_cache/v", ".ruff_cache/x", ".mypy_cache/x", "src/integra/__pycache__/a.pyc"):
        assert dockerignored(path, patterns), path
