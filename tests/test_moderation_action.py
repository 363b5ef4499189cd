"""moderation_action: hits stored by porn_detect are acted on by policy, once, with a ledger.

porn_detect stores each hit's evidence in the COS stand-in, which triggers the function for every
write under `moderation/` in SCF's COS trigger shape (583/31927; asynchronous, a failed invocation
retried as SCF does); the function calls devstack's Live API stand-in through
tencentcloud-sdk-python-live. Nothing of ours is mocked.
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
from devstack.dev import DEV_REGION
from devstack.gateway import _captured_stdout
from devstack.live_api import LiveApiStandIn, action
from devstack.triggers import AsyncInvocations
from shared import claim, enforcement
from shared.budget import Budget
from shared.config import load_settings
from shared.errors import ConfigurationError
from shared.storage import CosStore
from shared.vocabulary import MODERATION
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
        self.subscription: AsyncInvocations = live.stack.cos.notify(
            live.bucket, MODERATION, self.invoke, retry_delay=0.05
        )

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

    def evidence(self) -> dict[str, bytes]:
        return self.live.objects(MODERATION)

    def event(self, key: str, **options: Any) -> dict[str, Any]:
        """The COS trigger event of the object at `key` (as SCF delivers it again)."""
        return triggers.cos_event(self.live.bucket, DEV_REGION, key, len(self.evidence().get(key, b"")), **options)

    def redeliver(self) -> dict[str, Any]:
        """The event of the one stored evidence object, delivered once more."""
        (key,) = self.evidence()
        return self.invoke(self.event(key))

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
        live.stack.cos.unnotify(harness.subscription)
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
    acted, again = sorted(mod.lines(), key=lambda line: line["outcome"])  # the claim's event, the mark's
    assert acted["outcome"] == "acted" and acted["stream_state"] == "forbid"
    assert again["outcome"] == "duplicate"


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


def test_every_write_of_the_evidence_triggers_it_and_the_hit_is_acted_on_once(mod: Moderation) -> None:
    mod.hit("bad-writes")
    # the claim and the mark each fired an event: one acted, the other found the ledger done
    outcomes = [line["outcome"] for line in mod.lines()]
    assert sorted(outcomes) == ["acted", "duplicate"]  # the second waited for the first: no retry needed
    assert [d["ok"] for d in mod.subscription.deliveries] == [True, True]
    assert mod.acted() == ["ForbidLiveStream", "DropLiveStream"]


def test_redelivered_and_concurrent_copies_of_the_event_act_once(mod: Moderation) -> None:
    mod.hit("bad-dup")
    for _ in range(3):  # SCF delivering the same event again
        assert mod.redeliver()["results"][0]["outcome"] == "duplicate"
    (key,) = mod.evidence()
    outcomes = _deliver_together(mod, mod.event(key, event_name="cos:ObjectCreated:Copy"), copies=8, tries=50)
    assert outcomes == ["duplicate"] * 8
    assert mod.acted() == ["ForbidLiveStream", "DropLiveStream"]


def test_concurrent_first_copies_act_once(mod: Moderation) -> None:
    mod.configure(ACTION_ON_BLOCK=None)
    mod.hit("bad-race")
    for key in list(mod.ledger()):  # forget the first run: the same hit, now with a policy that acts
        mod.live.stack.cos.client().delete_object(Bucket=mod.live.bucket, Key=key)
    mod.configure(ACTION_ON_BLOCK="forbid")
    (key,) = mod.evidence()
    outcomes = _deliver_together(mod, mod.event(key), copies=6, tries=100)
    assert sorted(outcomes) == ["acted"] + ["duplicate"] * 5
    assert mod.acted() == ["ForbidLiveStream", "DropLiveStream"]


@pytest.mark.slow
def test_a_live_api_fault_fails_the_invocation_records_nothing_done_and_a_retry_acts_once(mod: Moderation) -> None:
    mod.api.faults.set("error", status=500, when=action("ForbidLiveStream"))
    mod.hit("bad-fault")
    failed = [d for d in mod.subscription.deliveries if not d["ok"]]
    assert len(failed) >= 3  # SCF's first try and two retries of the first event at least
    assert mod.acted() == []
    (entry,) = mod.ledger().values()
    assert entry["status"] == "failed" and "ForbidLiveStream" in entry["error"]
    assert [c["action"] for c in entry["calls"]] == ["ForbidLiveStream"] and "error" in entry["calls"][0]
    mod.api.faults.clear()
    assert mod.redeliver()["results"][0]["outcome"] == "acted"
    assert mod.redeliver()["results"][0]["outcome"] == "duplicate"
    assert mod.acted() == ["ForbidLiveStream", "DropLiveStream"]
    (entry,) = mod.ledger().values()
    assert entry["status"] == "done"


def test_several_records_in_one_event_each_act(mod: Moderation) -> None:
    mod.configure(ACTION_ON_BLOCK="drop")
    mod.live.stack.cos.unnotify(mod.subscription)
    mod.live.deliver("porn_detect", stream_id="multi-a", suggestion="Block")
    mod.live.deliver("porn_detect", stream_id="multi-b", suggestion="Review")
    records = [mod.event(key)["Records"][0] for key in sorted(mod.evidence(), key=lambda k: "multi-b" in k)]
    answer = mod.invoke({"Records": records})
    assert [r["decision"] for r in answer["results"]] == ["drop", "queue"]
    assert mod.acted() == ["DropLiveStream"]


def test_acting_does_not_depend_on_the_topic_a_hit_it_refuses_is_still_banned(mod: Moderation) -> None:
    mod.live.stack.tdmq.max_message_bytes = 64  # a topic whose MaxMsgSize refuses every hit (code 4000)
    try:
        mod.hit("bad-unpublished")
    finally:
        mod.live.stack.tdmq.max_message_bytes = 65536
    assert mod.live.published() == []
    assert mod.acted() == ["ForbidLiveStream", "DropLiveStream"]


def test_a_pass_hit_triggers_the_function_and_is_left_alone(mod: Moderation) -> None:
    mod.hit("fine", suggestion="Pass")
    assert mod.evidence() and mod.ledger() == {} and mod.api.calls == []
    assert {line["outcome"] for line in mod.lines()} == {"ignored"}


def _held_ledger_claim(mod: Moderation) -> tuple[str, claim.Claim]:
    """A hit's evidence, and its ledger claim held fresh by another invocation (acting right now)."""
    mod.live.stack.cos.unnotify(mod.subscription)
    mod.live.deliver("porn_detect", stream_id="held", suggestion="Block")
    (key,) = mod.evidence()
    held = claim.Claim(CosStore(load_settings()), enforcement.ledger_key(key), claim.new_token(), {}, Budget())
    assert held.acquire(b"{}") == claim.ACQUIRED
    return key, held


def test_a_second_invocation_waits_for_the_one_acting_and_ends_as_its_duplicate(mod: Moderation) -> None:
    key, held = _held_ledger_claim(mod)
    finish = threading.Timer(0.6, lambda: held.mark_done(b"{}"))  # the other invocation finishes
    finish.start()
    try:
        answer = mod.invoke(mod.event(key))  # no RuntimeError: nothing left for SCF to retry
    finally:
        finish.join()
    assert answer["results"][0]["outcome"] == "duplicate"
    assert mod.api.calls == []


def test_the_wait_on_another_invocations_claim_ends_in_a_retry_not_a_done(mod: Moderation) -> None:
    key, _held = _held_ledger_claim(mod)
    short = {**triggers.context("moderation_action"), "time_limit_in_ms": 6000}  # a 4.5 s budget
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="to retry"), _captured_stdout() as captured:
        mod.handler(mod.event(key), short)
    assert time.monotonic() - started < 2.0  # it waited while the budget allowed, then gave up
    assert json.loads(captured.getvalue().splitlines()[-1])["outcome"] == "in_progress"
    assert mod.api.calls == []  # neither acted nor acknowledged: SCF's retry comes back


def test_an_event_for_evidence_that_is_gone_touches_nothing_and_is_logged(mod: Moderation) -> None:
    mod.live.stack.cos.unnotify(mod.subscription)
    mod.live.deliver("porn_detect", stream_id="released", suggestion="Block")
    (key,) = mod.evidence()
    event = mod.event(key)
    mod.live.stack.cos.client().delete_object(Bucket=mod.live.bucket, Key=key)  # a claim released meanwhile
    before = mod.live.objects()
    answer = mod.invoke(event)
    assert answer["code"] == 0 and answer["results"][0]["outcome"] == "ignored"
    (line,) = mod.lines()
    assert line["outcome"] == "ignored" and "no stored evidence" in line["reason"]
    assert mod.live.objects() == before and mod.api.calls == []


def _forged(mod: Moderation, key: str, case: str) -> dict[str, Any]:
    if case == "not a cos event":
        return {"body": json.dumps({"key": key}), "httpMethod": "POST"}
    if case == "another prefix":
        return mod.event(key.replace(MODERATION, "records/", 1))
    if case == "a .. key":
        return mod.event(MODERATION + "../enforcement/" + key[len(MODERATION) :])
    if case == "a .. folder":
        _app, appname, rest = key[len(MODERATION) :].split("/", 2)
        return mod.event(f"{MODERATION}../{appname}/{rest}")
    if case == "another bucket":
        event = mod.event(key)
        event["Records"][0]["cos"]["cosBucket"]["name"] = "someone-else"
        return event
    if case == "a key of another bucket":
        event = mod.event(key)
        event["Records"][0]["cos"]["cosObject"]["key"] = "/1250000000/someone-else/" + key
        return event
    if case == "an object removed":
        return mod.event(key, event_name="cos:ObjectRemove:Delete")
    if case == "an object that is no evidence":
        fake = key.rsplit("-", 1)[0] + "-" + "f" * 32 + ".json"
        mod.live.stack.cos.client().put_object(Bucket=mod.live.bucket, Key=fake, Body=mod.evidence()[key])
        return mod.event(fake)
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "not a cos event",
        "another prefix",
        "a .. key",
        "a .. folder",
        "another bucket",
        "a key of another bucket",
        "an object removed",
        "an object that is no evidence",
    ],
)
def test_events_naming_anything_but_a_stored_hit_are_refused_loudly_and_change_nothing(
    mod: Moderation, case: str
) -> None:
    mod.live.stack.cos.unnotify(mod.subscription)
    mod.live.deliver("porn_detect", stream_id="forged-target", suggestion="Block")
    (key,) = mod.evidence()
    event = _forged(mod, key, case)
    before = mod.live.objects()
    answer = mod.invoke(event)
    assert answer["code"] == 400
    (line,) = mod.lines()
    assert line["level"] == "error" and line["outcome"] == "refused" and line["reason"]
    assert mod.live.objects() == before
    assert mod.api.calls == []


def test_policy_errors_name_the_variable() -> None:
    for env, name in (
        ({"FORBID_SECONDS": "59"}, "FORBID_SECONDS"),  # below the minimum
        ({"FORBID_SECONDS": "-60"}, "FORBID_SECONDS"),
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
    for written, meant in (
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("no", False),
        ("true", True),
        ("on", True),
    ):
        assert enforcement.load_policy({"ACTION_DRY_RUN": written}).dry_run is meant, written
    assert enforcement.load_policy({"FORBID_SECONDS": "60"}).forbid_seconds == 60  # the minimum itself


@pytest.mark.parametrize("action", ["drop", "forbid"])
def test_an_exempt_stream_is_never_cut_whichever_the_action(mod: Moderation, action: str) -> None:
    mod.configure(ACTION_ON_BLOCK=action, ACTION_EXEMPT_STREAMS="official-*")
    mod.hit(f"official-{action}")
    mod.hit(f"other-{action}")
    assert [name for name, request in mod.api.acted() if request["StreamName"].startswith("official")] == []
    assert {e["hit"]["stream_id"]: e["decision"] for e in mod.ledger().values()} == {
        f"official-{action}": "exempt",
        f"other-{action}": action,
    }


def test_a_misconfigured_policy_fails_the_invocation_so_scf_retries_after_the_fix(mod: Moderation) -> None:
    mod.configure(ACTION_ON_BLOCK="ban-everyone")
    mod.hit("bad-config")
    assert all(not d["ok"] for d in mod.subscription.deliveries) and mod.acted() == []
    assert any("ACTION_ON_BLOCK" in str(line.get("reason")) for line in mod.lines())


@pytest.mark.parametrize(
    ("argv", "local", "dry_run", "yes"),
    [
        (["review", "--local"], True, False, False),
        (["--local", "review"], True, False, False),
        (["ban", "0123", "--dry-run", "--yes"], False, True, True),
        (["--dry-run", "--yes", "ban", "0123"], False, True, True),
        (["--local", "bans", "--json"], True, False, False),
    ],
)
def test_the_cli_takes_its_options_before_or_after_the_subcommand(
    argv: list[str], local: bool, dry_run: bool, yes: bool
) -> None:
    args = moderation.parser().parse_args(argv)
    assert (args.local, args.dry_run, args.yes) == (local, dry_run, yes)


def test_exempt_entries_are_names_with_star_wildcards_not_full_globs() -> None:
    policy = enforcement.load_policy({"ACTION_EXEMPT_STREAMS": "official-*,room[12],news?", "ACTION_ON_BLOCK": "drop"})
    assert policy.decide("Block", "official-7") == "exempt"
    assert policy.decide("Block", "room[12]") == "exempt"  # the name itself
    assert policy.decide("Block", "room1") == "drop"  # not a glob character class
    assert policy.decide("Block", "news?") == "exempt"
    assert policy.decide("Block", "newsX") == "drop"  # `?` is not any one character
    assert policy.decide("Block", "xofficial-7") == "drop"  # the whole name must match


def test_a_ban_that_worked_is_not_made_again_when_the_drop_after_it_failed(mod: Moderation, live: Live) -> None:
    """Forbid answered, Drop failed: the ledger says what happened (the ban is in force, listed by
    `moderation.py bans`), and every retry continues at the drop: one ForbidLiveStream, one ResumeTime."""
    mod.api.start_push(payloads.PUSH_DOMAIN, payloads.APPNAME, "bad-half")
    mod.api.faults.set("error", status=500, when=action("DropLiveStream"))
    mod.hit("bad-half")
    assert [d["ok"] for d in mod.subscription.deliveries].count(False) >= 2  # retried, the drop failing each time
    assert mod.acted() == ["ForbidLiveStream"]  # the drops never reached the API; the ban was made once
    (entry,) = mod.ledger().values()
    assert entry["status"] == "failed" and [c["action"] for c in entry["calls"]] == [
        "ForbidLiveStream",
        "DropLiveStream",
    ]
    resume_time = mod.api.acted()[0][1]["ResumeTime"]
    assert entry["resume_time"] == resume_time
    env = {**live.env, "LIVE_API_ENDPOINT": mod.api.endpoint, "LIVE_API_SCHEME": "http", "LIVE_API_REGION": "x"}
    printed: list[str] = []
    assert moderation.main(["bans"], env, printed.append) == 0
    assert printed[0].startswith("bad-half  (push.example.com/live)  until "), printed
    mod.api.faults.clear()
    time.sleep(1.1)  # a second ForbidLiveStream now would carry a later ResumeTime
    assert mod.redeliver()["results"][0]["outcome"] == "acted"
    assert mod.acted() == ["ForbidLiveStream", "DropLiveStream"]
    (entry,) = mod.ledger().values()
    assert entry["status"] == "done" and entry["resume_time"] == resume_time
    assert entry["stream_state"]["state"] == "forbid"


def test_an_invocation_killed_between_ban_and_drop_left_the_ban_on_record(mod: Moderation) -> None:
    """The ledger is written after each effect but the last: a drop that hangs past the invocation
    (its entry still `acting`, as a killed invocation leaves it) shows the ban that was made."""
    mod.api.faults.set("hang", when=action("DropLiveStream"))
    mod.configure(ACTION_ON_BLOCK=None)
    mod.hit("bad-killed")
    for key in list(mod.ledger()):  # the hit is stored; now it meets a policy that acts
        mod.live.stack.cos.client().delete_object(Bucket=mod.live.bucket, Key=key)
    mod.configure(ACTION_ON_BLOCK="forbid")
    (key,) = mod.evidence()
    outcome: list[dict[str, Any]] = []
    worker = threading.Thread(target=lambda: outcome.append(mod.invoke(mod.event(key))), daemon=True)
    worker.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not [e for e in mod.ledger().values() if e.get("calls")]:
        time.sleep(0.05)
    (entry,) = mod.ledger().values()
    assert entry["status"] == "acting" and [c["action"] for c in entry["calls"]] == ["ForbidLiveStream"]
    assert entry["resume_time"] == mod.api.acted()[0][1]["ResumeTime"]
    mod.api.faults.clear()
    worker.join(15)
