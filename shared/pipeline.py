"""The pipeline every function runs: trigger -> JSON -> signature -> model -> store/publish.

Each `functions/<name>/index.py` calls `handle(<kind>, event, context)`. Policy lives here once:
what is stored where, what is quarantined, and the one log line written per invocation. The
steps return an `Outcome`; `handle` alone turns it (or the error raised) into the answer and the
log line. Clients are built once per warm instance (`instance()`) and reused.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from shared import claim, gateway, moderation, notify
from shared.budget import Budget
from shared.config import Settings, load_settings
from shared.errors import CallbackError, DependencyTimeout, InvalidSignature, PublishRefused
from shared.events import HITS, MODELS, AudioModerationHit, CallbackEvent, ModerationHit
from shared.layout import canonical_json, encode_part, event_key, quarantine_key
from shared.logs import emit, scrub_json
from shared.signing import UNPARSED_CHECK_BYTES, signed_before_parsing, verify_signature
from shared.storage import ATTEMPT_WORST_CASE, CosStore
from shared.vocabulary import EVENT_CODES, HIT_KINDS, KINDS, QUARANTINE, is_event_type

if TYPE_CHECKING:
    from shared.topic import TopicPublisher

__all__ = ["KINDS", "backfill", "handle", "instance", "reset_instance"]
_HEADER_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")
_SIGN_MEMBER = re.compile(r'("sign"\s*:\s*)"[^"]*"')


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
            from shared.topic import TopicPublisher  # only the functions that publish import it

            self._publisher = TopicPublisher(self.settings)
        return self._publisher


_instance: Instance | None = None


def instance(kind: str) -> Instance:
    """The instance's settings and clients, built on first use; configuration errors name the variable."""
    global _instance
    if _instance is None:
        _instance = Instance(load_settings())
    if _instance.settings.publishes(kind) and (kind not in HIT_KINDS or _instance.settings.moderation_suggestions):
        _instance.settings.require_topic()
        _instance.settings.require_cmq_endpoint()
    return _instance


def reset_instance() -> None:
    """Forget the cached instance, as a cold start would (used by tests and the local stack)."""
    global _instance
    _instance = None


def _header_value(value: str) -> str:
    return _HEADER_UNSAFE.sub("_", value)[:128]


@dataclass
class Invocation:
    """One callback's journey: which door, what arrived, the clients, and the time left."""

    kind: str
    request: gateway.Request
    inst: Instance
    budget: Budget
    backfill: bool = False
    """Ingested from the Live API's callback records (reconcile), not delivered by CSS: stored
    only where nothing is stored yet, and marked `source: reconcile` in the object's metadata."""

    def metadata(self) -> dict[str, str]:
        """Object metadata of every write: when (UTC), by which request, through which trigger."""
        received = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # a third of datetime's cost
        meta = {
            "received-at": received,
            "request-id": _header_value(self.request.request_id),
            "trigger": self.request.trigger,
        }
        if self.backfill:
            meta["source"] = "reconcile"
        return meta

    def store(self, key: str, document: dict[str, Any]) -> bool:
        """Store the document; False when a backfill finds it stored already (never rewritten)."""
        if self.backfill:
            return self.inst.store.create(key, stored_json(document), self.metadata(), self.budget)
        self.inst.store.put_json(key, stored_json(document), self.metadata(), self.budget)
        return True


@dataclass
class Outcome:
    """What the pipeline did with an authentic callback; `handle` answers 200 for every outcome."""

    outcome: str  # stored | published | duplicate | quarantined
    key: str
    level: str = "info"
    fields: dict[str, Any] = field(default_factory=dict)


def stored_json(document: dict[str, Any]) -> bytes:
    """The bytes of a stored document: canonical, strict JSON, every `txSecret` value scrubbed."""
    return scrub_json(canonical_json(document).decode("ascii")).encode("ascii")


def _stream_of(payload: dict[str, Any]) -> str | None:
    value = payload.get("stream_id", payload.get("streamId"))
    return value[:128] if isinstance(value, str) else None


def _original(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as stored: everything CSS sent except `sign` (push secrets go in `stored_json`)."""
    return {k: v for k, v in payload.items() if k != "sign"}


def _describe(error: ValidationError) -> str:
    """Validation errors by field and reason, never echoing the (possibly secret) input."""
    parts = []
    for item in error.errors(include_url=False, include_input=False, include_context=False)[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "payload"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _quarantine(inv: Invocation, payload: dict[str, Any], reason: str) -> Outcome:
    key = quarantine_key(inv.kind, payload, _expiry(payload))
    inv.store(key, {"function": inv.kind, "reason": reason, "payload": _original(payload)})
    return Outcome("quarantined", key, "error", {"reason": reason})


def _expiry(payload: dict[str, Any]) -> int:
    """`t`, checked by the signature on the HTTP path; a backfilled record may lack a usable one."""
    t = payload.get("t")
    if isinstance(t, int) and not isinstance(t, bool) and 0 <= t < 253402300800:
        return t
    if isinstance(t, str) and t.isdigit() and len(t) <= 11:
        return int(t)
    return int(time.time())


def _quarantine_as_text(inv: Invocation, payload: dict[str, Any]) -> Outcome:
    """An authentic payload nested too deeply to handle as JSON values: kept as the text CSS sent.

    Named by the digest of that text, so CSS's retries (the same bytes) land on the same object.
    """
    reason = "payload nested too deeply to store as JSON values; kept as text"
    body = inv.request.body
    text = _SIGN_MEMBER.sub(r'\1"***"', body.decode("utf-8", "replace")) if body is not None else None
    name = hashlib.sha256((text or inv.request.request_id).encode("utf-8", "replace")).hexdigest()[:32]
    day = time.strftime("%Y/%m/%d", time.gmtime(_expiry(payload)))
    key = f"{QUARANTINE}{encode_part(inv.kind)}/{day}/deep-{name}.json"
    inv.store(key, {"function": inv.kind, "reason": reason, "payload_text": text})
    return Outcome("quarantined", key, "error", {"reason": reason})


def _publish_once(
    inv: Invocation, hit: ModerationHit | AudioModerationHit, key: str, document: dict[str, Any]
) -> Outcome:
    """Publish a hit once however often and however concurrently it is delivered (shared/claim.py).

    Normal path: 2 COS requests (claim, mark) and 1 publish. The publish starts only when it and
    the mark both fit in the budget, so a published hit is always marked; a failed publish
    releases the claim, and a message the topic refuses for good leaves the evidence marked
    `refused` and a copy in quarantine for an operator.
    """
    body = stored_json(document)
    owned = claim.Claim(inv.inst.store, key, claim.new_token(), inv.metadata(), inv.budget)
    fields: dict[str, Any] = {"suggestion": document["message"]["suggestion"]}
    if owned.acquire(body) == claim.DUPLICATE:
        return Outcome("duplicate", key, fields=fields)
    if owned.taken_over_from:
        fields["takeover"] = True
    content = scrub_json(moderation.encode(document["message"]))
    try:
        if not inv.budget.allows(inv.inst.publisher.worst_case + ATTEMPT_WORST_CASE):
            raise DependencyTimeout("no time left in the budget to publish and mark the hit")
        msg_id = inv.inst.publisher.publish(content, notify.tags(document["message"]), inv.budget)
    except PublishRefused as exc:
        owned.mark_refused(body)
        reason = f"moderation hit not published: {exc.reason}"
        outcome = _quarantine(inv, document["original"], reason)
        return Outcome("quarantined", key, "error", {**fields, "reason": reason, "quarantine_key": outcome.key})
    except CallbackError:
        with contextlib.suppress(CallbackError):
            owned.release()
        raise
    owned.mark_published(body, _header_value(msg_id))
    return Outcome("published", key, fields={**fields, "msg_id": msg_id})


def _process(inv: Invocation, payload: dict[str, Any]) -> Outcome:
    expected = EVENT_CODES[inv.kind]
    if not is_event_type(payload.get("event_type"), inv.kind):
        got = payload.get("event_type")
        shown = got if isinstance(got, (int, str)) and len(str(got)) <= 12 else type(got).__name__
        return _quarantine(inv, payload, f"event_type {shown!r} is not handled by {inv.kind} (expects {expected})")
    try:
        event: CallbackEvent = MODELS[inv.kind].model_validate(payload)
    except ValidationError as exc:
        return _quarantine(inv, payload, f"invalid fields: {_describe(exc)}")

    key = event_key(event)
    document: dict[str, Any] = {
        "kind": inv.kind,
        "key": inv.inst.settings.cos_prefix + key,
        "event": event.normalised(),
        "original": _original(payload),
    }
    settings = inv.inst.settings
    where = notify.Stored(key, settings.cos_prefix, "reconcile" if inv.backfill else "callback")
    if isinstance(event, HITS):
        suggestion = event.effective_suggestion(settings.moderation_min_score)
        document["message"] = moderation.message(event, suggestion, where)
        if suggestion in settings.moderation_suggestions and settings.publishes(inv.kind):
            return _publish_once(inv, event, key, document)
        stored = inv.store(key, document)
        return Outcome("stored" if stored else "already_stored", key, fields={"suggestion": suggestion})
    outcome = Outcome("stored" if inv.store(key, document) else "already_stored", key)
    if settings.publishes(inv.kind):
        _notify(inv, notify.message(inv.kind, event, where), outcome)
    return outcome


def _notify(inv: Invocation, message: dict[str, Any], outcome: Outcome) -> None:
    """Publish a stored event's message, at least once: a failure raises (503) and CSS's retry, which
    finds the document stored, publishes it again with the same `id` (shared/notify.py)."""
    if not inv.budget.allows(inv.inst.publisher.worst_case):
        raise DependencyTimeout("no time left in the budget to publish the stored event")
    try:
        outcome.fields["msg_id"] = inv.inst.publisher.publish(
            scrub_json(notify.encode(message)), notify.tags(message), inv.budget
        )
    except PublishRefused as exc:  # stored; a message the topic will never take is not retried
        outcome.level = "error"
        outcome.fields["notify"] = f"refused by the topic: {exc.reason}"


def backfill(kind: str, payload: dict[str, Any], inst: Instance, budget: Budget, record_id: str) -> Outcome:
    """Ingest a callback body read from the Live API's callback records (the reconcile function).

    The trusted path: no signature check, since its `t` expired long ago and the body comes from
    an authenticated Live API call, not from a request. Only shared/reconcile.py calls it; no HTTP
    trigger reaches it (`handle` always verifies). Same models, keys and bytes as a live callback;
    a document already stored is left as it is, and a hit is published once as usual.
    """
    request = gateway.Request("POST", {}, None, record_id, trigger="reconcile", payload=payload)
    invocation = Invocation(kind, request, inst, budget, backfill=True)
    try:
        return _process(invocation, payload)
    except RecursionError:
        return _quarantine_as_text(invocation, payload)


def _signed_if_large(request: gateway.Request, inst: Instance) -> None:
    """Refuse a large body that holds no valid signature before parsing it (shared/signing.py)."""
    body = request.body
    if body is None or not UNPARSED_CHECK_BYTES < len(body) <= gateway.MAX_BODY_BYTES or request.method != "POST":
        return  # small, or too large (413 from json_object), or not a POST (405 from it)
    settings = inst.settings
    if not signed_before_parsing(body, settings.callback_keys, tolerance=settings.sign_tolerance_seconds):
        raise InvalidSignature(
            f"a body over {UNPARSED_CHECK_BYTES} bytes holds no valid 'sign' and 't': refused before parsing"
        )


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
        budget = Budget.for_invocation(context_map, kind)
        inst = instance(kind)
        secrets = inst.secrets
        request = gateway.parse_trigger(event, context)
        log.update(request_id=request.request_id, trigger=request.trigger)
        _signed_if_large(request, inst)
        payload = gateway.json_object(request)
        event_type = payload.get("event_type")
        log["event_type"] = event_type if isinstance(event_type, (int, str)) and len(str(event_type)) <= 12 else None
        verify_signature(payload, inst.settings.callback_keys, tolerance=inst.settings.sign_tolerance_seconds)
        log["stream"] = _stream_of(payload)
        invocation = Invocation(kind, request, inst, budget)
        try:
            result = _process(invocation, payload)
        except RecursionError:  # an authentic payload nested near the parser's limit: keep it as text
            result = _quarantine_as_text(invocation, payload)
        log.update(outcome=result.outcome, key=result.key, level=result.level, **result.fields)
        answer = gateway.ok_response()
        log["status"] = 200
    except CallbackError as exc:
        answer = gateway.error_response(exc)
        log.update(status=exc.status, outcome=exc.outcome, reason=exc.reason)
        log["level"] = "error" if exc.status >= 500 and exc.outcome != "in_progress" else "warning"
    except Exception as exc:  # the last line of defence: CSS gets a 500 and retries
        answer = gateway.error_response(CallbackError(f"internal error ({type(exc).__name__})"))
        log.update(status=500, outcome="failed", level="error", reason=f"internal error: {type(exc).__name__}")
    log["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    with contextlib.suppress(Exception):  # a log line must never turn a stored callback into a failure
        emit(log, secrets)
    return answer
