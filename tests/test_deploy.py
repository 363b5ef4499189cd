"""serverless.yml (and its Function URL variant) against the code it deploys.

There is no offline validator for Tencent's Serverless Framework files, so what would only fail
after a deploy is checked here: handlers resolve, every variable the code reads is declared where
it is needed, routes are unique POSTs, the runtime and timeout fit, the CAM policy covers exactly
what the functions do, and the handlers answer behind a Function URL.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import inspect
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack import payloads, triggers
from devstack.stack import DevStack
from shared.budget import PIPELINE_BUDGET_SECONDS
from shared.pipeline import KINDS
from tests.conftest import Live

ROOT = Path(__file__).resolve().parent.parent
SCF_PYTHON_RUNTIMES = {"Python3.10", "Python3.9", "Python3.7", "Python3.6"}
CSS_ANSWER_WINDOW_SECONDS = 20
ROUTES = {
    "/live/stream-begin": "stream_begin",
    "/live/stream-end": "stream_end",
    "/live/record": "record",
    "/live/snapshot": "snapshot",
    "/live/porn-detect": "porn_detect",
}
SCF_PROVIDED = re.compile(r"^TENCENTCLOUD_")
TOPIC_VARIABLE = re.compile(r"^(MODERATION|TDMQ)_")
STAND_IN_WIRING = {"COS_SCHEME", "COS_PROXY", "TDMQ_SCHEME"}
"""Read by the code, left undeclared on purpose: they point the SDKs at the local stand-ins
(http, a proxy); in SCF the defaults (https, direct) are the right values."""
ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z0-9_]+)\}")


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return load_yaml(ROOT / "serverless.yml")


def functions_of(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    functions = config["inputs"]["functions"]
    assert isinstance(functions, dict)
    return functions


def effective(config: Mapping[str, Any], key: str, setting: str) -> Any:
    """A function's setting: its own value, else the top-level default (multi-scf semantics)."""
    own = functions_of(config)[key]
    return own[setting] if setting in own else config["inputs"].get(setting)


def environment_of(config: Mapping[str, Any], key: str) -> dict[str, str]:
    listed = effective(config, key, "environments") or []
    names = [item["key"] for item in listed]
    assert len(names) == len(set(names)), f"{key} declares a variable twice: {names}"
    return {item["key"]: item["value"] for item in listed}


def apis_of(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    gateways = [t for t in config["inputs"]["triggers"] if t.get("type") == "apigw"]
    assert len(gateways) == 1
    apis = gateways[0]["parameters"]["apis"]
    assert isinstance(apis, list)
    return apis


def variables_read_by_the_code() -> set[str]:
    """Names passed to `env.get("NAME"` or a helper called as `_helper(env, "NAME"` in shared/."""
    pattern = re.compile(r"""(?:\benv\.get\(\s*|\b_\w+\(\s*env\s*,\s*)["']([A-Z][A-Z0-9_]+)["']""")
    names: set[str] = set()
    for source in (ROOT / "shared").glob("*.py"):
        names |= set(pattern.findall(source.read_text(encoding="utf-8")))
    return names


def load_handler_setting(handler: str) -> Any:
    """Resolve `path/to/module.function` the way SCF does: a file below the code root."""
    module_path, _, function = handler.rpartition(".")
    file = ROOT / f"{module_path}.py"
    assert file.is_file(), f"handler {handler!r}: no file {file.relative_to(ROOT)}"
    spec = importlib.util.spec_from_file_location("scf_handler_" + re.sub(r"\W", "_", module_path), file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, function, None)


# serverless.yml


def test_the_five_functions_are_declared_under_the_kinds_the_pipeline_handles(config: dict[str, Any]) -> None:
    assert config["component"] == "multi-scf"
    assert set(functions_of(config)) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_every_handler_resolves_to_a_callable_taking_event_and_context(config: dict[str, Any], kind: str) -> None:
    handler = functions_of(config)[kind]["handler"]
    assert handler == f"functions/{kind}/index.main_handler"
    function = load_handler_setting(handler)
    assert callable(function)
    assert list(inspect.signature(function).parameters) == ["event", "context"]


def test_every_variable_the_code_reads_is_declared_for_the_functions_that_need_it(config: dict[str, Any]) -> None:
    read = variables_read_by_the_code()
    assert {"LIVE_CALLBACK_KEYS", "COS_BUCKET", "COS_REGION", "MODERATION_TOPIC"} <= read  # the scan works
    needed = {name for name in read if not SCF_PROVIDED.match(name)} - STAND_IN_WIRING
    for kind in KINDS:
        declared = set(environment_of(config, kind))
        wanted = needed if kind == "porn_detect" else {n for n in needed if not TOPIC_VARIABLE.match(n)}
        assert wanted <= declared, f"{kind} misses {sorted(wanted - declared)}"
        assert declared <= read, f"{kind} declares variables nothing reads: {sorted(declared - read)}"


def test_variables_left_undeclared_only_wire_the_local_stand_ins(stack: DevStack) -> None:
    wiring = set(stack.env()) - {"LIVE_CALLBACK_KEYS", "COS_BUCKET", "COS_REGION", "MODERATION_TOPIC"}
    assert wiring >= STAND_IN_WIRING


def test_every_value_comes_from_the_deployers_environment_under_its_own_name(config: dict[str, Any]) -> None:
    for kind in KINDS:
        for name, value in environment_of(config, kind).items():
            assert value == f"${{env:{name}}}", f"{kind}: {name} is set to {value!r}, not from .env"


def test_routes_are_five_unique_posts_one_per_function_with_integrated_responses(config: dict[str, Any]) -> None:
    apis = apis_of(config)
    assert {api["path"]: api["function"] for api in apis} == ROUTES
    assert len({(api["path"], api["method"]) for api in apis}) == len(apis) == len(KINDS)
    assert {api["method"] for api in apis} == {"POST"}
    assert all(api.get("isIntegratedResponse") is True for api in apis)


def test_configure_callbacks_appends_the_same_routes() -> None:
    spec = importlib.util.spec_from_file_location("configure_callbacks", ROOT / "scripts" / "configure_callbacks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    assert {route: key for key, (route, _) in module.ROUTES.items()} == ROUTES


def test_runtime_is_an_scf_python_and_matches_the_package_target(config: dict[str, Any]) -> None:
    package_sh = (ROOT / "scripts" / "package.sh").read_text(encoding="utf-8")
    [version] = re.findall(r"^SCF_PYTHON_VERSION=(\S+)$", package_sh, re.M)
    for kind in KINDS:
        runtime = effective(config, kind, "runtime")
        assert runtime in SCF_PYTHON_RUNTIMES
        assert runtime == f"Python{version}"  # vendored wheels are built for this Python


def test_timeout_exceeds_the_pipeline_budget_and_answers_within_css_window(config: dict[str, Any]) -> None:
    for kind in KINDS:
        timeout = effective(config, kind, "timeout")
        assert PIPELINE_BUDGET_SECONDS < timeout < CSS_ANSWER_WINDOW_SECONDS
    for api in apis_of(config):
        assert effective(config, api["function"], "timeout") < api["serviceTimeout"] < CSS_ANSWER_WINDOW_SECONDS


def test_memory_size_is_one_scf_offers(config: dict[str, Any]) -> None:
    for kind in KINDS:
        memory = effective(config, kind, "memorySize")
        assert memory == 64 or (128 <= memory <= 3072 and memory % 128 == 0)


def test_the_code_package_is_the_package_script_output_and_each_function_has_a_role(config: dict[str, Any]) -> None:
    assert (ROOT / config["inputs"]["src"]["src"]).resolve() == ROOT / "build" / "package"
    assert ".env" in config["inputs"]["src"]["exclude"]
    for kind in KINDS:
        assert effective(config, kind, "role") == "${env:SCF_ROLE}"


# Function URL variant


def url_variant(kind: str) -> dict[str, Any]:
    return load_yaml(ROOT / "deploy" / "function-url" / kind / "serverless.yml")


def test_function_url_project_names_app_and_stage_for_its_five_instances() -> None:
    project = load_yaml(ROOT / "deploy" / "function-url" / "serverless.yml")
    assert project["app"] and project["stage"] == "${env:STAGE}"
    folders = {p.parent.name for p in (ROOT / "deploy" / "function-url").glob("*/serverless.yml")}
    assert folders == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_function_url_variant_deploys_the_same_function(config: dict[str, Any], kind: str) -> None:
    variant = url_variant(kind)
    inputs = variant["inputs"]
    folder = ROOT / "deploy" / "function-url" / kind
    assert variant["component"] == "scf"
    assert inputs["handler"] == functions_of(config)[kind]["handler"]
    for setting in ("runtime", "memorySize", "timeout", "role"):
        assert inputs[setting] == effective(config, kind, setting), setting
    assert inputs["region"] == config["inputs"]["region"]
    assert (folder / inputs["src"]["src"]).resolve() == (ROOT / config["inputs"]["src"]["src"]).resolve()
    assert inputs["environment"]["variables"] == environment_of(config, kind)
    [event] = inputs["events"]
    parameters = event["http"]["parameters"]
    assert parameters["authType"] == "NONE"  # CSS cannot sign with CAM; the body's sign/t is checked
    assert parameters["netConfig"]["enableExtranet"] is True


# Deployer's environment


def test_env_example_lists_every_variable_the_deploy_files_reference() -> None:
    example = (ROOT / "deploy" / ".env.example").read_text(encoding="utf-8")
    values = dict(
        line.split("=", 1) for line in example.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )
    referenced: set[str] = set()
    for path in [ROOT / "serverless.yml", *(ROOT / "deploy" / "function-url").rglob("serverless.yml")]:
        referenced |= set(ENV_REFERENCE.findall(path.read_text(encoding="utf-8")))
    assert referenced <= set(values), f"missing from .env.example: {sorted(referenced - set(values))}"
    assert values["TENCENT_SECRET_ID"] == values["TENCENT_SECRET_KEY"] == ""  # no credential shipped
    assert ".env" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()


# CAM policy of the execution role

POLICY_VALUES = {
    "<COS_REGION>": "ap-guangzhou",
    "<APPID>": "1250000000",
    "<COS_PREFIX>": "live-callbacks",
    "<TDMQ_REGION>": "ap-guangzhou",
    "<OWNER_UIN>": "100000000001",
}


def render_policy(values: Mapping[str, str]) -> dict[str, Any]:
    text = (ROOT / "deploy" / "cam-policy.json").read_text(encoding="utf-8")
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    assert "<" not in text, f"placeholder left: {re.findall(r'<[A-Z_]+>', text)}"
    policy: dict[str, Any] = json.loads(text)
    return policy


def test_execution_role_policy_allows_only_object_writes_reads_and_one_topic() -> None:
    policy = render_policy({**POLICY_VALUES, "<COS_BUCKET>": "b-1250000000", "<MODERATION_TOPIC>": "t"})
    assert policy["version"] == "2.0"
    actions = {a for s in policy["statement"] for a in s["action"]}
    assert actions == {
        "name/cos:PutObject",
        "name/cos:HeadObject",
        "name/cos:GetObject",
        "name/cos:DeleteObject",  # a failed publish releases its claim on the hit
        "name/tdmq:PublishCmqMsg",
    }
    assert all(s["effect"] == "allow" for s in policy["statement"])
    resources = [r for s in policy["statement"] for r in s["resource"]]
    assert "*" not in resources
    assert all(r.endswith(("/live-callbacks/*", "/t")) for r in resources)


def test_every_object_the_functions_write_falls_under_the_policys_prefix(live: Live) -> None:
    live.configure(COS_PREFIX="live-callbacks")
    for kind in KINDS:
        assert live.deliver(kind, stream_id=f"policy-{kind}")["statusCode"] == 200
    live.invoke("record", payloads.signed({**payloads.record(), "event_type": 1}))  # quarantined
    policy = render_policy({**POLICY_VALUES, "<COS_BUCKET>": live.bucket, "<MODERATION_TOPIC>": live.topic})
    [cos] = [s for s in policy["statement"] if any(a.startswith("name/cos:") for a in s["action"])]
    written = [f"qcs::cos:ap-guangzhou:uid/1250000000:{live.bucket}/{key}" for key in live.objects()]
    assert len(written) == len(KINDS) + 1
    for resource in written:
        assert any(fnmatch.fnmatchcase(resource, pattern) for pattern in cos["resource"]), resource
    [tdmq] = [s for s in policy["statement"] if s["action"] == ["name/tdmq:PublishCmqMsg"]]
    assert all(r.endswith(f"/{live.topic}") for r in tdmq["resource"])
    assert [m["TopicName"] for m in live.published()] == [live.topic]


# Behind a Function URL


@pytest.mark.parametrize("kind", KINDS)
def test_function_url_event_to_every_handler_gives_200_and_stores(live: Live, kind: str) -> None:
    body = payloads.signed(payloads.BUILDERS[kind](stream_id=f"url-{kind}"))
    event = triggers.function_url_event(body)
    assert "requestContext" not in event and "x-scf-remote-addr" in event["headers"]

    answer = live.invoke(kind, event, trigger="direct")

    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"code": 0}
    assert answer["headers"]["Content-Type"] == "application/json"
    stored = [key for key in live.objects() if "/url-" + kind + "/" in key]
    assert len(stored) == 1
    assert live.logs[-1]["trigger"] == "url"
    if kind == "porn_detect":
        assert [json.loads(m["MsgContent"])["stream_id"] for m in live.published()] == ["url-porn_detect"]


def test_function_url_event_with_a_wrong_signature_is_refused_and_stores_nothing(live: Live) -> None:
    body = payloads.signed(payloads.record(stream_id="url-forged"), key="not-the-key")
    answer = live.invoke("record", triggers.function_url_event(body), trigger="direct")
    assert answer["statusCode"] in (401, 403)
    assert live.objects() == {}
