"""The Serverless Framework files against deploy/functions.yml and the code they deploy.

There is no offline validator for Tencent's Serverless Framework files, so what would only fail
after a deploy is checked here: the files are what the generator writes from the one spec, the
project layout is the one Tencent's CLI deploys as a multi-instance project, handlers follow SCF's
documented `index.main_handler` form, every variable the code reads is declared where it is
needed, the runtime and timeout fit, the CAM policy covers exactly what the functions do, and the
handlers answer behind a Function URL. What the deploy tool sends to the cloud for these files is
checked against its own code in tests/test_toolkit_contract.py.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import generate
from deploy.spec import APIGW_PROJECT, URL_INSTANCE_DIR, Spec, SpecError, load_spec, spec_from_config
from devstack import payloads, triggers
from devstack.stack import DevStack
from shared.budget import PIPELINE_BUDGET_SECONDS
from shared.pipeline import KINDS
from shared.vocabulary import HIT_KINDS
from tests.conftest import Live
from tooling import callbacks

ROOT = Path(__file__).resolve().parent.parent
SCF_PYTHON_RUNTIMES = {"Python3.10", "Python3.9", "Python3.7", "Python3.6"}
CSS_ANSWER_WINDOW_SECONDS = 20
ROUTES = {
    "/live/stream-begin": "stream_begin",
    "/live/stream-end": "stream_end",
    "/live/record": "record",
    "/live/snapshot": "snapshot",
    "/live/porn-detect": "porn_detect",
    "/live/audio-moderation": "audio_moderation",
    "/live/push-exception": "push_exception",
    "/live/record-status": "record_status",
    "/live/record-exception": "record_exception",
}
SCF_PROVIDED = re.compile(r"^TENCENTCLOUD_")
TOPIC_VARIABLE = re.compile(r"^(MODERATION_|CMQ_ENDPOINT$)")
STAND_IN_WIRING = {"COS_SCHEME", "COS_PROXY"}
RECONCILE_VARIABLE = re.compile(r"^(RECONCILE|LIVE_API)_")
"""Read only by the reconcile timer function (shared/reconcile.py, shared/live.py)."""
ACTION_VARIABLE = re.compile(r"^(ACTION_|FORBID_)")
"""Read only by the COS-triggered moderation_action (shared/enforcement.py)."""
RECONCILE_WIRING = {"LIVE_API_ENDPOINT", "LIVE_API_SCHEME"}
"""Point the Live API SDK at the local stand-in; in SCF the defaults are right."""
"""Read by the code, left undeclared on purpose: they point the SDKs at the local stand-ins
(http, a proxy); in SCF the defaults (https, direct) are the right values."""
ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z0-9_]+)\}")


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec()


def instance_files() -> dict[str, dict[str, Path]]:
    """variant -> kind -> the instance's serverless.yml."""
    return {
        "url": {kind: ROOT / URL_INSTANCE_DIR.format(kind=kind) / "serverless.yml" for kind in KINDS},
        "apigw": {kind: ROOT / APIGW_PROJECT / kind / "serverless.yml" for kind in KINDS},
    }


def instance(variant: str, kind: str) -> dict[str, Any]:
    return load_yaml(instance_files()[variant][kind])


def variables_read_by_the_code() -> set[str]:
    """Names passed to `env.get("NAME"` or a helper called as `_helper(env, "NAME"` in shared/."""
    pattern = re.compile(r"""(?:\benv\.get\(\s*|\b_\w+\(\s*env\s*,\s*)["']([A-Z][A-Z0-9_]+)["']""")
    names: set[str] = set()
    for source in (ROOT / "shared").glob("*.py"):
        names |= set(pattern.findall(source.read_text(encoding="utf-8")))
    return names


def project_files() -> list[Path]:
    """Every serverless.yml of the repository (not in tool or build folders)."""
    skip = {".venv", ".git", ".toolkit", "build", "node_modules", ".local"}
    return [p for p in ROOT.rglob("serverless.y*ml") if not skip & set(p.relative_to(ROOT).parts)]


# One source of truth


def test_the_serverless_files_are_exactly_what_the_generator_writes_from_the_spec(spec: Spec) -> None:
    assert generate.differences(spec) == []


def test_a_changed_spec_changes_the_generated_files_so_the_check_can_fail(spec: Spec, tmp_path: Path) -> None:
    config = yaml.safe_load((ROOT / "deploy" / "functions.yml").read_text(encoding="utf-8"))
    config["functions"]["record"]["memorySize"] = 128
    changed = spec_from_config(config)
    assert changed.function("record").memory_mb == 128
    assert generate.files(changed) != generate.files(spec)
    assert any("scf-record/serverless.yml: differs" in p for p in generate.differences(changed))
    with pytest.raises(SpecError, match="share a route"):
        config["functions"]["snapshot"]["route"] = config["functions"]["record"]["route"]
        spec_from_config(config)


def test_the_spec_describes_exactly_the_kinds_the_pipeline_handles_and_the_doors_that_exist(spec: Spec) -> None:
    assert spec.kinds == KINDS
    assert {route: kind for kind, route in spec.routes().items()} == ROUTES  # the URLs documented for CSS
    scheduled = {s.kind for s in spec.scheduled}
    assert scheduled == {"reconcile"}
    cos_triggered = {s.kind for s in spec.cos_triggered}
    assert cos_triggered == {"moderation_action"}
    assert {p.parent.name for p in (ROOT / "functions").glob("*/index.py")} == set(KINDS) | scheduled | cos_triggered


def test_no_multi_scf_anywhere_every_instance_is_a_component_scf() -> None:
    files = project_files()
    assert len(files) == 2 + 2 * (len(KINDS) + 2)  # the projects, the doors, reconcile and moderation_action
    for path in files:
        assert "multi-scf" not in path.read_text(encoding="utf-8"), path
    for variant in instance_files().values():
        for path in variant.values():
            assert load_yaml(path)["component"] == "scf", path


@pytest.mark.parametrize("project", [ROOT, ROOT / APIGW_PROJECT], ids=["function-url", "apigw"])
def test_each_project_is_laid_out_as_tencents_cli_deploys_a_multi_instance_project(project: Path) -> None:
    # serverless-tencent 3.21.6 (src/libs/utils/basic.js runningTemplate, utils.js getTemplate): a folder
    # whose serverless.yml has no `component`/`service` is a template; each immediate subfolder holding a
    # serverless.yml is an instance and must name a component; instances inherit app/stage from the parent.
    root = load_yaml(project / "serverless.yml")
    assert "component" not in root and "service" not in root
    assert root["app"] and root["stage"] == "${env:STAGE}"
    found = {p.parent.name: load_yaml(p) for p in project.glob("*/serverless.yml")}
    assert all("component" in config for config in found.values())
    kinds = {*KINDS, "reconcile", "moderation_action"}
    expected = {URL_INSTANCE_DIR.format(kind=k) for k in kinds} if project == ROOT else kinds
    assert set(found) == expected
    assert not [c for c in found.values() if "app" in c or "stage" in c]  # inherited from the project


def test_instance_and_function_names_are_unique_and_fit_the_components_name_pattern() -> None:
    names = [instance(v, k)["inputs"]["name"] for v in ("url", "apigw") for k in KINDS]
    instances = [instance(v, k)["name"] for v in ("url", "apigw") for k in KINDS]
    assert len(set(names)) == len(set(instances)) == 2 * len(KINDS)
    # tencent-scf 0.9.x serverless.component.yml: inputs.name regex '^[A-Za-z][\w-_]{0,58}[A-Za-z0-9]$'
    # (JavaScript, where `-` between \w and _ is literal), with STAGE=prod filled in.
    pattern = re.compile(r"^[A-Za-z][\w\-]{0,58}[A-Za-z0-9]$")
    assert all(pattern.match(name.replace("${env:STAGE}", "prod")) for name in names)


# Each instance against the code it deploys


@pytest.mark.parametrize("variant", ["url", "apigw"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_handler_is_index_main_handler_in_its_own_package(variant: str, kind: str) -> None:
    inputs = instance(variant, kind)["inputs"]
    assert inputs["handler"] == "index.main_handler"
    folder = instance_files()[variant][kind].parent
    assert (folder / inputs["src"]["src"]).resolve() == ROOT / "build" / kind
    assert ".env" in inputs["src"]["exclude"]
    assert inputs["role"] == "${env:SCF_ROLE}"
    source = importlib.util.spec_from_file_location(f"door_{kind}", ROOT / "functions" / kind / "index.py")
    assert source is not None and source.loader is not None  # the file package.sh copies to index.py


@pytest.mark.parametrize("variant", ["url", "apigw"])
def test_every_variable_the_code_reads_is_declared_for_the_functions_that_need_it(variant: str) -> None:
    read = variables_read_by_the_code()
    assert {"LIVE_CALLBACK_KEYS", "COS_BUCKET", "COS_REGION", "MODERATION_TOPIC"} <= read  # the scan works
    needed = {
        name
        for name in read
        if not SCF_PROVIDED.match(name) and not RECONCILE_VARIABLE.match(name) and not ACTION_VARIABLE.match(name)
    }
    needed -= STAND_IN_WIRING
    for kind in KINDS:
        declared = instance(variant, kind)["inputs"]["environment"]["variables"]
        wanted = needed if kind == "porn_detect" else {n for n in needed if not TOPIC_VARIABLE.match(n)}
        assert wanted <= set(declared), f"{kind} misses {sorted(wanted - set(declared))}"
        assert set(declared) <= read, f"{kind} declares variables nothing reads: {sorted(set(declared) - read)}"
        for name, value in declared.items():
            assert value == f"${{env:{name}}}", f"{kind}: {name} is set to {value!r}, not from .env"


@pytest.mark.parametrize("variant", ["url", "apigw"])
def test_reconcile_runs_on_a_timer_with_its_own_role_and_only_the_variables_it_reads(variant: str) -> None:
    folder = ROOT / (URL_INSTANCE_DIR.format(kind="reconcile") if variant == "url" else APIGW_PROJECT / "reconcile")
    config = load_yaml(folder / "serverless.yml")
    inputs = config["inputs"]
    assert config["component"] == "scf" and inputs["handler"] == "index.main_handler"
    assert (folder / inputs["src"]["src"]).resolve() == ROOT / "build" / "reconcile"
    assert inputs["role"] == "${env:RECONCILE_ROLE}"
    (event,) = inputs["events"]
    assert list(event) == ["timer"]  # no HTTP trigger can reach the unsigned backfill path
    parameters = event["timer"]["parameters"]
    assert parameters["enable"] is True  # the toolkit sends CLOSE otherwise (lib/modules/triggers/timer.js)
    assert len(parameters["cronExpression"].split()) == 7
    declared = set(inputs["environment"]["variables"])
    read = variables_read_by_the_code()
    needed = {"COS_BUCKET", "COS_REGION", "COS_PREFIX", "MODERATION_TOPIC", "CMQ_ENDPOINT", "RECONCILE_DOMAINS"}
    needed.add("LIVE_API_REGION")
    assert needed <= declared <= read
    assert {n for n in read if RECONCILE_VARIABLE.match(n)} - RECONCILE_WIRING <= declared
    assert "LIVE_CALLBACK_KEYS" not in declared  # it receives no callback: the key stays with the doors
    assert inputs["timeout"] > 30  # the run keeps 30 s back to write its report and cursor


def test_variables_left_undeclared_only_wire_the_local_stand_ins(stack: DevStack) -> None:
    wiring = set(stack.env()) - {"LIVE_CALLBACK_KEYS", "COS_BUCKET", "COS_REGION", "MODERATION_TOPIC"}
    assert wiring >= STAND_IN_WIRING


def test_runtime_is_an_scf_python_and_matches_the_package_target() -> None:
    package_sh = (ROOT / "scripts" / "package.sh").read_text(encoding="utf-8")
    [version] = re.findall(r"^SCF_PYTHON_VERSION=(\S+)$", package_sh, re.M)
    for variant in ("url", "apigw"):
        for kind in KINDS:
            runtime = instance(variant, kind)["inputs"]["runtime"]
            assert runtime in SCF_PYTHON_RUNTIMES
            assert runtime == f"Python{version}"  # vendored wheels and bytecode are built for this Python


def test_timeout_exceeds_the_pipeline_budget_and_answers_within_css_window() -> None:
    from shared.budget import KIND_BUDGETS

    for kind in KINDS:
        for variant in ("url", "apigw"):
            timeout = instance(variant, kind)["inputs"]["timeout"]
            budget = KIND_BUDGETS.get(kind, PIPELINE_BUDGET_SECONDS)
            assert budget < timeout < CSS_ANSWER_WINDOW_SECONDS
        [endpoint] = instance("apigw", kind)["inputs"]["events"][0]["apigw"]["parameters"]["endpoints"]
        assert instance("apigw", kind)["inputs"]["timeout"] < endpoint["serviceTimeout"] < CSS_ANSWER_WINDOW_SECONDS


def test_memory_size_is_one_scf_offers() -> None:
    for variant in ("url", "apigw"):
        for kind in KINDS:
            memory = instance(variant, kind)["inputs"]["memorySize"]
            assert memory == 64 or (128 <= memory <= 3072 and memory % 128 == 0)


@pytest.mark.parametrize("kind", KINDS)
def test_function_url_is_public_unauthenticated_and_on_the_default_alias(kind: str) -> None:
    [event] = instance("url", kind)["inputs"]["events"]
    parameters = event["http"]["parameters"]
    assert parameters["authType"] == "NONE"  # CSS cannot sign with CAM; the body's sign/t is checked
    assert parameters["netConfig"] == {"enableIntranet": False, "enableExtranet": True}
    assert parameters["qualifier"] == "$DEFAULT"


@pytest.mark.parametrize("kind", KINDS)
def test_api_gateway_endpoint_is_one_post_with_the_integrated_response_flag_where_the_toolkit_reads_it(
    spec: Spec, kind: str
) -> None:
    [event] = instance("apigw", kind)["inputs"]["events"]
    parameters = event["apigw"]["parameters"]
    [endpoint] = parameters["endpoints"]
    assert (endpoint["path"], endpoint["method"]) == (spec.function(kind).route, "POST")
    assert endpoint["function"]["isIntegratedResponse"] is True
    assert "isIntegratedResponse" not in endpoint  # the place multi-scf users wrote it; the toolkit ignores it
    assert parameters["netTypes"] == ["OUTER"] and parameters["protocols"] == ["https"]
    # tencent-scf 0.9.x serverless.component.yml: serviceName regex
    assert re.fullmatch(r"[a-zA-Z][a-zA-Z0-9(_)]{0,48}[a-zA-Z0-9]?", parameters["serviceName"])


def test_configure_callbacks_uses_the_routes_and_template_fields_of_the_spec(spec: Spec) -> None:
    assert {f.kind: (f.route, f.template_field) for f in spec.functions} == callbacks.ROUTES
    assert set(callbacks.ROUTES) == set(KINDS)


# Deployer's environment


def test_env_example_lists_every_variable_the_deploy_files_reference() -> None:
    example = (ROOT / "deploy" / ".env.example").read_text(encoding="utf-8")
    values = dict(
        line.split("=", 1) for line in example.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )
    referenced: set[str] = set()
    for path in project_files():
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
        "name/tdmq:PublishMessage",  # the data-flow API (1496/127318), not the test-only PublishCmqMsg
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
    [tdmq] = [s for s in policy["statement"] if s["action"] == ["name/tdmq:PublishMessage"]]
    assert all(r.endswith(f"/{live.topic}") for r in tdmq["resource"])
    assert [m["topicName"] for m in live.published()] == [live.topic] * len(HIT_KINDS)  # image and audio


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
        assert [json.loads(m["msgBody"])["stream_id"] for m in live.published()] == ["url-porn_detect"]


def test_function_url_event_with_a_wrong_signature_is_refused_and_stores_nothing(live: Live) -> None:
    body = payloads.signed(payloads.record(stream_id="url-forged"), key="not-the-key")
    answer = live.invoke("record", triggers.function_url_event(body), trigger="direct")
    assert answer["statusCode"] in (401, 403)
    assert live.objects() == {}


@pytest.mark.parametrize("variant", ["url", "apigw"])
def test_moderation_action_runs_on_a_cos_trigger_of_the_evidence_prefix_with_its_own_role(variant: str) -> None:
    # SCF lists no CMQ trigger (583/17234, updated 2025-10-30): the evidence in COS triggers it.
    # tencent-component-toolkit lib/modules/triggers/cos.js: the event key `cos` picks the trigger
    # class; TriggerName = parameters.bucket (the bucket's XML API domain, as CreateTrigger 867/18589
    # asks), TriggerDesc = {event: parameters.events, filter: {Prefix, Suffix}}. The toolkit's own
    # code turning these inputs into that request is checked in tests/test_toolkit_contract.py.
    kind = "moderation_action"
    folder = ROOT / (URL_INSTANCE_DIR.format(kind=kind) if variant == "url" else APIGW_PROJECT / kind)
    text = (folder / "serverless.yml").read_text(encoding="utf-8")
    assert "cmq" not in text.lower().replace("cmq_endpoint", "")
    inputs = load_yaml(folder / "serverless.yml")["inputs"]
    assert (folder / inputs["src"]["src"]).resolve() == ROOT / "build" / kind
    assert inputs["role"] == "${env:MODERATION_ACTION_ROLE}"
    (event,) = inputs["events"]
    assert list(event) == ["cos"]
    parameters = event["cos"]["parameters"]
    assert parameters["bucket"] == "${env:COS_BUCKET}.cos.${env:COS_REGION}.myqcloud.com"
    assert parameters["events"] == "cos:ObjectCreated:*" and parameters["enable"] is True
    from shared.vocabulary import MODERATION

    assert parameters["filter"] == {"prefix": "${env:COS_PREFIX}/" + MODERATION}  # where the evidence is written
    declared = set(inputs["environment"]["variables"])
    read = variables_read_by_the_code()
    assert {n for n in read if ACTION_VARIABLE.match(n)} <= declared <= read
    assert "LIVE_CALLBACK_KEYS" not in declared and not {n for n in declared if TOPIC_VARIABLE.match(n)}
    from shared.claim import STALE_AFTER_SECONDS

    assert inputs["timeout"] < STALE_AFTER_SECONDS  # a claim of a live invocation never looks stale


def test_the_deploy_prefix_is_a_plain_folder_as_the_trigger_and_the_policies_assume() -> None:
    lines = (ROOT / "deploy" / ".env.example").read_text(encoding="utf-8").splitlines()
    values = dict(line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))
    assert values["COS_PREFIX"] and "/" not in values["COS_PREFIX"]
    assert values["CMQ_ENDPOINT"].startswith(("http://", "https://"))


def test_moderation_action_role_allows_only_the_four_live_api_actions_and_the_prefix() -> None:
    text = (ROOT / "deploy" / "cam-policy-moderation-action.json").read_text(encoding="utf-8")
    policy = json.loads(text)
    live = {a for s in policy["statement"] for a in s["action"] if a.startswith("name/live:")}
    assert live == {
        "name/live:DropLiveStream",
        "name/live:ForbidLiveStream",
        "name/live:ResumeLiveStream",
        "name/live:DescribeLiveStreamState",
    }
    others = {a for s in policy["statement"] for a in s["action"]} - live
    assert others <= {"name/cos:PutObject", "name/cos:HeadObject", "name/cos:GetObject", "name/cos:DeleteObject"}
    [cos] = [s for s in policy["statement"] if s["action"][0].startswith("name/cos:")]
    assert cos["resource"] == ["qcs::cos:<COS_REGION>:uid/<APPID>:<COS_BUCKET>/<COS_PREFIX>/*"]


def test_the_deploy_guides_sed_fills_every_placeholder_of_all_four_policies(tmp_path: Path) -> None:
    guide = (ROOT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    [block] = [b for b in re.findall(r"```bash\n(.*?)```", guide, re.S) if "for policy in" in b]
    (tmp_path / "deploy").mkdir()
    policies = sorted((ROOT / "deploy").glob("cam-policy*.json"))
    assert len(policies) == 4
    for policy in policies:
        (tmp_path / "deploy" / policy.name).write_text(policy.read_text(encoding="utf-8"), encoding="utf-8")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "all placeholders filled"
    for policy in policies:
        filled = json.loads((tmp_path / "build" / policy.name).read_text(encoding="utf-8"))
        assert filled["version"] == "2.0"


def test_the_deploy_guide_counts_the_instances_the_spec_makes() -> None:
    guide = (ROOT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    made = len(list(ROOT.glob(URL_INSTANCE_DIR.format(kind="*") + "/serverless.yml")))
    words = {9: "nine", 11: "eleven"}
    [count] = re.findall(r"`scf-<kind>/serverless.yml` \((\d+)\)", guide)
    assert int(count) == made == len(KINDS) + 2
    assert f"deploys all {words[made]}," in guide and f"the {words[len(KINDS)]} notify URLs" in guide
