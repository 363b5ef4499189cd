"""The operator's side of moderation: bans from the ledger, the review queue, ban / resume by hand.

Reads and writes the bucket with the functions' own COS code and calls the Live API with the
same client as the moderation_action function (shared/live.py), so every action a person takes
lands in the same ledger (`enforcement/`) as the function's, marked `source: operator`. Every
write asks for confirmation unless `--yes`, and `--dry-run` says what would happen and does nothing.
Run by scripts/moderation.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shared.budget import Budget
from shared.enforcement import (
    ENFORCEMENT,
    REVIEW_DONE,
    REVIEW_PENDING,
    Decision,
    Target,
    act,
    answered,
    stored_json,
)
from shared.errors import CallbackError, ConfigurationError
from shared.layout import encode_part
from shared.live import MAX_FORBID_SECONDS, LiveApi, iso, load_live_settings, parse_time
from shared.storage import CosStore
from tooling import access
from tooling.render import terminal_safe

OPERATOR_BUDGET_SECONDS = 30.0


def _general(p: argparse.ArgumentParser, again: bool = False) -> None:
    """The options of every command, accepted before the subcommand or after it (`again`)."""
    access.add_arguments(p, again=again)
    quiet: dict[str, Any] = {"default": argparse.SUPPRESS} if again else {}
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation", **quiet)
    p.add_argument("--dry-run", action="store_true", help="say what would happen; call and write nothing", **quiet)
    p.add_argument("--json", action="store_true", help="print JSON", **quiet)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="moderation.py", description="Bans, the review queue, and acting by hand.")
    _general(p)
    common = argparse.ArgumentParser(add_help=False)
    _general(common, again=True)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("bans", help="active bans from the ledger, with their resume time", parents=[common])
    sub.add_parser("review", help="hits waiting for a person, with image URL and score", parents=[common])
    for name, what in (("approve", "the hit is fine: close it, no action"), ("dismiss", "close it without a verdict")):
        sub.add_parser(name, help=what, parents=[common]).add_argument("id", help="the hit's dedupe_id (from `review`)")
    ban = sub.add_parser("ban", help="ban the hit's stream (ForbidLiveStream, then DropLiveStream)", parents=[common])
    ban.add_argument("id")
    ban.add_argument("--seconds", type=int, default=86400, help="ban length (default one day, at most 90 days)")
    for name, what in (("resume", "lift a ban (ResumeLiveStream)"), ("state", "DescribeLiveStreamState")):
        cmd = sub.add_parser(name, help=what, parents=[common])
        cmd.add_argument("stream")
        cmd.add_argument("--domain", help="push domain (default: from the stream's ledger)")
        cmd.add_argument("--app", help="AppName (default: from the stream's ledger)")
    return p


class Tool:
    def __init__(self, store: CosStore, live: Callable[[], LiveApi], prefix: str) -> None:
        self.store = store
        self._live = live
        self.prefix = prefix

    @property
    def live(self) -> LiveApi:
        return self._live()

    def documents(self, folder: str) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for key in self.store.list_keys(folder):
            document = self.store.get_json(key)
            if isinstance(document, dict):
                out.append((key, document))
        return out

    def bans(self, now: float | None = None) -> list[dict[str, Any]]:
        """Per stream, the latest forbid or resume in the ledger; the forbids still in force."""
        now = time.time() if now is None else now
        latest: dict[tuple[str, str, str], dict[str, Any]] = {}
        for key, doc in self.documents(ENFORCEMENT):
            if doc.get("dry_run") or doc.get("decision") not in ("forbid", "resume"):
                continue
            if answered(doc.get("calls") or [], _EFFECT[doc["decision"]]) is None:
                continue  # nothing happened (yet): a ban is in force from its answered ForbidLiveStream
            target = doc.get("target") or doc.get("hit") or {}
            names = (str(target.get("app")), str(target.get("appname")), str(target.get("stream_id")))
            if names not in latest or _recorded(doc) >= _recorded(latest[names]):
                latest[names] = {**doc, "_key": key}
        active = []
        for (domain, app, stream), doc in sorted(latest.items()):
            effect = answered(doc.get("calls") or [], "ForbidLiveStream") or {}
            doc["resume_time"] = (effect.get("request") or {}).get("ResumeTime") or doc.get("resume_time")
            resume = parse_time(str(doc.get("resume_time") or ""))
            if doc["decision"] == "forbid" and resume is not None and resume > now:
                active.append(
                    {
                        "stream": stream,
                        "domain": domain,
                        "app": app,
                        "resume_time": doc["resume_time"],
                        "by": doc.get("source"),
                        "dedupe_id": doc.get("dedupe_id"),
                        "ledger_key": doc["_key"],
                    }
                )
        return active

    def pending(self) -> list[dict[str, Any]]:
        return [{**doc, "_key": key} for key, doc in self.documents(REVIEW_PENDING)]

    def find(self, item_id: str) -> dict[str, Any]:
        for item in self.pending():
            if item.get("id") == item_id:
                return item
        raise LookupError(f"no pending review item {item_id!r} (see `review`)")

    def close(self, item: Mapping[str, Any], status: str, **extra: Any) -> str:
        """Move a review item to review/done/ with the decision."""
        pending_key = str(item["_key"])
        done_key = REVIEW_DONE + pending_key[len(REVIEW_PENDING) :]
        document = {k: v for k, v in item.items() if k != "_key"}
        document.update(status=status, decided_at=iso(time.time()), decided_by="operator", **extra)
        self.store.put_json(done_key, stored_json(document), {"source": "operator"})
        self.store.delete(pending_key)
        return done_key

    def record(self, target: Target, decision: str, calls: list[dict[str, Any]], **fields: Any) -> str:
        """An operator's entry in the ledger, dated now: `{time}-{id}-{decision}.json`."""
        now = time.time()
        ident = fields.get("dedupe_id") or uuid.uuid4().hex[:12]
        folder = "/".join(encode_part(p) for p in (target.domain, target.app, target.stream))
        day = time.strftime("%Y/%m/%d", time.gmtime(now))
        key = f"{ENFORCEMENT}{folder}/{day}/{int(now):012d}-{ident}-{decision}.json"
        document = {
            "kind": "enforcement",
            "key": self.prefix + key,
            "source": "operator",
            "decision": decision,
            "target": {"app": target.domain, "appname": target.app, "stream_id": target.stream},
            "calls": calls,
            "received_at": iso(now),
            "recorded_at": now,  # to the microsecond: a ban and its resume can share a second
            **fields,
        }
        self.store.put_json(key, stored_json(document), {"source": "operator", "decision": decision})
        return key

    def target_of(self, stream: str, domain: str | None, app: str | None) -> Target:
        if domain and app:
            return Target(domain, app, stream)
        for _, doc in reversed(self.documents(ENFORCEMENT)):
            found = doc.get("target") or doc.get("hit") or {}
            if found.get("stream_id") == stream:
                return Target(domain or str(found.get("app")), app or str(found.get("appname")), stream)
        raise LookupError(f"stream {stream!r} is not in the ledger: give --domain and --app")


def _confirm(question: str, args: argparse.Namespace, ask: Callable[[str], str]) -> bool:
    if args.yes or args.dry_run:
        return True
    if not sys.stdin.isatty() and ask is input:
        raise LookupError("not a terminal: add --yes to act without a question")
    return ask(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def run(args: argparse.Namespace, tool: Tool, out: Callable[[str], None], ask: Callable[[str], str] = input) -> int:
    command = args.command
    if command == "bans":
        bans = tool.bans()
        if args.json:
            out(json.dumps(bans, indent=2))
        for ban in [] if args.json else bans:
            out(f"{ban['stream']}  ({ban['domain']}/{ban['app']})  until {ban['resume_time']}  by {ban['by']}")
        if not bans and not args.json:
            out("no active bans in the ledger")
        return 0
    if command == "review":
        items = tool.pending()
        if args.json:
            out(json.dumps([{k: v for k, v in i.items() if k != "_key"} for i in items], indent=2))
            return 0
        for item in items:
            hit = item.get("hit", {})
            out(
                f"{item.get('id')}  {hit.get('stream_id')}  {hit.get('suggestion')} {hit.get('label') or ''}"
                f"  score {hit.get('score')}  {hit.get('img')}  queued {item.get('queued_at')}"
            )
        if not items:
            out("the review queue is empty")
        return 0
    if command in ("approve", "dismiss"):
        item = tool.find(args.id)
        status = "approved" if command == "approve" else "dismissed"
        if args.dry_run:
            out(f"dry run: would close {args.id} as {status}")
            return 0
        if not _confirm(f"close {args.id} ({item['hit'].get('stream_id')}) as {status}?", args, ask):
            out("nothing done")
            return 1
        out(f"{args.id}: {status} -> {tool.close(item, status)}")
        return 0
    if command == "ban":
        if not 60 <= args.seconds <= MAX_FORBID_SECONDS:
            raise LookupError(f"--seconds must be between 60 and {MAX_FORBID_SECONDS} (90 days)")
        item = tool.find(args.id)
        hit = item["hit"]
        target = Target(str(hit["app"]), str(hit["appname"]), str(hit["stream_id"]))
        question = f"ban {target.stream} ({target.domain}/{target.app}) for {args.seconds} s and cut its push?"
        if not args.dry_run and not _confirm(question, args, ask):
            out("nothing done")
            return 1
        reason = f"operator ban after review of hit {args.id}"
        try:
            calls, state = act(tool.live, target, Decision("forbid", reason, args.seconds, args.dry_run), Budget(30.0))
        except CallbackError as exc:
            if not args.dry_run:
                tool.record(
                    target, "forbid", getattr(exc, "calls", []), status="failed", error=exc.reason, dedupe_id=args.id
                )
            out(f"ban failed: {exc.reason} (the item stays in the queue)")
            return 1
        if args.dry_run:
            out("dry run: would call " + ", ".join(c["action"] for c in calls))
            return 0
        key = tool.record(
            target,
            "forbid",
            calls,
            status="done",
            dedupe_id=args.id,
            hit=hit,
            resume_time=calls[0]["request"]["ResumeTime"],
            stream_state=state,
        )
        tool.close(item, "banned", ledger_key=tool.prefix + key, seconds=args.seconds)
        out(f"{target.stream}: banned until {calls[0]['request']['ResumeTime']}, state {(state or {}).get('state')}")
        return 0
    target = tool.target_of(args.stream, args.domain, args.app)
    if command == "state":
        answer = tool.live.state(target)
        out(f"{target.stream} ({target.domain}/{target.app}): {answer}")
        return 0
    # resume
    if not args.dry_run and not _confirm(f"lift the ban on {target.stream} ({target.domain}/{target.app})?", args, ask):
        out("nothing done")
        return 1
    try:
        calls, state = act(tool.live, target, Decision("resume", "operator resume", 0, args.dry_run), Budget(30.0))
    except CallbackError as exc:
        if not args.dry_run:
            tool.record(target, "resume", getattr(exc, "calls", []), status="failed", error=exc.reason)
        out(f"resume failed: {exc.reason}")
        return 1
    if args.dry_run:
        out("dry run: would call ResumeLiveStream")
        return 0
    tool.record(target, "resume", calls, status="done", stream_state=state)
    out(f"{target.stream}: resumed, state {(state or {}).get('state')}")
    return 0


def main(
    argv: Sequence[str] | None,
    env: Mapping[str, str],
    out: Callable[[str], None] = print,
    ask: Callable[[str], str] = input,
) -> int:
    args = parser().parse_args(argv)
    shown = out
    out = lambda text: shown(terminal_safe(text))  # noqa: E731 - every line shows stored fields
    try:
        merged = access.environment(args, env)
        settings = access.bucket_settings(merged, args.local)
        cached: list[LiveApi] = []

        def live() -> LiveApi:
            if not cached:
                try:
                    live_settings = load_live_settings(merged)
                except ConfigurationError as exc:
                    raise access.SetupError(exc.reason) from None
                cached.append(LiveApi(live_settings, settings.secret_id, settings.secret_key, settings.session_token))
            return cached[0]

        return run(args, Tool(CosStore(settings), live, settings.cos_prefix), out, ask)
    except (access.SetupError, LookupError) as exc:
        print(f"moderation: {exc}", file=sys.stderr)
        return 2
    except CallbackError as exc:
        print(f"moderation: {exc.reason}", file=sys.stderr)
        return 2


_EFFECT = {"forbid": "ForbidLiveStream", "resume": "ResumeLiveStream"}


def _recorded(doc: Mapping[str, Any]) -> float:
    """When a ledger entry was made: `recorded_at` (operator entries), else its `received_at` second."""
    exact = doc.get("recorded_at")
    if isinstance(exact, (int, float)) and not isinstance(exact, bool):
        return float(exact)
    return parse_time(str(doc.get("received_at") or "")) or 0.0
