"""Benchmark: the five functions against a hand-written minimal handler, side by side (issue 6).

    .venv/bin/python scripts/bench.py            # the documented run (about 7 minutes on 2 cores)
    .venv/bin/python scripts/bench.py --quick    # fewer runs, under 2 minutes

The COS and TDMQ stand-ins (devstack) run in this process; every measurement runs in a fresh
child Python process that gets the functions' environment, alternating ours and the baseline
(`bench/baseline_handler.py`). Prints a table, checks the budgets and writes JSON under
bench/results/. Methods are explained in docs/PERFORMANCE.md. Not run by the test suite.
"""

from __future__ import annotations

# Only cheap modules at the top: a child process imports this module before it starts its clock.
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Generator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = ("stream_begin", "stream_end", "record", "snapshot", "porn_detect")
VARIANTS = ("ours", "baseline")
BASELINE = os.path.join(ROOT, "bench", "baseline_handler.py")
SPAWN_VARIABLE = "BENCH_SPAWN_NS"
NODELAY_VARIABLE = "BENCH_NODELAY"
HANDLER_ROOT_VARIABLE = "BENCH_HANDLER_ROOT"
COMMAND_FD_VARIABLE = "BENCH_COMMAND_FD"
ACK_FD_VARIABLE = "BENCH_ACK_FD"
BLOCK = 100
"""Warm callbacks a child runs before the other variant's child takes its turn."""

BUDGETS = {
    "cold_ratio": 1.5,
    "warm_p50_ratio": 1.10,
    "pipeline_cpu_us": 150.0,
    "peak_rss_mb": 60.0,
    "package_zip_mb": 10.0,
}
TIME_FIELDS = {
    "stream_begin": "event_time",
    "stream_end": "event_time",
    "record": "end_time",
    "snapshot": "create_time",
    "porn_detect": "screenshot_time",
}
"""The field that makes each generated event new (its key and, for hits, its dedupe id)."""


def generated_events(kind: str, count: int, label: str) -> list[dict[str, Any]]:
    """`count` distinct signed callbacks of `kind` as API Gateway trigger events with their context,
    each a new event (16 streams named after `label`, one second apart, an hour ago)."""
    from devstack import payloads, triggers

    now = int(time.time())
    out = []
    for i in range(count):
        fields = {"stream_id": f"{label}-{i % 16}", TIME_FIELDS[kind]: now - 3600 + i}
        payload = payloads.signed(payloads.BUILDERS[kind](**fields))
        event = triggers.apigw_event(payload, path=f"/live/{kind.replace('_', '-')}")
        out.append({"event": event, "context": triggers.context(kind)})
    return out


# --------------------------------------------------------------------------------------------
# Child side: runs in a fresh interpreter (`python -c "import bench; bench.child()" ...`).
# --------------------------------------------------------------------------------------------


def _handler_path(variant: str, kind: str) -> str:
    if variant == "baseline":
        return BASELINE
    packages = os.environ.get(HANDLER_ROOT_VARIABLE)  # scripts/package.sh output: <out>/<kind>/index.py
    return os.path.join(packages, kind, "index.py") if packages else os.path.join(ROOT, "functions", kind, "index.py")


def _load_handler(variant: str, kind: str) -> Any:
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
    if "tencentcloud.tdmq.v20200217.tdmq_client" in sys.modules:
        targets.append((sys.modules["tencentcloud.tdmq.v20200217.tdmq_client"].TdmqClient, "PublishCmqMsg"))
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

    return lambda self, request: SimpleNamespace(Result=True, MsgId="msg-stub", RequestId="stub")


def _instrument_sdk_calls(totals: dict[str, int], stub: bool = False) -> None:
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


def child() -> None:
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
        handler = _load_handler(variant, kind)
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
    _instrument_sdk_calls(sdk)
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
    _instrument_sdk_calls(sdk, stub=True)
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


# --------------------------------------------------------------------------------------------
# Parent side: stand-ins, child processes, statistics, table and JSON.
# --------------------------------------------------------------------------------------------


class Counters:
    """TCP connections accepted by a stand-in's waitress server (keep-alive reuse shows as 1)."""

    def __init__(self, server: Any) -> None:
        self.accepted = 0
        inner = server._server  # waitress dispatcher; handle_accept() calls self.accept()
        original = inner.accept

        def counting_accept() -> Any:
            pair = original()
            if pair is not None:
                self.accepted += 1
            return pair

        inner.accept = counting_accept


def _compile_handlers() -> None:
    """Bytecode for both variants' own code, as the code package ships it (scripts/package.sh).

    A machine that sets PYTHONDONTWRITEBYTECODE (this one does) never writes __pycache__ for the
    repository, so without this every cold start of ours would compile shared/ (~30 ms) while the
    baseline compiles one small file: a cost SCF does not pay, since the package ships bytecode.
    """
    import compileall
    import py_compile

    mode = py_compile.PycInvalidationMode.CHECKED_HASH
    for tree in ("shared", "functions", "bench"):
        compileall.compile_dir(os.path.join(ROOT, tree), quiet=1, invalidation_mode=mode)
    compileall.compile_file(os.path.join(ROOT, "scripts", "bench.py"), quiet=1, invalidation_mode=mode)


class Bench:
    def __init__(self, options: Any) -> None:
        import itertools
        import tempfile

        from devstack.stack import DevStack

        self.options = options
        self.stack = DevStack()
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-")
        self.serial = itertools.count(1)
        self.buckets = {"ours": "bench-ours-1250000000", "baseline": "bench-base-1250000000"}

    def __enter__(self) -> Bench:
        _compile_handlers()
        self.stack.start()
        self.cos_conns = Counters(self.stack.cos.server)
        self.tdmq_conns = Counters(self.stack.tdmq.server)
        for bucket in self.buckets.values():
            self.stack.cos.create_bucket(bucket)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("COS_", "TDMQ_", "MODERATION_", "LIVE_"))}
        base["PYTHONPATH"] = os.pathsep.join((ROOT, os.path.join(ROOT, "scripts")))
        base[NODELAY_VARIABLE] = "1"
        self.env = {v: {**base, **self.stack.env(bucket=self.buckets[v])} for v in VARIANTS}
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.stop()
        self.tmp.cleanup()

    def events(self, kind: str, count: int) -> str:
        """A file of `count` distinct signed callbacks of `kind`, as API Gateway trigger events."""
        run = next(self.serial)
        path = os.path.join(self.tmp.name, f"{kind}-{run}.jsonl")
        with open(path, "w", encoding="utf-8") as out:
            for record in generated_events(kind, count, f"bench-{run}"):
                out.write(json.dumps(record) + "\n")
        return path

    def run_child(
        self, mode: str, variant: str, kind: str, events: str, *numbers: int, package: str | None = None
    ) -> dict[str, Any]:
        """Run one child; with `package`, as SCF would: only that folder and the stdlib on sys.path
        (`-S`), on the bytecode the package ships and unable to write any more (SCF's code folder
        is read-only)."""
        import subprocess

        result_path = events + f".{variant}.result.json"
        before = self._counters()
        env = dict(self.env[variant])
        flags = []
        if package:
            flags = ["-S"]
            env["PYTHONPATH"] = os.pathsep.join((os.path.join(package, kind), os.path.join(ROOT, "scripts")))
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            env[HANDLER_ROOT_VARIABLE] = package
        env[SPAWN_VARIABLE] = str(time.monotonic_ns())
        completed = subprocess.run(
            [sys.executable, *flags, "-c", "import bench; bench.child()", mode, variant, kind, events, result_path]
            + [str(n) for n in numbers],
            env=env,
            cwd=os.path.join(package, kind) if package else ROOT,  # `python -c` puts it first on sys.path
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=600,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"{variant} {kind} {mode} child failed:\n{completed.stderr.decode()[-3000:]}")
        with open(result_path, encoding="utf-8") as fh:
            result: dict[str, Any] = json.load(fh)
        result["seen"] = self._seen_since(before)
        _check_statuses(variant, kind, result)
        return result

    def _counters(self) -> tuple[int, int, int, int, int]:
        cos, tdmq = self.stack.cos.faults, self.stack.tdmq.faults
        return cos.requests, tdmq.requests, self.cos_conns.accepted, self.tdmq_conns.accepted, len(cos.log)

    def _seen_since(self, before: tuple[int, int, int, int, int], into: dict[str, Any] | None = None) -> dict[str, Any]:
        """What the stand-ins saw since `before`: requests (COS by method) and new TCP connections."""
        now = self._counters()
        seen = into or {"cos_requests": 0, "cos_methods": {}, "topic_requests": 0}
        seen.setdefault("cos_connections", 0)
        seen.setdefault("topic_connections", 0)
        for method, _path in self.stack.cos.faults.log[before[4] : now[4]]:
            seen["cos_methods"][method] = seen["cos_methods"].get(method, 0) + 1
        seen["cos_requests"] += now[0] - before[0]
        seen["topic_requests"] += now[1] - before[1]
        seen["cos_connections"] += now[2] - before[2]
        seen["topic_connections"] += now[3] - before[3]
        return seen

    def run_warm_pair(self, kind: str, events: str, order: tuple[str, ...], *numbers: int) -> dict[str, Any]:
        """Both variants' warm children alive at once, taking turns of BLOCK callbacks each, so a
        change in the machine's load falls on both alike; only one is ever running callbacks."""
        import subprocess

        children: dict[str, Any] = {}
        for variant in order:
            command_read, command_write = os.pipe()
            ack_read, ack_write = os.pipe()
            env = {**self.env[variant], COMMAND_FD_VARIABLE: str(command_read), ACK_FD_VARIABLE: str(ack_write)}
            env[SPAWN_VARIABLE] = str(time.monotonic_ns())
            stderr = open(os.path.join(self.tmp.name, f"{kind}-{variant}.stderr"), "w+b")  # noqa: SIM115
            process = subprocess.Popen(
                [sys.executable, "-c", "import bench; bench.child()", "warm", variant, kind, events]
                + [events + f".{variant}.result.json"]
                + [str(n) for n in numbers],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                pass_fds=(command_read, ack_write),
            )
            os.close(command_read)
            os.close(ack_write)
            children[variant] = {
                "process": process,
                "commands": os.fdopen(command_write, "w"),
                "acks": os.fdopen(ack_read, "r"),
                "stderr": stderr,
                "seen": None,
            }
        running = list(order)
        while running:
            for variant in list(running):
                child = children[variant]
                before = self._counters()
                child["commands"].write(f"{BLOCK}\n")
                child["commands"].flush()
                answer = child["acks"].readline()
                child["seen"] = self._seen_since(before, child["seen"])
                if answer != "more\n":
                    running.remove(variant)
        results: dict[str, Any] = {}
        for variant, child in children.items():
            child["commands"].close()
            child["process"].wait(timeout=120)
            child["acks"].close()
            child["stderr"].seek(0)
            errors = child["stderr"].read().decode(errors="replace")
            child["stderr"].close()
            if child["process"].returncode != 0:
                raise RuntimeError(f"{variant} {kind} warm child failed:\n{errors[-3000:]}")
            with open(events + f".{variant}.result.json", encoding="utf-8") as fh:
                results[variant] = json.load(fh)
            results[variant]["seen"] = child["seen"]
            _check_statuses(variant, kind, results[variant])
        return results


def _check_statuses(variant: str, kind: str, result: dict[str, Any]) -> None:
    bad = {s: n for s, n in result["statuses"].items() if s != "200"}
    if bad:
        raise RuntimeError(f"{variant} {kind}: non-200 answers {bad}")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _median(values: list[float]) -> float:
    return _percentile(values, 0.5)


def _machine() -> dict[str, Any]:
    import platform
    import subprocess
    from importlib import metadata

    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "nproc": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()),
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_runtime_changes": bool(git("status", "--porcelain", "--", "shared", "functions")),
        "packages": {
            name: metadata.version(name)
            for name in ("pydantic", "pydantic-core", "cos-python-sdk-v5", "tencentcloud-sdk-python-common", "requests")
        },
    }


def _package_size(skip: bool, workdir: str) -> dict[str, Any]:
    """Zipped size of the SCF code package as scripts/package.sh builds it (into a temporary folder)."""
    import subprocess
    import zipfile

    script = os.path.join(ROOT, "scripts", "package.sh")
    if skip:
        return {"status": "not measured in this run (see --package)"}
    if not os.path.exists(script):
        return {"status": "pending: scripts/package.sh does not exist yet"}
    out = os.path.join(workdir, "packages")
    zip_path = os.path.join(out, "record.zip")  # one package per function; they differ only in index.py
    command = ["bash", script, "--out", out, "--max-mb", "1000"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0 or not os.path.exists(zip_path):
        return {"status": f"scripts/package.sh failed ({done.returncode})", "stderr": done.stderr[-2000:]}
    with zipfile.ZipFile(zip_path) as archive:
        infos = archive.infolist()
    largest: dict[str, int] = {}
    for info in infos:
        top = info.filename.split("/", 1)[0]
        largest[top] = largest.get(top, 0) + info.compress_size
    return {
        "status": "built",
        "command": "scripts/package.sh (SCF target: manylinux x86-64, CPython 3.10)",
        "zip_bytes": os.path.getsize(zip_path),
        "unpacked_bytes": sum(i.file_size for i in infos),
        "files": len(infos),
        "largest_entries_zipped_bytes": dict(sorted(largest.items(), key=lambda kv: -kv[1])[:8]),
        "output": [line for line in done.stdout.strip().splitlines() if line.startswith("package:")],
    }


def _build_local_package(workdir: str) -> str:
    """scripts/package.sh --target local: the package as shipped, with wheels for this Python."""
    import subprocess

    out = os.path.join(workdir, "package-local")
    command = ["bash", os.path.join(ROOT, "scripts", "package.sh"), "--target", "local", "--out", out]
    command += ["--max-mb", "1000"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/package.sh --target local failed:\n{done.stderr[-2000:]}")
    return out


def _summarise(kind: str, runs: dict[str, dict[str, list[Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for variant in VARIANTS:
        colds = runs[variant]["cold"]
        packaged = runs[variant]["package_cold"]
        warms = runs[variant]["warm"]
        latencies = [ns / 1e3 for w in warms for ns in w["warm_latency_ns"]]
        pipeline = [ns / 1e3 for w in warms for ns in w["cpu_pipeline_ns"]]
        total = [ns / 1e3 for w in warms for ns in w["cpu_total_ns"]]
        hot = [ns / 1e3 for w in warms for ns in w["cpu_hot_pipeline_ns"]]
        outside = [ns / 1e3 for w in warms for ns in w["wall_outside_sdk_ns"]]
        inside = [ns / 1e3 for w in warms for ns in w["wall_inside_sdk_ns"]]
        callbacks = sum(len(w["warm_latency_ns"]) + len(w["cpu_total_ns"]) + 1 for w in warms)
        seen_warm = [w["seen"] for w in warms]
        summary[variant] = {
            "cold_runs": len(colds),
            "cold_wall_ms": _median([c["cold"]["wall_ms"] for c in colds]),
            "cold_wall_ms_min_max": [
                min(c["cold"]["wall_ms"] for c in colds),
                max(c["cold"]["wall_ms"] for c in colds),
            ],
            "cold_in_process_ms": _median([c["cold"]["in_process_ms"] for c in colds]),
            "cold_cpu_ms": _median([c["cold"]["cpu_ms"] for c in colds]),
            "cold_import_ms": _median([c["cold"]["import_ms"] for c in colds]),
            "cold_first_callback_ms": _median([c["cold"]["first_callback_ms"] for c in colds]),
            "cold_interpreter_ms": _median([c["cold"]["interpreter_ms"] for c in colds]),
            "package_cold_runs": len(packaged),
            "package_cold_wall_ms": _median([c["cold"]["wall_ms"] for c in packaged]) if packaged else None,
            "package_cold_cpu_ms": _median([c["cold"]["cpu_ms"] for c in packaged]) if packaged else None,
            "package_cold_import_ms": _median([c["cold"]["import_ms"] for c in packaged]) if packaged else None,
            "warm_callbacks": len(latencies),
            "warm_p50_us": _percentile(latencies, 0.5),
            "warm_p90_us": _percentile(latencies, 0.9),
            "warm_p99_us": _percentile(latencies, 0.99),
            "cpu_callbacks": len(pipeline),
            "pipeline_cpu_us_median": _median(pipeline),
            "pipeline_cpu_us_mean": sum(pipeline) / len(pipeline),
            "total_cpu_us_mean": sum(total) / len(total),
            "hot_pipeline_cpu_us_mean": sum(hot) / len(hot),
            "hot_pipeline_cpu_us_median": _median(hot),
            "wall_outside_sdk_us_median": _median(outside),
            "wall_inside_sdk_us_median": _median(inside),
            "peak_rss_mb": max(w["rss_kb"] for w in warms) / 1024,
            "rss_after_callbacks": warms[0]["rss_at"],
            "rss_mb_after_n_callbacks": {n: kb / 1024 for n, kb in warms[0]["rss_trace_kb"].items()},
            "cos_requests_per_callback": sum(s["cos_requests"] for s in seen_warm) / callbacks,
            "cos_methods_per_callback": {
                m: sum(s["cos_methods"].get(m, 0) for s in seen_warm) / callbacks
                for m in sorted({m for s in seen_warm for m in s["cos_methods"]})
            },
            "topic_requests_per_callback": sum(s["topic_requests"] for s in seen_warm) / callbacks,
            "cold_cos_requests": max(c["seen"]["cos_requests"] for c in colds),
            "cold_topic_requests": max(c["seen"]["topic_requests"] for c in colds),
            "callbacks_per_instance": callbacks // len(warms),
            "cos_connections_per_instance": max(s["cos_connections"] for s in seen_warm),
            "topic_connections_per_instance": max(s["topic_connections"] for s in seen_warm),
            "cos_connections_per_1000": 1000 * sum(s["cos_connections"] for s in seen_warm) / callbacks,
        }
    ours, base = summary["ours"], summary["baseline"]
    summary["ratio"] = {
        "cold_wall": ours["cold_wall_ms"] / base["cold_wall_ms"],
        "cold_in_process": ours["cold_in_process_ms"] / base["cold_in_process_ms"],
        "cold_cpu": ours["cold_cpu_ms"] / base["cold_cpu_ms"],
        "package_cold_wall": (
            ours["package_cold_wall_ms"] / base["package_cold_wall_ms"] if ours["package_cold_runs"] else None
        ),
        "warm_p50": ours["warm_p50_us"] / base["warm_p50_us"],
        "warm_p99": ours["warm_p99_us"] / base["warm_p99_us"],
        "pipeline_cpu": ours["pipeline_cpu_us_mean"] / base["pipeline_cpu_us_mean"],
        "total_cpu": ours["total_cpu_us_mean"] / base["total_cpu_us_mean"],
        "hot_pipeline_cpu": ours["hot_pipeline_cpu_us_mean"] / base["hot_pipeline_cpu_us_mean"],
        "peak_rss": ours["peak_rss_mb"] / base["peak_rss_mb"],
    }
    return summary


def _budgets(summaries: dict[str, Any], package: dict[str, Any]) -> dict[str, Any]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    checks: dict[str, Any] = {}
    for kind, s in summaries.items():
        ours = s["ours"]
        if kind == "porn_detect":  # every bench hit is new and published: at most 2 COS requests, 1 publish
            requests_ok = ours["cos_requests_per_callback"] <= 2 and ours["topic_requests_per_callback"] == 1
        else:  # exactly one PUT per stored event, nothing else
            requests_ok = ours["cos_methods_per_callback"] == {"PUT": 1.0} and ours["topic_requests_per_callback"] == 0
        connections_ok = ours["cos_connections_per_instance"] == 1 and ours["topic_connections_per_instance"] == (
            1 if kind == "porn_detect" else 0
        )
        checks[kind] = {
            "cold_start": verdict(s["ratio"]["cold_wall"] <= BUDGETS["cold_ratio"]),
            "warm_p50": verdict(s["ratio"]["warm_p50"] <= BUDGETS["warm_p50_ratio"]),
            "pipeline_cpu": verdict(ours["pipeline_cpu_us_mean"] <= BUDGETS["pipeline_cpu_us"]),
            "peak_rss": verdict(ours["peak_rss_mb"] <= BUDGETS["peak_rss_mb"]),
            "requests": verdict(requests_ok),
            "connections": verdict(connections_ok),
        }
    if "zip_bytes" in package:
        checks["package"] = verdict(package["zip_bytes"] / 2**20 <= BUDGETS["package_zip_mb"])
    else:
        checks["package"] = package["status"]
    return checks


def _table(summaries: dict[str, Any], checks: dict[str, Any], package: dict[str, Any]) -> str:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    def trio(ours: float, base: float, fmt: str) -> list[str]:
        return [format(ours, fmt), format(base, fmt), f"{ours / base:.2f}x"]

    lines = [
        row(
            [
                "function",
                "cold ms ours",
                "base",
                "ratio",
                "warm p50 µs ours",
                "base",
                "ratio",
                "warm p99 µs ours",
                "base",
                "ratio",
                "pipeline CPU µs ours",
                "base",
                "peak RSS MB ours",
                "base",
                "COS req/cb ours",
                "base",
                "topic req/cb ours",
                "base",
                "conns COS/topic ours",
                "base",
            ]
        ),
        row(["---"] + ["---:"] * 19),
    ]
    for kind, s in summaries.items():
        o, b = s["ours"], s["baseline"]
        cells = [kind]
        cells += trio(o["cold_wall_ms"], b["cold_wall_ms"], ".0f")
        cells += trio(o["warm_p50_us"], b["warm_p50_us"], ".0f")
        cells += trio(o["warm_p99_us"], b["warm_p99_us"], ".0f")
        cells += [f"{o['pipeline_cpu_us_mean']:.0f}", f"{b['pipeline_cpu_us_mean']:.0f}"]
        cells += [f"{o['peak_rss_mb']:.1f}", f"{b['peak_rss_mb']:.1f}"]
        cells += [f"{o['cos_requests_per_callback']:.2f}", f"{b['cos_requests_per_callback']:.2f}"]
        cells += [f"{o['topic_requests_per_callback']:.2f}", f"{b['topic_requests_per_callback']:.2f}"]
        cells += [
            f"{o['cos_connections_per_instance']}/{o['topic_connections_per_instance']}",
            f"{b['cos_connections_per_instance']}/{b['topic_connections_per_instance']}",
        ]
        lines.append(row(cells))
    lines += ["", row(["budget", *summaries]), row(["---"] + [":---:"] * len(summaries))]
    for name in ("cold_start", "warm_p50", "pipeline_cpu", "peak_rss", "requests", "connections"):
        lines.append(row([name] + [checks[kind][name] for kind in summaries]))
    if "zip_bytes" in package:
        zipped = package["zip_bytes"] / 2**20
        unpacked = package["unpacked_bytes"] / 2**20
        lines += ["", f"code package: {zipped:.2f} MiB zipped, {unpacked:.1f} MiB unpacked, {checks['package']}"]
    else:
        lines += ["", f"code package: {package['status']}"]
    return "\n".join(lines)


def _package_cold_table(summaries: dict[str, Any]) -> str:
    if not any(s["ours"]["package_cold_runs"] for s in summaries.values()):
        return ""
    lines = [
        "| function | package cold ms ours | base | ratio | import ms ours | base | CPU ms ours | base |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, s in summaries.items():
        o, b = s["ours"], s["baseline"]
        lines.append(
            f"| {kind} | {o['package_cold_wall_ms']:.0f} | {b['package_cold_wall_ms']:.0f} | "
            f"{s['ratio']['package_cold_wall']:.2f}x | {o['package_cold_import_ms']:.0f} | "
            f"{b['package_cold_import_ms']:.0f} | {o['package_cold_cpu_ms']:.0f} | {b['package_cold_cpu_ms']:.0f} |"
        )
    return "\n".join(lines)


def _breakdown(summaries: dict[str, Any]) -> str:
    lines = [
        "| function | variant | interpreter ms | import ms | first callback ms | in-process ms | cold CPU ms | "
        "total CPU µs/cb | pipeline CPU µs median | wall outside SDK µs median | wall inside SDK µs median | "
        "hot pipeline CPU µs |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, s in summaries.items():
        for variant in VARIANTS:
            v = s[variant]
            lines.append(
                f"| {kind} | {variant} | {v['cold_interpreter_ms']:.0f} | {v['cold_import_ms']:.0f} | "
                f"{v['cold_first_callback_ms']:.1f} | {v['cold_in_process_ms']:.0f} | {v['cold_cpu_ms']:.0f} | "
                f"{v['total_cpu_us_mean']:.0f} | "
                f"{v['pipeline_cpu_us_median']:.0f} | {v['wall_outside_sdk_us_median']:.0f} | "
                f"{v['wall_inside_sdk_us_median']:.0f} | "
                f"{v['hot_pipeline_cpu_us_mean']:.0f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="fewer runs (5 cold starts, 600 warm callbacks), no package build"
    )
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--cold-runs", type=int, help="cold starts per function and variant (default 15; quick 5)")
    parser.add_argument(
        "--package-cold",
        type=int,
        help="cold starts per function and variant from the code package, as SCF runs it (default 5; quick 0)",
    )
    parser.add_argument("--warm", type=int, help="sequential warm callbacks per process (default 2000; quick 600)")
    parser.add_argument("--cpu", type=int, help="instrumented callbacks for CPU time (default 1000; quick 200)")
    parser.add_argument("--rss-at", type=int, default=1000, help="callbacks handled before peak RSS is read")
    parser.add_argument(
        "--package",
        action=argparse.BooleanOptionalAction,
        help="build the code package with scripts/package.sh and measure it (default: yes; quick: no)",
    )
    parser.add_argument("--out", help="JSON result path (default bench/results/bench-<UTC time>.json)")
    options = parser.parse_args(argv)
    cold_runs = options.cold_runs or (5 if options.quick else 15)
    warm_n = options.warm or (600 if options.quick else 2000)
    cpu_n = options.cpu or (200 if options.quick else 1000)
    build_package = not options.quick if options.package is None else options.package
    package_cold_runs = options.package_cold if options.package_cold is not None else (0 if options.quick else 5)
    rss_at = min(options.rss_at, warm_n)
    sys.path.insert(0, ROOT)

    machine = _machine()
    print(
        f"machine: {machine['nproc']} CPUs, {machine['cpu_model']}, Python {machine['python']}, "
        f"load {machine['load_average_at_start'][0]:.2f}",
        flush=True,
    )
    began = time.time()
    summaries: dict[str, Any] = {}
    with Bench(options) as bench:
        package_dir = _build_local_package(bench.tmp.name) if package_cold_runs else None
        for k, kind in enumerate(options.kinds):
            runs: dict[str, dict[str, list[Any]]] = {v: {"cold": [], "warm": [], "package_cold": []} for v in VARIANTS}
            for variant in VARIANTS:  # one discarded start each, so both start with warm file caches
                bench.run_child("cold", variant, kind, bench.events(kind, 1))
            for i in range(cold_runs):
                events = bench.events(kind, 1)
                for variant in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
                    runs[variant]["cold"].append(bench.run_child("cold", variant, kind, events))
            for i in range(package_cold_runs):
                events = bench.events(kind, 1)
                for variant in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
                    result = bench.run_child("cold", variant, kind, events, package=package_dir)
                    runs[variant]["package_cold"].append(result)
            events = bench.events(kind, warm_n + cpu_n)
            order = VARIANTS if k % 2 == 0 else VARIANTS[::-1]
            for variant, result in bench.run_warm_pair(kind, events, order, warm_n, cpu_n, rss_at).items():
                runs[variant]["warm"].append(result)
            summaries[kind] = _summarise(kind, runs)
            r = summaries[kind]["ratio"]
            print(
                f"{kind:>12}: cold {r['cold_wall']:.2f}x, warm p50 {r['warm_p50']:.2f}x, "
                f"pipeline CPU {summaries[kind]['ours']['pipeline_cpu_us_mean']:.0f} µs, "
                f"RSS {summaries[kind]['ours']['peak_rss_mb']:.1f} MB  ({time.time() - began:.0f} s)",
                flush=True,
            )
        package = _package_size(not build_package, bench.tmp.name)
    checks = _budgets(summaries, package)
    table = _table(summaries, checks, package)
    extra = _package_cold_table(summaries)
    print("\n" + table + "\n\n" + _breakdown(summaries) + ("\n\n" + extra if extra else ""))

    out = options.out or os.path.join(
        ROOT, "bench", "results", time.strftime("bench-%Y%m%dT%H%M%SZ.json", time.gmtime(began))
    )
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        settings = {"cold_runs": cold_runs, "package_cold_runs": package_cold_runs, "warm_callbacks": warm_n}
        settings.update(cpu_callbacks=cpu_n, rss_at=rss_at)
        document = {
            "machine": machine,
            "settings": {**settings, "quick": options.quick, "seconds": round(time.time() - began, 1)},
            "budgets": BUDGETS,
            "results": summaries,
            "package": package,
            "checks": checks,
            "table_markdown": table,
            "breakdown_markdown": _breakdown(summaries),
            "package_cold_markdown": extra,
        }
        json.dump(document, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    print(f"\nwrote {os.path.relpath(out, ROOT)} in {time.time() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
