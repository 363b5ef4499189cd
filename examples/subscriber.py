#!/usr/bin/env python3
"""A subscriber to copy: the team's app hearing every event through a CMQ HTTP subscription.

Standard library only. TDMQ for CMQ pushes each message of the topic as an HTTP POST (page "HTTP
Endpoint Subscription", 1496/65109): `x-cmq-message-id` and `x-cmq-message-tag` headers, the body
in JSON format (`{"TopicOwner", "topicName", "subscriptionName", "msgId", "msgBody",
"publishTime"}`) or SIMPLIFIED (the message itself); a 2xx answer is a delivery, anything else (or
nothing within ~15 s) is retried by the subscription's policy. So this receiver:

- answers 2xx only once a message is handled (or known to be a duplicate), 4xx for one it will
  never take (CMQ would retry it for a day otherwise: those are logged and answered 200 instead);
- checks what it can: CMQ signs nothing it pushes, so the endpoint carries a secret of its own
  (`?token=...` in the subscription's endpoint URL, compared in constant time), the message must
  be of the schema it was written for (`live-callbacks/event/v1`, docs/events.schema.json);
- dedupes on the message's `id` (the same for every copy of an event: CSS's retries, reconcile's
  backfill, CMQ's own redelivery);
- keeps a "live now" set from stream begins and ends (a stream is live while one of its sessions
  has begun and not ended; an end that arrives before its begin is remembered), and the latest
  cover image and recording per stream.

    python3 examples/subscriber.py --port 8090 --token s3cret
    # subscription endpoint: http://<host>:8090/cmq?token=s3cret ; GET /state shows what it knows

A real app would keep this in its database; the shape of the handling stays the same.
"""

from __future__ import annotations

import argparse
import hmac
import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SCHEMA = "live-callbacks/event/v1"
MAX_BODY = 256 * 1024


class App:
    """What the app knows, built from the messages (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: set[str] = set()
        self.messages: list[dict[str, Any]] = []
        self.duplicates = 0
        self.refused: list[str] = []
        self.open: dict[str, set[str]] = {}
        """`app/appname/stream_id` -> sequences begun and not ended."""
        self.ended: dict[str, set[str]] = {}
        self.covers: dict[str, str] = {}
        self.recordings: dict[str, str] = {}

    def take(self, message: Mapping[str, Any]) -> bool:
        """Handle one message; False when it is a copy of one already handled."""
        with self.lock:
            if message["id"] in self.seen:
                self.duplicates += 1
                return False
            self.seen.add(message["id"])
            self.messages.append(dict(message))
            stream = "/".join(str(message[k]) for k in ("app", "appname", "stream_id"))
            sequence = str(message.get("sequence") or "")
            if message["kind"] == "stream_begin" and sequence not in self.ended.get(stream, set()):
                self.open.setdefault(stream, set()).add(sequence)
            elif message["kind"] == "stream_end":
                self.ended.setdefault(stream, set()).add(sequence)
                self.open.get(stream, set()).discard(sequence)
            elif message["kind"] == "snapshot":
                self.covers[stream] = str(message.get("image_url"))
            elif message["kind"] == "record":
                self.recordings[stream] = str(message.get("video_url"))
            return True

    def live_now(self) -> list[str]:
        with self.lock:
            return sorted(stream for stream, sequences in self.open.items() if sequences)

    def state(self) -> dict[str, Any]:
        with self.lock:
            kinds: dict[str, int] = {}
            for message in self.messages:
                kinds[message["kind"]] = kinds.get(message["kind"], 0) + 1
            return {
                "messages": len(self.messages),
                "duplicates": self.duplicates,
                "refused": list(self.refused),
                "kinds": kinds,
                "live_now": sorted(s for s, seqs in self.open.items() if seqs),
                "covers": dict(self.covers),
                "recordings": dict(self.recordings),
                "ids": sorted(self.seen),
            }


def message_of(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """The event message in a push, JSON or SIMPLIFIED; ValueError when it is not one of ours."""
    outer = json.loads(body.decode("utf-8"))
    if isinstance(outer, dict) and "msgBody" in outer and "topicName" in outer:  # JSON format
        if outer.get("msgId") and headers.get("x-cmq-message-id") not in (None, outer["msgId"]):
            raise ValueError("x-cmq-message-id does not match the body's msgId")
        outer = json.loads(outer["msgBody"])
    if not isinstance(outer, dict) or outer.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} message")
    for name in ("id", "kind", "app", "appname", "stream_id", "time", "key"):
        if name not in outer:
            raise ValueError(f"message without {name}")
    if not (isinstance(outer["id"], str) and len(outer["id"]) == 32):
        raise ValueError("id is not 32 characters")
    return outer


def handler(app: App, token: str) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if urlsplit(self.path).path == "/state":
                self._answer(200, app.state())
            else:
                self._answer(404, {"error": "not found"})

        def do_POST(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            given = (query.get("token") or [""])[0]
            if not hmac.compare_digest(given.encode(), token.encode()):
                self._answer(403, {"error": "wrong token"})  # not CMQ: CMQ's endpoint carries the token
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413, {"error": "too large"})
                return
            body = self.rfile.read(length)
            try:
                message = message_of(body, {k.lower(): v for k, v in self.headers.items()})
            except (ValueError, UnicodeDecodeError) as exc:
                with app.lock:
                    app.refused.append(str(exc)[:200])
                self._answer(200, {"ignored": str(exc)[:200]})  # 2xx: CMQ would retry it for a day
                return
            fresh = app.take(message)
            self._answer(200, {"ok": True, "duplicate": not fresh})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Receiver


def serve(port: int, token: str, host: str = "127.0.0.1") -> tuple[ThreadingHTTPServer, App]:
    """Start the receiver in a background thread; the server (its port) and the app state."""
    app = App()
    server = ThreadingHTTPServer((host, port), handler(app, token))
    threading.Thread(target=server.serve_forever, name="subscriber", daemon=True).start()
    return server, app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--token", required=True, help="the secret the subscription's endpoint URL carries")
    args = parser.parse_args()
    app = App()
    server = ThreadingHTTPServer((args.host, args.port), handler(app, args.token))
    print(f"listening on http://{args.host}:{server.server_port}/cmq?token=...  (GET /state)")
    server.serve_forever()


if __name__ == "__main__":
    main()
