"""The smoke test after a deploy: one signed synthetic callback per function, and a checklist.

For each function it sends (1) a correctly signed callback of that function's kind for a stream
named `smoke-test-<UTC time>-<random>`, expecting 200 `{"code":0}`, and (2) the same callback with
a wrong signature, expecting 401/403: a 200 there means the answer's status is lost on the way
(API Gateway without integrated response), and CSS would never retry a failed callback. Given
bucket credentials it then checks that each stored object exists. The moderation callback carries
the suggestion `Pass` (image and audio), so nothing reaches the moderators' topic with the default suggestions.
"""

from __future__ import annotations

import http.client
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from devstack import payloads

TIMEOUT_SECONDS = 20.0
"""CSS waits 20 s for an answer; so does the smoke test."""


@dataclass
class Check:
    kind: str
    url: str
    ok: bool = True
    lines: list[str] = field(default_factory=list)

    def add(self, passed: bool, text: str) -> None:
        self.ok = self.ok and passed
        self.lines.append(f"  [{'ok' if passed else 'FAIL'}] {text}")


def stream_name(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return f"smoke-test-{stamp}-{secrets.token_hex(2)}"


def callback(kind: str, stream: str) -> dict[str, Any]:
    """A realistic callback of `kind` for the smoke-test stream (never a hit to act on)."""
    builder = payloads.BUILDERS[kind]
    if kind == "porn_detect":
        return payloads.porn_hit(stream, suggestion="Pass", score=1)
    if kind == "audio_moderation":
        return payloads.audio_hit(stream, suggestion="Pass", score=1)
    return builder(stream_id=stream)


def post(url: str, body: bytes, timeout: float = TIMEOUT_SECONDS) -> tuple[int | str, str]:
    """The HTTP status and body, or an error name and message when there was no answer."""
    parts = urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = cls(parts.netloc, timeout=timeout)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", target, body, {"Content-Type": "application/json", "User-Agent": "live-smoke"})
        answer = connection.getresponse()
        return answer.status, answer.read(2048).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        return type(exc).__name__, str(exc)[:200]
    finally:
        connection.close()


def bucket_env(env: Mapping[str, str]) -> dict[str, str] | None:
    """The functions' COS settings with credentials, or None when they are not all given."""
    wired = dict(env)
    if not wired.get("TENCENTCLOUD_SECRETID") and env.get("TENCENT_SECRET_ID"):
        wired["TENCENTCLOUD_SECRETID"] = env["TENCENT_SECRET_ID"]
        wired["TENCENTCLOUD_SECRETKEY"] = env.get("TENCENT_SECRET_KEY", "")
        if env.get("TENCENT_TOKEN"):
            wired["TENCENTCLOUD_SESSIONTOKEN"] = env["TENCENT_TOKEN"]
    needed = ("COS_BUCKET", "COS_REGION", "TENCENTCLOUD_SECRETID", "TENCENTCLOUD_SECRETKEY")
    return wired if all(wired.get(name) for name in needed) else None


def stored_key(kind: str, payload: dict[str, Any]) -> str:
    from shared.events import MODELS
    from shared.layout import event_key

    return event_key(MODELS[kind].model_validate(payload))


def object_checker(env: Mapping[str, str]) -> Callable[[str], bool]:
    """key -> whether it exists in the bucket, through the functions' own COS code."""
    from shared.storage import CosStore
    from tooling.access import bucket_settings

    store = CosStore(bucket_settings(env))
    return lambda key: store.head(key) is not None


def run(
    urls: Mapping[str, str],
    key: str,
    exists: Callable[[str], bool] | None,
    stream: str,
    out: Callable[[str], None] = print,
) -> bool:
    out(f"smoke test: stream {stream}, {len(urls)} functions")
    checks = []
    sent: dict[str, dict[str, Any]] = {}
    for kind, url in urls.items():
        check = Check(kind, url)
        payload = callback(kind, stream)
        sent[kind] = payload
        status, body = post(url, json.dumps(payloads.signed(payload, key)).encode())
        check.add(status == 200 and _is_ok(body), f"signed callback answered {status} {body[:80]}")
        status, body = post(url, json.dumps(payloads.signed(payload, "smoke-test-not-the-key")).encode())
        check.add(status in (401, 403), f"forged callback answered {status} (401/403 expected: errors reach CSS)")
        checks.append(check)
    if exists is None:
        out("bucket check: skipped (no COS_BUCKET/COS_REGION or no credentials; see --help)")
    else:
        time.sleep(0.5)
        for check in checks:
            object_key = stored_key(check.kind, sent[check.kind])
            try:
                found = exists(object_key)
            except Exception as exc:  # the checklist reports it; the reason is the SDK's
                check.add(False, f"object {object_key}: cannot check ({type(exc).__name__}: {str(exc)[:120]})")
            else:
                check.add(found, f"object {object_key} {'exists' if found else 'is missing'}")
    for check in checks:
        out(f"[{'ok' if check.ok else 'FAIL'}] {check.kind:<13} {check.url}")
        for line in check.lines:
            out(line)
    failed = [c.kind for c in checks if not c.ok]
    out(f"smoke test: {'FAILED for ' + ', '.join(failed) if failed else 'all ' + str(len(checks)) + ' functions ok'}")
    return not failed


def _is_ok(body: str) -> bool:
    try:
        return json.loads(body) == {"code": 0}
    except ValueError:
        return False
