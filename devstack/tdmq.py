"""TDMQ stand-in: a loopback endpoint answering `PublishCmqMsg` as the TDMQ cloud API does.

The real tencentcloud SDK reaches it with `HttpProfile(protocol="http", endpoint="127.0.0.1:PORT")`.
Each accepted message is kept in memory, optionally appended to a JSONL journal and echoed.
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
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.serve(FaultInjector(self._app, _tdmq_error), port)

    def env(self, topic: str = DEFAULT_TOPIC) -> dict[str, str]:
        return {"MODERATION_TOPIC": topic, "TDMQ_ENDPOINT": self.endpoint, "TDMQ_SCHEME": "http"}

    def published(self, topic: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages if topic is None or m["TopicName"] == topic]

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
            self.messages.append(message)
            if self.journal is not None:
                with self.journal.open("a", encoding="utf-8") as journal:
                    journal.write(json.dumps(message, ensure_ascii=False) + "\n")
        if self.echo is not None:
            self.echo(message)
        return _answer(start_response, {"Result": True, "MsgId": message["MsgId"], "RequestId": str(uuid.uuid4())})
