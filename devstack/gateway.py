"""Local API Gateway: the routes of serverless.yml served as WSGI, invoking the real `main_handler`s.

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

from devstack import triggers

SERVERLESS_YML = triggers.ROOT / "serverless.yml"
MAX_REQUEST_BYTES = 6 * 1024 * 1024
"""SCF's synchronous request limit; larger bodies are refused here, as the platform would."""

_HANDLER = re.compile(r"functions/(?P<kind>[A-Za-z0-9_]+)/index\.main_handler")


@dataclass(frozen=True)
class Route:
    path: str
    method: str
    function: str
    """The function's key in serverless.yml (`inputs.functions.<key>`)."""
    handler: str
    """Its `handler` setting, e.g. `functions/record/index.main_handler`."""

    @property
    def kind(self) -> str:
        """The callback kind the function handles (its folder under `functions/`)."""
        match = _HANDLER.fullmatch(self.handler)
        return match["kind"] if match else self.function


class RouteError(ValueError):
    """serverless.yml does not describe usable routes; the message says what is wrong."""


def default_path(function: str) -> str:
    return "/live/" + function.replace("_", "-")


def routes_from_config(config: Mapping[str, Any]) -> list[Route]:
    """The API Gateway routes of a parsed multi-scf serverless.yml.

    Routes come from every `inputs.triggers[]` entry of `type: apigw`. When there is none (for
    example after a move to Function URLs), each function gets `POST /live/<name-with-dashes>`.
    """
    inputs = config.get("inputs")
    if not isinstance(inputs, Mapping):
        raise RouteError("serverless.yml has no 'inputs' mapping")
    functions = inputs.get("functions")
    if not isinstance(functions, Mapping) or not functions:
        raise RouteError("serverless.yml has no 'inputs.functions'")
    handlers: dict[str, str] = {}
    for name, spec in functions.items():
        handler = spec.get("handler") if isinstance(spec, Mapping) else None
        if not isinstance(handler, str) or "." not in handler:
            raise RouteError(f"function {name!r} has no 'handler' of the form path/to/module.function")
        handlers[str(name)] = handler

    apis: list[Mapping[str, Any]] = []
    triggers_list = inputs.get("triggers") or []
    for trigger in triggers_list if isinstance(triggers_list, list) else []:
        if isinstance(trigger, Mapping) and trigger.get("type") == "apigw":
            parameters = trigger.get("parameters")
            listed = parameters.get("apis") if isinstance(parameters, Mapping) else None
            apis.extend(api for api in listed or [] if isinstance(api, Mapping))
    if not apis:
        return [Route(default_path(name), "POST", name, handler) for name, handler in handlers.items()]

    routes: list[Route] = []
    for api in apis:
        path, method, function = api.get("path"), api.get("method", "POST"), api.get("function")
        if not isinstance(path, str) or not path.startswith("/"):
            raise RouteError(f"apigw api {dict(api)!r} has no absolute 'path'")
        if function not in handlers:
            raise RouteError(f"apigw api {path} names function {function!r}, which is not in inputs.functions")
        routes.append(Route(path, str(method).upper(), str(function), handlers[str(function)]))
    return routes


def load_routes(path: Path = SERVERLESS_YML) -> list[Route]:
    """The routes of `serverless.yml` (PyYAML is a development dependency)."""
    import yaml

    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RouteError(f"cannot read {path}: {exc.strerror}") from None
    if not isinstance(config, Mapping):
        raise RouteError(f"{path} is not a YAML mapping")
    return routes_from_config(config)


@cache
def load_function(handler: str) -> triggers.Handler:
    """The callable a `handler` setting names, imported from the project as SCF would."""
    match = _HANDLER.fullmatch(handler)
    if match:
        return triggers.load_handler(match["kind"])
    module_path, _, attribute = handler.rpartition(".")
    file = triggers.ROOT / f"{module_path}.py"
    spec = importlib.util.spec_from_file_location("handler_" + re.sub(r"\W", "_", module_path), file)
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
    """WSGI app: POST <route path> -> the route's `main_handler` with an API Gateway event."""

    def __init__(
        self,
        routes: Iterable[Route] | None = None,
        on_invocation: Callable[[Invocation], None] | None = None,
    ) -> None:
        self.routes = list(load_routes() if routes is None else routes)
        self._by_path: dict[str, list[Route]] = {}
        for route in self.routes:
            self._by_path.setdefault(route.path, []).append(route)
        self.on_invocation = on_invocation
        for route in self.routes:  # import every handler now: a broken one fails at start, not on traffic
            load_function(route.handler)

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
        event = triggers.apigw_event(
            text,
            path=route.path,
            method=method,
            headers=_headers(environ),
            as_base64=as_base64,
            request_id=request_id,
            source_ip=str(environ.get("REMOTE_ADDR", "127.0.0.1")),
        )
        query = str(environ.get("QUERY_STRING", ""))
        event["queryString"] = event["queryStringParameters"] = dict(parse_qsl(query))
        context = triggers.context(route.kind, request_id)
        with _captured_stdout() as captured:
            try:
                answer = load_function(route.handler)(event, context)
            except Exception as exc:  # SCF reports a crashed function as a gateway error
                answer = {"statusCode": 502, "body": json.dumps({"code": 502, "message": type(exc).__name__})}
        logs = captured.getvalue().splitlines()
        if self.on_invocation is None:
            for line in logs:
                sys.stdout.write(line + "\n")
        status, headers, body = _integrated(answer)
        return status, headers, body, logs


def _json_answer(status: int, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "application/json")], json.dumps({"code": status, "message": message}).encode()


def _integrated(answer: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """HTTP status, headers and body of an integrated response, as API Gateway turns it into HTTP."""
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
