"""Fixtures: one development stack (COS + TDMQ stand-ins) per test session, and per test a
fresh bucket and topic with the functions' environment pointing at them."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import logging
import os
import runpy
import sys
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack import payloads, triggers
from devstack.gateway import LocalGateway
from devstack.stack import DEV_CALLBACK_KEY, DEV_CREDENTIALS, DevStack
from shared import claim, pipeline

_serial = itertools.count(1)

WAITS = "waits"
"""The xdist group of the tests that mostly wait for real timeouts (tests/test_faults.py)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The order in which scripts/test.sh hands tests out (`--dist loadgroup --no-loadscope-reorder`:
    a worker with two tests or fewer left takes the next unit in this order, a group being one
    unit): the fault tests that wait for timeouts (the "waits" group, the longest chain, mostly
    idle), the tests marked heavy (20 s of CPU or more each, one per worker from the start), the other
    groups (the package build, the browser, the deploy toolkit), the other slow tests, then the
    rest, each in file order. So no worker starts a long test when the others are almost done.
    Every worker sorts alike (pytest-xdist needs one order)."""

    def rank(item: pytest.Item) -> int:
        group = item.get_closest_marker("xdist_group")
        if group is not None and WAITS in (*group.args, *group.kwargs.values()):
            return 0
        if item.get_closest_marker("heavy"):
            return 1
        if group is not None:
            return 2
        return 3 if item.get_closest_marker("slow") else 4

    items.sort(key=rank)


@pytest.fixture(scope="session")
def stack() -> Iterator[DevStack]:
    with DevStack() as running:
        yield running


class Live:
    """The five functions as deployed, wired to this test's bucket and topic."""

    def __init__(self, stack: DevStack, monkeypatch: pytest.MonkeyPatch) -> None:
        n = next(_serial)
        self.stack = stack
        self.bucket = f"test{n}-1250000000"
        self.topic = f"moderation-{n}"
        stack.cos.create_bucket(self.bucket)
        stack.tdmq.topics.add(self.topic)
        self.monkeypatch = monkeypatch
        self.env = stack.env(bucket=self.bucket, topic=self.topic)
        for name in ("COS_PREFIX", "LIVE_SIGN_TOLERANCE_SECONDS", "MODERATION_SUGGESTIONS"):
            monkeypatch.delenv(name, raising=False)
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)
        self.logs: list[dict[str, Any]] = []
        self.raw_logs: list[str] = []
        self.keys = {k for k in self.env["LIVE_CALLBACK_KEYS"].split(",") if k}
        """Every callback key this test configured, checked against the logs at the end."""
        pipeline.reset_instance()

    def configure(self, **variables: str | None) -> None:
        """Change the environment and cold-start the instance (as a redeploy would)."""
        self.keys.update(k for k in (variables.get("LIVE_CALLBACK_KEYS") or "").split(",") if k.strip())
        for name, value in variables.items():
            if value is None:
                self.monkeypatch.delenv(name, raising=False)
            else:
                self.monkeypatch.setenv(name, value)
        pipeline.reset_instance()

    def invoke(self, kind: str, body: Any, trigger: str = "apigw", **event_options: Any) -> dict[str, Any]:
        """Deliver `body` (a payload dict, str or bytes) to `kind`'s handler through `trigger`."""
        if trigger == "apigw":
            event = triggers.apigw_event(body, path=f"/live/{kind}", **event_options)
        elif trigger == "url":
            event = triggers.function_url_event(body, **event_options)
        else:
            event = body
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            answer = triggers.load_handler(kind)(event, triggers.context(kind))
        for line in captured.getvalue().splitlines():
            self.raw_logs.append(line)
            self.logs.append(json.loads(line))
        return answer

    def gateway(self) -> LocalGateway:
        """The local API Gateway, its functions' log lines collected with this test's (secrets check)."""

        def collect(invocation: Any) -> None:
            for line in invocation.logs:
                self.raw_logs.append(line)
                self.logs.append(json.loads(line))

        return LocalGateway(on_invocation=collect)

    def backdate_claims(self, seconds: float) -> int:
        """Make every pending claim `seconds` older, as if CSS's next retry came that much later."""
        client = self.stack.cos.client()
        moved = 0
        for key, body in self.objects("moderation/").items():
            head = {k.lower(): v for k, v in client.head_object(Bucket=self.bucket, Key=key).items()}
            if head.get("x-cos-meta-state") not in (claim.PENDING, claim.REFUSED):
                continue
            meta = {k: v for k, v in head.items() if k.startswith("x-cos-meta-")}
            meta["x-cos-meta-claimed-at"] = str(int(time.time() - seconds))
            client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", Metadata=meta)
            moved += 1
        return moved

    def deliver(self, kind: str, key: str = DEV_CALLBACK_KEY, **fields: Any) -> dict[str, Any]:
        """Build a realistic signed payload of `kind` and deliver it."""
        return self.invoke(kind, payloads.signed(payloads.BUILDERS[kind](**fields), key))

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        """Every object of this test's bucket under `prefix`, key -> bytes, in listing order.

        Read straight from the stand-in's store (moto's S3 backend, in this process) rather than
        with a GET per object: the functions reach COS through the SDK either way, and the checks
        after a volume or hostile-input test read thousands of objects.
        """
        bucket = stored_bucket(self.bucket)
        if bucket is None:
            return self.stack.cos.objects(self.bucket, prefix)
        return {key: bytes(item.value) for key, item in sorted(list(bucket.keys.items())) if key.startswith(prefix)}

    def documents(self, prefix: str = "") -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.objects(prefix).items()}

    def published(self) -> list[dict[str, Any]]:
        return self.stack.tdmq.published(self.topic)


def stored_bucket(name: str) -> Any:
    """moto's in-process bucket `name` behind the COS stand-in, or None when it is not found."""
    from moto.s3.models import s3_backends

    for regions in list(s3_backends.values()):
        for backend in list(regions.values()):
            bucket = backend.buckets.get(name)
            if bucket is not None:
                return bucket
    return None


FUNCTION_SIDE_LOGGERS = {
    "root",
    "shared",
    "qcloud_cos",
    "tencentcloud_sdk_common",
    "urllib3",
    "requests",
    "charset_normalizer",
}
SECRETS = (
    DEV_CREDENTIALS["TENCENTCLOUD_SECRETID"],
    DEV_CREDENTIALS["TENCENTCLOUD_SECRETKEY"],
    DEV_CREDENTIALS["TENCENTCLOUD_SESSIONTOKEN"],
    DEV_CALLBACK_KEY,
    payloads.TX_SECRET,
)


@pytest.fixture
def live(stack: DevStack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[Live]:
    """The harness; after every test it checks that no secret reached a log line or SDK log record."""
    caplog.set_level(logging.DEBUG)
    harness = Live(stack, monkeypatch)
    yield harness
    stack.cos.faults.clear()
    stack.tdmq.faults.clear()
    pipeline.reset_instance()
    for stored in harness.objects().values():
        strict_json(stored)  # raises on anything a strict parser refuses
    for message in harness.published():
        strict_json(message["msgBody"])
    keys = sorted(harness.keys)
    records = [  # what the function's side logs (the stand-ins' own server logs are the cloud's side)
        r.getMessage()
        for phase in ("setup", "call")
        for r in caplog.get_records(phase)
        if r.name.split(".")[0] in FUNCTION_SIDE_LOGGERS
    ]
    written = "\n".join([*harness.raw_logs, *records])
    for secret in (*SECRETS, *keys):
        assert secret not in written, "a secret reached the logs"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(text: str | bytes) -> Any:
    """Parse as Node's and Go's parsers do: no Infinity, NaN or -Infinity."""
    return json.loads(text, parse_constant=_refuse_constant)


def body_of(answer: Mapping[str, Any]) -> Any:
    return json.loads(answer["body"])


@dataclass(frozen=True)
class Ran:
    """What a command left: its exit status and what it printed (as subprocess.CompletedProcess)."""

    returncode: int
    stdout: str
    stderr: str


def run_here(script: Path, *args: str, env: Mapping[str, str]) -> Ran:
    """`python script args` with exactly `env` as its environment, run in this process: runpy
    executes the file as `__main__`, as the interpreter would, without starting one (about a second
    of CPU each). A traceback lands in stderr with status 1, as it would from the command. Each
    script the tests run this way also runs as a real subprocess in some test."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        for name in list(os.environ):
            if name not in env:
                patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        patch.setattr(sys, "argv", [str(script), *args])
        try:
            runpy.run_path(str(script), run_name="__main__")
            code = 0
        except SystemExit as done:
            if isinstance(done.code, str):
                print(done.code, file=sys.stderr)
            code = 0 if done.code is None else done.code if isinstance(done.code, int) else 1
        except Exception:
            traceback.print_exc()
            code = 1
    return Ran(code, out.getvalue(), err.getvalue())
