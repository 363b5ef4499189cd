"""scripts/smoke.py against the local stack: the command a user runs after a deploy.

The local gateway serves the five functions either as one base URL with the five routes (API
Gateway events) or as five separate URLs (Function URL events); the script signs with the
stack's key and checks the stand-in bucket through the functions' own COS code. The first test
runs it as a subprocess with the venv's Python, as a user does; the others run the same file in
this process (`run_here`), which spares an interpreter start each.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from deploy.spec import load_spec
from devstack.gateway import Invocation, LocalGateway
from devstack.servers import Server
from shared.vocabulary import KINDS
from tests.conftest import Live, Ran, run_here

ROOT = Path(__file__).resolve().parent.parent
SPEC = load_spec()


SMOKE = ROOT / "scripts" / "smoke.py"


def smoke(*args: str, env: Mapping[str, str]) -> Ran:
    return run_here(SMOKE, *args, env=env)


def smoke_command(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SMOKE), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def script_env(live: Live, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COS_", "LIVE_", "MODERATION_", "CMQ_"))}
    return {**env, **live.env, **extra}


@pytest.fixture
def gateway(live: Live) -> Iterator[str]:
    with Server(LocalGateway()) as server:
        yield server.url


@pytest.fixture
def url_gateway(live: Live) -> Iterator[tuple[str, list[Invocation]]]:
    invocations: list[Invocation] = []
    with Server(LocalGateway(trigger="url", on_invocation=invocations.append)) as server:
        yield server.url, invocations
    for invocation in invocations:  # so the `live` fixture checks them for secrets too
        live.raw_logs.extend(invocation.logs)


def stream_of(output: str) -> str:
    found = re.search(r"stream (smoke-test-\d{8}T\d{6}Z-[0-9a-f]{4})", output)
    assert found, output
    return found.group(1)


def test_against_a_base_url_every_function_passes_and_every_object_is_in_the_bucket(live: Live, gateway: str) -> None:
    done = smoke_command("--url", gateway, env=script_env(live))

    assert done.returncode == 0, done.stdout + done.stderr
    stream = stream_of(done.stdout)
    assert done.stdout.count("[ok] ") == 3 * len(SPEC.kinds) + len(SPEC.kinds)  # 3 checks per function + summary
    assert f"all {len(KINDS)} functions ok" in done.stdout
    stored = [key for key in live.objects() if f"/{stream}/" in key]
    assert len(stored) == len(SPEC.kinds)
    assert all(f"object {key} exists" in done.stdout for key in stored)
    assert live.published() == []  # the smoke hit is a `Pass`: nothing reaches the moderators


def test_against_five_function_urls_from_a_saved_deploy_output(
    live: Live, url_gateway: tuple[str, list[Invocation]], tmp_path: Path
) -> None:
    base, invocations = url_gateway
    urls = {kind: base + SPEC.function(kind).route for kind in SPEC.kinds}
    saved = tmp_path / "urls.json"
    saved.write_text(json.dumps({SPEC.url_instance(kind): url for kind, url in urls.items()}))

    done = smoke("--urls-from", str(saved), env=script_env(live))

    assert done.returncode == 0, done.stdout + done.stderr
    assert len([k for k in live.objects() if f"/{stream_of(done.stdout)}/" in k]) == len(SPEC.kinds)
    triggers = {json.loads(line)["trigger"] for i in invocations for line in i.logs}
    assert triggers == {"url"}  # the functions saw Function URL events
    assert len(invocations) == 2 * len(SPEC.kinds)


def test_a_cos_fault_fails_the_smoke_test_and_names_the_functions(live: Live, gateway: str) -> None:
    live.stack.cos.faults.set("error", status=503)
    try:
        done = smoke("--url", gateway, "--no-bucket-check", env=script_env(live))
    finally:
        live.stack.cos.faults.clear()

    assert done.returncode == 1
    assert "signed callback answered 503" in done.stdout
    assert "FAILED for stream_begin, stream_end, record, snapshot, porn_detect" in done.stdout


def test_a_gateway_that_loses_the_status_is_caught(live: Live) -> None:
    # What API Gateway does without integrated response: 200 with the function's dict as the body.
    def always_200(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"statusCode": 403, "body": '{"code":403}'}).encode()]

    with Server(always_200) as server:
        done = smoke("--url", server.url, env=script_env(live))

    assert done.returncode == 1
    assert "[FAIL] forged callback answered 200" in done.stdout
    assert "is missing" in done.stdout


def test_without_a_key_or_a_url_it_says_what_to_give(live: Live, gateway: str) -> None:
    env = {k: v for k, v in script_env(live).items() if k != "LIVE_CALLBACK_KEYS"}
    done = smoke("--url", gateway, env=env)
    assert done.returncode == 2 and "LIVE_CALLBACK_KEYS" in done.stderr
    done = smoke("--stream-begin-url", gateway, env=script_env(live))
    assert done.returncode == 2 and "--stream-end-url" in done.stderr
