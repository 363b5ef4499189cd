#!/usr/bin/env python3
"""The whole system on one machine: local API Gateway + COS and TDMQ stand-ins + the five functions.

The gateway serves the routes of deploy/functions.yml and invokes the same `main_handler`s SCF runs,
with the API Gateway event shape. `--demo` also sends simulated live traffic through it and prints
the timeline of what was stored, then exits. Started by `./scripts/local.sh`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import simulate  # noqa: E402  (scripts/simulate.py, beside this file)
import timeline as timeline_cli  # noqa: E402  (scripts/timeline.py)

from devstack.gateway import ROUTES_FILE, Invocation, LocalGateway, Route, RouteError, load_routes  # noqa: E402
from devstack.servers import Server  # noqa: E402
from devstack.stack import DEV_CALLBACK_KEY, DevStack  # noqa: E402
from devstack.tdmq import DEFAULT_TOPIC, TdmqStandIn  # noqa: E402
from devstack.timeline import render  # noqa: E402
from shared import pipeline  # noqa: E402
from shared.config import load_settings  # noqa: E402
from shared.errors import ConfigurationError  # noqa: E402

STATE_DIR = ROOT / ".local"
REAL_COS_VARIABLES = ("COS_BUCKET", "COS_REGION", "COS_PREFIX", "COS_SCHEME", "COS_PROXY")
REAL_CREDENTIALS = ("TENCENTCLOUD_SECRETID", "TENCENTCLOUD_SECRETKEY", "TENCENTCLOUD_SESSIONTOKEN")
COMPARED = ("sessions", "live_sessions", "recordings", "snapshots", "hits", "publishable_hits")


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
    if not demo:
        lines += [
            "",
            f"  simulate      .venv/bin/python scripts/simulate.py --url {url}",
            "  timeline      .venv/bin/python scripts/timeline.py "
            + ("--local" if state == STATE_DIR else f"--env-file {_shown(state / 'stack.env')}"),
            "  stop          Ctrl-C",
        ]
    return "\n".join(lines) + "\n"


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def message_line(message: Mapping[str, Any]) -> str:
    """One published moderation message, as the TDMQ stand-in prints it."""
    try:
        content = json.loads(message["MsgContent"])
    except (ValueError, TypeError):
        content = {}
    return (
        f"topic {message['TopicName']} <- {content.get('suggestion')} {content.get('label') or ''}"
        f" score {content.get('score')} stream {content.get('stream_id')} at {content.get('screenshot_time')}"
        f" ({message['MsgId']}, tags {','.join(message.get('MsgTag') or [])})"
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


def run_demo(args: argparse.Namespace, url: str, key: str, console: Console, published: list[dict[str, Any]]) -> int:
    settings = load_settings()
    scenario = simulate.plan(args.streams, args.seed, published=sorted(settings.moderation_suggestions))
    order = simulate.deliveries(scenario, args.duplicates, shuffle=True)
    console(
        f"demo: {len(scenario.callbacks)} unique callbacks of {args.streams} streams, delivered {len(order)} times"
        f" ({args.duplicates:.0%} retried 1-2 more times, shuffled), {args.concurrency} senders"
    )
    progress = simulate.Progress(len(order), enabled=sys.stderr.isatty())
    paths = simulate.route_paths(args.routes)
    result = simulate.run(url, order, key, paths, args.concurrency, progress=progress)
    report = simulate.summary(scenario, order, result, url)
    console(simulate.describe(report))
    console()
    stored = timeline_cli.timeline_of(settings, [plan.stream_id for plan in scenario.streams])
    console(render(stored, detail=not args.brief))
    console()

    problems = compare(report["scenario"], stored)
    publishable = report["scenario"]["totals"]["publishable_hits"]
    topic_messages = [m for m in published if m["TopicName"] == settings.moderation_topic]
    dedupe_ids = Counter(json.loads(m["MsgContent"]).get("dedupe_id") for m in topic_messages)
    suggestions = Counter(json.loads(m["MsgContent"]).get("suggestion") for m in topic_messages)
    console(
        f"topic {settings.moderation_topic}: {len(topic_messages)} messages published"
        f" ({', '.join(f'{s} {n}' for s, n in sorted(suggestions.items()))})"
        f" -> {_shown(args.state_dir / 'published.jsonl')}"
    )
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
        f"check: OK, stored = sent, each unique event once: {totals['streams']} streams, {totals['sessions']}"
        f" sessions ({totals['live_sessions']} live), {totals['recordings']} recordings, {totals['snapshots']}"
        f" snapshots, {totals['hits']} hits, {publishable} published"
    )
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="gateway address (loopback only; default %(default)s)")
    p.add_argument("--port", type=int, help="gateway port (default 9000; --demo: any free port)")
    p.add_argument("--cos", choices=("local", "real"), default="local", help="COS stand-in (default) or real bucket")
    p.add_argument("--cos-port", type=int, default=0, help="COS stand-in port (default: any free port)")
    p.add_argument("--tdmq-port", type=int, default=0, help="TDMQ stand-in port (default: any free port)")
    p.add_argument("--routes", type=Path, default=ROUTES_FILE, help="deploy spec to take routes from")
    p.add_argument("--state-dir", type=Path, default=STATE_DIR, help="logs, messages, stack.env (default .local/)")
    p.add_argument("--quiet", action="store_true", help="do not print a line per invocation")
    demo = p.add_argument_group("demo")
    demo.add_argument("--demo", action="store_true", help="send simulated traffic, print the timeline, exit")
    demo.add_argument("--streams", type=int, default=8, help="demo streams (default %(default)s)")
    demo.add_argument("--seed", type=int, default=1, help="demo seed (default %(default)s)")
    demo.add_argument("--duplicates", type=float, default=0.3, help="demo retry fraction (default %(default)s)")
    demo.add_argument("--concurrency", type=int, default=8, help="demo senders (default %(default)s)")
    demo.add_argument("--brief", action="store_true", help="demo timeline: one line per stream")
    return p


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


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
    cos_line = ""
    try:
        if args.cos == "local":
            stack = DevStack(journal=journal, echo=echo, cos_port=args.cos_port, tdmq_port=args.tdmq_port).start()
            tdmq = stack.tdmq
            cos_line = f"stand-in (moto S3) at {stack.cos.url}, bucket {stack.env()['COS_BUCKET']}"
        else:
            tdmq = TdmqStandIn(journal=journal, echo=echo, port=args.tdmq_port).start()
        env = _environment(args, keys, tdmq, stack)
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
        else:
            variables = {n: env[n] for n in env if n.startswith(("COS_", "TENCENTCLOUD_"))}
            stack_env.write_text("".join(f"{n}={v}\n" for n, v in variables.items()))  # dev values only
        topic_line = f"TDMQ stand-in at {tdmq.endpoint}, topic {settings.moderation_topic}; messages in " + _shown(
            journal
        )

        gateway_app = LocalGateway(routes, on_invocation=on_invocation)
        port = args.port if args.port is not None else (0 if args.demo else 9000)
        try:
            gateway = Server(gateway_app, host=args.host, port=port).start()
        except OSError as exc:
            print(f"local: cannot listen on {args.host}:{port}: {exc.strerror}; try --port", file=sys.stderr)
            return 2
        console(banner(gateway.url, routes, describe_keys(keys, development), cos_line, topic_line, state, args.demo))
        if args.demo:
            return run_demo(args, gateway.url, keys[0], console, published)
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
        stack_env.unlink(missing_ok=True)
        function_log.close()


if __name__ == "__main__":
    sys.exit(main())
