"""Acting on moderation hits: the moderation_action function, triggered by the evidence in COS.

porn_detect (or reconcile) stores each hit under `moderation/` and answers CSS at once; that write
triggers this function through SCF's COS trigger (`cos:ObjectCreated:*` on the evidence prefix;
SCF lists no CMQ trigger any more, 583/17234, updated 2025-10-30), and it applies the policy read
from its environment: for `Block` drop the push or ban the stream (ForbidLiveStream, then
DropLiveStream so the ban takes effect at once), for `Review` queue the hit for a person. Acting
does not depend on the topic, which stays where the team's own subscribers hear the hits. The
event is trusted only as far as the object it names: the hit acted on is the stored evidence,
read back from COS, so an event naming anything else (another prefix, a `..` key, a missing
object, another bucket) changes nothing. Each hit acts once in effect, although every write of
its evidence (claim, mark, takeover) fires an event, keyed by its `dedupe_id`: its ledger entry under
`enforcement/` is the claim (shared/claim.py), written create-only before acting and marked done
only after every Live API call has answered; a fault leaves it `failed`, raises, and SCF's retry
takes it over. The ledger keeps the hit, the policy, each call and its answer, the stream state.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from shared import claim
from shared.budget import Budget
from shared.config import Settings, load_settings
from shared.errors import BadRequest, CallbackError, ClaimInProgress, ConfigurationError, DependencyTimeout
from shared.layout import canonical_json
from shared.live import MAX_FORBID_SECONDS, LiveApi, StreamRef, iso, load_live_settings, parse_time
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
IN_PROGRESS_WAIT = 6.0
IN_PROGRESS_POLL = 0.25
ACTED_ON = ("Block", "Review")
"""Suggestions the policy acts on; a `Pass` hit's evidence triggers the function and is left alone."""
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


class Refused(BadRequest):
    """An event no retry can make usable (not a COS event, another bucket, a key that is no evidence)."""

    outcome = "refused"


def exempt_pattern(entry: str) -> re.Pattern[str]:
    """An ACTION_EXEMPT_STREAMS entry as documented: a stream name, in which `*` stands for any run
    of characters. Nothing else is special: `?`, `[` and `]` are the characters themselves (a glob
    would have read `room[12]` as room1 or room2, and `?` as any one character)."""
    return re.compile("".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", entry)), re.S)


@dataclass(frozen=True)
class Policy:
    on_block: str = "none"
    forbid_seconds: int = DEFAULT_FORBID_SECONDS
    on_review: str = "queue"
    exempt: tuple[str, ...] = ()
    dry_run: bool = False

    def exempts(self, stream: str) -> bool:
        return any(exempt_pattern(entry).fullmatch(stream) for entry in self.exempt)

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


# The COS trigger's event (583/31927).

EVIDENCE_EVENTS = "cos:ObjectCreated:"
"""The trigger's event is `cos:ObjectCreated:*`; each record names the one that happened."""
_EVIDENCE_KEY = re.compile(
    r"moderation/(?:(?!\.+/)[A-Za-z0-9_.~-]+/){3}\d{4}/\d{2}/\d{2}/[0-9]{1,20}-([0-9a-f]{32})\.json"
)
"""`moderation/{app}/{appname}/{stream}/{YYYY}/{MM}/{DD}/{time}-{dedupe_id}.json` (shared/layout.py:
every part from the payload is encoded to these characters, never `/`, never only dots)."""


@dataclass(frozen=True)
class WrittenObject:
    """One record of a COS trigger event: the object key in the bucket, and what created it."""

    key: str
    event: str


def written_objects(event: Any, bucket: str) -> list[WrittenObject | Refused]:
    """Each record of a COS trigger event, or why it is refused; the event itself must be one.

    The page's key is `/{appid}/{bucket-name}/{key}` and `cosBucket` names the bucket without its
    appid: a record of any other bucket than ours (`name-appid`) is refused, as is any event but
    an object's creation."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list) or not records:
        raise Refused("not a COS trigger event: no Records")
    name, _, appid = bucket.rpartition("-")
    root = f"/{appid}/{name}/"
    out: list[WrittenObject | Refused] = []
    for record in records:
        cos = record.get("cos") if isinstance(record, Mapping) else None
        happened = record.get("event") if isinstance(record, Mapping) else None
        if not isinstance(cos, Mapping) or not isinstance(happened, Mapping):
            out.append(Refused("a record without cos or event"))
            continue
        event_name = happened.get("eventName")
        if not isinstance(event_name, str) or not event_name.startswith(EVIDENCE_EVENTS):
            out.append(Refused(f"an event {str(event_name)[:40]!r}, not an object created"))
            continue
        where = cos.get("cosBucket")
        where = where if isinstance(where, Mapping) else {}
        obj = cos.get("cosObject")
        obj = obj if isinstance(obj, Mapping) else {}
        key = obj.get("key")
        if (where.get("name"), str(where.get("appid"))) != (name, appid) or not isinstance(key, str):
            out.append(Refused("an object of another bucket"))
            continue
        if not key.startswith(root):
            out.append(Refused("an object key outside this bucket"))
            continue
        out.append(WrittenObject(key[len(root) :], event_name[:40]))
    return out


def stored_json(document: Mapping[str, Any]) -> bytes:
    return scrub_json(canonical_json(document).decode("ascii")).encode("ascii")


# Acting on a stream: shared by the function and the operator tool (tooling/moderation.py).


Target = StreamRef


@dataclass(frozen=True)
class Decision:
    """What to do to a stream: `drop`, `forbid` (for `seconds`) or `resume`, and why.

    `done` are the calls an earlier attempt made that were answered: their effects happened, so
    they are not made again (a second ForbidLiveStream would move the ResumeTime later and extend
    the ban) and the ban keeps the ResumeTime it was given."""

    action: str
    reason: str
    seconds: int = 0
    dry_run: bool = False
    done: tuple[Mapping[str, Any], ...] = ()


Progress = Callable[[list[dict[str, Any]]], None]


def answered(calls: Sequence[Mapping[str, Any]], action: str) -> Mapping[str, Any] | None:
    """The call of `action` that was answered (its effect happened), or None."""
    for call in calls:
        if call.get("action") == action and isinstance(call.get("answer"), Mapping):
            return call
    return None


def act(
    live: LiveApi, target: Target, what: Decision, budget: Budget, progress: Progress | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Call the Live API for the decision, from the first effect that has not happened yet; each
    call and its answer, and the resulting stream state. `progress` is told of every answered call
    that is not the last (moderation_action writes it to the ledger: an invocation killed between
    two calls leaves what it did on record). A failed call raises `CallbackError` carrying `.calls`."""
    decision, reason, dry_run = what.action, what.reason, what.dry_run
    plan: list[tuple[str, dict[str, Any]]] = []
    banned = answered(what.done, "ForbidLiveStream")
    resume_at = time.time() + min(what.seconds, MAX_FORBID_SECONDS)
    names = {"DomainName": target.domain, "AppName": target.app, "StreamName": target.stream}
    if decision == "forbid":
        plan.append(("ForbidLiveStream", {**names, "ResumeTime": iso(resume_at), "Reason": reason}))
        plan.append(("DropLiveStream", names))  # the ban stops new pushes; the drop cuts the current one
    elif decision == "drop":
        plan.append(("DropLiveStream", names))
    elif decision == "resume":
        plan.append(("ResumeLiveStream", names))
    if dry_run:
        return [{"action": a, "request": r, "dry_run": True} for a, r in plan], None
    calls: list[dict[str, Any]] = [dict(c) for c in what.done]
    if banned is not None:
        resume_at = parse_time(str(banned["request"].get("ResumeTime"))) or resume_at
    for index, (action, request) in enumerate(plan):
        if answered(calls, action) is not None:
            continue  # it happened in an earlier attempt
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
        if progress is not None and index < len(plan) - 1:
            progress(calls)
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


_subscriber: Subscriber | None = None


def subscriber() -> Subscriber:
    global _subscriber
    if _subscriber is None:
        settings = load_settings(callbacks=False)
        policy = load_policy(os.environ)
        live = LiveApi(load_live_settings(os.environ), settings.secret_id, settings.secret_key, settings.session_token)
        _subscriber = Subscriber(settings, CosStore(settings), live, policy)
    return _subscriber


def reset() -> None:
    """Forget the instance, as a cold start would (tests, the local stack)."""
    global _subscriber
    _subscriber = None


def _evidence(sub: Subscriber, written: WrittenObject, budget: Budget) -> tuple[str, dict[str, Any]] | None:
    """The stored evidence the event names (its key without the prefix, its message), read from
    COS: the only copy trusted. None when it is gone (a claim released after a failed publish: the
    callback's retry writes it again, and that write triggers this function again)."""
    prefix = sub.settings.cos_prefix
    key = written.key
    if not key.startswith(prefix) or not _EVIDENCE_KEY.fullmatch(key[len(prefix) :]):
        raise Refused("not a moderation evidence key of this bucket's prefix")
    key = key[len(prefix) :]
    if sub.store.head(key, budget) is None:
        return None
    document = sub.store.get_json(key)
    message = document.get("message") if isinstance(document, dict) else None
    found = _EVIDENCE_KEY.fullmatch(key)
    if not isinstance(message, dict) or found is None or message.get("dedupe_id") != found.group(1):
        raise Refused("the stored object is not the evidence of a hit")
    missing = [f for f in ("stream_id", "app", "appname", "suggestion") if not message.get(f)]
    if missing or message["suggestion"] not in SUGGESTIONS:
        raise Refused(f"the stored hit misses {', '.join(missing) or 'a usable suggestion'}")
    return key, message


def ledger_key(evidence_key: str) -> str:
    """`enforcement/{app}/{appname}/{stream}/{YYYY}/{MM}/{DD}/{time}-{dedupe_id}.json`: the evidence's path."""
    return ENFORCEMENT + evidence_key[len(MODERATION) :]


def review_key(evidence_key: str, done: bool = False) -> str:
    return (REVIEW_DONE if done else REVIEW_PENDING) + evidence_key[len(MODERATION) :]


def _acquire_or_wait(owned: claim.Claim, body: bytes, budget: Budget) -> str:
    """The ledger claim, waiting a little while another invocation holds it fresh.

    Every write of a hit's evidence fires an event (the claim, then the mark a few milliseconds
    later), so a second invocation for the same hit usually starts while the first one is calling
    the Live API. It waits up to IN_PROGRESS_WAIT seconds for that one to finish (then it is a
    duplicate) or to fail (then it takes the claim over and acts); still in progress after that,
    it raises `ClaimInProgress` and SCF retries it later: work in someone else's hands is never
    acknowledged as done."""
    waited_until = time.monotonic() + IN_PROGRESS_WAIT
    while True:
        try:
            return owned.acquire(body)
        except ClaimInProgress:
            if time.monotonic() >= waited_until or not budget.allows(IN_PROGRESS_POLL + CALL_WORST_CASE):
                raise
            time.sleep(IN_PROGRESS_POLL)


def _handle_hit(sub: Subscriber, written: WrittenObject, budget: Budget, log: dict[str, Any]) -> None:
    found = _evidence(sub, written, budget)
    if found is None:
        log.update(outcome="ignored", reason="no stored evidence at this key (released, or not written yet)")
        return
    evidence_key, trusted = found
    log.update(dedupe_id=trusted["dedupe_id"], stream=str(trusted["stream_id"])[:128], suggestion=trusted["suggestion"])
    if trusted["suggestion"] not in ACTED_ON:
        log.update(outcome="ignored", reason=f"a {trusted['suggestion']} hit: nothing to act on")
        return
    key = ledger_key(evidence_key)
    decision = sub.policy.decide(str(trusted["suggestion"]), str(trusted["stream_id"]))
    log.update(decision=decision, key=key, dry_run=sub.policy.dry_run)
    document: dict[str, Any] = {
        "kind": "enforcement",
        "key": sub.settings.cos_prefix + key,
        "source": "moderation_action",
        "dedupe_id": trusted["dedupe_id"],
        "hit": trusted,
        "trigger": {"event": written.event, "evidence_key": sub.settings.cos_prefix + evidence_key},
        "policy": sub.policy.as_dict(),
        "decision": decision,
        "dry_run": sub.policy.dry_run,
        "status": "acting",
        "calls": [],
        "stream_state": None,
        "received_at": iso(time.time()),
    }
    meta = {"decision": decision, "stream": re.sub(r"[^A-Za-z0-9_.:-]", "_", str(trusted["stream_id"]))[:128]}
    owned = claim.Claim(sub.store, key, claim.new_token(), meta, budget, keep_previous=True)
    if _acquire_or_wait(owned, stored_json(document), budget) == claim.DUPLICATE:
        log["outcome"] = "duplicate"
        return
    done = _effects_done(owned.previous, decision)
    target = Target(str(trusted["app"]), str(trusted["appname"]), str(trusted["stream_id"]))

    def progress(calls: list[dict[str, Any]]) -> None:
        document.update(calls=calls, **_ban_of(calls))
        owned.mark_progress(stored_json(document))

    try:
        if decision in ("drop", "forbid"):
            reason = f"moderation {trusted['suggestion']} {trusted.get('label') or ''} hit {trusted['dedupe_id']}"
            what = Decision(decision, reason, sub.policy.forbid_seconds, sub.policy.dry_run, done)
            calls, state = act(sub.live, target, what, budget, progress)
            document.update(calls=calls, stream_state=state, **_ban_of(calls))
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
        calls = getattr(exc, "calls", [])
        document.update(status="failed", calls=calls, error=exc.reason, **_ban_of(calls))
        with contextlib.suppress(CallbackError):  # failed: the retry takes the claim over at once
            owned.mark_refused(stored_json(document))
        raise
    document["status"] = "done"
    owned.mark_done(stored_json(document))
    state = document.get("stream_state") or {}
    log.update(outcome="dry_run" if sub.policy.dry_run else "acted", stream_state=state.get("state"))


def _effects_done(previous: bytes | None, decision: str) -> tuple[Mapping[str, Any], ...]:
    """The answered calls a failed (or killed) earlier attempt recorded in the ledger entry this
    invocation took over, when it decided the same: the effects that already happened."""
    if previous is None:
        return ()
    with contextlib.suppress(ValueError, TypeError):
        entry = json.loads(previous)
        if isinstance(entry, dict) and entry.get("decision") == decision and isinstance(entry.get("calls"), list):
            return tuple(c for c in entry["calls"] if isinstance(c, dict) and answered([c], str(c.get("action"))))
    return ()


def _ban_of(calls: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """`resume_time` once a ForbidLiveStream was answered: the ban is in force from then on, whatever
    fails after it, and `moderation.py bans` lists it."""
    banned = answered(calls, "ForbidLiveStream")
    return {"resume_time": banned["request"]["ResumeTime"]} if banned is not None else {}


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    """Act on every hit a COS trigger event names. Raises when any hit must be retried (SCF retries
    an asynchronous invocation that fails); refused records are logged as errors."""
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
        messages = written_objects(event, sub.settings.cos_bucket)
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
            log["object"] = message.key[-160:]
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
