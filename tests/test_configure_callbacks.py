"""scripts/configure_callbacks.py against the loopback `live` API stand-in, through the real SDK.

The first test runs the command a user types (a subprocess with the credentials in its
environment); the others call the same command line in this process (tooling/callbacks.py `main`,
given the same arguments and environment), which spares a Python start per run. The stand-in
records every call, so "the second run changes nothing" is checked on the wire.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.live_api import LiveApiStandIn
from tooling.callbacks import main

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "configure_callbacks.py"
BASE = "https://service-abc123-1250000000.gz.apigw.tencentcs.com/release"
KEY = "callback-key-Zq81x"
CREDENTIALS = {"TENCENTCLOUD_SECRETID": "AKIDtestConfigure0000", "TENCENTCLOUD_SECRETKEY": "testConfigureSecret0000"}
"""SCF's spelling of the credential variables, which every tool reads (issue 27)."""
EXPECTED_URLS = {
    "StreamBeginNotifyUrl": f"{BASE}/live/stream-begin",
    "StreamEndNotifyUrl": f"{BASE}/live/stream-end",
    "RecordNotifyUrl": f"{BASE}/live/record",
    "SnapshotNotifyUrl": f"{BASE}/live/snapshot",
    "PornCensorshipNotifyUrl": f"{BASE}/live/porn-detect",
    "AudioAuditNotifyUrl": f"{BASE}/live/audio-moderation",
    "PushExceptionNotifyUrl": f"{BASE}/live/push-exception",
    "RecordStatusNotifyUrl": f"{BASE}/live/record-status",
    "RecordExceptionNotifyUrl": f"{BASE}/live/record-exception",
}
"""The nine URLs of a callback template (CreateLiveCallbackTemplateRequest, SDK 3.1.195)."""
DASHED = ("stream-begin", "stream-end", "record", "snapshot", "porn-detect")
DASHED += ("audio-moderation", "push-exception", "record-status", "record-exception")


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveApiStandIn]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # in this process as in the subprocess's bare environment
    with LiveApiStandIn() as running:
        yield running


def configure(
    api: LiveApiStandIn,
    *args: str,
    env: dict[str, str] | None = None,
    base: str | None = BASE,
    as_subprocess: bool = False,
) -> subprocess.CompletedProcess[str]:
    arguments = ["--domain", "push.example.com", "--endpoint", api.url, *args]
    if base is not None:
        arguments += ["--base-url", base]
    environment = {"PATH": "/usr/bin:/bin", "LIVE_CALLBACK_KEYS": f"{KEY},older-key-kept-for-rotation"}
    environment.update(CREDENTIALS if env is None else env)
    if as_subprocess:
        command = [sys.executable, str(SCRIPT), *arguments]
        return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60, cwd=ROOT)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):  # argparse writes its errors there
        try:
            code = main(arguments, environment, out, err)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(arguments, code, out.getvalue(), err.getvalue())


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_first_run_creates_the_template_and_binds_it_with_one_rule(api: LiveApiStandIn) -> None:
    output = ok(configure(api, as_subprocess=True))

    assert [action for action, _ in api.writes()] == ["CreateLiveCallbackTemplate", "CreateLiveCallbackRule"]
    [template] = api.templates.values()
    assert template["TemplateName"] == "live-callbacks"
    assert {k: template[k] for k in EXPECTED_URLS} == EXPECTED_URLS
    assert template["CallbackKey"] == KEY  # the first of LIVE_CALLBACK_KEYS
    assert [(r["DomainName"], r["AppName"], r["TemplateId"]) for r in api.rules] == [
        ("push.example.com", "live", template["TemplateId"])
    ]
    assert f"TemplateId {template['TemplateId']}" in output
    assert KEY not in output


def test_second_run_changes_nothing(api: LiveApiStandIn) -> None:
    ok(configure(api))
    writes_before = len(api.writes())

    output = ok(configure(api))

    assert len(api.writes()) == writes_before
    assert len(api.templates) == 1 and len(api.rules) == 1
    assert "unchanged" in output and "nothing to change" in output


def test_the_field_the_live_api_does_not_read_back_is_compared_through_the_description(api: LiveApiStandIn) -> None:
    # DescribeLiveCallbackTemplates answers CallBackTemplateInfo, which has no RecordStatusNotifyUrl
    # (SDK 3.1.195; the stand-in answers the same model): its value is fingerprinted into the
    # Description, which is read back, so a second run neither rewrites it nor misses a change.
    ok(configure(api))
    (template,) = api.templates.values()
    assert template["RecordStatusNotifyUrl"] == EXPECTED_URLS["RecordStatusNotifyUrl"]
    assert template["RecordExceptionLevels"] == ["error", "warning"]  # the default
    first = template["Description"]
    writes = len(api.writes())
    ok(configure(api))
    assert len(api.writes()) == writes  # nothing to change
    moved = ok(configure(api, "--record-status-url", "https://status.example.com/new"))
    assert "RecordStatusNotifyUrl" in moved or "Description" in moved
    assert template["RecordStatusNotifyUrl"] == "https://status.example.com/new" and template["Description"] != first
    ok(configure(api, "--record-exception-levels", "error,warning,info"))
    assert sorted(template["RecordExceptionLevels"]) == ["error", "info", "warning"]
    refused = configure(api, "--record-exception-levels", "fatal")
    assert refused.returncode == 2 and "--record-exception-levels" in refused.stderr


def test_changed_url_or_key_modifies_the_same_template_without_a_duplicate(api: LiveApiStandIn) -> None:
    ok(configure(api))
    [template_id] = api.templates

    ok(configure(api, "--key", "rotated-key-0001", base="https://new-gateway.example.com/release"))

    assert [action for action, _ in api.writes()][2:] == ["ModifyLiveCallbackTemplate"]
    assert list(api.templates) == [template_id]
    template = api.templates[template_id]
    assert template["CallbackKey"] == "rotated-key-0001"
    assert template["RecordNotifyUrl"] == "https://new-gateway.example.com/release/live/record"
    assert [r["TemplateId"] for r in api.rules] == [template_id]


def test_existing_template_of_the_same_name_is_updated_not_duplicated(api: LiveApiStandIn) -> None:
    api.templates[7] = {"TemplateId": 7, "TemplateName": "live-callbacks", "RecordNotifyUrl": "https://old.example.com"}

    ok(configure(api))

    assert list(api.templates) == [7]
    assert api.templates[7]["StreamEndNotifyUrl"] == EXPECTED_URLS["StreamEndNotifyUrl"]
    assert [r["TemplateId"] for r in api.rules] == [7]


def test_function_urls_can_be_given_one_per_function(api: LiveApiStandIn) -> None:
    urls = {kind: f"https://1250000000-{n}abc.ap-guangzhou.tencentscf.com" for n, kind in enumerate(DASHED)}
    flags = [arg for kind, url in urls.items() for arg in (f"--{kind}-url", url)]

    ok(configure(api, *flags, base=None))

    [template] = api.templates.values()
    assert template["StreamBeginNotifyUrl"] == urls["stream-begin"]
    assert template["PornCensorshipNotifyUrl"] == urls["porn-detect"]
    assert template["RecordStatusNotifyUrl"] == urls["record-status"]
    assert len({template[k] for k in EXPECTED_URLS}) == 9


def test_dry_run_prints_the_exact_requests_with_the_key_masked_and_sends_no_write(api: LiveApiStandIn) -> None:
    done = configure(api, "--dry-run")
    output = ok(done)

    assert api.writes() == []
    assert KEY not in output and KEY not in done.stderr
    printed = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [p["Action"] for p in printed] == ["CreateLiveCallbackTemplate", "CreateLiveCallbackRule"]
    assert printed[0]["Params"]["CallbackKey"] == "********"
    urls = {k: v for k, v in printed[0]["Params"].items() if k.endswith("NotifyUrl")}
    assert urls == EXPECTED_URLS  # the nine URLs of a callback template
    assert printed[0]["Params"]["RecordExceptionLevels"] == ["error", "warning"]

    ok(configure(api))  # the real run sends what the dry run printed
    sent = api.writes()
    assert sent[0][1] == {**printed[0]["Params"], "CallbackKey": KEY}
    assert {k: v for k, v in sent[1][1].items() if k != "TemplateId"} == {
        k: v for k, v in printed[1]["Params"].items() if k != "TemplateId"
    }


def test_dry_run_after_a_change_prints_only_the_modification(api: LiveApiStandIn) -> None:
    ok(configure(api))
    output = ok(configure(api, "--dry-run", "--key", "rotated-key-0002"))

    printed = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [p["Action"] for p in printed] == ["ModifyLiveCallbackTemplate"]
    assert printed[0]["Params"]["CallbackKey"] == "********"
    assert "rotated-key-0002" not in output
    assert api.templates[next(iter(api.templates))]["CallbackKey"] == KEY


def test_a_domain_bound_to_another_template_is_kept_unless_replace_rule(api: LiveApiStandIn) -> None:
    api.templates[3] = {"TemplateId": 3, "TemplateName": "someone-elses", "RecordNotifyUrl": "https://x.example.com"}
    api.rules.append({"DomainName": "push.example.com", "AppName": "live", "TemplateId": 3})

    refused = configure(api)
    assert refused.returncode == 2
    assert "--replace-rule" in refused.stderr and "template 3" in refused.stderr
    assert [r["TemplateId"] for r in api.rules] == [3]

    ok(configure(api, "--replace-rule"))
    ours = next(t["TemplateId"] for t in api.templates.values() if t["TemplateName"] == "live-callbacks")
    assert [(r["DomainName"], r["TemplateId"]) for r in api.rules] == [("push.example.com", ours)]
    assert len([t for t in api.templates.values() if t["TemplateName"] == "live-callbacks"]) == 1


def test_serverless_framework_credential_names_are_accepted(api: LiveApiStandIn) -> None:
    ok(configure(api, env={"TENCENT_SECRET_ID": "AKIDfromDotEnv0000", "TENCENT_SECRET_KEY": "fromDotEnvSecret0000"}))
    assert len(api.rules) == 1


def test_without_credentials_it_explains_and_sends_nothing(api: LiveApiStandIn) -> None:
    done = configure(api, env={})
    assert done.returncode == 2
    assert "TENCENTCLOUD_SECRETID" in done.stderr
    assert api.calls == []
    sdk_spelling = {"TENCENTCLOUD_SECRET_ID": "AKIDsdkSpelling0000", "TENCENTCLOUD_SECRET_KEY": "sdkSpelling0000"}
    assert configure(api, env=sdk_spelling).returncode == 2  # one spelling: SCF's (and the deployer's .env)


def test_a_missing_url_names_the_flag_to_give(api: LiveApiStandIn) -> None:
    done = configure(api, "--stream-begin-url", "https://a.example.com", base=None)
    assert done.returncode == 2
    assert "--stream-end-url" in done.stderr
    assert api.calls == []


def test_api_errors_are_reported_with_their_code(api: LiveApiStandIn) -> None:
    api.faults.set("error", status=500)
    done = configure(api)
    assert done.returncode == 1
    assert "DescribeLiveCallbackTemplates failed" in done.stderr
    assert api.templates == {}


def test_domain_and_app_name_default_to_the_env_file_values(api: LiveApiStandIn) -> None:
    command = [sys.executable, str(SCRIPT), "--endpoint", api.url, "--base-url", BASE]
    env = {**CREDENTIALS, "LIVE_CALLBACK_KEYS": KEY, "PUSH_DOMAIN": "push.from-env.example.com", "APP_NAME": "show"}
    ok(subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=ROOT))
    assert [(r["DomainName"], r["AppName"]) for r in api.rules] == [("push.from-env.example.com", "show")]

    missing = subprocess.run(command, env={**CREDENTIALS, "LIVE_CALLBACK_KEYS": KEY}, capture_output=True, text=True)
    assert missing.returncode == 2 and "PUSH_DOMAIN" in missing.stderr


def test_local_configures_the_running_stacks_live_api_for_its_gateway(api: LiveApiStandIn, tmp_path: Path) -> None:
    from tooling.localstack import local_variables

    stack_env = {
        "LIVE_API_ENDPOINT": api.endpoint,
        "LIVE_API_SCHEME": "http",
        "TENCENTCLOUD_SECRETID": "AKIDlocal0000",
        "TENCENTCLOUD_SECRETKEY": "localSecret0000",
    }
    (tmp_path / "stack.env").write_text(
        "".join(f"{n}={v}\n" for n, v in local_variables(stack_env, "http://127.0.0.1:9999").items())
    )
    command = [sys.executable, str(SCRIPT), "--local"]
    done = subprocess.run(
        command, env={"LIVE_LOCAL_STATE_DIR": str(tmp_path)}, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    ok(done)
    (template,) = api.templates.values()
    assert template["StreamBeginNotifyUrl"] == "http://127.0.0.1:9999/live/stream-begin"
    assert [(r["DomainName"], r["AppName"]) for r in api.rules] == [("push.example.com", "live")]


# What the Live API accepts, and where the nine URLs come from

LIVE_API_NAME_RULE = re.compile(r"[\u4e00-\u9fffA-Za-z0-9_-]+")
"""CreateLiveCallbackTemplate (cloud.tencent.com/document/api/267/32637): TemplateName and Description
仅支持中文、英文、数字、_、- (Chinese, letters, digits, `_`, `-`); Description at most 1024 bytes,
the console's form at most 100 characters."""


def test_the_template_description_and_name_sent_are_ones_the_live_api_accepts(api: LiveApiStandIn) -> None:
    ok(configure(api))
    [(_, params), _rule] = api.writes()
    assert LIVE_API_NAME_RULE.fullmatch(params["Description"]), params["Description"]
    assert len(params["Description"]) <= 100
    assert LIVE_API_NAME_RULE.fullmatch(params["TemplateName"])
    assert not LIVE_API_NAME_RULE.fullmatch("SCF live-callback functions (managed by scripts/x.py)")  # the old one


def test_a_template_name_the_live_api_would_refuse_is_refused_before_any_call(api: LiveApiStandIn) -> None:
    done = configure(api, "--template-name", "live callbacks (prod)")
    assert done.returncode == 2 and "--template-name" in done.stderr
    assert api.calls == []


def test_the_nine_function_urls_are_taken_from_the_saved_output_of_the_deploy(
    api: LiveApiStandIn, tmp_path: Path
) -> None:
    # The shape Tencent's CLI prints per instance (serverless-tencent src/libs/utils/basic.js
    # executeGraph: "<instance> 部署成功:" then the instance's outputs, cli.logOutputs).
    lines = []
    for n, kind in enumerate(DASHED):
        lines += [
            f"live-callbacks-{kind} 部署成功:",
            "---------------------------------------------",
            f"functionName: live-callbacks-prod-{kind.replace('-', '_')}",
            "triggers:",
            "  - NeedCreate: true",
            f'    TriggerDesc: {{"AuthType":"NONE","Url":"https://1250000000-{n}x.ap-guangzhou.tencentscf.com"}}',
            "",
        ]
    saved = tmp_path / "deploy-output.txt"
    saved.write_text("\n".join(lines), encoding="utf-8")

    ok(configure(api, "--urls-from", str(saved), base=None))

    [template] = api.templates.values()
    assert template["StreamBeginNotifyUrl"] == "https://1250000000-0x.ap-guangzhou.tencentscf.com"
    assert template["PornCensorshipNotifyUrl"] == "https://1250000000-4x.ap-guangzhou.tencentscf.com"
    assert len({template[k] for k in EXPECTED_URLS}) == 9


def test_a_deploy_output_missing_a_function_names_the_flag_to_add(api: LiveApiStandIn, tmp_path: Path) -> None:
    saved = tmp_path / "urls.json"
    saved.write_text(json.dumps({"stream_begin": "https://a.example.com", "record": "https://b.example.com"}))
    done = configure(api, "--urls-from", str(saved), base=None)
    assert done.returncode == 2 and "--stream-end-url" in done.stderr
    assert api.calls == []
