"""The measured side of the benchmark: runs in a fresh interpreter, one handler, cold then warm.

Started by tooling/bench/runner.py as `python -c "from tooling.bench import child; child.main()" ...`
(with `-S` and only the code package on the path when it measures a package as SCF starts it).
Only cheap stdlib modules at the top: the child imports this module before it starts its clock,
and nothing here may pull in the project's code, which the handler under test imports itself.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Generator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASELINE = os.path.join(ROOT, "bench", "baseline_handler.py")
SPAWN_VARIABLE = "BENCH_SPAWN_NS"
NODELAY_VARIABLE = "BENCH_NODELAY"
HANDLER_ROOT_VARIABLE = "BENCH_HANDLER_ROOT"
COMMAND_FD_VARIABLE = "BENCH_COMMAND_FD"
ACK_FD_VARIABLE = "BENCH_ACK_FD"


def _handler_path(variant: str, kind: str) -> str:
    if variant == "baseline":
        return BASELINE
    packages = os.environ.get(HANDLER_ROOT_VARIABLE)  # scripts/package.sh output: <out>/<kind>/index.py
    return os.path.join(packages, kind, "index.py") if packages else os.path.join(ROOT, "functions", kind, "index.py")


def load_handler(variant: str, kind: str) -> Any:
    """Import the handler file the way SCF does: a module named `index` from the file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("index", _handler_path(variant, kind))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["index"] = module
    spec.loader.exec_module(module)
    return module.main_handler


def _sdk_targets() -> list[tuple[Any, str]]:
    from qcloud_cos import CosS3Client

    targets: list[tuple[Any, str]] = [(CosS3Client, "put_object"), (CosS3Client, "head_object")]
    if "requests" in sys.modules:  # the topic's data-flow POST, ours and the baseline's alike
        targets.append((sys.modules["requests"].Session, "post"))
    return targets


def _stub(name: str) -> Any:
    """A stand-in for one SDK call that answers at once, as the real call would for a new event."""
    if name == "put_object":
        return lambda self, **kwargs: {"ETag": '"stub"'}
    if name == "head_object":
        from qcloud_cos.cos_exception import CosServiceError

        def head_object(self: Any, **kwargs: Any) -> Any:
            raise CosServiceError("HEAD", {"code": "NoSuchKey", "message": "stub"}, 404)

        return head_object
    from types import SimpleNamespace

    answer = b'{"code":0,"message":"","requestId":"stub","msgId":"msg-stub"}'
    reply = SimpleNamespace(status_code=200, content=answer, json=lambda: json.loads(answer))
    return lambda self, url, **kwargs: reply


def instrument_sdk_calls(totals: dict[str, int], stub: bool = False) -> None:
    """Wrap the SDK calls the handlers make so the thread CPU time spent inside them is counted.

    With `stub`, the wrapped call no longer reaches the network: it answers at once (phase 3).
    """
    import functools

    for owner, name in _sdk_targets():
        original = _stub(name) if stub else getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            cpu, wall = time.thread_time_ns(), time.perf_counter_ns()
            try:
                return __original(*args, **kwargs)
            finally:
                totals["cpu"] += time.thread_time_ns() - cpu
                totals["wall"] += time.perf_counter_ns() - wall
                totals["calls"] += 1

        setattr(owner, name, timed)


def _set_nodelay_on_connect() -> None:
    """Give every TCP connection TCP_NODELAY, as urllib3 does for a direct (not proxied) connection.

    The dev stack reaches COS through an HTTP proxy setting, for which urllib3 keeps Nagle's
    algorithm on; a PUT on a reused connection then stalls ~40 ms on the stand-in's delayed ACK,
    which production (HTTPS straight to COS, TCP_NODELAY) never sees. shared/storage.py sets
    TCP_NODELAY on its proxy connections itself; the baseline, a minimal handler, does not, so
    every child gets it here and both variants see the network as production would.
    """
    import socket

    class NoDelaySocket(socket.socket):
        def connect(self, address: Any) -> None:
            super().connect(address)
            if self.family in (socket.AF_INET, socket.AF_INET6) and self.type == socket.SOCK_STREAM:
                self.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    socket.socket = NoDelaySocket  # type: ignore[misc]


def _peak_rss_kb() -> int:
    """Peak resident set size of this process image, in KiB (VmHWM).

    Not `ru_maxrss`: Linux carries that across fork + exec, so a child spawned by a large parent
    (this one holds moto) reports the parent's size. VmHWM belongs to the new image alone.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    """`mode variant kind events_file result_file [warm_n cpu_n rss_at]`; writes a JSON result.

    A warm child takes turns with the other variant's: it runs as many callbacks as each line on
    its command pipe says, then answers `more` or `done` on its acknowledgement pipe.
    """
    mode, variant, kind, events_path, result_path = sys.argv[1:6]
    spawned = int(os.environ[SPAWN_VARIABLE])
    if os.environ.get(NODELAY_VARIABLE) == "1":
        _set_nodelay_on_connect()
    turn = 0
    if mode == "warm":
        commands = os.fdopen(int(os.environ[COMMAND_FD_VARIABLE]), "r")
        acks = os.fdopen(int(os.environ[ACK_FD_VARIABLE]), "w")
        turn = int(commands.readline() or 0)  # even the import waits for this child's first turn
    with open(events_path, encoding="utf-8") as events:
        first = json.loads(events.readline())
        started = time.monotonic_ns()
        handler = load_handler(variant, kind)
        imported = time.monotonic_ns()
        answer = handler(first["event"], first["context"])
        answered = time.monotonic_ns()
        cpu_ms = time.process_time() * 1e3  # whole process so far: interpreter start, imports, callback
        result: dict[str, Any] = {
            "cold": {
                "wall_ms": (answered - spawned) / 1e6,
                "interpreter_ms": (started - spawned) / 1e6,
                "import_ms": (imported - started) / 1e6,
                "first_callback_ms": (answered - imported) / 1e6,
                "in_process_ms": (answered - started) / 1e6,
                "cpu_ms": cpu_ms,
                "rss_after_first_callback_kb": _peak_rss_kb(),
            },
            "statuses": {str(answer["statusCode"]): 1},
        }
        if mode == "warm":
            steps = _warm_steps(handler, events, *(int(n) for n in sys.argv[6:9]), result["statuses"])
            turn -= 1
            while True:
                try:
                    for _ in range(turn):
                        next(steps)
                except StopIteration as finished:
                    result.update(finished.value)
                    break
                acks.write("more\n")
                acks.flush()
                turn = int(commands.readline() or 0)
    with open(result_path, "w", encoding="utf-8") as out:
        json.dump(result, out)
    if mode == "warm":
        acks.write("done\n")
        acks.flush()


def _warm_steps(
    handler: Any, events: Any, warm_n: int, cpu_n: int, rss_at: int, statuses: dict[str, int]
) -> Generator[None, None, dict[str, Any]]:
    """The warm phases, one callback per step (so two children can take turns); returns the figures."""
    import gc
    import resource

    def deliver(record: dict[str, Any]) -> None:
        answer = handler(record["event"], record["context"])
        key = str(answer["statusCode"])
        statuses[key] = statuses.get(key, 0) + 1

    # Phase 1: plain sequential callbacks on the warm instance (the cold one above is not counted).
    latencies: list[int] = []
    rss_kb = 0
    rss_trace = {1: _peak_rss_kb()}
    for n in range(2, warm_n + 1):
        record = json.loads(events.readline())
        began = time.perf_counter_ns()
        deliver(record)
        latencies.append(time.perf_counter_ns() - began)
        yield
        if n == rss_at:
            rss_kb = _peak_rss_kb()
            ru_maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if n in (10, 100, 1000, 2000, 5000):
            rss_trace[n] = _peak_rss_kb()
    if not rss_kb:
        rss_kb = _peak_rss_kb()
        ru_maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    # Phase 2: the same again with the SDK calls wrapped, for CPU time outside the SDKs.
    sdk = {"cpu": 0, "wall": 0, "calls": 0}
    instrument_sdk_calls(sdk)
    total_cpu: list[int] = []
    pipeline_cpu: list[int] = []
    outside_wall: list[int] = []
    sdk_wall: list[int] = []
    records = [json.loads(events.readline()) for _ in range(cpu_n)]
    gc_collections = sum(s["collections"] for s in gc.get_stats())
    for record in records:
        before = dict(sdk)
        cpu, wall = time.thread_time_ns(), time.perf_counter_ns()
        deliver(record)
        cpu, wall = time.thread_time_ns() - cpu, time.perf_counter_ns() - wall
        total_cpu.append(cpu)
        pipeline_cpu.append(cpu - (sdk["cpu"] - before["cpu"]))
        outside_wall.append(wall - (sdk["wall"] - before["wall"]))
        sdk_wall.append(sdk["wall"] - before["wall"])
        yield
    gc_collections = sum(s["collections"] for s in gc.get_stats()) - gc_collections

    # Phase 3: the same callbacks back to back with the SDK calls stubbed (no network, warm CPU
    # caches): the pipeline's own CPU cost without the cache misses a real wait leaves behind.
    # The stubbed events repeat phase 2's, so a moderation hit is "new" again only to the stub.
    instrument_sdk_calls(sdk, stub=True)
    hot_cpu: list[int] = []
    for record in records:
        before = dict(sdk)
        cpu = time.thread_time_ns()
        deliver(record)
        hot_cpu.append(time.thread_time_ns() - cpu - (sdk["cpu"] - before["cpu"]))
    return {
        "warm_latency_ns": latencies,
        "rss_kb": rss_kb,
        "rss_at": rss_at,
        "ru_maxrss_kb": ru_maxrss_kb,
        "rss_trace_kb": rss_trace,
        "cpu_total_ns": total_cpu,
        "cpu_pipeline_ns": pipeline_cpu,
        "wall_outside_sdk_ns": outside_wall,
        "wall_inside_sdk_ns": sdk_wall,
        "cpu_hot_pipeline_ns": hot_cpu,
        "sdk_calls": sdk["calls"],
        "gc_collections": gc_collections,
    }
