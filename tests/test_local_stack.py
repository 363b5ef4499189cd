"""The local stack: the gateway built from deploy/functions.yml, the simulator, the timeline and `local.py --demo`.

HTTP goes over loopback to the real handlers, which reach the stand-ins through the real SDKs.
Each script runs as a subprocess with the venv's Python, as a developer runs it, in at least one
test (`local.py` serving until Ctrl-C drives timeline, replay_quarantine and smoke that way); the
other runs execute the same files in this process (`run_here`), which spares an interpreter start.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import pytest
import yaml

from devstack import payloads
from devstack.gateway import Invocation, LocalGateway, RouteError, load_routes, routes_from_config
from devstack.servers import Server
from devstack.stack import DEV_CALLBACK_KEY, DEV_CREDENTIALS
from shared.events import MODELS
from shared.layout import event_key
from shared.vocabulary import KINDS
from tests.conftest import Live, Ran, run_here
from tooling.readmodel import LIVE, NO_BEGIN, NO_END, build_timeline
from tooling.render import render

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
PREFIX_OF = {"stream_begin": "sessions/", "stream_end": "sessions/", "record": "records/"}
SECRETS = (DEV_CREDENTIALS["TENCENTCLOUD_SECRETKEY"], DEV_CREDENTIALS["TENCENTCLOUD_SESSIONTOKEN"], payloads.TX_SECRET)


class Gateway:
    def __init__(self, server: Server, invocations: list[Invocation]) -> None:
        self.server = server
        self.url = server.url
        self.invocations = invocations

    def post(self, path: str, body: bytes | Mapping[str, Any], method: str = "POST") -> tuple[int, Any, Any]:
        return request(self.url + path, body, method)


def request(url: str, body: bytes | Mapping[str, Any], method: str = "POST") -> tuple[int, Any, Any]:
    """One HTTP request on its own connection: status, JSON body, headers."""
    parts = urlsplit(url)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    connection = http.client.HTTPConnection(parts.netloc, timeout=15)
    try:
        connection.request(
            method, parts.path, body=data if method == "POST" else None, headers={"Content-Type": "application/json"}
        )
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read()), answer.headers
    finally:
        connection.close()


@pytest.fixture(scope="module")
def gateway_server() -> Iterator[tuple[Server, list[Invocation]]]:
    invocations: list[Invocation] = []
    with Server(LocalGateway(on_invocation=invocations.append)) as server:
        yield server, invocations


@pytest.fixture
def gateway(gateway_server: tuple[Server, list[Invocation]], live: Live) -> Iterator[Gateway]:
    """The in-process gateway, serving this test's `live` environment; its function logs join `live`'s."""
    server, invocations = gateway_server
    invocations.clear()
    yield Gateway(server, invocations)
    for invocation in invocations:  # so the `live` fixture checks them for secrets too
        live.raw_logs.extend(invocation.logs)


def script_env(live: Live, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COS_", "LIVE_", "MODERATION_", "CMQ_"))}
    return {**env, **live.env, **extra}


def run_script(name: str, *args: str, env: Mapping[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def run_script_here(name: str, *args: str, env: Mapping[str, str]) -> Ran:
    return run_here(SCRIPTS / name, *args, env=env)


def simulate(gateway: Gateway, live: Live, *args: str) -> dict[str, Any]:
    done = run_script_here("simulate.py", "--url", gateway.url, "--json", "--no-progress", *args, env=script_env(live))
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def stored_counts(live: Live) -> dict[str, Counter[str]]:
    """Per stream, how many documents of each kind the functions stored."""
    counts: dict[str, Counter[str]] = {}
    for key, document in live.documents().items():
        stream = key.split("/")[3]
        counts.setdefault(stream, Counter())[document["kind"]] += 1
    return counts


# Routes


def test_gateway_routes_are_the_routes_of_the_deploy_spec_and_the_api_gateway_variant() -> None:
    spec = yaml.safe_load((ROOT / "deploy" / "functions.yml").read_text())
    routes = load_routes()
    assert [(r.path, r.method, r.function) for r in routes] == [
        (f["route"], "POST", kind) for kind, f in spec["functions"].items()
    ]
    assert sorted(r.kind for r in routes) == sorted(KINDS)
    for route in routes:  # the generated API Gateway variant deploys the same table
        instance = yaml.safe_load((ROOT / "deploy" / "apigw" / route.kind / "serverless.yml").read_text())
        [endpoint] = instance["inputs"]["events"][0]["apigw"]["parameters"]["endpoints"]
        assert (endpoint["path"], endpoint["method"]) == (route.path, route.method)
        assert (ROOT / "functions" / route.kind / "index.py").is_file()


def test_routes_follow_a_changed_spec_and_refuse_an_unusable_one() -> None:
    defaults = {"handler": "index.main_handler", "runtime": "Python3.10", "memorySize": 64, "timeout": 10}
    functions = {"record": {"route": "/hooks/rec", "template_field": "RecordNotifyUrl"}}
    routes = routes_from_config({"app": "x", "defaults": defaults, "functions": functions})
    assert [(r.path, r.method, r.kind) for r in routes] == [("/hooks/rec", "POST", "record")]
    with pytest.raises(RouteError, match=r"functions\.snapshot has no absolute 'route'"):
        functions = {**functions, "snapshot": {"route": "snap", "template_field": "SnapshotNotifyUrl"}}
        routes_from_config({"app": "x", "defaults": defaults, "functions": functions})


# The gateway


def test_signed_post_through_the_gateway_is_stored_under_its_request_id(gateway: Gateway, live: Live) -> None:
    payload = payloads.record("gw-stream", file_format="flv")
    status, body, headers = gateway.post("/live/record", payloads.signed(payload, DEV_CALLBACK_KEY))

    assert (status, body) == (200, {"code": 0})
    key = event_key(MODELS["record"].model_validate(payload))
    assert list(live.objects()) == [key]
    assert live.documents()[key]["event"]["file_format"] == "flv"
    request_id = headers["X-Api-RequestId"]
    head = live.stack.cos.client().head_object(Bucket=live.bucket, Key=key)
    metadata = {name.lower(): value for name, value in head.items()}
    assert metadata["x-cos-meta-request-id"] == request_id  # requestContext.requestId reached the function
    (invocation,) = gateway.invocations
    (log,) = [json.loads(line) for line in invocation.logs]
    assert (log["trigger"], log["request_id"], log["status"], log["key"]) == ("apigw", request_id, 200, key)


def test_gateway_answers_as_api_gateway_would_and_stores_nothing_it_refuses(gateway: Gateway, live: Live) -> None:
    status, body, _ = gateway.post("/live/nowhere", payloads.signed(payloads.snapshot()))
    assert status == 404 and "POST /live/snapshot" in body["routes"]

    status, body, headers = gateway.post("/live/snapshot", b"", method="GET")
    assert (status, headers["Allow"]) == (405, "POST")

    status, body, _ = gateway.post("/live/snapshot", payloads.signed(payloads.snapshot(), "not-the-key"))
    assert (status, body["code"]) == (403, 403) and "does not match" in body["message"]
    assert gateway.post("/live/snapshot", b"{not json")[0] == 400
    assert gateway.post("/live/snapshot", b"\xff\xfe binary")[0] == 400  # forwarded base64, refused by the function
    assert gateway.post("/live/snapshot", b"{" + b" " * (256 * 1024 + 10) + b"}")[0] == 413
    assert live.objects() == {}
    assert [i.status for i in gateway.invocations] == [404, 405, 403, 400, 400, 413]


# Simulator and timeline against the gateway


@pytest.mark.slow
def test_simulator_summary_matches_what_is_stored_and_published(gateway: Gateway, live: Live) -> None:
    report = simulate(gateway, live, "--streams", "4", "--seed", "3", "--duplicates", "0.5", "--shuffle")

    assert report["answers"] == {"200": report["sent"]} and report["not_accepted"] == 0
    assert report["sent"] == report["deliveries"] > report["unique_events"]  # retries were delivered
    assert sum(report["unique_by_kind"].values()) == report["unique_events"]
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["p95"] <= report["latency_ms"]["p99"]
    expected = report["scenario"]["streams"]
    stored = stored_counts(live)
    assert sorted(stored) == sorted(expected)
    for stream, want in expected.items():
        have = stored[stream]
        closed = want["sessions"] - want["live_sessions"]
        assert have["stream_begin"] == want["sessions"] and have["stream_end"] == closed, stream
        assert (have["record"], have["snapshot"], have["porn_detect"] + have["audio_moderation"]) == (
            want["recordings"],
            want["snapshots"],
            want["hits"],
        ), stream
        assert have["push_exception"] == want["push_exceptions"], stream
        assert have["record_exception"] == want["recording_exceptions"], stream
    messages = [json.loads(m["msgBody"]) for m in live.published()]
    assert len(messages) == report["scenario"]["totals"]["publishable_hits"]
    assert len({m["dedupe_id"] for m in messages}) == len(messages)  # each hit published once
    assert {m["suggestion"] for m in messages} <= {"Block", "Review"}


@pytest.mark.slow
def test_timeline_json_matches_the_simulated_scenario(gateway: Gateway, live: Live) -> None:
    report = simulate(gateway, live, "--streams", "5", "--seed", "11", "--duplicates", "0.4", "--shuffle")

    done = run_script_here("timeline.py", "--json", env=script_env(live))
    assert done.returncode == 0, done.stderr
    timeline = json.loads(done.stdout)
    have = {s["stream_id"]: s["counts"] for s in timeline["streams"]}
    for stream, want in report["scenario"]["streams"].items():
        for name in ("sessions", "live_sessions", "recordings", "formats", "snapshots", "hits", "publishable_hits"):
            assert have[stream][name] == want[name], (stream, name)
        assert {k: v for k, v in want["hits_by_suggestion"].items() if v} == have[stream]["hits_by_suggestion"]
        assert have[stream]["sessions_without_begin"] == have[stream]["sessions_without_end"] == 0
    assert set(have) == set(report["scenario"]["streams"])
    assert timeline["totals"]["live_sessions"] >= 1  # a run of 3+ streams has a stream still pushing
    assert {r["format"] for s in timeline["streams"] for r in s["recordings"]} == {"mp4", "flv", "hls", "aac"}

    text = run_script_here("timeline.py", env=script_env(live))
    assert text.returncode == 0 and f"{timeline['totals']['snapshots']} snapshots" in text.stdout


def test_simulator_scenario_is_reproducible_and_undelivered_callbacks_are_reported(live: Live) -> None:
    env = script_env(live)
    nowhere = ("--url", "http://127.0.0.1:9", "--retries", "0", "--duplicates", "0", "--json")  # port 9: refused

    def scenario(seed: str) -> tuple[dict[str, Any], dict[str, Any]]:
        done = run_script("simulate.py", *nowhere, "--streams", "3", "--seed", seed, env=env)
        assert done.returncode == 1  # not every callback was accepted
        report: dict[str, Any] = json.loads(done.stdout)
        return report, report["scenario"]

    first, same = scenario("21")[1], scenario("21")[1]
    report, other = scenario("22")
    assert first == same and first != other
    assert report["not_accepted"] == report["deliveries"] == report["unique_events"]
    assert set(report["answers"]) == {"ConnectionRefusedError"}

    bad = run_script("simulate.py", "--url", "ftp://example.com", env=env)
    assert bad.returncode == 2 and "http(s) URL" in bad.stderr


# The timeline's pure logic


def _documents(*events: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Documents shaped as the pipeline stores them, from realistic payloads."""
    documents = []
    for kind, payload in events:
        model = MODELS[kind].model_validate(payload)
        document: dict[str, Any] = {"kind": kind, "key": event_key(model), "event": model.normalised()}
        if kind == "porn_detect":
            document["message"] = {"suggestion": payload["suggestion"], "score": payload["score"], "dedupe_id": "x"}
        documents.append(document)
    return documents


def test_timeline_keeps_half_sessions_and_marks_them_in_any_document_order() -> None:
    t0 = 1_700_000_000
    documents = _documents(
        ("stream_end", payloads.stream_end("s", t0 + 600, "seq-a", push_ms=600_000, errcode=3)),  # begin lost
        ("stream_begin", payloads.stream_begin("s", t0 + 700, "seq-b")),  # end lost, a later session exists
        ("stream_begin", payloads.stream_begin("s", t0 + 900, "seq-c")),
        ("stream_end", payloads.stream_end("s", t0 + 1500, "seq-c", push_ms=600_000, errcode=1)),
        ("stream_begin", payloads.stream_begin("s", t0 + 1600, "seq-d")),  # still live
        ("snapshot", payloads.snapshot("s", t0 + 1700)),
        ("porn_detect", payloads.porn_hit("s", t0 + 1700, "Pass", 30)),
        ("record", payloads.record("s", t0 + 1500, "hls", 600)),
    )
    documents.append({"function": "record", "reason": "invalid fields: end_time", "payload": {}})
    timeline = build_timeline(documents)
    random.Random(4).shuffle(documents)
    assert build_timeline(documents) == timeline

    (stream,) = timeline["streams"]
    sessions = stream["sessions"]
    assert [s["state"] for s in sessions] == [NO_BEGIN, NO_END, "complete", LIVE]
    assert (sessions[0]["begin"], sessions[0]["begin_estimated"], sessions[0]["duration_s"]) == (t0, True, 600)
    assert sessions[2]["end_reason"] == "pushing client stopped or closed the connection"
    counts = stream["counts"]
    assert (counts["sessions"], counts["live_sessions"], counts["sessions_without_end"]) == (4, 1, 1)
    assert (counts["recordings"], counts["snapshots"], counts["hits"], counts["publishable_hits"]) == (1, 1, 1, 0)
    assert timeline["totals"]["quarantined"] == 1

    text = render(timeline)
    assert "no begin" in text and "no end" in text and "live" in text and "~2023-11-14" in text
    assert "quarantined: 1 documents" in text


def test_timeline_notes_an_end_that_precedes_its_begin() -> None:
    documents = _documents(
        ("stream_begin", payloads.stream_begin("s", 1_700_000_500, "seq")),
        ("stream_end", payloads.stream_end("s", 1_700_000_100, "seq", push_ms=1000)),
    )
    (session,) = build_timeline(documents)["streams"][0]["sessions"]
    assert session["state"] == "complete" and session["notes"] == ["end time is before begin time"]


# The local stack as a developer runs it


@pytest.mark.slow
def test_local_demo_prints_a_timeline_whose_counts_match_what_was_sent(tmp_path: Path) -> None:
    own_key = "my-own-callback-key-0123"
    env = {**os.environ, "LIVE_CALLBACK_KEYS": own_key}
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "local.py"),
            "--demo",
            "--streams",
            "4",
            "--seed",
            "2",
            "--brief",
            "--state-dir",
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    expected = re.search(
        r"expected\s+(\d+) streams, (\d+) sessions \((\d+) still live\), (\d+) recordings.*?, (\d+) snapshots,"
        r" (\d+) moderation hits.*?; (\d+) to publish",
        out,
    )
    total = re.search(
        r"total: (\d+) streams, (\d+) sessions \(\d+ complete, (\d+) live, 0 without end, 0 without begin\),"
        r" (\d+) recordings, (\d+) snapshots, (\d+) moderation hits \((\d+) published\)",
        out,
    )
    assert expected and total, out
    assert expected.groups() == total.groups()
    assert expected.group(1) == "4" and int(expected.group(5)) > 0
    answers = re.search(r"answers\s+200 x (\d+)\n", out)
    assert answers and "check: OK" in out
    assert f"{total.group(7)} hits published" in out
    # The example app heard every event over the topic's HTTP push, and its live set is the console's.
    heard = re.search(
        r"app: examples/subscriber.py heard (\d+) events .* live now (\d+) streams, the console (\d+);", out
    )
    assert heard and int(heard.group(1)) > int(total.group(5)) and heard.group(2) == heard.group(3), out
    # Then the outage: every delivery refused and given up, and one reconcile run restoring it all.
    outage = re.search(
        r"outage: .* sent (\d+) callbacks of \d+ streams; (\d+) given up after (\d+) retries each, 0 stored", out
    )
    repair = re.search(r"repair: .* backfilled (\d+) events \(([^)]*)\)", out)
    assert outage and repair and "repair: OK, stored = sent" in out, out
    assert outage.group(1) == outage.group(2) == repair.group(1)
    published = [
        line
        for line in (tmp_path / "published.jsonl").read_text().splitlines()
        if json.loads(json.loads(line)["msgBody"])["kind"] in ("porn_detect", "audio_moderation")
    ]  # the hits: locally every kind is published (NOTIFY_KINDS=all), counted by the app above
    outage_published = [line for line in published if '"stream_id": "outage' in line or "outage0" in line]
    assert len(published) - len(outage_published) == int(total.group(7))
    backfilled = {kind: int(n) for kind, n in re.findall(r"(\w+) (\d+)", repair.group(2))}
    hits = backfilled.get("porn_detect", 0) + backfilled.get("audio_moderation", 0)
    assert len(outage_published) <= hits  # hits backfilled, published once each

    logs = (tmp_path / "functions.log").read_text()
    doors = [line for line in logs.splitlines() if '"function":"moderation_action"' not in line]
    deliveries = int(answers.group(1)) + int(outage.group(2)) * (int(outage.group(3)) + 1)
    assert len(doors) == deliveries  # one log line per invocation
    for secret in (own_key, *SECRETS):
        assert secret not in out + done.stderr + logs
    assert "from LIVE_CALLBACK_KEYS (1 key, not shown)" in out
    assert not (tmp_path / "stack.env").exists()
    # The README's demo excerpt is this output: the same lines once numbers and paths are set aside.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    excerpt = readme[readme.index("./scripts/local.sh --demo\n```") :].split("```")[2]
    printed = {_shape(line) for line in out.splitlines()}
    stable = ("demo:", "sent ", "answers ", "latency ms", "check:", "outage:", "repair: OK", "console:", "  COS ")
    compared = [line for line in excerpt.splitlines() if line.startswith(stable)]
    assert len(compared) >= 9
    for line in compared:
        assert _shape(line) in printed, f"the README shows a line the demo no longer prints:\n{line}"


def _shape(line: str) -> str:
    """A printed line with its numbers, ports, paths and stream names made placeholders."""
    line = re.sub(r"(\.local/|/\S+/)[\w./-]+", "PATH", line)
    line = re.sub(r"\d+(\.\d+)?", "N", line)
    return re.sub(r"\s+", " ", line).strip()


class Output:
    """A subprocess's stdout, read line by line on a thread so the test can wait with a timeout."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self.lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.seen = ""
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            self.lines.put(line)

    def until(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while pattern not in self.seen:
            try:
                self.seen += self.lines.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                raise AssertionError(f"timed out waiting for {pattern!r}; got:\n{self.seen}") from None
        return self.seen


def start_local_stack(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], Output]:
    """The local stack serving in a child process, and its output read as it comes."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    return process, Output(process)


@pytest.mark.slow
def test_local_stack_serves_until_ctrl_c_then_stops_cleanly(tmp_path: Path) -> None:
    # The tools' --local finds the stack through its state folder, moved here so a developer's own
    # running stack (.local/) is neither read nor disturbed.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COS_", "LIVE_", "MODERATION_", "CMQ_"))}
    env["LIVE_LOCAL_STATE_DIR"] = str(tmp_path)
    process, output = start_local_stack([sys.executable, "-u", str(SCRIPTS / "local.py"), "--port", "0"], env)
    try:
        banner = output.until("Ctrl-C", 30)
        url = re.search(r"POST (http://127\.0\.0\.1:\d+)/live/stream-begin", banner)
        assert url, banner
        assert f"callback key  {DEV_CALLBACK_KEY}" in banner  # the documented development default
        assert (tmp_path / "stack.env").is_file()

        hit = payloads.signed(payloads.porn_hit("served", suggestion="Review", score=80))
        assert request(url.group(1) + "/live/porn-detect", hit)[:2] == (200, {"code": 0})
        output.until("POST /live/porn-detect 200 published", 10)
        output.until("topic live-moderation <- Review", 10)  # the TDMQ stand-in prints what it was sent
        timeline = run_script("timeline.py", "--local", "--json", env=env)
        assert timeline.returncode == 0, timeline.stderr
        assert json.loads(timeline.stdout)["totals"]["publishable_hits"] == 1
        assert "timeline      .venv/bin/python scripts/timeline.py --local" in banner

        # Every operator tool reaches the running stack with --local alone.
        misrouted = payloads.signed(payloads.stream_end(stream_id="served"))
        assert request(url.group(1) + "/live/stream-begin", misrouted)[:2] == (200, {"code": 0})
        listed = run_script("replay_quarantine.py", "list", "--local", env=env)
        assert listed.returncode == 0, listed.stderr
        assert "goes to stream_end" in listed.stdout and "1 quarantined callback(s)" in listed.stdout
        replayed = run_script("replay_quarantine.py", "replay", "--local", env=env)
        assert replayed.returncode == 0, replayed.stderr
        assert replayed.stdout.splitlines()[-1] == "1 delivered, 0 kept"
        smoke = run_script("smoke.py", "--local", env=env)
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        assert f"all {len(KINDS)} functions ok" in smoke.stdout and "exists" in smoke.stdout

        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
        output.until("stopping", 5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    if "Traceback" in output.seen:  # the whole traceback, not pytest's truncated diff
        pytest.fail("the local stack printed a traceback:\n" + output.seen[output.seen.index("Traceback") - 500 :])
    assert not (tmp_path / "stack.env").exists()
    published = [json.loads(line) for line in (tmp_path / "published.jsonl").read_text().splitlines()]
    hits = [m for m in published if json.loads(m["msgBody"])["kind"] == "porn_detect"]
    assert len(hits) == 1  # the one hit; locally NOTIFY_KINDS is `all`, so the other events are there too
    assert len(published) > 1


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("timeline.py", ()),
        ("replay_quarantine.py", ("list",)),
        ("replay_quarantine.py", ("replay", "--url", "http://127.0.0.1:9")),
        ("smoke.py", ("--url", "http://127.0.0.1:9", "--key", "k")),
    ],
)
def test_a_tool_without_a_bucket_names_what_is_missing_without_a_traceback(
    tool: str, args: tuple[str, ...], tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COS_", "LIVE_", "TENCENT"))}
    env["LIVE_LOCAL_STATE_DIR"] = str(tmp_path)  # no local stack running there
    if tool != "smoke.py":  # the smoke test checks a bucket only when it is given one (test_smoke.py)
        done = run_script_here(tool, *args, env=env)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "COS_BUCKET is not set" in done.stderr and "--local" in done.stderr
        assert "Traceback" not in done.stderr

    local = run_script_here(tool, *args, "--local", env=env)
    assert local.returncode == 2
    assert f"{tmp_path / 'stack.env'} not found (is ./scripts/local.sh running?)" in local.stderr
    assert "Traceback" not in local.stderr


README_COMMAND = re.compile(r"`(\.venv/bin/python scripts/[a-z_]+\.py[^`]*|[a-z]+ --[^`]*)`")


def readme_tool_commands() -> list[list[str]]:
    """Each command of the README's tools table that runs against the local stack, as written:
    optional `[...]` parts left out, `URL` the running gateway's; a bare subcommand (`replay
    --local`) belongs to the script of the command before it."""
    commands: list[list[str]] = []
    script = ""
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `.venv/bin/python scripts/"):
            continue
        first_column = line.split(" | ")[0]
        for span in README_COMMAND.findall(first_column):
            words = re.sub(r"\[[^\]]*\]", "", span).split()
            if words[0] == ".venv/bin/python":
                script, words = words[1], words[2:]
            if "--local" in words or "URL" in words:
                commands.append([script, *words])
    return commands


def test_the_readme_names_the_commands_this_test_runs() -> None:
    scripts = {c[0] for c in readme_tool_commands()}
    assert {
        "scripts/simulate.py",
        "scripts/moderation.py",
        "scripts/timeline.py",
        "scripts/console.py",
        "scripts/reconcile.py",
        "scripts/replay_quarantine.py",
        "scripts/smoke.py",
        "scripts/configure_callbacks.py",
    } <= scripts


@pytest.mark.slow
def test_every_readme_tool_command_runs_against_the_local_stack_as_written(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COS_", "LIVE_", "MODERATION_", "CMQ_", "TENCENT"))}
    env["LIVE_LOCAL_STATE_DIR"] = str(tmp_path)
    process, output = start_local_stack([str(ROOT / "scripts" / "local.sh"), "--port", "0", "--quiet"], env)
    try:
        banner = output.until("Ctrl-C", 120)
        url = re.search(r"POST (http://127\.0\.0\.1:\d+)/live/stream-begin", banner)
        assert url, banner
        # A second start while this one runs refuses and leaves the first stack's files alone.
        second = subprocess.run(
            [sys.executable, str(SCRIPTS / "local.py"), "--port", "0"],
            env=env,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert second.returncode == 2 and "already running" in second.stderr, second.stderr
        assert (tmp_path / "stack.env").is_file()
        ran = []
        for script, *args in readme_tool_commands():
            argv = [url.group(1) if a == "URL" else a for a in args]
            done = subprocess.run(
                [str(ROOT / ".venv" / "bin" / "python"), script, *argv],
                env=env,
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=120,
            )
            assert done.returncode == 0, f"{script} {' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
            assert "Traceback" not in done.stderr
            ran.append(f"{Path(script).name} {' '.join(argv)}")
        assert len(ran) >= 9, ran
        # The simulator's traffic to the local stack got pictures on the stack's COS stand-in.
        from devstack.cos import RemoteCosStandIn
        from tooling.access import read_env_file
        from tooling.demomedia import MEDIA_BUCKET

        stack = read_env_file(tmp_path / "stack.env")
        cos = RemoteCosStandIn(stack["COS_PROXY"])
        pictures = cos.client().list_objects(Bucket=MEDIA_BUCKET, MaxKeys=5).get("Contents") or []
        assert pictures, "no picture on the stand-in"
        snapshots = cos.client().list_objects(Bucket=stack["COS_BUCKET"], Prefix="snapshots/", MaxKeys=1)["Contents"]
        stored = json.loads(
            cos.client().get_object(Bucket=stack["COS_BUCKET"], Key=snapshots[0]["Key"])["Body"].get_raw_stream().read()
        )
        assert stored["event"]["pic_full_url"].startswith(stack["COS_PROXY"] + "/" + MEDIA_BUCKET + "/")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert not (tmp_path / "stack.env").exists()


def test_stored_text_with_terminal_escapes_is_shown_escaped_not_obeyed() -> None:
    # Issue 23, item 14: a stream name could clear the screen or fake an empty review queue.
    from tooling.readmodel import build_timeline
    from tooling.render import render

    hostile = "room\x1b[2J\x1b[Hthe review queue is empty\u202e"
    documents = _documents(("stream_begin", payloads.stream_begin(hostile, 1_796_000_000, "a")))
    shown = render(build_timeline(documents))
    assert "\x1b" not in shown and "\u202e" not in shown
    assert "room\\x1b[2J\\x1b[Hthe review queue is empty\\u202e" in shown
