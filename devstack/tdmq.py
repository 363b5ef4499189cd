"""TDMQ stand-in: a loopback endpoint answering `PublishCmqMsg` as the TDMQ cloud API does.

The real tencentcloud SDK reaches it with `HttpProfile(protocol="http", endpoint="127.0.0.1:PORT")`.
Each accepted message is kept in memory, optionally appended to a JSONL journal and echoed, and
delivered to the topic's subscribers (`subscribe`) as SCF's CMQ topic trigger would: an
asynchronous invocation with the `{"Records": [{"CMQ": {...}}]}` event, retried when it fails.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from devstack.dev import DEV_SESSION_TOKEN
from devstack.faults import FaultInjector
from devstack.servers import StandIn

DEFAULT_TOPIC = "live-moderation"
ASYNC_RETRIES = 2
"""SCF retries a failed asynchronous invocation twice by default."""


def cmq_event(messages: list[dict[str, Any]], tags_as_string: bool = False) -> dict[str, Any]:
    """SCF's CMQ topic trigger event for accepted messages (protocol.md; `msgTag` is a list in some
    of SCF's pages and a comma-separated string in others: both are sent, by `tags_as_string`)."""
    records = []
    for message in messages:
        tags = message.get("MsgTag") or []
        records.append(
            {
                "CMQ": {
                    "type": "topic",
                    "topicOwner": 100000000001,
                    "topicName": message["TopicName"],
                    "subscriptionName": message.get("Subscription", "moderation-action"),
                    "publishTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(message.get("at"))),
                    "msgId": message["MsgId"],
                    "requestId": str(uuid.uuid4()),
                    "msgBody": message["MsgContent"],
                    "msgTag": ",".join(tags) if tags_as_string else list(tags),
                }
            }
        )
    return {"Records": records}


class Subscription:
    """One function subscribed to a topic: messages delivered one event each, on a worker thread,
    retried `retries` times `retry_delay` apart when the handler raises (SCF's async retries)."""

    def __init__(self, topic: str, handler: Callable[[dict[str, Any]], Any], retries: int, retry_delay: float) -> None:
        self.topic, self.handler, self.retries, self.retry_delay = topic, handler, retries, retry_delay
        self.deliveries: list[dict[str, Any]] = []
        """Per delivery attempt: msg_ids, attempt, ok, error, finished (time.time())."""
        self._pending = 0
        self._idle = threading.Condition()

    def deliver(self, message: dict[str, Any]) -> None:
        with self._idle:
            self._pending += 1
        threading.Thread(target=self._run, args=(message,), name="cmq-delivery", daemon=True).start()

    def _run(self, message: dict[str, Any]) -> None:
        try:
            for attempt in range(self.retries + 1):
                event = cmq_event([message])
                try:
                    self.handler(event)
                except Exception as exc:
                    self._record(message, attempt, False, f"{type(exc).__name__}: {exc}")
                    time.sleep(self.retry_delay)
                    continue
                self._record(message, attempt, True, None)
                return
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _record(self, message: dict[str, Any], attempt: int, ok: bool, error: str | None) -> None:
        with self._idle:
            entry = {"msg_id": message["MsgId"], "attempt": attempt, "ok": ok, "error": error, "finished": time.time()}
            self.deliveries.append(entry)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every delivery (retries included) has finished; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)


def _answer(start_response: Callable[..., Any], response: dict[str, Any]) -> Iterable[bytes]:
    body = json.dumps({"Response": response}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _error(code: str, message: str) -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}


def _tdmq_error(status: int) -> tuple[str, bytes]:
    body = {"Response": _error("InternalError", f"injected fault {status}")}
    return "application/json", json.dumps(body).encode()


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
        self._messages: list[dict[str, Any]] = []
        """Every accepted message, in order, and the same per topic (`published` reads them)."""
        self._by_topic: dict[str, list[dict[str, Any]]] = {}
        self.subscriptions: list[Subscription] = []
        self._lock = threading.Lock()
        self.serve(FaultInjector(self._app, _tdmq_error), port)

    def env(self, topic: str = DEFAULT_TOPIC) -> dict[str, str]:
        return {"MODERATION_TOPIC": topic, "TDMQ_ENDPOINT": self.endpoint, "TDMQ_SCHEME": "http"}

    def subscribe(
        self,
        topic: str,
        handler: Callable[[dict[str, Any]], Any],
        retries: int = ASYNC_RETRIES,
        retry_delay: float = 0.2,
    ) -> Subscription:
        """Deliver every message later accepted on `topic` to `handler(event)` in the CMQ trigger shape."""
        subscription = Subscription(topic, handler, retries, retry_delay)
        with self._lock:
            self.subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self.subscriptions:
                self.subscriptions.remove(subscription)

    def published(self, topic: str | None = None) -> list[dict[str, Any]]:
        """The messages accepted on `topic` (on every topic when None), in order."""
        with self._lock:
            return list(self._messages if topic is None else self._by_topic.get(topic, ()))

    def forget(self) -> None:
        """Drop every accepted message, as if none had been published."""
        with self._lock:
            self._messages.clear()
            self._by_topic.clear()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        action = environ.get("HTTP_X_TC_ACTION", "")
        if environ.get("REQUEST_METHOD") != "POST" or not environ.get("HTTP_AUTHORIZATION", "").startswith(
            "TC3-HMAC-SHA256 "
        ):
            return _answer(start_response, _error("AuthFailure.SignatureFailure", "missing TC3 signature"))
        if environ.get("HTTP_X_TC_TOKEN") != DEV_SESSION_TOKEN:  # temporary keys need their token
            return _answer(start_response, _error("AuthFailure.TokenFailure", "X-TC-Token is missing or wrong"))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            params = json.loads(environ["wsgi.input"].read(length) or b"{}")
        except ValueError:
            return _answer(start_response, _error("InvalidParameter", "body is not JSON"))
        if action != "PublishCmqMsg":
            return _answer(start_response, _error("UnsupportedOperation", f"{action} is not served here"))
        topic, content, tags = params.get("TopicName"), params.get("MsgContent"), params.get("MsgTag") or []
        if not isinstance(topic, str) or not isinstance(content, str):
            return _answer(start_response, _error("MissingParameter", "TopicName and MsgContent are required"))
        if topic not in self.topics:
            return _answer(start_response, _error("ResourceNotFound", f"topic {topic} does not exist"))
        if len(content.encode()) > self.max_message_bytes or any(len(t) > 64 for t in tags):
            return _answer(start_response, _error("InvalidParameterValue", "message or tag too large"))
        message = {
            "TopicName": topic,
            "MsgContent": content,
            "MsgTag": tags,
            "MsgId": f"msg-{uuid.uuid4().hex[:16]}",
            "Region": environ.get("HTTP_X_TC_REGION", ""),
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
        with self._lock:
            subscribers = [s for s in self.subscriptions if s.topic == topic]
        for subscription in subscribers:  # after the answer's content is final, as CMQ pushes after accepting
            subscription.deliver(message)
        return _answer(start_response, {"Result": True, "MsgId": message["MsgId"], "RequestId": str(uuid.uuid4())})
