"""The pipeline every function runs: trigger -> JSON -> signature -> model -> store/publish.

Each `functions/<name>/index.py` calls `handle(<kind>, event, context)`. Policy lives here once:
what is stored where, what is quarantined, and the one log line written per invocation.
Clients are built once per warm instance (`instance()`) and reused.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from shared import gateway
from shared.budget import Budget
from shared.config import Settings, load_settings
from shared.errors import CallbackError, ConfigurationError
from shared.events import EVENT_TYPES, MODELS, CallbackEvent, ModerationHit
from shared.layout import canonical_json, dedupe_id, event_key, quarantine_key
from shared.logs import emit, scrub_stream_param
from shared.signing import verify_signature
from shared.storage import CosStore

if TYPE_CHECKING:
    from shared.topic import TopicPublisher

KINDS = tuple(EVENT_TYPES)
_HEADER_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


class Instance:
    """What a warm SCF instance keeps between invocations: settings and SDK clients."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secrets = settings.secrets  # scrubbed from every log line; computed once
        self.store = CosStore(settings)
        self._publisher: TopicPublisher | None = None

    @property
    def publisher(self) -> TopicPublisher:
        if self._publisher is None:
            from shared.topic import TopicPublisher  # only porn_detect pays for the TDMQ SDK import

            self._publisher = TopicPublisher(self.settings)
        return self._publisher


_instance: Instance | None = None


def instance(kind: str) -> Instance:
    """The instance's settings and clients, built on first use; configuration errors name the variable."""
    global _instance
    if _instance is None:
        _instance = Instance(load_settings())
    if kind == "porn_detect" and not _instance.settings.moderation_topic:
        raise ConfigurationError("MODERATION_TOPIC is not set: name the TDMQ CMQ topic for moderation hits")
    return _instance


def reset_instance() -> None:
    """Forget the cached instance, as a cold start would (used by tests and the local stack)."""
    global _instance
    _instance = None


def _header_value(value: str) -> str:
    return _HEADER_UNSAFE.sub("_", value)[:128]


def _stream_of(payload: dict[str, Any]) -> str | None:
    value = payload.get("stream_id", payload.get("streamId"))
    return value[:128] if isinstance(value, str) else None


def _original(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as stored: everything CSS sent except `sign`, with push secrets scrubbed."""
    original = {k: v for k, v in payload.items() if k != "sign"}
    if isinstance(original.get("stream_param"), str):
        original["stream_param"] = scrub_stream_param(original["stream_param"])
    return original


def _describe(error: ValidationError) -> str:
    """Validation errors by field and reason, never echoing the (possibly secret) input."""
    parts = []
    for item in error.errors(include_url=False, include_input=False, include_context=False)[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "payload"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _same_event_type(value: Any, expected: int) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == expected
    return isinstance(value, str) and value.strip() == str(expected)


def _metadata(request: gateway.Request, extra: dict[str, str] | None = None) -> dict[str, str]:
    received = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # UTC; a third of datetime's cost
    meta = {"received-at": received, "request-id": _header_value(request.request_id), "trigger": request.trigger}
    return {**meta, **(extra or {})}


def _quarantine(
    kind: str,
    payload: dict[str, Any],
    reason: str,
    request: gateway.Request,
    inst: Instance,
    budget: Budget,
    log: dict[str, Any],
) -> None:
    key = quarantine_key(kind, payload, int(str(payload["t"])))  # `t` was checked by the signature
    document = {"function": kind, "reason": reason, "payload": _original(payload)}
    inst.store.put_json(key, canonical_json(document), _metadata(request), budget)
    log.update(outcome="quarantined", level="error", key=key, reason=reason)


def _moderation_message(hit: ModerationHit, suggestion: str, key: str) -> dict[str, Any]:
    return {
        "dedupe_id": dedupe_id(hit),
        "stream_id": hit.stream_id,
        "app": hit.app,
        "appname": hit.appname,
        "appid": hit.appid,
        "img": hit.img,
        "suggestion": suggestion,
        "label": hit.label,
        "sub_label": hit.sub_label,
        "score": hit.best_score,
        "type": hit.type,
        "screenshot_time": hit.screenshot_time,
        "send_time": hit.send_time,
        "evidence_key": key,
    }


CLAIM_STALE_SECONDS = 30
"""A `pending` claim older than this belongs to an invocation that failed (SCF's timeout is 10 s)."""


def _claim_age(headers: dict[str, str]) -> float:
    try:
        modified = parsedate_to_datetime(headers.get("last-modified", ""))
    except (TypeError, ValueError):
        return float("inf")
    return float(time.time() - modified.timestamp())


def _publish_once(
    hit: ModerationHit,
    suggestion: str,
    message: dict[str, Any],
    body: bytes,
    key: str,
    request: gateway.Request,
    inst: Instance,
    budget: Budget,
    log: dict[str, Any],
) -> None:
    """Publish a hit at most once however often and however concurrently it is delivered.

    The evidence object is the claim: created only if absent (state `pending`), then the message
    is published, then the evidence is rewritten with the same bytes as `published`. A delivery
    that finds a `published` claim is a duplicate; one that finds a fresh `pending` claim answers
    200 too (the owner either publishes or answers 5xx, and CSS retries the owner's delivery); a
    stale `pending` claim is a failed attempt, taken over. A failed publish releases its claim.
    Normal path: 2 COS requests and 1 publish.
    """
    if not inst.store.create(key, body, _metadata(request, {"state": "pending"}), budget):
        existing = inst.store.head(key, budget)
        if existing is not None and existing.get("x-cos-meta-state") != "pending":
            log["outcome"] = "duplicate"
            return
        if existing is not None and _claim_age(existing) < CLAIM_STALE_SECONDS:
            log["outcome"] = "in_progress"
            return
        log["takeover"] = True
    content = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    try:
        msg_id = inst.publisher.publish(content, [suggestion, hit.label or ""], budget)
    except CallbackError:
        # Release the claim so CSS's retry publishes at once; if this fails too, the claim goes
        # stale after CLAIM_STALE_SECONDS, well before CSS's next retry (a minute later).
        with contextlib.suppress(CallbackError):
            inst.store.delete(key, budget)
        raise
    state = {"state": "published", "msg-id": _header_value(msg_id)}
    inst.store.put_json(key, body, _metadata(request, state), budget)
    log.update(outcome="published", msg_id=msg_id)


def _process(kind: str, payload: dict[str, Any], request: gateway.Request, inst: Instance, log: dict[str, Any]) -> None:
    budget = Budget()
    expected = EVENT_TYPES[kind]
    if not _same_event_type(payload.get("event_type"), expected):
        got = payload.get("event_type")
        shown = got if isinstance(got, (int, str)) and len(str(got)) <= 12 else type(got).__name__
        reason = f"event_type {shown!r} is not handled by {kind} (expects {expected})"
        return _quarantine(kind, payload, reason, request, inst, budget, log)
    try:
        event: CallbackEvent = MODELS[kind].model_validate(payload)
    except ValidationError as exc:
        return _quarantine(kind, payload, f"invalid fields: {_describe(exc)}", request, inst, budget, log)

    key = event_key(event)
    normalised = event.normalised()
    normalised["stream_param"] = scrub_stream_param(event.stream_param)
    document: dict[str, Any] = {
        "kind": kind,
        "key": inst.settings.cos_prefix + key,
        "event": normalised,
        "original": _original(payload),
    }
    log["key"] = key

    if isinstance(event, ModerationHit):
        suggestion = event.effective_suggestion(inst.settings.moderation_min_score)
        message = _moderation_message(event, suggestion, inst.settings.cos_prefix + key)
        document["message"] = message
        log["suggestion"] = suggestion
        if suggestion in inst.settings.moderation_suggestions:
            _publish_once(event, suggestion, message, canonical_json(document), key, request, inst, budget, log)
            return None
    inst.store.put_json(key, canonical_json(document), _metadata(request), budget)
    log["outcome"] = "stored"
    return None


def handle(kind: str, event: Any, context: Any) -> dict[str, Any]:
    """Run one callback through the pipeline and return the integrated response. Never raises."""
    started = time.perf_counter()
    context_map = context if isinstance(context, dict) else {}
    log: dict[str, Any] = {
        "level": "info",
        "function": kind,
        "request_id": str(context_map.get("request_id") or ""),
        "event_type": None,
        "stream": None,
        "outcome": None,
        "status": None,
        "key": None,
    }
    secrets: tuple[str, ...] = ()
    try:
        inst = instance(kind)
        secrets = inst.secrets
        request = gateway.parse_trigger(event, context)
        log.update(request_id=request.request_id, trigger=request.trigger)
        payload = gateway.json_object(request)
        event_type = payload.get("event_type")
        log["event_type"] = event_type if isinstance(event_type, (int, str)) and len(str(event_type)) <= 12 else None
        verify_signature(payload, inst.settings.callback_keys, tolerance=inst.settings.sign_tolerance_seconds)
        log["stream"] = _stream_of(payload)
        _process(kind, payload, request, inst, log)
        answer = gateway.ok_response()
        log["status"] = 200
    except CallbackError as exc:
        answer = gateway.error_response(exc)
        log.update(status=exc.status, outcome=exc.outcome, reason=exc.reason)
        log["level"] = "error" if exc.status >= 500 else "warning"
    except Exception as exc:  # the last line of defence: CSS gets a 500 and retries
        answer = gateway.error_response(CallbackError(f"internal error ({type(exc).__name__})"))
        log.update(status=500, outcome="failed", level="error", reason=f"internal error: {type(exc).__name__}")
    log["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    with contextlib.suppress(Exception):  # a log line must never turn a stored callback into a failure
        emit(log, secrets)
    return answer
