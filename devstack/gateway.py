"""Local API Gateway: the routes of deploy/functions.yml served as WSGI, invoking the real `main_handler`s.

Each HTTP request becomes the API Gateway trigger event SCF would build (mixed-case headers,
`requestContext.requestId`), and the handler's integrated response becomes the HTTP answer.
Used by the local stack (`scripts/local.py`), the tests and the benchmarks.
"""

from __future__ import annotations

import base64
import binascii
import http
import importlib.util
import io
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl

from deploy.spec import SPEC_FILE, Spec, SpecError, load_spec, spec_from_config
from devstack import triggers

ROUTES_FILE = SPEC_FILE
"""deploy/functions.yml: the one source of truth the deployed variants are generated from."""
MAX_REQUEST_BYTES = 6 * 1024 * 1024
"""SCF's synchronous request limit; larger bodies are refused here, as the platform would."""

RouteError = SpecError
"""The deploy spec does not describe usable routes; the message says what is wrong."""


@dataclass(frozen=True)
class Route:
    path: str
    method: str
    function: str
    """The function's kind (its key in deploy/functions.yml, its folder under `functions/`)."""
    handler: str
    """Its `handler` setting in the code package, e.g. `index.main_handler`."""

    @property
    def kind(self) -> str:
        """The callback kind the function handles (its folder under `functions/`)."""
        return self.function


def routes_from_spec(spec: Spec) -> list[Route]:
    """One POST route per function, as the API Gateway variant deploys them."""
    return [Route(f.route, "POST", f.kind, f.handler) for f in spec.functions]


def routes_from_config(config: Mapping[str, Any]) -> list[Route]:
    """The routes of a parsed deploy/functions.yml."""
    return routes_from_spec(spec_from_config(config))


def load_routes(path: Path = ROUTES_FILE) -> list[Route]:
    """The routes of deploy/functions.yml (PyYAML is a development dependency)."""
    return routes_from_spec(load_spec(path))


@cache
def load_function(kind: str, handler: str = "index.main_handler") -> triggers.Handler:
    """The callable `handler` names in `kind`'s package, from its source in `functions/<kind>/`.

    scripts/package.sh copies `functions/<kind>/index.py` to the package root, so the deployed
    `index.main_handler` is the `main_handler` of that file.
    """
    module_name, _, attribute = handler.rpartition(".")
    if (module_name, attribute) == ("index", "main_handler"):
        return triggers.load_handler(kind)
    file = triggers.ROOT / "functions" / kind / f"{module_name}.py"
    spec = importlib.util.spec_from_file_location(f"handler_{kind}_" + re.sub(r"\W", "_", module_name), file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {file}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function: triggers.Handler = getattr(module, attribute)
    return function


# The pipeline writes its one log line per invocation to sys.stdout, as SCF collects it. The gateway
# runs handlers on server threads, so it captures that output per thread and hands it to a callback.


class _ThreadStdout(io.TextIOBase):
    """sys.stdout replacement: writes go to the current thread's capture buffer, else through."""

    def __init__(self, through: TextIO) -> None:
        self.through = through
        self.local = threading.local()

    def write(self, text: str) -> int:
        target: TextIO | None = getattr(self.local, "target", None)
        return (target or self.through).write(text)

    def flush(self) -> None:
        target: TextIO | None = getattr(self.local, "target", None)
        (target or self.through).flush()

    def isatty(self) -> bool:
        return self.through.isatty()


_install_lock = threading.Lock()


@contextmanager
def _captured_stdout() -> Iterator[io.StringIO]:
    with _install_lock:
        proxy = sys.stdout
        if not isinstance(proxy, _ThreadStdout):
            proxy = _ThreadStdout(sys.stdout)
            sys.stdout = proxy
    buffer = io.StringIO()
    proxy.local.target = buffer
    try:
        yield buffer
    finally:
        proxy.local.target = None


@dataclass
class Invocation:
    """One request the gateway handled: what a log view or a test wants to know about it."""

    method: str
    path: str
    function: str | None
    status: int
    request_id: str
    latency_ms: float
    logs: list[str] = field(default_factory=list)
    """The function's own log lines (JSON) for this invocation."""


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """Request headers in the mixed case API Gateway forwards (`Content-Type`, `X-Forwarded-For`)."""
    headers: dict[str, str] = {}
    for name, value in environ.items():
        if name.startswith("HTTP_"):
            raw = name[5:]
        elif name in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            raw = name
        else:
            continue
        headers["-".join(part.capitalize() for part in raw.split("_"))] = str(value)
    return headers


def _read_body(environ: Mapping[str, Any]) -> bytes | None:
    """The request body, or None when it is larger than SCF accepts."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        try:
            size = int(length)
        except ValueError:
            size = MAX_REQUEST_BYTES + 1
        if size > MAX_REQUEST_BYTES:
            return None
        return bytes(stream.read(size))
    data = bytes(stream.read(MAX_REQUEST_BYTES + 1))  # chunked: waitress has de-chunked it
    return None if len(data) > MAX_REQUEST_BYTES else data


def _status_line(status: int) -> str:
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


class LocalGateway:
    """WSGI app: POST <route path> -> the route's `main_handler`.

    `trigger="apigw"` (default) builds API Gateway events with integrated responses; `trigger="url"`
    builds Function URL events, as if each route were that function's own Function URL.
    """

    def __init__(
        self,
        routes: Iterable[Route] | None = None,
        on_invocation: Callable[[Invocation], None] | None = None,
        trigger: str = "apigw",
    ) -> None:
        if trigger not in ("apigw", "url"):
            raise ValueError(f"trigger must be 'apigw' or 'url', got {trigger!r}")
        self.trigger = trigger
        self.routes = list(load_routes() if routes is None else routes)
        self._by_path: dict[str, list[Route]] = {}
        for route in self.routes:
            self._by_path.setdefault(route.path, []).append(route)
        self.on_invocation = on_invocation
        for route in self.routes:  # import every handler now: a broken one fails at start, not on traffic
            load_function(route.kind, route.handler)

    def route_for(self, method: str, path: str) -> Route | None:
        """The route serving `path`; for a wrong method, the path's route (its handler answers 405)."""
        candidates = self._by_path.get(path)
        if not candidates:
            return None
        return next((r for r in candidates if r.method in (method, "ANY")), candidates[0])

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("PATH_INFO", "") or "/")
        request_id = uuid.uuid4().hex
        route = self.route_for(method, path)
        logs: list[str] = []
        if route is None:
            status, headers, body = self._not_found(method, path)
        else:
            raw = _read_body(environ)
            if raw is None:
                status, headers, body = _json_answer(413, f"body is larger than {MAX_REQUEST_BYTES} bytes")
            else:
                status, headers, body, logs = self._invoke(route, method, environ, raw, request_id)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers += [("Content-Length", str(len(body))), ("X-Api-RequestId", request_id)]
        start_response(_status_line(status), headers)
        if self.on_invocation is not None:
            latency = round((time.perf_counter() - started) * 1000, 2)
            function = route.function if route else None
            self.on_invocation(Invocation(method, path, function, status, request_id, latency, logs))
        return [body]

    def _not_found(self, method: str, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        known = sorted({f"{r.method} {r.path}" for r in self.routes})
        body = {"code": 404, "message": f"no route for {method} {path}", "routes": known}
        data = json.dumps(body).encode()
        return 404, [("Content-Type", "application/json")], data

    def _invoke(
        self, route: Route, method: str, environ: Mapping[str, Any], raw: bytes, request_id: str
    ) -> tuple[int, list[tuple[str, str]], bytes, list[str]]:
        try:
            text: str | bytes = raw.decode("utf-8")
            as_base64 = False
        except UnicodeDecodeError:  # API Gateway hands binary bodies over base64-encoded
            text, as_base64 = raw, True
        source_ip = str(environ.get("REMOTE_ADDR", "127.0.0.1"))
        query = dict(parse_qsl(str(environ.get("QUERY_STRING", ""))))
        if self.trigger == "url":
            body: str | bytes = text if isinstance(text, str) else raw
            event = triggers.function_url_event(body, method=method, headers=_headers(environ), source_ip=source_ip)
            event["queryString"] = query
        else:
            event = triggers.apigw_event(
                text,
                path=route.path,
                method=method,
                headers=_headers(environ),
                as_base64=as_base64,
                request_id=request_id,
                source_ip=source_ip,
            )
            event["queryString"] = event["queryStringParameters"] = query
        context = triggers.context(route.kind, request_id)
        with _captured_stdout() as captured:
            try:
                answer = load_function(route.kind, route.handler)(event, context)
            except Exception as exc:  # SCF reports a crashed function as a gateway error
                answer = {"statusCode": 502, "body": json.dumps({"code": 502, "message": type(exc).__name__})}
        logs = captured.getvalue().splitlines()
        if self.on_invocation is None:
            for line in logs:
                sys.stdout.write(line + "\n")
        status, headers, body = http_answer(answer)
        return status, headers, body, logs


def _json_answer(status: int, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "application/json")], json.dumps({"code": status, "message": message}).encode()


def http_answer(answer: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """HTTP status, headers and body of an integrated response, as the platform turns it into HTTP.

    Both deployed paths answer this way: API Gateway with integrated response on (every endpoint
    of deploy/apigw/, tests/test_toolkit_contract.py) and a Function URL.
    """
    if not isinstance(answer, Mapping) or not isinstance(answer.get("statusCode"), int):
        return _json_answer(502, "the function did not return an integrated response")
    headers = answer.get("headers") or {}
    pairs = [(str(k), str(v)) for k, v in headers.items()] if isinstance(headers, Mapping) else []
    body = answer.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str) and answer.get("isBase64Encoded") is True:
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return _json_answer(502, "the function's base64 body is not valid base64")
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        data = json.dumps(body).encode()
    return int(answer["statusCode"]), pairs, data
