"""moderation_action: hits published by porn_detect are acted on by policy, once, with a ledger.

porn_detect publishes to the TDMQ stand-in, which delivers each message to the subscriber in
SCF's CMQ topic trigger shape (retrying a failed invocation as SCF does); the subscriber calls
devstack's Live API stand-in through tencentcloud-sdk-python-live. Nothing of ours is mocked.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devstack import payloads, triggers
from devstack.gateway import _captured_stdout
from devstack.live_api import LiveApiStandIn, action
from devstack.tdmq import Subscription, cmq_event
from shared import enforcement
from shared.errors import ConfigurationError
from tests.conftest import Live
from tooling import moderation

LEDGER_KEY = re.compile(r"enforcement/push\.example\.com/live/[^/]+/\d{4}/\d{2}/\d{2}/\d{12}-[0-9a-f]{32}\.json")


class Moderation:
    def __init__(self, live: Live, api: LiveApiStandIn) -> None:
        self.live, self.api = live, api
        self.handler = triggers.load_handler("moderation_action")
        self.gate = threading.Lock()
        """Held while porn_detect runs under live.invoke's stdout redirect, so a delivery that
        starts meanwhile captures its log line after that redirect ends (not into it)."""
        self.subscription: Subscription = live.stack.tdmq.subscribe(live.topic, self.invoke, retry_delay=0.05)

    def configure(self, **variables: str | None) -> None:
        self.live.configure(**variables)
        enforcement.reset()

    def invoke(self, event: Any) -> dict[str, Any]:
        with self.gate:
            pass
        with _captured_stdout() as captured:
            try:
                return self.handler(event, triggers.context("moderation_action"))
            finally:
                for line in captured.getvalue().splitlines():
                    self.live.raw_logs.append(line)
                    self.live.logs.append(json.loads(line))

    def hit(self, stream: str, suggestion: str = "Block", **fields: Any) -> dict[str, Any]:
        """A signed hit delivered to porn_detect; waits until the subscriber is done with it."""
        with self.gate:
            answer = self.live.deliver("porn_detect", stream_id=stream, suggestion=suggestion, **fields)
        assert answer["statusCode"] == 200
        assert self.subscription.drain(20)
        return answer

    def lines(self) -> list[dict[str, Any]]:
        return [entry for entry in self.live.logs if entry.get("function") == "moderation_action"]

    def ledger(self) -> dict[str, Any]:
        return self.live.documents("enforcement/")

    def acted(self) -> list[str]:
        return [name for name, _ in self.api.acted()]


@pytest.fixture
def mod(live: Live) -> Iterator[Moderation]:
    api = LiveApiStandIn().start()
    harness = Moderation(live, api)
    harness.configure(
        LIVE_API_ENDPOINT=api.endpoint,
        LIVE_API_SCHEME="http",
        LIVE_API_REGION="ap-guangzhou",
        ACTION_ON_BLOCK="forbid",
        ACTION_ON_REVIEW=None,
        ACTION_EXEMPT_STREAMS=None,
        ACTION_DRY_RUN=None,
        FORBID_SECONDS=None,
    )
    try:
        yield harness
    finally:
        live.stack.tdmq.unsubscribe(harness.subscription)
        api.stop()
        enforcement.reset()


def test_block_with_forbid_bans_then_cuts_the_push_and_the_ledger_records_calls_and_state(mod: Moderation) -> None:
    mod.api.start_push(payloads.PUSH_DOMAIN, payloads.APPNAME, "bad-1")
    mod.configure(FORBID_SECONDS="3600")
    before = time.time()
    mod.hit("bad-1")
    assert mod.acted() == ["ForbidLiveStream", "DropLiveStream"]
    forbid = mod.api.acted()[0][1]
    assert (forbid["DomainName"], forbid["AppName"], forbid["StreamName"]) == (payloads.PUSH_DOMAIN, "live", "bad-1")
    resume = time.mktime(time.strptime(forbid["ResumeTime"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert before + 3600 - 2 <= resume <= time.time() + 3600 + 1
    assert forbid["Reason"].startswith("moderation Block Porn hit ")
    ((key, entry),) = mod.ledger().items()
    assert LEDGER_KEY.fullmatch(key), key
    assert entry["status"] == "done" and entry["decision"] == "forbid"
    assert entry["policy"]["on_block"] == "forbid" and entry["policy"]["forbid_seconds"] == 3600
    assert [c["action"] for c in entry["calls"]] == ["ForbidLiveStream", "DropLiveStream"]
    assert all(c["answer"]["RequestId"] for c in entry["calls"])
    assert entry["stream_state"]["state"] == "forbid"
    assert entry["hit"]["stream_id"] == "bad-1" and key.endswith(f"-{entry['dedupe_id']}.json")
    (line,) = mod.lines()
    assert line["outcome"] == "acted" and line["stream_state"] == "forbid"


def test_block_with_drop_cuts_the_push_only(mod: Moderation) -> None:
    mod.api.start_push(payloads.PUSH_DOMAIN, payloads.APPNAME, "bad-2")
    mod.configure(ACTION_ON_BLOCK="drop")
    mod.hit("bad-2")
    assert mod.acted() == ["DropLiveStream"]
    (entry,) = mod.ledger().values()
    assert entry["decision"] == "drop" and entry["stream_state"]["state"] == "inactive"
    assert mod.api.forbidden == {}


def test_block_with_the_default_policy_is_recorded_and_nothing_is_cut(mod: Moderation) -> None:
    mod.configure(ACTION_ON_BLOCK=None)
    mod.hit("bad-3")
    assert mod.acted() == []
    (entry,) = mod.ledger().values()
    assert (entry["decision"], entry["status"], entry["calls"]) == ("none", "done", [])


def test_review_is_queued_and_then_banned_through_the_cli(mod: Moderation, live: Live) -> None:
    mod.hit("doubtful", suggestion="Review")
    assert mod.acted() == []
    (pending_key, item), *_ = mod.live.documents("review/pending/").items()
    assert pending_key.endswith(f"-{item['id']}.json") and item["hit"]["suggestion"] == "Review"
    env = {**live.env, "LIVE_API_ENDPOINT": mod.api.endpoint, "LIVE_API_SCHEME": "http", "LIVE_API_REGION": "x"}
    printed: list[str] = []
    assert moderation.main(["review"], env, printed.append) == 0
    assert item["id"] in printed[0] and item["hit"]["img"] in printed[0]
    assert moderation.main(["ban", item["id"], "--seconds", "7200"], env, printed.append, ask=lambda q: "n") == 1
    assert mod.acted() == []  # refused at the question: nothing done
    assert moderation.main(["--yes", "ban", item["id"], "--seconds", "7200"], env, printed.append) == 0
    assert mod.acted() == ["ForbidLiveStream", "DropLiveStream"]
    assert mod.live.documents("review/pending/") == {}
    (done,) = mod.live.documents("review/done/").values()
    assert done["status"] == "banned" and done["seconds"] == 7200
    printed.clear()
    assert moderation.main(["bans"], env, printed.append) == 0
    assert printed[0].startswith("doubtful  (push.example.com/live)  until ")
    assert moderation.main(["--yes", "resume", "doubtful"], env, printed.append) == 0
    assert mod.acted()[-1] == "ResumeLiveStream" and "state inactive" in printed[-1]
    printed.clear()
    assert moderation.main(["bans"], env, printed.append) == 0
    assert printed == ["no active bans in the ledger"]


def test_exempt_streams_are_never_cut(mod: Moderation) -> None:
    mod.configure(ACTION_EXEMPT_STREAMS="official-*,news")
    mod.hit("official-7")
    mod.hit("news")
    assert mod.acted() == []
    assert sorted(e["decision"] for e in mod.ledger().values()) == ["exempt", "exempt"]


def test_dry_run_calls_nothing_and_records_what_would_happen(mod: Moderation) -> None:
    mod.configure(ACTION_DRY_RUN="true")
    mod.hit("bad-dry")
    mod.hit("doubt-dry", suggestion="Review")
    assert mod.acted() == [] and mod.api.calls == []
    assert mod.live.documents("review/") == {}
    by_decision = {e["decision"]: e for e in mod.ledger().values()}
    assert by_decision["forbid"]["dry_run"] is True
    assert [c["action"] for c in by_decision["forbid"]["calls"]] == ["ForbidLiveStream", "DropLiveStream"]
    assert all(c["dry_run"] for c in by_decision["forbid"]["calls"])


def _deliver_together(mod: Moderation, event: dict[str, Any], copies: int, tries: int) -> list[str]:
    """`copies` deliveries of `event` at once, each retried as SCF retries an invocation that
    failed (a copy that found the hit in progress raises): the outcome each finally got."""
    outcomes: list[str] = []

    def deliver() -> None:
        for _ in range(tries):
            try:
                outcomes.append(mod.invoke(event)["results"][0]["outcome"])
                return
            except RuntimeError:
                time.sleep(0.05)

    threads = [threading.Thread(target=deliver) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_redelivery_the_same_hit_published_twice_and_concurrent_copies_act_once(mod: Moderation) -> None:
    mod.hit("bad-dup")
    (message,) = mod.live.published()
    for _ in range(3):  # redelivered, and published again with the same dedupe_id
        assert mod.invoke(cmq_event([message]))["results"][0]["outcome"] == "duplicate"
    copy = {**message, "MsgId": "msg-second-publish"}
    outcomes = _deliver_together(mod, cmq_event([copy], tags_as_string=True), copies=8, tries=50)
    assert outcomes == ["duplicate"] * 8
    assert mod.acted() == ["ForbidLiveStream", "DropLiveStream"]


def test_concurrent_first_copies_act_once(mod: Moderation) -> None:
    mod.configure(ACTION_ON_BLOCK=None)
    mod.hit("bad-race")
    (message,) = mod.live.published()
    for key in list(mod.ledger()):  # forget the first run: the same hit, now with a policy that acts
        mod.live.stack.cos.client().delete_object(Bucket=mod.live.bucket, Key=key)
    mod.configure(ACTION_ON_BLOCK="forbid")
    outcomes = _deliver_together(mod, cmq_event([message]), copies=6, tries=100)
    assert sorted(outcomes) == ["acted"] + ["duplicate"] * 5
    assert mod.acted() == ["ForbidLiveStream", "DropLiveStream"]


@pytest.mark.slow
def test_a_live_api_fault_fails_the_invocation_records_nothing_done_and_a_retry_acts_once(mod: Moderation) -> None:
    mod.api.faults.set("error", status=500, when=action("ForbidLiveStream"))
    mod.hit("bad-fault")
    deliveries = mod.subscription.deliveries
    assert [d["ok"] for d in deliveries] == [False, False, False]  # SCF's first try and two retries
    assert mod.acted() == []
    (entry,) = mod.ledger().values()
    assert entry["status"] == "failed" and "ForbidLiveStream" in entry["error"]
    assert [c["action"] for c in entry["calls"]] == ["ForbidLiveStream"] and "error" in entry["calls"][0]
    mod.api.faults.clear()
    (message,) = mod.live.published()
    assert mod.invoke(cmq_event([message]))["results"][0]["outcome"] == "acted"
    assert mod.invoke(cmq_event([message]))["results"][0]["outcome"] == "duplicate"
    assert mod.acted() == ["ForbidLiveStream", "DropLiveStream"]
    (entry,) = mod.ledger().values()
    assert entry["status"] == "done"


def test_several_records_in_one_event_each_act(mod: Moderation) -> None:
    mod.configure(ACTION_ON_BLOCK="drop")
    mod.live.stack.tdmq.unsubscribe(mod.subscription)
    mod.live.deliver("porn_detect", stream_id="multi-a", suggestion="Block")
    mod.live.deliver("porn_detect", stream_id="multi-b", suggestion="Review")
    answer = mod.invoke(cmq_event(mod.live.published(), tags_as_string=True))
    assert [r["decision"] for r in answer["results"]] == ["drop", "queue"]
    assert mod.acted() == ["DropLiveStream"]


def _forged(mod: Moderation, message: dict[str, Any], case: str) -> dict[str, Any]:
    content = json.loads(message["MsgContent"])
    if case == "not json":
        return cmq_event([{**message, "MsgContent": "not json {"}])
    if case == "missing fields":
        return cmq_event([{**message, "MsgContent": json.dumps({"stream_id": "x"})}])
    if case == "another topic":
        return cmq_event([{**message, "TopicName": "someone-elses-topic"}])
    if case == "no evidence":
        forged = {**content, "dedupe_id": "0" * 32, "evidence_key": content["evidence_key"].replace("live/", "x/")}
        return cmq_event([{**message, "MsgContent": json.dumps(forged)}])
    if case == "evidence of another hit":
        return cmq_event([{**message, "MsgContent": json.dumps({**content, "dedupe_id": "f" * 32})}])
    if case == "not a cmq event":
        return {"body": message["MsgContent"], "httpMethod": "POST"}
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    ["not json", "missing fields", "another topic", "no evidence", "evidence of another hit", "not a cmq event"],
)
def test_forged_or_malformed_messages_are_refused_loudly_and_change_nothing(mod: Moderation, case: str) -> None:
    mod.live.stack.tdmq.unsubscribe(mod.subscription)
    mod.live.deliver("porn_detect", stream_id="forged-target", suggestion="Block")
    (message,) = mod.live.published()
    before = mod.live.objects()
    answer = mod.invoke(_forged(mod, message, case))
    assert answer["code"] == 400
    (line,) = mod.lines()
    assert line["level"] == "error" and line["outcome"] == "refused" and line["reason"]
    assert mod.live.objects() == before
    assert mod.api.calls == []


def test_policy_errors_name_the_variable() -> None:
    for env, name in (
        ({"ACTION_ON_BLOCK": "kill"}, "ACTION_ON_BLOCK"),
        ({"ACTION_ON_REVIEW": "drop"}, "ACTION_ON_REVIEW"),
        ({"FORBID_SECONDS": "tomorrow"}, "FORBID_SECONDS"),
        ({"FORBID_SECONDS": str(91 * 86400)}, "FORBID_SECONDS"),
        ({"ACTION_DRY_RUN": "maybe"}, "ACTION_DRY_RUN"),
    ):
        with pytest.raises(ConfigurationError, match=name):
            enforcement.load_policy(env)
    policy = enforcement.load_policy({})
    assert (policy.on_block, policy.forbid_seconds, policy.on_review, policy.dry_run) == ("none", 86400, "queue", False)


def test_a_misconfigured_policy_fails_the_invocation_so_scf_retries_after_the_fix(mod: Moderation) -> None:
    mod.configure(ACTION_ON_BLOCK="ban-everyone")
    mod.hit("bad-config")
    assert all(not d["ok"] for d in mod.subscription.deliveries) and mod.acted() == []
    assert any("ACTION_ON_BLOCK" in str(line.get("reason")) for line in mod.lines())
