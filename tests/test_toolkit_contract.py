"""Our deploy files through the deploy tool's own code: what would be sent to Tencent Cloud.

The `component: scf` instances hand their inputs to tencent-component-toolkit (`Scf.deploy`), the
library that makes the cloud API calls. scripts/toolkit.sh installs the version pinned in
tests/contract/package.json (and its lockfile) from the npm registry into .toolkit/;
tests/contract/deploy_through_toolkit.js runs each instance's inputs through that code with only
the HTTP transport replaced by a recorder that answers as an empty account would. The assertions
are on the recorded API requests: nothing of ours decides what the toolkit does with the inputs.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.spec import APIGW_PROJECT, URL_INSTANCE_DIR, Spec, load_spec

ROOT = Path(__file__).resolve().parent.parent
TOOLKIT = ROOT / ".toolkit"
DRIVER = ROOT / "tests" / "contract" / "deploy_through_toolkit.js"
PINNED = json.loads((ROOT / "tests" / "contract" / "package.json").read_text())["dependencies"][
    "tencent-component-toolkit"
]
REGION = "ap-guangzhou"
ENV = {
    "STAGE": "prod",
    "REGION": REGION,
    "SCF_ROLE": "live-callbacks-scf",
    "COS_BUCKET": "live-callbacks-1250000000",
    "COS_REGION": REGION,
    "COS_PREFIX": "live-callbacks",
}
"""What the CLI would substitute for `${env:NAME}`; other variables get `value-of-NAME`."""
SPEC = load_spec()


def resolved_inputs(path: Path) -> tuple[str, dict[str, Any]]:
    """An instance's name and `inputs` as the CLI and the scf component hand them to the toolkit."""
    text = re.sub(r"\$\{env:([A-Za-z0-9_]+)\}", lambda m: ENV.get(m[1], f"value-of-{m[1]}"), path.read_text())
    config = yaml.safe_load(text)
    inputs: dict[str, Any] = config["inputs"]
    # tencent-scf 0.9.10 src/utils.js formatInputs: code uploaded to COS, description defaulted,
    # apigw events marked as having no input service id and given a description.
    inputs["code"] = {"bucket": f"sls-cloudfunction-{REGION}-code", "object": "/scf_component_contract.zip"}
    inputs["description"] = inputs.get("description") or "This is a function in live-callbacks application"
    for event in inputs.get("events", []):
        if "apigw" in event:
            parameters = event["apigw"]["parameters"]
            parameters["isInputServiceId"] = bool(parameters.get("serviceId"))
            parameters["description"] = parameters.get("description") or "The service of serverless scf"
    return str(config["name"]), inputs


def legacy_multi_scf_style(kind: str) -> dict[str, Any]:
    """The API Gateway instance with the flag where multi-scf users wrote it: on the endpoint itself."""
    name, inputs = resolved_inputs(ROOT / APIGW_PROJECT / kind / "serverless.yml")
    [endpoint] = inputs["events"][0]["apigw"]["parameters"]["endpoints"]
    del endpoint["function"]
    endpoint["isIntegratedResponse"] = True
    return {"instance": f"{name}-legacy", "region": REGION, "inputs": inputs}


pytestmark = pytest.mark.xdist_group("toolkit")
"""With pytest-xdist, this file's tests share one worker, so the toolkit runs once."""


@pytest.fixture(scope="session")
def toolkit() -> Path:
    done = subprocess.run([str(ROOT / "scripts" / "toolkit.sh")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"scripts/toolkit.sh could not install the toolkit:\n{done.stderr}"
    return TOOLKIT


@pytest.fixture(scope="module")
def deployed(toolkit: Path) -> dict[str, Any]:
    """The toolkit's version and, per instance, the requests it sent."""
    instances = []
    for kind in SPEC.kinds:
        for path in (ROOT / URL_INSTANCE_DIR.format(kind=kind), ROOT / APIGW_PROJECT / kind):
            name, inputs = resolved_inputs(path / "serverless.yml")
            instances.append({"instance": name, "region": REGION, "inputs": inputs})
    for triggered in SPEC.cos_triggered:
        for path in (ROOT / URL_INSTANCE_DIR.format(kind=triggered.kind), ROOT / APIGW_PROJECT / triggered.kind):
            name, inputs = resolved_inputs(path / "serverless.yml")
            instances.append({"instance": name, "region": REGION, "inputs": inputs})
    instances.append(legacy_multi_scf_style("record"))
    done = subprocess.run(
        ["node", str(DRIVER), str(toolkit)],
        input=json.dumps(instances),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    result["by_instance"] = {r["instance"]: r for r in result["results"]}
    return result


def requests(deployed: dict[str, Any], instance: str, action: str) -> list[dict[str, Any]]:
    record = deployed["by_instance"][instance]
    assert record["error"] is None, record["error"]
    return [r["params"] for r in record["requests"] if r["action"] == action]


def test_the_pinned_toolkit_version_is_the_one_that_ran(deployed: dict[str, Any]) -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", PINNED)  # an exact version, not a range
    assert deployed["toolkitVersion"] == PINNED
    lock = json.loads((ROOT / "tests" / "contract" / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/tencent-component-toolkit"]["version"] == PINNED


@pytest.mark.parametrize("variant", ["url", "apigw"])
@pytest.mark.parametrize("kind", SPEC.kinds)
def test_each_function_is_created_with_the_documented_handler_runtime_memory_timeout_and_variables(
    deployed: dict[str, Any], variant: str, kind: str
) -> None:
    instance = SPEC.url_instance(kind) if variant == "url" else SPEC.apigw_instance(kind)
    [created] = requests(deployed, instance, "CreateFunction")
    function = SPEC.function(kind)
    assert created["Handler"] == "index.main_handler"
    assert (created["Runtime"], created["MemorySize"], created["Timeout"]) == (
        function.runtime,
        function.memory_mb,
        function.timeout_s,
    )
    assert created["Role"] == ENV["SCF_ROLE"]
    variables = {v["Key"]: v["Value"] for v in created["Environment"]["Variables"]}
    assert variables == {name: ENV.get(name, f"value-of-{name}") for name in function.variables}


@pytest.mark.parametrize("kind", SPEC.kinds)
def test_function_url_trigger_is_public_unauthenticated_and_on_the_default_alias(
    deployed: dict[str, Any], kind: str
) -> None:
    instance = SPEC.url_instance(kind)
    [trigger] = requests(deployed, instance, "CreateTrigger")
    assert trigger["Type"] == "http"
    assert trigger["FunctionName"] == f"live-callbacks-prod-{kind}"
    assert (trigger["Qualifier"], trigger["Enable"]) == ("$DEFAULT", "OPEN")
    description = json.loads(trigger["TriggerDesc"])
    assert description["AuthType"] == "NONE"  # CSS cannot sign with CAM; the function checks sign/t
    assert description["NetConfig"] == {"EnableIntranet": False, "EnableExtranet": True}
    # The Function URL has no method setting: POST-only is the function's own 405 (tests/test_package.py).
    services = {r["service"] for r in deployed["by_instance"][instance]["requests"]}
    assert services == {"scf"}  # no API Gateway service is touched


@pytest.mark.parametrize("kind", SPEC.kinds)
def test_every_api_gateway_api_is_a_public_post_with_integrated_response_to_its_function(
    deployed: dict[str, Any], kind: str
) -> None:
    instance = SPEC.apigw_instance(kind)
    [service] = requests(deployed, instance, "CreateService")
    assert service["NetTypes"] == ["OUTER"] and service["Protocol"] == "https"
    written = requests(deployed, instance, "CreateApi") + requests(deployed, instance, "ModifyApi")
    assert len(written) == 2  # created, then configured once more by ModifyApi (toolkit's api.js create)
    for api in written:
        assert api["RequestConfig"] == {"Path": SPEC.function(kind).route, "Method": "POST"}
        assert api["ServiceScfIsIntegratedResponse"] is True
        assert api["AuthType"] == "NONE"
        assert (api["ServiceType"], api["ServiceScfFunctionName"]) == ("SCF", f"live-callbacks-apigw-prod-{kind}")
        assert api["ServiceTimeout"] == SPEC.apigw["serviceTimeout"]
    [release] = requests(deployed, instance, "ReleaseService")
    assert release["EnvironmentName"] == "release"
    assert requests(deployed, instance, "CreateTrigger") == []  # the API binds the function itself


@pytest.mark.parametrize("variant", ["url", "apigw"])
def test_moderation_action_gets_one_cos_trigger_on_the_evidence_prefix_and_nothing_else(
    deployed: dict[str, Any], variant: str
) -> None:
    # What SCF's CreateTrigger (867/18589) receives for a COS trigger: TriggerName the bucket's XML
    # API domain, TriggerDesc {event, filter: {Prefix, Suffix}}; one bucket + event + prefix rule
    # can trigger one function only, so the prefix is exactly the evidence folder.
    from shared.vocabulary import MODERATION

    [triggered] = SPEC.cos_triggered
    app = SPEC.app if variant == "url" else f"{SPEC.app}-apigw"
    instance = f"{app}-{triggered.kind.replace('_', '-')}"
    [trigger] = requests(deployed, instance, "CreateTrigger")
    assert trigger["Type"] == "cos"
    assert trigger["FunctionName"] == f"{app}-prod-{triggered.kind}"
    assert trigger["TriggerName"] == f"{ENV['COS_BUCKET']}.cos.{REGION}.myqcloud.com"
    assert json.loads(trigger["TriggerDesc"]) == {
        "event": "cos:ObjectCreated:*",
        "filter": {"Prefix": f"{ENV['COS_PREFIX']}/{MODERATION}", "Suffix": ""},
    }
    assert (trigger["Qualifier"], trigger["Enable"]) == ("$DEFAULT", "OPEN")
    actions = {r["action"] for r in deployed["by_instance"][instance]["requests"]}
    assert "CreateService" not in actions  # no API Gateway, no HTTP trigger
    [created] = requests(deployed, instance, "CreateFunction")
    assert created["Role"] == f"value-of-{triggered.role}"


def test_the_flag_where_multi_scf_files_put_it_never_reaches_the_api(deployed: dict[str, Any], spec: Spec) -> None:
    # The control that shows the assertions above can fail: `isIntegratedResponse` on the endpoint
    # (not under `function:`) is not read by the toolkit, and API Gateway would answer 200 to everything.
    written = requests(deployed, f"{spec.apigw_instance('record')}-legacy", "CreateApi")
    assert [api["ServiceScfIsIntegratedResponse"] for api in written] == [False]


@pytest.fixture
def spec() -> Spec:
    return SPEC
