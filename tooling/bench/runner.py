"""The benchmark's parent side: the stand-ins, the measured children, the machine and the package.

Every measurement runs in a fresh child Python (tooling/bench/child.py) that gets the functions'
environment, alternating ours and the baseline (bench/baseline_handler.py); the stand-ins in this
process count the requests and connections each child makes.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tooling.bench.child import (
    ACK_FD_VARIABLE,
    COMMAND_FD_VARIABLE,
    HANDLER_ROOT_VARIABLE,
    NODELAY_VARIABLE,
    ROOT,
    SPAWN_VARIABLE,
)
from tooling.bench.events import generated_events
from tooling.bench.figures import (
    BUDGETS,
    VARIANTS,
    breakdown,
    budgets,
    package_cold_table,
    summarise,
    table,
)

CHILD = "from tooling.bench import child; child.main()"
BLOCK = 100
"""Warm callbacks a child runs before the other variant's child takes its turn."""


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
    for tree in ("shared", "functions", "bench", os.path.join("tooling", "bench")):
        compileall.compile_dir(os.path.join(ROOT, tree), quiet=1, invalidation_mode=mode)
    compileall.compile_file(os.path.join(ROOT, "tooling", "__init__.py"), quiet=1, invalidation_mode=mode)


class Bench:
    def __init__(self) -> None:
        import itertools
        import tempfile

        from devstack.stack import DevStack

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
        base = {k: v for k, v in os.environ.items() if not k.startswith(("COS_", "CMQ_", "MODERATION_", "LIVE_"))}
        base["PYTHONPATH"] = ROOT
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
            # The package first, so all it imports comes from it; ROOT after it only for tooling.bench.child.
            env["PYTHONPATH"] = os.pathsep.join((os.path.join(package, kind), ROOT))
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            env[HANDLER_ROOT_VARIABLE] = package
        env[SPAWN_VARIABLE] = str(time.monotonic_ns())
        completed = subprocess.run(
            [sys.executable, *flags, "-c", CHILD, mode, variant, kind, events, result_path] + [str(n) for n in numbers],
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
                [sys.executable, "-c", CHILD, "warm", variant, kind, events]
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


def machine() -> dict[str, Any]:
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


def package_size(skip: bool, workdir: str) -> dict[str, Any]:
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


def build_local_package(workdir: str) -> str:
    """scripts/package.sh --target local: the package as shipped, with wheels for this Python."""
    import subprocess

    out = os.path.join(workdir, "package-local")
    command = ["bash", os.path.join(ROOT, "scripts", "package.sh"), "--target", "local", "--out", out]
    command += ["--max-mb", "1000"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/package.sh --target local failed:\n{done.stderr[-2000:]}")
    return out


@dataclass(frozen=True)
class Plan:
    """How much to measure (scripts/bench.py's flags, defaults resolved)."""

    kinds: tuple[str, ...]
    cold_runs: int
    package_cold_runs: int
    warm: int
    cpu: int
    rss_at: int
    build_package: bool
    quick: bool


def measure(plan: Plan, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the benchmark; returns the JSON document (machine, settings, results, checks, tables)."""
    about = machine()
    say(
        f"machine: {about['nproc']} CPUs, {about['cpu_model']}, Python {about['python']}, "
        f"load {about['load_average_at_start'][0]:.2f}"
    )
    began = time.time()
    summaries: dict[str, Any] = {}
    with Bench() as bench:
        package_dir = build_local_package(bench.tmp.name) if plan.package_cold_runs else None
        for k, kind in enumerate(plan.kinds):
            runs: dict[str, dict[str, list[Any]]] = {v: {"cold": [], "warm": [], "package_cold": []} for v in VARIANTS}
            for variant in VARIANTS:  # one discarded start each, so both start with warm file caches
                bench.run_child("cold", variant, kind, bench.events(kind, 1))
            for i in range(plan.cold_runs):
                events = bench.events(kind, 1)
                for variant in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
                    runs[variant]["cold"].append(bench.run_child("cold", variant, kind, events))
            for i in range(plan.package_cold_runs):
                events = bench.events(kind, 1)
                for variant in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
                    result = bench.run_child("cold", variant, kind, events, package=package_dir)
                    runs[variant]["package_cold"].append(result)
            events = bench.events(kind, plan.warm + plan.cpu)
            order = VARIANTS if k % 2 == 0 else VARIANTS[::-1]
            for variant, result in bench.run_warm_pair(kind, events, order, plan.warm, plan.cpu, plan.rss_at).items():
                runs[variant]["warm"].append(result)
            summaries[kind] = summarise(kind, runs)
            r = summaries[kind]["ratio"]
            say(
                f"{kind:>12}: cold {r['cold_wall']:.2f}x, warm p50 {r['warm_p50']:.2f}x, "
                f"pipeline CPU {summaries[kind]['ours']['pipeline_cpu_us_mean']:.0f} µs, "
                f"RSS {summaries[kind]['ours']['peak_rss_mb']:.1f} MB  ({time.time() - began:.0f} s)"
            )
        package = package_size(not plan.build_package, bench.tmp.name)
    checks = budgets(summaries, package)
    settings = {"cold_runs": plan.cold_runs, "package_cold_runs": plan.package_cold_runs, "warm_callbacks": plan.warm}
    settings.update(cpu_callbacks=plan.cpu, rss_at=plan.rss_at)
    return {
        "machine": about,
        "settings": {**settings, "quick": plan.quick, "seconds": round(time.time() - began, 1)},
        "budgets": BUDGETS,
        "results": summaries,
        "package": package,
        "checks": checks,
        "table_markdown": table(summaries, checks, package),
        "breakdown_markdown": breakdown(summaries),
        "package_cold_markdown": package_cold_table(summaries),
    }
