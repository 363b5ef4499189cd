"""The per-function SCF code packages: built by scripts/package.sh, unpacked, run as SCF runs them.

The packages are built once per run as they are deployed (the SCF target: manylinux wheels and
bytecode for CPython 3.10). Each function's zip is unpacked into a fresh folder and driven in its
own clean CPython 3.10 interpreter, SCF's runtime version (`-S -s`, import path = that folder + the
standard library), its handler loaded by SCF's documented `file.function` rule: handler
`index.main_handler` = function `main_handler` of the module `index`, a .py file at the code
package root, on whose folder SCF puts the path. The interpreter talks to the loopback COS and
TDMQ stand-ins, so a dependency missing from a package, a module only the dev environment has, or
a handler path SCF would not resolve fails here.

What CSS sees is checked per deployed path: the Function URL event and the API Gateway event
(integrated response on, as tests/test_toolkit_contract.py proves the deploy sets it) go in, the
answer comes out as the HTTP status the platform turns an integrated response into.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from deploy.spec import load_spec
from devstack import payloads, triggers
from devstack.gateway import http_answer
from devstack.stack import DevStack

ROOT = Path(__file__).resolve().parent.parent
KINDS = load_spec().kinds
PACKAGES = tuple(sorted(p.parent.name for p in (ROOT / "functions").glob("*/index.py")))
"""Every function's package: the five doors, reconcile (timer) and moderation_action (topic)."""
MAX_ZIP_BYTES = 10 * 2**20
OURS = {"index.py", "shared", "__pycache__"}
NEVER_SHIPPED = {
    "functions",
    "tests",
    "devstack",
    "scripts",
    "bench",
    "docs",
    "deploy",
    ".venv",
    "build",
    "moto",
    "pytest",
    "yaml",
}


def build(target: str, out: Path) -> str:
    done = subprocess.run(
        [str(ROOT / "scripts" / "package.sh"), "--target", target, "--out", str(out), "--python", sys.executable],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"package.sh failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


pytestmark = pytest.mark.xdist_group("package")
"""With pytest-xdist, one worker builds and tests the packages while the other runs everything else."""


def unpack(zip_path: Path, folder: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)
    return folder


@dataclass
class Built:
    out: Path
    output: str
    unpacked: dict[str, Path]
    python: str
    """The CPython 3.10 that compiled the bytecode: SCF's runtime version, which runs the packages here."""


@pytest.fixture(scope="session")
def scf_build(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The packages as deployed (SCF target: manylinux wheels and bytecode for CPython 3.10), each zip
    unpacked into a fresh folder: built once per run, also when pytest-xdist's workers share the tests
    (the first builds, the others wait)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / "package-scf"
    with open(shared / "package-scf.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "built").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            (folder / "output.txt").parent.mkdir(parents=True)
            (folder / "output.txt").write_text(build("scf", folder / "build"))
            for kind in PACKAGES:
                unpack(folder / "build" / f"{kind}.zip", folder / "unpacked" / kind)
            (folder / "built").touch()
    output = (folder / "output.txt").read_text()
    found = re.search(r"^bytecode: \d+ files per package for cpython3\.10 by (\S+)$", output, re.M)
    assert found, output
    unpacked = {kind: folder / "unpacked" / kind for kind in PACKAGES}
    return Built(folder / "build", output, unpacked, found.group(1))


# The child: the standard library and the package folder (SCF: the code folder is on the path) are
# all it can import: no site-packages (-S, -s), the variables given and nothing of the outer shell.
# It answers one JSON request per stdin line, so the parent can change the stand-ins between calls.
CHILD = r"""
import importlib, importlib.machinery, importlib.util, json, sys
package, handler_setting = sys.argv[1:3]
compiled = []  # every module compiled from source instead of loaded from the shipped bytecode
_source_to_code = importlib.machinery.SourceFileLoader.source_to_code
def source_to_code(self, data, path, *args, **kwargs):
    compiled.append(str(path))
    return _source_to_code(self, data, path, *args, **kwargs)
importlib.machinery.SourceFileLoader.source_to_code = source_to_code
outside = ("devstack", "functions", "pytest", "yaml", "moto")
importable = {name: importlib.util.find_spec(name) is not None for name in outside}
# SCF's documented rule: "file.function" -> the function of that module at the code root.
module_name, function_name = handler_setting.rsplit(".", 1)
handler = getattr(importlib.import_module(module_name), function_name)
out = sys.stdout
for line in sys.stdin:
    request = json.loads(line)
    if request.get("done"):
        break
    answer = handler(request["event"], request["context"])
    out.write("@@answer " + json.dumps(answer) + "\n")
    out.flush()
modules = {}
checked = ("index", "shared.pipeline", "shared.topic", "pydantic", "pydantic_core", "qcloud_cos", "requests",
           "crcmod")
for name in checked:
    modules[name] = getattr(importlib.import_module(name), "__file__", None)
report = {"sys_path": list(sys.path), "importable": importable, "modules": modules, "compiled": compiled,
          "version": list(sys.version_info[:2])}
out.write("@@report " + json.dumps(report) + "\n")
out.flush()
"""


class Instance:
    """One function's package in its own clean interpreter, as an SCF instance runs it."""

    def __init__(self, package: Path, env: dict[str, str], work: Path, python: str) -> None:
        self.package = package
        self.logs: list[dict[str, Any]] = []
        self.process = subprocess.Popen(
            [python, "-S", "-s", "-c", CHILD, str(package), "index.main_handler"],
            env={**env, "PYTHONPATH": str(package)},  # the functions' variables only: no proxies from the shell
            cwd=work,  # empty: `-c` puts it on the path too
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def _read(self, marker: str) -> Any:
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        for line in stdout:
            if line.startswith(marker + " "):
                return json.loads(line[len(marker) + 1 :])
            if line.strip():
                self.logs.append(json.loads(line))  # the function's own log line
        stderr = self.process.stderr.read() if self.process.stderr else ""
        raise AssertionError(f"the package's interpreter stopped:\n{stderr}")

    def invoke(self, event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"event": event, "context": context}) + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = self._read("@@answer")
        return answer

    def finish(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"done": True}) + "\n")
        self.process.stdin.flush()
        report: dict[str, Any] = self._read("@@report")
        self.process.wait(timeout=30)
        return report

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def event_for(trigger: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    if trigger == "apigw":
        return triggers.apigw_event(body, path=load_spec().function(kind).route)
    return triggers.function_url_event(body)


_serial = itertools.count(1)


@pytest.fixture
def wired(stack: DevStack) -> Iterator[tuple[DevStack, dict[str, str], str, str]]:
    """A fresh bucket and topic on the stand-ins, and the functions' environment pointing at them."""
    n = next(_serial)
    bucket, topic = f"package-{n}-1250000000", f"package-moderation-{n}"
    stack.cos.create_bucket(bucket)
    stack.tdmq.topics.add(topic)
    yield stack, stack.env(bucket=bucket, topic=topic), bucket, topic
    stack.cos.faults.clear()


# What is in each package


@pytest.mark.parametrize("kind", KINDS)
def test_each_package_has_its_door_as_index_py_at_the_root_beside_shared_and_the_dependencies(
    scf_build: Built, kind: str
) -> None:
    unpacked = scf_build.unpacked[kind]
    top = {p.name for p in unpacked.iterdir()}
    assert {"index.py", "shared"} <= top
    assert not top & NEVER_SHIPPED
    assert (unpacked / "index.py").read_bytes() == (ROOT / "functions" / kind / "index.py").read_bytes()
    for own in ROOT.glob("shared/*.py"):
        assert (unpacked / "shared" / own.name).read_bytes() == own.read_bytes(), f"{own} differs in {kind}"
    assert not [p for p in unpacked.rglob("*") if p.name in ("serverless.yml", ".env", "conftest.py")]
    vendored = {p.name.split("-")[0].lower() for p in unpacked.glob("*.dist-info")}
    assert {"pydantic", "pydantic_core", "cos_python_sdk_v5", "crcmod"} <= vendored
    assert "tencentcloud_sdk_python_tdmq" not in vendored  # the topic is our data-flow client on requests
    assert "tencentcloud_sdk_python_live" in vendored  # reconcile's and moderation_action's Live API calls


def test_bytecode_for_the_target_interpreter_sits_beside_every_module(scf_build: Built) -> None:
    # Hash-based, because unpacking the zip changes every mtime; checked against the source for
    # our code (an edit in SCF's console takes effect), unchecked for the vendored libraries.
    unpacked = scf_build.unpacked["record"]
    tag, magic = json.loads(
        subprocess.run(
            [
                scf_build.python,
                "-c",
                "import importlib.util, json, sys; "
                "print(json.dumps([sys.implementation.cache_tag, importlib.util.MAGIC_NUMBER.hex()]))",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    )
    magic = bytes.fromhex(magic)
    assert tag == "cpython-310"
    sources = [p for p in unpacked.rglob("*.py") if ".dist-info" not in str(p)]
    assert len(sources) > 100
    for source in sources:
        cached = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert cached.is_file(), f"no bytecode for {source.relative_to(unpacked)}"
        header = cached.read_bytes()[:8]
        own = source.relative_to(unpacked).parts[0] in OURS
        assert (header[:4], int.from_bytes(header[4:8], "little")) == (magic, 0b11 if own else 0b01), source


def test_every_zip_is_within_the_10_mb_budget_and_reports_its_size(scf_build: Built) -> None:
    for kind in PACKAGES:
        size = (scf_build.out / f"{kind}.zip").stat().st_size
        assert 1_000_000 < size <= MAX_ZIP_BYTES
        assert f"{scf_build.out / kind}.zip {size} bytes zipped" in scf_build.output
    assert "handler index.main_handler" in scf_build.output


def test_the_package_sizes_the_docs_quote_are_the_sizes_built_today(scf_build: Built) -> None:
    # A typed figure drifts (DEPLOY.md said 7.86 MiB for weeks after the package had grown): each
    # size the README and DEPLOY.md give for the package is within 2 % of the zip built now.
    size = (scf_build.out / "record.zip").stat().st_size
    quoted = []
    for doc in ("README.md", "docs/DEPLOY.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        quoted += [float(m) * 2**20 for m in re.findall(r"\(?(\d+\.\d+) MiB zipped", text)]
        quoted += [int(m) for m in re.findall(r"record\.zip (\d+) bytes zipped", text)]
    assert len(quoted) >= 3
    for figure in quoted:
        assert abs(figure - size) / size < 0.02, f"a doc quotes {figure / 2**20:.2f} MiB, the zip is {size / 2**20:.2f}"


def test_the_deploy_guides_one_by_one_loop_deploys_every_function() -> None:
    guide = (ROOT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    [loop] = re.findall(r"for kind in ([a-z_ ]+); do", guide)
    assert sorted(loop.split()) == sorted(PACKAGES)


# What CSS sees, per deployed path, from each unpacked package


@pytest.mark.parametrize("kind", KINDS)
def test_each_package_answers_css_through_both_paths_200_stored_403_forged_503_on_a_cos_fault(
    scf_build: Built, wired: tuple[DevStack, dict[str, str], str, str], tmp_path: Path, kind: str
) -> None:
    stack, env, bucket, topic = wired
    package = scf_build.unpacked[kind]
    instance = Instance(package, env, tmp_path, scf_build.python)
    seen: dict[tuple[str, str], int] = {}
    try:
        for trigger in ("url", "apigw"):
            stream = f"pkg-{kind}-{trigger}"
            ok = payloads.signed(payloads.BUILDERS[kind](stream_id=stream))
            forged = payloads.signed(payloads.BUILDERS[kind](stream_id=f"{stream}-forged"), key="not-the-key")
            faulted = payloads.signed(payloads.BUILDERS[kind](stream_id=f"{stream}-fault"))
            context = triggers.context(kind)

            status, _, body = http_answer(instance.invoke(event_for(trigger, kind, ok), context))
            seen[(trigger, "ok")] = status
            assert json.loads(body) == {"code": 0}
            seen[(trigger, "forged")] = http_answer(instance.invoke(event_for(trigger, kind, forged), context))[0]
            stack.cos.faults.set("error", status=503)  # every COS request fails until cleared
            try:
                seen[(trigger, "fault")] = http_answer(instance.invoke(event_for(trigger, kind, faulted), context))[0]
            finally:
                stack.cos.faults.clear()
            seen[(trigger, "non-POST")] = http_answer(
                instance.invoke({**event_for(trigger, kind, ok), "httpMethod": "GET"}, context)
            )[0]
        report = instance.finish()
    finally:
        instance.kill()

    assert seen == {
        (trigger, case): status
        for trigger in ("url", "apigw")
        for case, status in (("ok", 200), ("forged", 403), ("fault", 503), ("non-POST", 405))
    }
    stored = stack.cos.objects(bucket)
    for trigger in ("url", "apigw"):
        assert [k for k in stored if f"/pkg-{kind}-{trigger}/" in k], f"nothing stored via {trigger}"
    assert not [k for k in stored if "-forged" in k or "-fault" in k]
    assert {line["trigger"] for line in instance.logs} == {"url", "apigw"}
    if kind == "porn_detect":
        published = sorted(json.loads(m["msgBody"])["stream_id"] for m in stack.tdmq.published(topic))
        assert published == ["pkg-porn_detect-apigw", "pkg-porn_detect-url"]

    # Nothing came from outside the package, and nothing was compiled at start.
    assert not any(report["importable"].values()), report["importable"]
    assert not [p for p in report["sys_path"] if "site-packages" in p or "dist-packages" in p]
    for name, file in report["modules"].items():
        assert file is not None and Path(file).is_relative_to(package), f"{name} came from {file}"
    assert report["modules"]["index"] == str(package / "index.py")
    assert report["compiled"] == [], "modules compiled at start instead of loaded from the shipped bytecode"
    assert report["version"] == [3, 10]  # SCF's runtime, on the cp310 extensions


def test_the_reconcile_package_runs_a_timer_run_in_a_clean_interpreter(
    scf_build: Built, wired: tuple[DevStack, dict[str, str], str, str], tmp_path: Path
) -> None:
    from devstack.live_api import LiveApiStandIn

    stack, env, bucket, _topic = wired
    with LiveApiStandIn() as api:
        lost = payloads.signed(payloads.snapshot("pkg-reconcile"))
        api.record_callback(json.dumps(lost).encode(), 503)
        api.add_session(payloads.PUSH_DOMAIN, payloads.APPNAME, "pkg-reconcile", time.time() - 60, None)
        live_env = {"LIVE_API_ENDPOINT": api.endpoint, "LIVE_API_SCHEME": "http", "LIVE_API_REGION": "ap-guangzhou"}
        reconcile_env = {**env, **live_env, "RECONCILE_DOMAINS": payloads.PUSH_DOMAIN}
        reconcile_env.pop("LIVE_CALLBACK_KEYS")  # it receives no callback, so it is not given the key
        instance = Instance(scf_build.unpacked["reconcile"], reconcile_env, tmp_path, scf_build.python)
        try:
            timer = {"Type": "Timer", "TriggerName": "reconcile", "Time": "2026-11-29T03:00:00Z", "Message": ""}
            answer = instance.invoke(timer, {**triggers.context("reconcile"), "time_limit_in_ms": 300_000})
            refused = instance.invoke(event_for("url", "snapshot", lost), triggers.context("reconcile"))
            report = instance.finish()
        finally:
            instance.kill()
    assert answer["code"] == 0 and answer["backfilled"] == {"snapshot": 1}
    assert refused["code"] == 400
    assert [k for k in stack.cos.objects(bucket) if "/pkg-reconcile/" in k and k.startswith("snapshots/")]
    assert report["modules"]["index"] == str(scf_build.unpacked["reconcile"] / "index.py")
    assert report["compiled"] == []


def test_a_handler_below_the_root_is_not_what_the_packages_offer(scf_build: Built, tmp_path: Path) -> None:
    # The old form `functions/<kind>/index.main_handler` does not resolve in these packages: the
    # documented rule gives a module name, and only index.py sits at the root.
    package = scf_build.unpacked["record"]
    done = subprocess.run(
        [scf_build.python, "-I", "-S", "-c", CHILD, str(package), "functions/record/index.main_handler"],
        input="",
        env={},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr


# The SCF target


def test_scf_target_packages_hold_cpython_310_manylinux_extensions_and_only_what_ships(scf_build: Built) -> None:
    assert "target scf" in scf_build.output
    for kind in PACKAGES:
        with zipfile.ZipFile(scf_build.out / f"{kind}.zip") as archive:
            names = archive.namelist()
        assert "index.py" in names and "shared/pipeline.py" in names
        assert not [n for n in names if n.startswith(("functions/", "tests/", "devstack/", "scripts/"))]
    extensions = sorted(p.name for p in scf_build.unpacked["record"].rglob("*.so"))
    assert any(name.startswith("_pydantic_core.cpython-310-x86_64-linux-gnu") for name in extensions)
    assert all(name.endswith((".cpython-310-x86_64-linux-gnu.so", ".abi3.so")) for name in extensions), extensions
