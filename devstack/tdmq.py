"""TDMQ stand-in: a loopback endpoint answering TDMQ for CMQ's HTTP data-flow API (`PublishMessage`).

It speaks the protocol a client must get right to be accepted by the real one: `POST /v2/index.php`
with form parameters (a GET with the same query is accepted too, as the SDK can send either), the
common parameters `SecretId`, `Timestamp`, `Nonce`, `SignatureMethod`, `Signature` and, for
temporary keys, `Token` (page 216/1715's list for the v2 APIs); the signature checked as Tencent's
CMQ SDK computes it (tencentyun/cmq-python-sdk cmq/sign.py); `topicName`, `msgBody` and at most 5
`msgTag.n` of at most 16 characters (1496/127318); answers `{code, message, requestId, msgId}`
with the codes of the data-flow error page (1496/70948) and the common codes (309/7025).
Each accepted message is kept in memory, optionally appended to a JSONL journal and echoed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from devstack.dev import DEV_CREDENTIALS, DEV_SESSION_TOKEN
from devstack.faults import FaultInjector
from devstack.servers import StandIn

DEFAULT_TOPIC = "live-moderation"
PATH = "/v2/index.php"
CLOCK_SKEW_SECONDS = 300
"""A Timestamp further than this from the server's clock is refused (4500; 309/7025 says 5 minutes)."""
MAX_TAGS, MAX_TAG_LENGTH, MAX_ROUTING_KEY = 5, 16, 64
REQUIRED_COMMON = ("Action", "SecretId", "Timestamp", "Nonce", "Signature")
_DIGESTS = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}


def expected_signature(secret_key: str, method: str, host: str, params: dict[str, str]) -> str:
    """The signature the SDK would send for `params` (every parameter but `Signature`): cmq/sign.py
    `Sign.make` — METHOD + host + path + '?' + sorted `k=v` (raw values, '_' in names as '.'),
    HMAC with the SecretKey by `SignatureMethod` (HmacSHA1 unless HmacSHA256 is named), base64."""
    signed = {k: v for k, v in params.items() if k != "Signature"}
    source = method.upper() + host + PATH + "?" + "&".join(f"{k.replace('_', '.')}={signed[k]}" for k in sorted(signed))
    digest = _DIGESTS.get(params.get("SignatureMethod", ""), hashlib.sha1)
    return base64.b64encode(hmac.new(secret_key.encode(), source.encode(), digest).digest()).decode()


def _answer(start_response: Callable[..., Any], body: dict[str, Any]) -> Iterable[bytes]:
    data = json.dumps({**body, "requestId": str(uuid.uuid4().int % 10**19)}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _refuse(start_response: Callable[..., Any], code: int, message: str) -> Iterable[bytes]:
    return _answer(start_response, {"code": code, "message": message})


def _tdmq_error(status: int) -> tuple[str, bytes]:
    return "application/json", json.dumps({"code": 6000, "message": f"(10050)injected fault {status}"}).encode()


class TdmqStandIn(StandIn):
    def __init__(
        self,
        topics: Iterable[str] = (DEFAULT_TOPIC,),
        journal: Path | None = None,
        echo: Callable[[dict[str, Any]], None] | None = None,
        port: int = 0,
    ) -> None:
        self.topics = set(topics)
        self.max_message_bytes = 65536
        """The topics' MaxMsgSize (1-64 KB in TDMQ; 64 KB by default)."""
        self.journal = journal
        self.echo = echo
        self.secret_id = DEV_CREDENTIALS["TENCENTCLOUD_SECRETID"]
        self.secret_key = DEV_CREDENTIALS["TENCENTCLOUD_SECRETKEY"]
        self.token = DEV_SESSION_TOKEN
        self.refusals: list[dict[str, Any]] = []
        """Every request refused, with its code: what a wrongly written client meets."""
        self._messages: list[dict[str, Any]] = []
        """Every accepted message, in order, and the same per topic (`published` reads them)."""
        self._by_topic: dict[str, list[dict[str, Any]]] = {}
        self._nonces: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self.serve(FaultInjector(self._app, _tdmq_error), port)

    def env(self, topic: str = DEFAULT_TOPIC) -> dict[str, str]:
        return {"MODERATION_TOPIC": topic, "CMQ_ENDPOINT": self.url}

    def published(self, topic: str | None = None) -> list[dict[str, Any]]:
        """The messages accepted on `topic` (on every topic when None), in order."""
        with self._lock:
            return list(self._messages if topic is None else self._by_topic.get(topic, ()))

    def forget(self) -> None:
        """Drop every accepted message, as if none had been published."""
        with self._lock:
            self._messages.clear()
            self._by_topic.clear()

    def _params(self, environ: dict[str, Any]) -> dict[str, str] | None:
        query = environ.get("QUERY_STRING") or ""
        if environ.get("REQUEST_METHOD") == "GET":
            text = query
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            text = environ["wsgi.input"].read(length).decode("utf-8", "replace")
        try:
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
        except ValueError:
            return None
        params: dict[str, str] = {}
        for name, value in pairs:
            if name in params:  # "parameter %s is NOT a repeatable parameter"
                return None
            params[name] = value
        return params

    def _refused(self, start_response: Callable[..., Any], code: int, message: str) -> Iterable[bytes]:
        with self._lock:
            self.refusals.append({"code": code, "message": message, "at": time.time()})
        return _refuse(start_response, code, message)

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        if environ.get("PATH_INFO") != PATH:
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        if method not in ("GET", "POST"):
            return self._refused(start_response, 4000, f"(10410)unexpected http {method} only GET or POST is supported")
        params = self._params(environ)
        if params is None:
            return self._refused(start_response, 4000, "(10310)parameters are not a well-formed form")
        missing = [name for name in REQUIRED_COMMON if not params.get(name)]
        if missing:
            return self._refused(start_response, 4000, f"(10010)lacked of required parameters {','.join(missing)}")
        method_name = params.get("SignatureMethod", "HmacSHA1")
        if method_name not in _DIGESTS:
            return self._refused(start_response, 4000, f"(10110)SignatureMethod {method_name[:16]!r} is not supported")
        if params["SecretId"] != self.secret_id:
            return self._refused(start_response, 4104, "secretId is not existed")
        host = environ.get("HTTP_HOST", "")
        wanted = expected_signature(self.secret_key, method, host, params)
        if not hmac.compare_digest(wanted.encode(), params["Signature"].encode()):
            return self._refused(start_response, 4100, "authentication failed: the signature does not match")
        if params.get("Token") != self.token:  # the dev keys are temporary ones, as SCF's role gives
            return self._refused(start_response, 4105, "token is missing or wrong")
        if not params["Timestamp"].isdigit() or abs(time.time() - int(params["Timestamp"])) > CLOCK_SKEW_SECONDS:
            return self._refused(start_response, 4500, "Timestamp is too far from the server's clock")
        now = time.time()
        with self._lock:
            for seen in [k for k, at in self._nonces.items() if at < now - 2 * CLOCK_SKEW_SECONDS]:
                del self._nonces[seen]
            replay = (params["Nonce"], params["Timestamp"]) in self._nonces
            self._nonces[(params["Nonce"], params["Timestamp"])] = now
        if replay:
            return self._refused(start_response, 4500, "replay: this Nonce and Timestamp were used already")
        if params["Action"] != "PublishMessage":
            return self._refused(start_response, 4000, f"(10280)action {params['Action'][:32]!r} is not existed")
        return self._publish(start_response, params)

    def _publish(self, start_response: Callable[..., Any], params: dict[str, str]) -> Iterable[bytes]:
        topic, body = params.get("topicName", ""), params.get("msgBody", "")
        if not topic or not body:
            return self._refused(start_response, 4000, "(10390)lacked of required parameter topicName or msgBody")
        tag_names = sorted((k for k in params if k.startswith("msgTag.")), key=lambda k: (len(k), k))
        if tag_names != [f"msgTag.{n}" for n in range(1, len(tag_names) + 1)]:
            return self._refused(start_response, 4000, "(10380)msgTag parameter is not consequent")
        tags = [params[k] for k in tag_names]
        if len(tags) > MAX_TAGS or any(not t or len(t) > MAX_TAG_LENGTH for t in tags):
            return self._refused(start_response, 4000, "(10350)parameter msgTag value or length is out of range")
        if len(params.get("routingKey", "")) > MAX_ROUTING_KEY:
            return self._refused(start_response, 4000, "(10350)parameter routingKey value or length is out of range")
        if len(body.encode("utf-8")) > self.max_message_bytes:
            return self._refused(start_response, 4000, "(10350)parameter msgBody value or length is out of range")
        if topic not in self.topics:
            # 1496/70948 names no code for a missing topic: 5000 is the common code for a resource
            # that does not exist (309/7025), our choice; the client retries every code but 4000.
            return self._refused(start_response, 5000, f"topic {topic[:64]} does not exist")
        message = {
            "topicName": topic,
            "msgBody": body,
            "msgTag": tags,
            "msgId": f"msg-{uuid.uuid4().hex[:16]}",
            "routingKey": params.get("routingKey", ""),
            "at": time.time(),
        }
        with self._lock:
            self._messages.append(message)
            self._by_topic.setdefault(topic, []).append(message)
            if self.journal is not None:
                with self.journal.open("a", encoding="utf-8") as journal:
                    journal.write(json.dumps(message, ensure_ascii=False) + "\n")
        if self.echo is not None:
            self.echo(message)
        return _answer(start_response, {"code": 0, "message": "", "msgId": message["msgId"]})
