"""Trigger adapter: turns whatever invoked the function into one `Request`, and answers.

SCF delivers the same callback in three shapes: an API Gateway event (mixed-case headers,
`requestContext`), a Function URL event (lower-case headers, no `requestContext`) and a direct
invoke whose event is the callback object itself. The rest of the pipeline sees only `Request`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.errors import BadRequest, CallbackError, MethodNotAllowed, PayloadTooLarge

MAX_BODY_BYTES = 256 * 1024
"""CSS callbacks are a few KB (the largest documented sample we hold, an audio moderation hit, is
1.2 KB; hits with OCR detail may reach a few tens of KB); no page states a maximum. The bound is
memory: a signed body of 1 MiB of `{}` peaked at 70 MB in a 64 MB door, 256 KiB stays under it
whatever its shape (scripts/door_memory.py; docs/RELIABILITY.md section 3)."""

_JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass
class Request:
    method: str
    headers: dict[str, str]
    body: bytes | None
    request_id: str
    source_ip: str = ""
    trigger: str = "direct"
    payload: dict[str, Any] | None = field(default=None, repr=False)


def _is_http_event(event: Mapping[str, Any]) -> bool:
    return "httpMethod" in event or "requestContext" in event or ("body" in event and "headers" in event)


def parse_trigger(event: Any, context: Any) -> Request:
    """Normalise an SCF event (API Gateway, Function URL or direct invoke) into a `Request`."""
    context = context if isinstance(context, Mapping) else {}
    context_id = str(context.get("request_id") or "")
    if not isinstance(event, Mapping):
        raise BadRequest("the invocation event is not a JSON object")
    if not _is_http_event(event):
        return Request("POST", {}, None, context_id, trigger="direct", payload=dict(event))

    raw_headers = event.get("headers")
    headers = {str(k).lower(): str(v) for k, v in raw_headers.items()} if isinstance(raw_headers, Mapping) else {}
    request_context = event.get("requestContext")
    if isinstance(request_context, Mapping):
        trigger = "apigw"
        request_id = str(request_context.get("requestId") or context_id)
        identity = request_context.get("identity")
        source_ip = str(request_context.get("sourceIp") or "")
        if not source_ip and isinstance(identity, Mapping):
            source_ip = str(identity.get("sourceIp") or "")
    else:
        trigger = "url"
        request_id = context_id
        source_ip = headers.get("x-scf-remote-addr", "")
    request_id = request_id or headers.get("x-api-requestid", "")

    method = str(event.get("httpMethod") or "POST").upper()
    body = event.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        if len(body) > MAX_BODY_BYTES * 2:
            raise PayloadTooLarge(f"body is larger than {MAX_BODY_BYTES} bytes")
        if event.get("isBase64Encoded") is True:
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest("body is marked base64 but is not valid base64") from None
        else:
            data = body.encode("utf-8", "surrogatepass")
    elif isinstance(body, Mapping):
        # A test console or custom integration may hand the JSON body over already parsed.
        return Request(method, headers, None, request_id, source_ip, trigger, payload=dict(body))
    else:
        raise BadRequest("the event's body is neither a string nor an object")
    return Request(method, headers, data, request_id, source_ip, trigger)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _number(text: str) -> float | str:
    """A JSON number with a fraction or exponent; one beyond a double's range (`1e400`) stays text.

    Parsed as a float it would be infinity, which strict JSON parsers refuse when we store or
    publish it; as text it is kept exactly as sent, and a model field that needs a number
    refuses it (the callback is quarantined, not lost).
    """
    value = float(text)
    return value if math.isfinite(value) else text


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_number)  # one per instance


def decode_json(text: str) -> Any:
    """JSON text as the functions parse it (no NaN/Infinity; numbers beyond a double kept as text)."""
    return _DECODER.decode(text)


def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body, or the 4xx error that says why there is none."""
    if request.method != "POST":
        raise MethodNotAllowed(f"method {request.method} is not allowed; CSS callbacks are POST")
    if request.payload is not None:
        return request.payload
    body = request.body or b""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body is larger than {MAX_BODY_BYTES} bytes")
    if not body.strip():
        raise BadRequest("body is empty; expected a JSON object")
    try:
        value = _DECODER.decode(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("body is not valid UTF-8") from None
    except RecursionError:
        raise BadRequest("body is nested too deeply") from None
    except ValueError as exc:
        raise BadRequest(f"body is not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(value, dict):
        raise BadRequest(f"body is JSON but not an object (got {type(value).__name__})")
    return value


def response(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The integrated response API Gateway and Function URLs both turn into HTTP."""
    return {
        "isBase64Encoded": False,
        "statusCode": status,
        "headers": {**_JSON_HEADERS, **(headers or {})},
        "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
    }


OK = {"code": 0}
_OK_BODY = json.dumps(OK, separators=(",", ":"), ensure_ascii=False)


def ok_response() -> dict[str, Any]:
    # The answer to nearly every callback, built without serialising `OK` again each time.
    return {"isBase64Encoded": False, "statusCode": 200, "headers": dict(_JSON_HEADERS), "body": _OK_BODY}


def error_response(error: CallbackError) -> dict[str, Any]:
    extra = {"Allow": "POST"} if isinstance(error, MethodNotAllowed) else None
    return response(error.status, {"code": error.status, "message": error.reason}, extra)
