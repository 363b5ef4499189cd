"""Acting on moderation hits: the moderation_action function, subscribed to the moderation topic.

porn_detect publishes a hit and answers CSS at once; this function receives the message through
SCF's CMQ topic trigger and applies the policy read from its environment: for `Block` drop the
push or ban the stream (ForbidLiveStream, then DropLiveStream so the ban takes effect at once),
for `Review` queue the hit for a person. A message is trusted only as far as the evidence it
names: the hit acted on is the copy porn_detect stored in COS, so a forged or altered message
changes nothing. Each hit acts once in effect, keyed by its `dedupe_id`: its ledger entry under
`enforcement/` is the claim (shared/claim.py), written create-only before acting and marked done
only after every Live API call has answered; a fault leaves it `failed`, raises, and SCF's retry
takes it over. The ledger keeps the hit, the policy, each call and its answer, the stream state.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from shared import claim
from shared.budget import Budget
from shared.config import Settings, load_settings
from shared.errors import BadRequest, CallbackError, ConfigurationError, DependencyTimeout
from shared.layout import canonical_json
from shared.live import MAX_FORBID_SECONDS, LiveApi, StreamRef, iso, load_live_settings
from shared.logs import emit, scrub_json
from shared.storage import CosStore
from shared.vocabulary import MODERATION, SUGGESTIONS

ENFORCEMENT = "enforcement/"
REVIEW_PENDING = "review/pending/"
REVIEW_DONE = "review/done/"
BLOCK_ACTIONS = ("none", "drop", "forbid")
REVIEW_ACTIONS = ("none", "queue")
DEFAULT_FORBID_SECONDS = 86400
CALL_WORST_CASE = 4.0
"""Seconds one Live API call may take here (the SDK's retries included); cut there or at the budget."""
_DEDUPE_ID = re.compile(r"[0-9a-f]{32}")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


class Refused(BadRequest):
    """A message no retry can make usable (not from our topic, not JSON, no evidence behind it)."""

    outcome = "refused"


@dataclass(frozen=True)
class Policy:
    on_block: str = "none"
    forbid_seconds: int = DEFAULT_FORBID_SECONDS
    on_review: str = "queue"
    exempt: tuple[str, ...] = ()
    dry_run: bool = False

    def exempts(self, stream: str) -> bool:
        return any(fnmatch.fnmatchcase(stream, pattern) for pattern in self.exempt)

    def decide(self, suggestion: str, stream: str) -> str:
        """`none`, `drop`, `forbid`, `queue` or `exempt`."""
        wanted = self.on_block if suggestion == "Block" else self.on_review if suggestion == "Review" else "none"
        if wanted in ("drop", "forbid") and self.exempts(stream):
            return "exempt"
        return wanted

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "exempt": list(self.exempt)}


def _choice(env: Mapping[str, str], name: str, allowed: Sequence[str], default: str) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in allowed:
        raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def load_policy(env: Mapping[str, str]) -> Policy:
    """The policy from ACTION_* and FORBID_SECONDS, validated; every error names its variable."""
    raw = env.get("FORBID_SECONDS", "").strip()
    try:
        seconds = int(raw) if raw else DEFAULT_FORBID_SECONDS
    except ValueError:
        raise ConfigurationError(f"FORBID_SECONDS must be a whole number of seconds, got {raw!r}") from None
    if not 60 <= seconds <= MAX_FORBID_SECONDS:
        raise ConfigurationError(f"FORBID_SECONDS must be between 60 and {MAX_FORBID_SECONDS} (90 days), got {seconds}")
    dry = env.get("ACTION_DRY_RUN", "").strip().lower()
    if dry not in _TRUE + _FALSE:
        raise ConfigurationError(f"ACTION_DRY_RUN must be true or false, got {dry!r}")
    exempt = tuple(p.strip() for p in env.get("ACTION_EXEMPT_STREAMS", "").split(",") if p.strip())
    return Policy(
        on_block=_choice(env, "ACTION_ON_BLOCK", BLOCK_ACTIONS, "none"),
        forbid_seconds=seconds,
        on_review=_choice(env, "ACTION_ON_REVIEW", REVIEW_ACTIONS, "queue"),
        exempt=exempt,
        dry_run=dry in _TRUE,
    )


# The CMQ topic trigger's event.


@dataclass(frozen=True)
class TopicMessage:
    topic: str
    msg_id: str
    body: str
    tags: tuple[str, ...]


def tags_of(value: Any) -> tuple[str, ...]:
    """`msgTag` as SCF's pages show it: a list, or a comma-separated string."""
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    if isinstance(value, list):
        return tuple(str(t).strip() for t in value if isinstance(t, (str, int)) and str(t).strip())
    return ()


def topic_messages(event: Any) -> list[TopicMessage | Refused]:
    """Each record of a CMQ topic trigger event, or why it is refused; the event itself must be one."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list) or not records:
        raise Refused("not a CMQ topic trigger event: no Records")
    out: list[TopicMessage | Refused] = []
    for record in records:
        cmq = record.get("CMQ") if isinstance(record, Mapping) else None
        if not isinstance(cmq, Mapping):
            out.append(Refused("a record without CMQ"))
            continue
        if cmq.get("type") != "topic":
            out.append(Refused(f"a CMQ record of type {str(cmq.get('type'))[:16]!r}, not topic"))
            continue
        topic, body, msg_id = cmq.get("topicName"), cmq.get("msgBody"), cmq.get("msgId")
        if not isinstance(topic, str) or not isinstance(body, str):
            out.append(Refused("a CMQ record without topicName or msgBody"))
            continue
        out.append(TopicMessage(topic, str(msg_id or "")[:64], body, tags_of(cmq.get("msgTag"))))
    return out


def parse_message(message: TopicMessage, topic: str) -> dict[str, Any]:
    """The hit message's fields this function relies on, checked; `Refused` names what is wrong."""
    if message.topic != topic:
        raise Refused(f"message from topic {message.topic[:64]!r}, not {topic!r}")
    try:
        hit = json.loads(message.body)
    except ValueError:
        raise Refused("msgBody is not JSON") from None
    if not isinstance(hit, dict):
        raise Refused("msgBody is not a JSON object")
    missing = [f for f in ("dedupe_id", "stream_id", "app", "appname", "suggestion", "evidence_key") if not hit.get(f)]
    if missing:
        raise Refused(f"msgBody misses {', '.join(missing)}")
    if not isinstance(hit["dedupe_id"], str) or not _DEDUPE_ID.fullmatch(hit["dedupe_id"]):
        raise Refused("dedupe_id is not 32 hex digits")
    if not isinstance(hit["evidence_key"], str) or hit["suggestion"] not in SUGGESTIONS:
        raise Refused("evidence_key or suggestion is not usable")
    return hit


def stored_json(document: Mapping[str, Any]) -> bytes:
    return scrub_json(canonical_json(document).decode("ascii")).encode("ascii")


# Acting on a stream: shared by the function and the operator tool (tooling/moderation.py).


Target = StreamRef


@dataclass(frozen=True)
class Decision:
    """What to do to a stream: `drop`, `forbid` (for `seconds`) or `resume`, and why."""

    action: str
    reason: str
    seconds: int = 0
    dry_run: bool = False


def act(
    live: LiveApi, target: Target, what: Decision, budget: Budget
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Call the Live API for the decision; each call and its answer, and the resulting stream state.
    A failed call raises `CallbackError` carrying `.calls` (what was done)."""
    decision, reason, dry_run = what.action, what.reason, what.dry_run
    plan: list[tuple[str, dict[str, Any]]] = []
    resume_at = time.time() + min(what.seconds, MAX_FORBID_SECONDS)
    names = {"DomainName": target.domain, "AppName": target.app, "StreamName": target.stream}
    if decision == "forbid":
        plan.append(("ForbidLiveStream", {**names, "ResumeTime": iso(resume_at), "Reason": reason}))
        plan.append(("DropLiveStream", names))  # the ban stops new pushes; the drop cuts the current one
    elif decision == "drop":
        plan.append(("DropLiveStream", names))
    elif decision == "resume":
        plan.append(("ResumeLiveStream", names))
    calls: list[dict[str, Any]] = []
    if dry_run:
        return [{"action": a, "request": r, "dry_run": True} for a, r in plan], None
    for action, request in plan:
        started = time.time()
        try:
            if not budget.allows(1.0):
                raise DependencyTimeout(f"no time left in the budget for {action}")
            timeout = budget.cap(CALL_WORST_CASE)
            if action == "ForbidLiveStream":
                answer = live.forbid(target, resume_at, reason, timeout)
            elif action == "DropLiveStream":
                answer = live.drop(target, timeout)
            else:
                answer = live.resume(target, timeout)
        except CallbackError as exc:
            calls.append({"action": action, "request": request, "at": iso(started), "error": exc.reason})
            exc.calls = calls  # type: ignore[attr-defined]
            raise
        calls.append({"action": action, "request": request, "at": iso(started), "answer": {"RequestId": answer}})
    state: dict[str, Any] = {"at": iso(time.time())}
    try:
        state["state"] = live.state(target, budget.cap(CALL_WORST_CASE))
    except CallbackError as exc:  # the action happened; an unknown state does not undo it
        state.update(state=None, error=exc.reason)
    return calls, state


# The function.


@dataclass
class Subscriber:
    settings: Settings
    store: CosStore
    live: LiveApi
    policy: Policy
    topic: str


_subscriber: Subscriber | None = None


def subscriber() -> Subscriber:
    global _subscriber
    if _subscriber is None:
        settings = load_settings(callbacks=False)
        topic = settings.require_topic()
        policy = load_policy(os.environ)
        live = LiveApi(load_live_settings(os.environ), settings.secret_id, settings.secret_key, settings.session_token)
        _subscriber = Subscriber(settings, CosStore(settings), live, policy, topic)
    return _subscriber


def reset() -> None:
    """Forget the instance, as a cold start would (tests, the local stack)."""
    global _subscriber
    _subscriber = None


def _evidence(sub: Subscriber, hit: Mapping[str, Any], budget: Budget) -> tuple[str, dict[str, Any]]:
    """The stored evidence of the hit (its key without the prefix, its message): the trusted copy."""
    key = hit["evidence_key"]
    prefix = sub.settings.cos_prefix
    if not key.startswith(prefix + MODERATION) or ".." in key:
        raise Refused("evidence_key is not a moderation document of this bucket")
    key = key[len(prefix) :]
    if sub.store.head(key, budget) is None:
        raise Refused("no stored evidence for this hit: not published by porn_detect")
    document = sub.store.get_json(key)
    message = document.get("message") if isinstance(document, dict) else None
    if not isinstance(message, dict) or message.get("dedupe_id") != hit["dedupe_id"]:
        raise Refused("the message does not match its stored evidence")
    return key, message


def ledger_key(evidence_key: str) -> str:
    """`enforcement/{app}/{appname}/{stream}/{YYYY}/{MM}/{DD}/{time}-{dedupe_id}.json`: the evidence's path."""
    return ENFORCEMENT + evidence_key[len(MODERATION) :]


def review_key(evidence_key: str, done: bool = False) -> str:
    return (REVIEW_DONE if done else REVIEW_PENDING) + evidence_key[len(MODERATION) :]


def _handle_hit(sub: Subscriber, message: TopicMessage, budget: Budget, log: dict[str, Any]) -> None:
    hit = parse_message(message, sub.topic)
    log.update(dedupe_id=hit["dedupe_id"], stream=str(hit["stream_id"])[:128], suggestion=hit["suggestion"])
    evidence_key, trusted = _evidence(sub, hit, budget)
    key = ledger_key(evidence_key)
    decision = sub.policy.decide(str(trusted["suggestion"]), str(trusted["stream_id"]))
    log.update(decision=decision, key=key, dry_run=sub.policy.dry_run)
    document: dict[str, Any] = {
        "kind": "enforcement",
        "key": sub.settings.cos_prefix + key,
        "source": "moderation_action",
        "dedupe_id": trusted["dedupe_id"],
        "hit": trusted,
        "msg_id": message.msg_id,
        "policy": sub.policy.as_dict(),
        "decision": decision,
        "dry_run": sub.policy.dry_run,
        "status": "acting",
        "calls": [],
        "stream_state": None,
        "received_at": iso(time.time()),
    }
    meta = {"decision": decision, "stream": re.sub(r"[^A-Za-z0-9_.:-]", "_", str(trusted["stream_id"]))[:128]}
    owned = claim.Claim(sub.store, key, claim.new_token(), meta, budget)
    if owned.acquire(stored_json(document)) == claim.DUPLICATE:
        log["outcome"] = "duplicate"
        return
    target = Target(str(trusted["app"]), str(trusted["appname"]), str(trusted["stream_id"]))
    try:
        if decision in ("drop", "forbid"):
            reason = f"moderation {trusted['suggestion']} {trusted.get('label') or ''} hit {trusted['dedupe_id']}"
            what = Decision(decision, reason, sub.policy.forbid_seconds, sub.policy.dry_run)
            calls, state = act(sub.live, target, what, budget)
            document.update(calls=calls, stream_state=state)
            if decision == "forbid" and not sub.policy.dry_run:
                document["resume_time"] = calls[0]["request"]["ResumeTime"]
        elif decision == "queue":
            item = {
                "kind": "review",
                "id": trusted["dedupe_id"],
                "status": "pending",
                "hit": trusted,
                "evidence_key": sub.settings.cos_prefix + evidence_key,
                "ledger_key": sub.settings.cos_prefix + key,
                "queued_at": iso(time.time()),
            }
            queued = review_key(evidence_key)
            if not sub.policy.dry_run:
                sub.store.create(queued, stored_json(item), {"source": "moderation_action"}, budget)
            document["review_key"] = sub.settings.cos_prefix + queued
    except CallbackError as exc:
        document.update(status="failed", calls=getattr(exc, "calls", []), error=exc.reason)
        with contextlib.suppress(CallbackError):  # failed: the retry takes the claim over at once
            owned.mark_refused(stored_json(document))
        raise
    document["status"] = "done"
    owned.mark_done(stored_json(document))
    state = document.get("stream_state") or {}
    log.update(outcome="dry_run" if sub.policy.dry_run else "acted", stream_state=state.get("state"))


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    """Act on every hit of a CMQ topic trigger event. Raises when any hit must be retried (SCF
    retries an asynchronous invocation that fails); refused messages are logged as errors."""
    context_map = context if isinstance(context, Mapping) else {}
    request_id = str(context_map.get("request_id") or "")
    base: dict[str, Any] = {"function": "moderation_action", "request_id": request_id}
    secrets: tuple[str, ...] = ()
    results: list[dict[str, Any]] = []
    retry: list[str] = []
    try:
        budget = Budget.for_invocation(context_map)
        sub = subscriber()
        secrets = sub.settings.secrets
        messages = topic_messages(event)
    except CallbackError as exc:
        level = "error"
        with contextlib.suppress(Exception):
            emit({**base, "level": level, "outcome": exc.outcome, "reason": exc.reason}, secrets)
        if isinstance(exc, BadRequest):
            return {"code": exc.status, "message": exc.reason}
        raise RuntimeError(f"moderation_action failed: {exc.reason}") from None
    for message in messages:
        started = time.perf_counter()
        log: dict[str, Any] = {**base, "level": "info", "outcome": None}
        if isinstance(message, Refused):
            log.update(level="error", outcome="refused", reason=message.reason)
        else:
            log["msg_id"] = message.msg_id
            try:
                _handle_hit(sub, message, budget, log)
            except Refused as exc:
                log.update(level="error", outcome="refused", reason=exc.reason)
            except CallbackError as exc:
                log.update(level="error", outcome=exc.outcome, reason=exc.reason)
                retry.append(exc.reason)
            except Exception as exc:  # an unexpected failure: retried like a fault
                log.update(level="error", outcome="failed", reason=f"internal error: {type(exc).__name__}")
                retry.append(type(exc).__name__)
        log["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        results.append({k: log.get(k) for k in ("outcome", "decision", "dedupe_id", "reason") if log.get(k)})
        with contextlib.suppress(Exception):
            emit(log, secrets)
    if retry:
        raise RuntimeError(f"moderation_action: {len(retry)} hit(s) to retry: {retry[0]}")
    refused = sum(1 for r in results if r.get("outcome") == "refused")
    return {"code": 400 if refused == len(results) else 0, "results": results}
