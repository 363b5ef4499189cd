"""The whole system on one machine: local API Gateway + COS and TDMQ stand-ins + the five functions.

The gateway serves the routes of deploy/functions.yml and invokes the same `main_handler`s SCF
runs, with the API Gateway event shape. The demo also sends simulated live traffic through it
(tooling/traffic/) and checks the read model (tooling/readmodel.py) against what was sent. While
it runs, .local/stack.env tells the other tools' `--local` where the stack is. Run by
scripts/local.py (`./scripts/local.sh`).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO
from urllib.parse import urlsplit

from devstack.cos import CosStandIn
from devstack.gateway import Invocation, LocalGateway, Route, RouteError, load_routes
from devstack.live_api import CallbackRecorder, LiveApiStandIn
from devstack.payloads import PUSH_DOMAIN
from devstack.servers import Server
from devstack.stack import DEV_CALLBACK_KEY, DevStack
from devstack.tdmq import DEFAULT_TOPIC, HttpSubscription, TdmqStandIn
from examples import subscriber
from shared import pipeline
from shared.config import load_settings
from shared.errors import ConfigurationError
from shared.vocabulary import HIT_KINDS
from tooling.access import GATEWAY_VARIABLE, read_env_file, state_dir
from tooling.browser import BrowserMissing, screenshot
from tooling.console import parse_range, render_html, write_page
from tooling.demomedia import attach_pictures
from tooling.moderationstack import LocalModeration
from tooling.outage import outage_and_repair
from tooling.readmodel import timeline_of
from tooling.render import render
from tooling.traffic.plan import EXPECTED_TOTALS, deliveries, plan
from tooling.traffic.report import describe, summary
from tooling.traffic.send import Progress, route_paths
from tooling.traffic.send import run as send

REAL_COS_VARIABLES = ("COS_BUCKET", "COS_REGION", "COS_PREFIX", "COS_SCHEME", "COS_PROXY")
REAL_CREDENTIALS = ("TENCENTCLOUD_SECRETID", "TENCENTCLOUD_SECRETKEY", "TENCENTCLOUD_SESSIONTOKEN")
COMPARED = EXPECTED_TOTALS


class Console:
    """Lines for the person at the terminal; writes from server threads do not interleave."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.lock = threading.Lock()

    def __call__(self, text: str = "") -> None:
        with self.lock:
            self.stream.write(text + "\n")
            self.stream.flush()


def callback_keys(env: Mapping[str, str]) -> tuple[list[str], bool]:
    """The callback keys in use and whether they are the documented development default."""
    keys = [k.strip() for k in env.get("LIVE_CALLBACK_KEYS", "").split(",") if k.strip()]
    return (keys, False) if keys else ([DEV_CALLBACK_KEY], True)


def describe_keys(keys: Sequence[str], development: bool) -> str:
    """How the banner names the key: the dev default in full, a configured key never."""
    if development:
        return f"{keys[0]}  (the development default; set LIVE_CALLBACK_KEYS to use your own)"
    return f"from LIVE_CALLBACK_KEYS ({len(keys)} key{'s' if len(keys) > 1 else ''}, not shown)"


def banner(
    url: str, routes: Sequence[Route], keys_line: str, cos_line: str, topic_line: str, state: Path, demo: bool
) -> str:
    width = max(len(r.path) for r in routes)
    lines = ["", "Live-callback functions running locally", ""]
    lines += [f"  {r.method} {url}{r.path.ljust(width)}  -> {r.function}" for r in routes]
    lines += [
        "",
        f"  callback key  {keys_line}",
        f"  COS           {cos_line}",
        f"  topic         {topic_line}",
        f"  logs          {_shown(state / 'functions.log')} (one JSON line per invocation)",
    ]
    where = "--local" if state == state_dir() else f"--env-file {_shown(state / 'stack.env')}"
    if not demo:
        lines += [
            "",
            f"  simulate      .venv/bin/python scripts/simulate.py --url {url}",
            "  timeline      .venv/bin/python scripts/timeline.py " + where,
            "  quarantine    .venv/bin/python scripts/replay_quarantine.py list " + where,
            "  stop          Ctrl-C",
        ]
    return "\n".join(lines) + "\n"


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def message_line(message: Mapping[str, Any]) -> str:
    """One published message, as the TDMQ stand-in prints it."""
    try:
        content = json.loads(message["msgBody"])
    except (ValueError, TypeError):
        content = {}
    if content.get("kind") not in HIT_KINDS:
        return (
            f"topic {message['topicName']} <- {content.get('kind')} stream {content.get('stream_id')}"
            f" at {content.get('time')} ({content.get('source')}, id {content.get('id')})"
        )
    return (
        f"topic {message['topicName']} <- {content.get('suggestion')} {content.get('label') or ''}"
        f" score {content.get('score')} stream {content.get('stream_id')} at {content.get('screenshot_time')}"
        f" ({message['msgId']}, tags {','.join(message.get('msgTag') or [])})"
    )


def invocation_line(invocation: Invocation) -> str:
    outcome = key = ""
    for line in invocation.logs:
        try:
            fields = json.loads(line)
        except ValueError:
            continue
        outcome = str(fields.get("outcome") or "")
        key = str(fields.get("key") or fields.get("reason") or "")
    parts = (
        time.strftime("%H:%M:%S"),
        invocation.method,
        invocation.path,
        str(invocation.status),
        outcome,
        f"{invocation.latency_ms:.0f}ms",
        key,
    )
    return " ".join(part for part in parts if part)


def compare(expected: Mapping[str, Any], stored: Mapping[str, Any]) -> list[str]:
    """Differences between the simulator's scenario and the timeline's counts, per stream."""
    problems: list[str] = []
    by_id = {s["stream_id"]: s["counts"] for s in stored["streams"]}
    for stream_id, want in expected["streams"].items():
        have = by_id.get(stream_id)
        if have is None:
            problems.append(f"{stream_id}: nothing stored")
            continue
        for name in COMPARED:
            if have[name] != want[name]:
                problems.append(f"{stream_id}: {name} sent {want[name]}, stored {have[name]}")
    problems += [f"{s}: stored but not sent" for s in by_id if s not in expected["streams"]]
    return problems


def run_demo(
    args: argparse.Namespace,
    url: str,
    key: str,
    console: Console,
    published: list[dict[str, Any]],
    cos: CosStandIn | None = None,
) -> int:
    settings = load_settings()
    scenario = plan(args.streams, args.seed, published=sorted(settings.moderation_suggestions))
    if cos is not None:  # the stand-in serves a small picture for every snapshot and hit
        attach_pictures(cos, ((c.kind, c.payload) for c in scenario.callbacks))
    order = deliveries(scenario, args.duplicates, shuffle=True)
    console(
        f"demo: {len(scenario.callbacks)} unique callbacks of {args.streams} streams, delivered {len(order)} times"
        f" ({args.duplicates:.0%} retried 1-2 more times, shuffled), {args.concurrency} senders"
    )
    progress = Progress(len(order), enabled=sys.stderr.isatty())
    paths = route_paths(args.routes)
    result = send(url, order, key, paths, args.concurrency, progress=progress)
    report = summary(scenario, order, result, url)
    console(describe(report))
    console()
    acting: LocalModeration | None = getattr(args, "moderation", None)
    if acting is not None:  # the topic's subscriber acts behind porn_detect: wait for it
        acting.drain()
    stored = timeline_of(settings, [plan.stream_id for plan in scenario.streams])
    console(render(stored, detail=not args.brief))
    console()

    problems = compare(report["scenario"], stored)
    publishable = report["scenario"]["totals"]["publishable_hits"]
    on_topic = [m for m in published if m["topicName"] == settings.moderation_topic]
    topic_messages = [m for m in on_topic if json.loads(m["msgBody"]).get("kind") in HIT_KINDS]
    dedupe_ids = Counter(json.loads(m["msgBody"]).get("dedupe_id") for m in topic_messages)
    suggestions = Counter(json.loads(m["msgBody"]).get("suggestion") for m in topic_messages)
    console(
        f"topic {settings.moderation_topic}: {len(topic_messages)} hits published"
        f" ({', '.join(f'{s} {n}' for s, n in sorted(suggestions.items()))}),"
        f" {len(on_topic)} messages in all (NOTIFY_KINDS: {', '.join(sorted(settings.notify_kinds)) or 'none'})"
        f" -> {_shown(args.state_dir / 'published.jsonl')}"
    )
    if acting is not None:
        for line in acting.summary():
            console(line)
    if len(topic_messages) != publishable or any(n > 1 for n in dedupe_ids.values()):
        problems.append(f"topic: expected {publishable} messages, one per hit; got {len(topic_messages)}")
    if result.failed:
        problems.append(f"{len(result.failed)} callbacks were never answered 200")
    totals = report["scenario"]["totals"]
    if problems:
        console("check: FAILED, the timeline does not match what was sent:")
        for problem in problems:
            console(f"  {problem}")
        return 1
    console(
        f"check: OK, stored = sent, each unique event once: {totals['streams']} streams of demo traffic,"
        f" {totals['sessions']} sessions ({totals['live_sessions']} live), {totals['recordings']} recordings,"
        f" {totals['snapshots']} snapshots, {totals['hits']} hits, {publishable} published"
    )
    if cos is not None:  # an outage longer than CSS's retries, and the reconcile run that repairs it
        console()
        repair = outage_and_repair(url, key, paths, cos, settings, say=console)
        if repair.problems:
            for problem in repair.problems:
                console(f"  {problem}")
            return 1
    window = parse_range()
    everything = timeline_of(settings, (), window)
    app: LocalApp | None = getattr(args, "app", None)
    if app is not None:
        line, problem = app.report(everything)
        console(line)
        if problem:
            console(f"  {problem}")
            return 1
    page = render_html(everything, window)
    path = write_page(args.state_dir / "console.html", page)
    shown = len(everything["streams"])
    console(
        f"console: {path.resolve()}  ({shown} streams: the demo's {totals['streams']} and the outage's"
        f" {shown - totals['streams']}; open it in a browser, scripts/console.py --local makes it again)"
    )
    if cos is not None and not getattr(args, "keep", False):
        console(
            "console: its pictures are served by the COS stand-in, which stops with the demo;"
            " run ./scripts/local.sh --demo --keep to keep serving them until Ctrl-C"
        )
    if getattr(args, "screenshot", None):
        try:
            console(f"screenshot: {screenshot(path, args.screenshot)}")
        except BrowserMissing as exc:
            console(f"screenshot: not taken, {exc}")
            return 1
    return 0


class LocalApp:
    """The example subscriber (examples/subscriber.py) as the team's app, subscribed to the topic
    through the TDMQ stand-in's HTTP push, as an app subscribes to the real topic."""

    def __init__(self, tdmq: TdmqStandIn, topic: str) -> None:
        token = secrets.token_hex(8)
        self.server, self.state = subscriber.serve(0, token)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.tdmq = tdmq
        self.subscription = tdmq.subscribe(HttpSubscription(topic, "local-app", f"{self.url}/cmq?token={token}"))

    def drain(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.tdmq.pushing():
            time.sleep(0.05)

    def report(self, timeline: Mapping[str, Any]) -> tuple[str, str | None]:
        """What the app heard, and a problem when its live set differs from the read model's."""
        self.drain()
        state = self.state.state()
        live = sorted(
            "/".join((s["app"], s["appname"], s["stream_id"]))
            for s in timeline["streams"]
            if any(session["state"] == "live" for session in s["sessions"])
        )
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(state["kinds"].items()))
        line = (
            f"app: examples/subscriber.py heard {state['messages']} events ({kinds}), ignored"
            f" {state['duplicates']} copies; live now {len(state['live_now'])} streams, the console"
            f" {len(live)}; {self.url}/state"
        )
        problem = None if state["live_now"] == live else f"app: live now {state['live_now']}, console {live}"
        return line, problem

    def close(self) -> None:
        self.tdmq.unsubscribe(self.subscription)
        self.server.shutdown()


def _environment(
    args: argparse.Namespace, keys: Sequence[str], tdmq: TdmqStandIn, stack: DevStack | None
) -> dict[str, str]:
    if stack is not None:
        return stack.env(callback_keys=keys)
    env = {"LIVE_CALLBACK_KEYS": ",".join(keys), **tdmq.env(DEFAULT_TOPIC), "COS_SCHEME": "https"}
    for name in (*REAL_COS_VARIABLES, *REAL_CREDENTIALS, "TENCENTCLOUD_REGION"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


LOCAL_VARIABLES = ("COS_", "TENCENTCLOUD_", "LIVE_API_", "MODERATION_", "CMQ_", "RECONCILE_")
"""What `--local` of every tool needs from the running stack: the COS stand-in, the dev credentials,
the Live API stand-in, the topic, and the domain reconcile repairs (the demo's push domain)."""


def local_variables(env: Mapping[str, str], gateway_url: str) -> dict[str, str]:
    """The running stack's settings as `--local` reads them (.local/stack.env): dev values only."""
    variables = {n: v for n, v in env.items() if n.startswith(LOCAL_VARIABLES)}
    variables.setdefault("RECONCILE_DOMAINS", PUSH_DOMAIN)
    variables.setdefault("PUSH_DOMAIN", PUSH_DOMAIN)
    variables[GATEWAY_VARIABLE] = gateway_url
    return variables


def running_gateway(stack_env: Path) -> str | None:
    """The URL of the local stack that wrote `stack_env`, when its gateway still answers."""
    if not stack_env.is_file():
        return None
    url = read_env_file(stack_env).get(GATEWAY_VARIABLE, "")
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        return None
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1.0):
            return url
    except OSError:  # a file left by a stack that died: not running
        return None


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """Start the stand-ins and the gateway, then serve until Ctrl-C or (`args.demo`) run the demo."""
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("local: --host must be a loopback address; the local stack is not meant to be reachable", file=sys.stderr)
        return 2
    console = Console()
    try:
        routes = load_routes(args.routes)
    except RouteError as exc:
        print(f"local: {exc}", file=sys.stderr)
        return 2
    state: Path = args.state_dir
    state.mkdir(parents=True, exist_ok=True)
    running = running_gateway(state / "stack.env")
    if running:  # another stack owns this state folder: touch none of its files
        print(
            f"local: a local stack is already running at {running} (its state is {_shown(state)});"
            " stop it first, or give this one --state-dir DIR",
            file=sys.stderr,
        )
        return 2
    journal = state / "published.jsonl"
    journal.write_text("")  # one run's messages: the embedded COS stand-in forgets too
    function_log = (state / "functions.log").open("w", encoding="utf-8")
    stack_env = state / "stack.env"
    keys, development = callback_keys(os.environ)

    published: list[dict[str, Any]] = []

    def echo(message: dict[str, Any]) -> None:
        published.append(message)
        if not args.demo:
            console(message_line(message))

    log_lock = threading.Lock()

    def on_invocation(invocation: Invocation) -> None:
        with log_lock:
            function_log.writelines(line + "\n" for line in invocation.logs)
            function_log.flush()
        if not args.demo and not args.quiet:
            console(invocation_line(invocation))

    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
    stack: DevStack | None = None
    tdmq: TdmqStandIn | None = None
    gateway: Server | None = None
    live_api: LiveApiStandIn | None = None
    cos_line = ""
    wrote_stack_env = False
    try:
        if args.cos == "local":
            stack = DevStack(journal=journal, echo=echo, cos_port=args.cos_port, tdmq_port=args.tdmq_port).start()
            tdmq = stack.tdmq
            cos_line = f"stand-in (moto S3) at {stack.cos.url}, bucket {stack.env()['COS_BUCKET']}"
        else:
            tdmq = TdmqStandIn(journal=journal, echo=echo, port=args.tdmq_port).start()
        env = _environment(args, keys, tdmq, stack)
        env["NOTIFY_KINDS"] = os.environ.get("NOTIFY_KINDS") or "all"  # locally the app hears everything
        live_api = LiveApiStandIn().start()  # CSS's Live API: what moderation_action calls
        env.update(LIVE_API_ENDPOINT=live_api.endpoint, LIVE_API_SCHEME="http")
        env["LIVE_API_REGION"] = os.environ.get("LIVE_API_REGION") or env.get("TENCENTCLOUD_REGION") or "ap-guangzhou"
        os.environ.update(env)
        pipeline.reset_instance()
        try:
            settings = load_settings()
        except ConfigurationError as exc:
            print(f"local: {exc.reason}", file=sys.stderr)
            return 2
        if stack is None:
            prefix = f", prefix {settings.cos_prefix}" if settings.cos_prefix else ""
            cos_line = f"real bucket {settings.cos_bucket} in {settings.cos_region}{prefix}"
        topic_line = f"TDMQ stand-in at {tdmq.endpoint}, topic {settings.moderation_topic}; messages in " + _shown(
            journal
        )

        def write_logs(lines: list[str]) -> None:
            with log_lock:
                function_log.writelines(line + "\n" for line in lines)
                function_log.flush()

        settings.require_topic()
        moderation: LocalModeration | None = None
        if stack is not None:  # a real bucket's COS trigger reaches only the deployed moderation_action
            moderation = LocalModeration(stack.cos, settings.cos_bucket, settings.cos_prefix, write_logs)
        args.moderation = moderation
        local_app = LocalApp(tdmq, settings.require_topic())
        args.app = local_app

        def arrived(invocation: Invocation) -> None:
            if moderation is not None:
                moderation.arrived(invocation)
            on_invocation(invocation)

        gateway_app = LocalGateway(routes, on_invocation=arrived)
        port = args.port if args.port is not None else (0 if args.demo else 9000)
        try:
            gateway = Server(CallbackRecorder(gateway_app, live_api), host=args.host, port=port).start()
        except OSError as exc:
            print(f"local: cannot listen on {args.host}:{port}: {exc.strerror}; try --port", file=sys.stderr)
            return 2
        if stack is not None:  # what `--local` of the tools reads (tooling/access.py): dev values only
            stack_env.write_text("".join(f"{n}={v}\n" for n, v in local_variables(env, gateway.url).items()))
            wrote_stack_env = True
        topic_line += f"; the app (examples/subscriber.py) hears it at {local_app.url}/state"
        console(banner(gateway.url, routes, describe_keys(keys, development), cos_line, topic_line, state, args.demo))
        if args.demo:
            status = run_demo(args, gateway.url, keys[0], console, published, stack.cos if stack else None)
            if status or not getattr(args, "keep", False):
                return status
            console("serving until Ctrl-C: the console page's pictures come from the COS stand-in")
        stop = threading.Event()
        while not stop.wait(1.0):
            pass
        return 0
    except KeyboardInterrupt:
        console("\nstopping ...")
        return 0
    finally:
        servers = [gateway, *((stack.cos.server, stack.tdmq.server) if stack else (tdmq.server if tdmq else None,))]
        for server in servers:
            if server is not None:
                server.stop()
        if stack is not None:
            stack.stop()  # clears fault injection; the servers are already closed
        elif tdmq is not None:
            tdmq.stop()
        if getattr(args, "moderation", None) is not None:
            args.moderation.stop()
        if getattr(args, "app", None) is not None:
            args.app.close()
        if live_api is not None:
            live_api.stop()
        if wrote_stack_env:  # only this stack's own file: never another's
            stack_env.unlink(missing_ok=True)
        function_log.close()
