"""TDMQ stand-in: a loopback endpoint answering TDMQ for CMQ's HTTP data-flow API (`PublishMessage`).

It speaks the protocol a client must get right to be accepted by the real one: `POST /v2/index.php`
with form parameters (a GET with the same query is accepted too, as the SDK can send either), the
common parameters `SecretId`, `Timestamp`, `Nonce`, `SignatureMethod`, `Signature` and, for
temporary keys, `Token` (page 216/1715's list for the v2 APIs); the signature checked as Tencent's
CMQ SDK computes it (tencentyun/cmq-python-sdk cmq/sign.py); `topicName`, `msgBody` and at most 5
`msgTag.n` of at most 16 characters (1496/127318); answers `{code, message, requestId, msgId}`
with the codes of the data-flow error page (1496/70948) and the common codes (309/7025).
Each accepted message is kept in memory, optionally appended to a JSONL journal and echoed, and
pushed to every HTTP subscription of its topic whose filter tags it carries, as the page "HTTP
Endpoint Subscription" describes (1496/65109, updated 2024-10-14; intl 1111/46529): a POST with
`x-cmq-request-id`, `x-cmq-message-id`, `x-cmq-message-tag` headers, `Content-Type: text/plain`,
the body in JSON format (`TopicOwner`, `topicName`, `subscriptionName`, `msgId`, `msgBody`,
`publishTime`) or SIMPLIFIED (the message body itself); a 2xx is delivered, anything else or no
answer in about 15 s is retried by the subscription's NotifyStrategy (406/6909, updated 2020-08-04:
EXPONENTIAL_DECAY_RETRY
1 s, 2 s, 4 s ... 512 s for a day, the default; BACKOFF_RETRY 3 retries 10-20 s apart).
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import http.client
import itertools
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

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


PUSH_TIMEOUT_SECONDS = 15
USER_AGENT = "Qcloud Notification Service Agent"
TOPIC_OWNER = 1250000000
STRATEGIES = ("EXPONENTIAL_DECAY_RETRY", "BACKOFF_RETRY")
DECAY_DELAYS = [2.0**n for n in range(10)] + [512.0] * 166
"""EXPONENTIAL_DECAY_RETRY: 176 retries, 1 s doubling to 512 s, a day in all (406/6909)."""


@dataclass
class HttpSubscription:
    """A subscription whose endpoint is an HTTP URL (CreateCmqSubscribe with Protocol `http`)."""

    topic: str
    name: str
    endpoint: str
    filter_tags: tuple[str, ...] = ()
    content_format: str = "JSON"
    strategy: str = "EXPONENTIAL_DECAY_RETRY"
    time_scale: float = 1.0
    """Retry delays are multiplied by this (tests shrink a day of retries to seconds)."""
    attempts: list[dict[str, Any]] = field(default_factory=list)
    """Every push: message id, attempt number, HTTP status (0: no answer), when."""

    def wants(self, tags: list[str]) -> bool:
        """No FilterTag: every message; else a message carrying at least one of them (406/6909)."""
        return not self.filter_tags or any(t in self.filter_tags for t in tags)

    def delay(self, retry: int) -> float | None:
        """Seconds before retry number `retry` (0-based), or None when the policy gives up."""
        if self.strategy == "BACKOFF_RETRY":
            return random.uniform(10, 20) * self.time_scale if retry < 3 else None
        return DECAY_DELAYS[retry] * self.time_scale if retry < len(DECAY_DELAYS) else None


class _Pusher:
    """Pushes a subscription's messages to its endpoint, each retried on its own schedule (a
    message waiting for its retry does not hold the ones after it back)."""

    def __init__(self, subscription: HttpSubscription) -> None:
        self.subscription = subscription
        self._due: list[tuple[float, int, dict[str, Any], int]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._busy = 0
        self._thread = threading.Thread(target=self._run, name=f"cmq-push:{subscription.name}", daemon=True)
        self._thread.start()

    def add(self, message: dict[str, Any], attempt: int = 0, at: float | None = None) -> None:
        with self._wake:
            heapq.heappush(self._due, (time.monotonic() if at is None else at, next(self._order), message, attempt))
            self._wake.notify()

    def pending(self) -> int:
        """Messages waiting (for their first push or a retry) or being pushed now."""
        with self._wake:
            return len(self._due) + self._busy

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._due or self._due[0][0] > time.monotonic()):
                    self._wake.wait(None if not self._due else self._due[0][0] - time.monotonic())
                if self._stopped:
                    return
                _, _, message, attempt = heapq.heappop(self._due)
                self._busy += 1
            status = self._push(message)
            self.subscription.attempts.append(
                {"msgId": message["msgId"], "attempt": attempt, "status": status, "at": time.time()}
            )
            if not 200 <= status < 300:
                wait = self.subscription.delay(attempt)
                if wait is not None:
                    self.add(message, attempt + 1, time.monotonic() + wait)
            with self._wake:
                self._busy -= 1

    def _push(self, message: dict[str, Any]) -> int:
        sub = self.subscription
        if sub.content_format == "SIMPLIFIED":
            body = message["msgBody"].encode("utf-8")
        else:
            envelope = {
                "TopicOwner": TOPIC_OWNER,
                "topicName": message["topicName"],
                "subscriptionName": sub.name,
                "msgId": message["msgId"],
                "msgBody": message["msgBody"],
                "publishTime": int(message["at"]),
            }
            body = json.dumps(envelope, ensure_ascii=False).encode("utf-8")
        url = urlsplit(sub.endpoint)
        headers = {
            "Content-Type": "text/plain",
            "User-Agent": USER_AGENT,
            "x-cmq-request-id": str(uuid.uuid4().int % 10**10),
            "x-cmq-message-id": message["msgId"],
            "x-cmq-message-tag": ", ".join(message["msgTag"]),
        }
        path = url.path or "/"
        target = path + (f"?{url.query}" if url.query else "")
        try:
            connection = http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=PUSH_TIMEOUT_SECONDS)
            connection.request("POST", target, body, headers)
            status = connection.getresponse().status
            connection.close()
            return status
        except OSError:
            return 0


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
        self._pushers: list[_Pusher] = []
        self._lock = threading.Lock()
        self.serve(FaultInjector(self._app, _tdmq_error), port)

    def env(self, topic: str = DEFAULT_TOPIC) -> dict[str, str]:
        return {"MODERATION_TOPIC": topic, "CMQ_ENDPOINT": self.url}

    def subscribe(self, subscription: HttpSubscription) -> HttpSubscription:
        """Push every message published to `subscription.topic` from now on to its endpoint."""
        if subscription.strategy not in STRATEGIES or subscription.content_format not in ("JSON", "SIMPLIFIED"):
            raise ValueError("NotifyStrategy is EXPONENTIAL_DECAY_RETRY or BACKOFF_RETRY; format JSON or SIMPLIFIED")
        if len(subscription.filter_tags) > MAX_TAGS or any(len(t) > MAX_TAG_LENGTH for t in subscription.filter_tags):
            raise ValueError(f"at most {MAX_TAGS} filter tags of at most {MAX_TAG_LENGTH} characters")
        with self._lock:
            self._pushers.append(_Pusher(subscription))
        return subscription

    def unsubscribe(self, subscription: HttpSubscription) -> None:
        with self._lock:
            for pusher in [p for p in self._pushers if p.subscription is subscription]:
                pusher.stop()
                self._pushers.remove(pusher)

    def pushing(self) -> int:
        """Messages still to be pushed (or waiting for a retry), over every subscription."""
        with self._lock:
            return sum(p.pending() for p in self._pushers)

    def stop(self) -> None:
        with self._lock:
            for pusher in self._pushers:
                pusher.stop()
            self._pushers.clear()
        super().stop()

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
            for pusher in self._pushers:
                if pusher.subscription.topic == topic and pusher.subscription.wants(tags):
                    pusher.add(message)
        if self.echo is not None:
            self.echo(message)
        return _answer(start_response, {"code": 0, "message": "", "msgId": message["msgId"]})
