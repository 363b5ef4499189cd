"""The five functions as deploy/functions.yml describes them: the one source of truth.

Read by the generator of the Serverless Framework files (deploy/generate.py), the local gateway,
the tests and the operator scripts, so names, routes, memory, timeout and variables cannot drift
between the deployed variants and what is tested. Development tooling: never shipped to SCF.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC_FILE = ROOT / "deploy" / "functions.yml"
URL_INSTANCE_DIR = "scf-{kind}"
"""Function URL instances: immediate subfolders of the repository root (see deploy/generate.py)."""
APIGW_PROJECT = Path("deploy") / "apigw"


class SpecError(ValueError):
    """deploy/functions.yml is not usable; the message says what is wrong."""


@dataclass(frozen=True)
class Function:
    kind: str
    """The callback kind: functions/<kind>/index.py, build/<kind>/, the pipeline's kind."""
    route: str
    """POST route under an API Gateway base URL (and the local gateway)."""
    template_field: str
    """The CSS callback template field that carries this function's URL."""
    handler: str
    runtime: str
    memory_mb: int
    timeout_s: int
    variables: tuple[str, ...]

    @property
    def dashed(self) -> str:
        return self.kind.replace("_", "-")


@dataclass(frozen=True, kw_only=True)
class Triggered:
    """A function run by an SCF trigger other than HTTP: no route, no callback template field."""

    kind: str
    handler: str
    runtime: str
    memory_mb: int
    timeout_s: int
    variables: tuple[str, ...]
    role: str = "SCF_ROLE"
    """The deployer's variable naming this function's execution role."""


@dataclass(frozen=True, kw_only=True)
class Scheduled(Triggered):
    """Run by an SCF timer trigger (reconcile)."""

    cron: str
    """SCF's seven-field cron: second minute hour day month weekday year."""


@dataclass(frozen=True, kw_only=True)
class CosTriggered(Triggered):
    """Run by an SCF COS trigger on the functions' bucket (moderation_action)."""

    prefix: str
    """Key prefix under COS_PREFIX whose writes trigger it (the trigger's `filter.prefix`)."""
    events: str
    """The COS event (`cos:ObjectCreated:*`)."""


@dataclass(frozen=True)
class Spec:
    app: str
    functions: tuple[Function, ...]
    apigw: Mapping[str, Any]
    scheduled: tuple[Scheduled, ...] = ()
    cos_triggered: tuple[CosTriggered, ...] = ()

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(f.kind for f in self.functions)

    def function(self, kind: str) -> Function:
        for function in self.functions:
            if function.kind == kind:
                return function
        raise KeyError(kind)

    def routes(self) -> dict[str, str]:
        """kind -> route."""
        return {f.kind: f.route for f in self.functions}

    def url_instance(self, kind: str) -> str:
        """Name of the Function URL variant's `component: scf` instance."""
        return f"{self.app}-{self.function(kind).dashed}"

    def apigw_instance(self, kind: str) -> str:
        return f"{self.app}-apigw-{self.function(kind).dashed}"


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SpecError(f"{where} must be a list of names")
    return tuple(value)


def spec_from_config(config: Mapping[str, Any]) -> Spec:
    """A Spec from the parsed YAML, validated."""
    app = config.get("app")
    defaults = config.get("defaults") or {}
    functions = config.get("functions")
    if not isinstance(app, str) or not app:
        raise SpecError("deploy/functions.yml has no 'app'")
    if not isinstance(defaults, Mapping):
        raise SpecError("'defaults' must be a mapping")
    if not isinstance(functions, Mapping) or not functions:
        raise SpecError("deploy/functions.yml has no 'functions'")
    common = _strings(defaults.get("variables"), "defaults.variables")
    built: list[Function] = []
    for kind, own in functions.items():
        own = own or {}
        if not isinstance(own, Mapping):
            raise SpecError(f"functions.{kind} must be a mapping")
        settings = {**defaults, **own}
        route = settings.get("route")
        if not isinstance(route, str) or not route.startswith("/"):
            raise SpecError(f"functions.{kind} has no absolute 'route'")
        template_field = settings.get("template_field")
        if not isinstance(template_field, str) or not template_field.endswith("NotifyUrl"):
            raise SpecError(f"functions.{kind} has no 'template_field' (a CSS ...NotifyUrl field)")
        for name in ("handler", "runtime"):
            if not isinstance(settings.get(name), str):
                raise SpecError(f"functions.{kind}: '{name}' is missing")
        for name in ("memorySize", "timeout"):
            if not isinstance(settings.get(name), int):
                raise SpecError(f"functions.{kind}: '{name}' must be an integer")
        variables = common + _strings(own.get("variables"), f"functions.{kind}.variables")
        if len(set(variables)) != len(variables):
            raise SpecError(f"functions.{kind} lists a variable twice")
        built.append(
            Function(
                kind=str(kind),
                route=route,
                template_field=template_field,
                handler=settings["handler"],
                runtime=settings["runtime"],
                memory_mb=settings["memorySize"],
                timeout_s=settings["timeout"],
                variables=variables,
            )
        )
    routes = [f.route for f in built]
    if len(set(routes)) != len(routes):
        raise SpecError("two functions share a route")
    apigw = config.get("apigw") or {}
    if not isinstance(apigw, Mapping):
        raise SpecError("'apigw' must be a mapping")
    return Spec(
        app=app,
        functions=tuple(built),
        apigw=apigw,
        scheduled=_scheduled(config, defaults),
        cos_triggered=_cos_triggered(config, defaults),
    )


_Entry = tuple[str, Mapping[str, Any], dict[str, Any]]


def _background(section: str, config: Mapping[str, Any], defaults: Mapping[str, Any]) -> Iterator[_Entry]:
    """Each function of a section without an HTTP trigger (`scheduled`, `cos_triggered`): its kind,
    its own settings, and the fields every such function has (validated)."""
    entries = config.get(section) or {}
    if not isinstance(entries, Mapping):
        raise SpecError(f"'{section}' must be a mapping")
    for kind, own in entries.items():
        if not isinstance(own, Mapping):
            raise SpecError(f"{section}.{kind} must be a mapping")
        settings = {**defaults, **own}
        for name in ("memorySize", "timeout"):
            if not isinstance(settings.get(name), int):
                raise SpecError(f"{section}.{kind}: '{name}' must be an integer")
        common = {
            "kind": str(kind),
            "handler": settings["handler"],
            "runtime": settings["runtime"],
            "memory_mb": settings["memorySize"],
            "timeout_s": settings["timeout"],
            "variables": _strings(own.get("variables"), f"{section}.{kind}.variables"),
            "role": str(own.get("role") or "SCF_ROLE"),
        }
        yield str(kind), own, common


def _scheduled(config: Mapping[str, Any], defaults: Mapping[str, Any]) -> tuple[Scheduled, ...]:
    built = []
    for kind, own, common in _background("scheduled", config, defaults):
        cron = own.get("cron")
        if not isinstance(cron, str) or len(cron.split()) != 7:
            raise SpecError(f"scheduled.{kind}: 'cron' must have SCF's seven fields (second ... year)")
        built.append(Scheduled(cron=cron, **common))
    return tuple(built)


def _cos_triggered(config: Mapping[str, Any], defaults: Mapping[str, Any]) -> tuple[CosTriggered, ...]:
    built = []
    for kind, own, common in _background("cos_triggered", config, defaults):
        prefix, events = own.get("prefix"), own.get("events")
        if not isinstance(prefix, str) or not prefix.endswith("/") or prefix.startswith("/"):
            raise SpecError(f"cos_triggered.{kind}: 'prefix' must be a folder under COS_PREFIX, such as moderation/")
        if not isinstance(events, str) or not events.startswith("cos:"):
            raise SpecError(f"cos_triggered.{kind}: 'events' must name a COS event, such as cos:ObjectCreated:*")
        built.append(CosTriggered(prefix=prefix, events=events, **common))
    return tuple(built)


def load_spec(path: Path = SPEC_FILE) -> Spec:
    """deploy/functions.yml, parsed and validated (PyYAML is a development dependency)."""
    import yaml

    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror}") from None
    if not isinstance(config, Mapping):
        raise SpecError(f"{path} is not a YAML mapping")
    return spec_from_config(config)


@cache
def default_spec() -> Spec:
    return load_spec()
