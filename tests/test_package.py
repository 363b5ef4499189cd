"""The SCF code package: built by scripts/package.sh, unpacked, and run with nothing else on the path.

The handlers are invoked in a clean interpreter (`python -I -S`, import path = the unpacked package
+ the standard library) against the loopback COS and TDMQ stand-ins, so a dependency missing from
the package, or a module only the dev environment has, fails here instead of in SCF.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from devstack import payloads, triggers
from devstack.stack import DevStack

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("stream_begin", "stream_end", "record", "snapshot", "porn_detect")
MAX_ZIP_BYTES = 10 * 2**20
RUNTIME_TOP_LEVEL_OWN = {"shared", "functions"}
NEVER_SHIPPED = {"tests", "devstack", "scripts", "bench", "docs", "deploy", ".venv", "build", "moto", "pytest", "yaml"}


def build(target: str, folder: Path) -> tuple[Path, Path, str]:
    out, zip_path = folder / "package", folder / "live-callbacks.zip"
    done = subprocess.run(
        [
            str(ROOT / "scripts" / "package.sh"),
            "--target",
            target,
            "--out",
            str(out),
            "--zip",
            str(zip_path),
            "--python",
            sys.executable,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"package.sh failed:\n{done.stdout}\n{done.stderr}"
    return out, zip_path, done.stdout


@pytest.fixture(scope="module")
def local_package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The package built for this Python, and the zip unpacked into a fresh folder."""
    folder = tmp_path_factory.mktemp("package-local")
    _, zip_path, output = build("local", folder)
    unpacked = folder / "unpacked"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(unpacked)
    return unpacked, zip_path, output


# The child: only the standard library is importable until it puts the package first on the path.
CHILD = r"""
import importlib, importlib.machinery, importlib.util, json, sys
package, request_file, result_file = sys.argv[1:4]
sys.path[:0] = [package]
# Every module compiled from source instead of loaded from the shipped bytecode is recorded.
compiled = []
_source_to_code = importlib.machinery.SourceFileLoader.source_to_code
def source_to_code(self, data, path, *args, **kwargs):
    compiled.append(str(path))
    return _source_to_code(self, data, path, *args, **kwargs)
importlib.machinery.SourceFileLoader.source_to_code = source_to_code
with open(request_file, encoding="utf-8") as f:
    request = json.load(f)
result = {"sys_path": list(sys.path), "answers": [], "modules": {}, "importable": {}}
for name in ("devstack", "pytest", "yaml", "moto"):
    result["importable"][name] = importlib.util.find_spec(name) is not None

def by_path(kind):
    # SCF's handler "functions/<kind>/index.main_handler": a file path below the code root.
    spec = importlib.util.spec_from_file_location("index", f"{package}/functions/{kind}/index.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main_handler

def by_name(kind):
    # The same handler imported as a dotted module name (namespace packages, no __init__.py).
    return importlib.import_module(f"functions.{kind}.index").main_handler

for call in request["calls"]:
    handler = (by_path if call["load"] == "path" else by_name)(call["kind"])
    answer = handler(call["event"], call["context"])
    result["answers"].append({"kind": call["kind"], "trigger": call["trigger"], "answer": answer})
checked = ("shared.pipeline", "pydantic", "pydantic_core", "qcloud_cos", "tencentcloud.tdmq.v20200217", "requests")
for name in (*checked, "crcmod"):
    module = importlib.import_module(name)
    result["modules"][name] = getattr(module, "__file__", None)
result["compiled"] = compiled
result["version"] = list(sys.version_info[:2])
with open(result_file, "w", encoding="utf-8") as f:
    json.dump(result, f)
"""


def run_isolated(
    package: Path, calls: list[dict[str, Any]], env: dict[str, str], work: Path, python: str = sys.executable
) -> dict[str, Any]:
    request_file, result_file = work / "request.json", work / "result.json"
    request_file.write_text(json.dumps({"calls": calls}), encoding="utf-8")
    done = subprocess.run(
        [python, "-I", "-S", "-c", CHILD, str(package), str(request_file), str(result_file)],
        env=env,  # only the functions' variables: no PYTHONPATH, no proxies from the outer shell
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"isolated handlers failed:\n{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    result["log_lines"] = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return result


def test_package_holds_only_shared_functions_and_vendored_dependencies(local_package: tuple[Path, Path, str]) -> None:
    unpacked, _, _ = local_package
    top = {p.name for p in unpacked.iterdir()}
    assert top >= RUNTIME_TOP_LEVEL_OWN
    assert not top & NEVER_SHIPPED
    # Bytecode for the target interpreter beside every module: hash-based, because unpacking the
    # zip changes every mtime; checked against the source for our code, unchecked for vendored code.
    tag = sys.implementation.cache_tag
    magic = importlib.util.MAGIC_NUMBER
    sources = [p for p in unpacked.rglob("*.py") if ".dist-info" not in str(p)]
    assert len(sources) > 100
    for source in sources:
        cached = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert cached.is_file(), f"no bytecode for {source.relative_to(unpacked)}"
        header = cached.read_bytes()[:8]
        flags = int.from_bytes(header[4:8], "little")
        own = source.relative_to(unpacked).parts[0] in RUNTIME_TOP_LEVEL_OWN
        assert (header[:4], flags) == (magic, 0b11 if own else 0b01), source.relative_to(unpacked)
    assert not [p for p in unpacked.rglob("*.pyc") if p.parent.name != "__pycache__" or tag not in p.name]
    assert not [p for p in unpacked.rglob("*") if p.name in ("serverless.yml", ".env", "conftest.py")]
    vendored = {p.name.split("-")[0].lower() for p in unpacked.glob("*.dist-info")}
    assert {"pydantic", "pydantic_core", "cos_python_sdk_v5", "tencentcloud_sdk_python_tdmq", "crcmod"} <= vendored
    assert "tencentcloud_sdk_python_live" not in vendored  # dev-only (configure_callbacks.py)
    for own in [*ROOT.glob("shared/*.py"), *ROOT.glob("functions/*/index.py")]:
        shipped = unpacked / own.relative_to(ROOT)
        assert shipped.read_bytes() == own.read_bytes(), f"{shipped} differs from {own}"


def test_package_zip_is_within_the_10_mb_budget_and_reports_its_size(local_package: tuple[Path, Path, str]) -> None:
    _, zip_path, output = local_package
    size = zip_path.stat().st_size
    assert 1_000_000 < size <= MAX_ZIP_BYTES
    assert f"{size} bytes zipped" in output


def _calls(stream_prefix: str) -> list[dict[str, Any]]:
    """Every kind through both triggers and both ways of resolving the handler path."""
    calls = []
    for kind in KINDS:
        for trigger, load in (("apigw", "path"), ("url", "name")):
            stream = f"{stream_prefix}-{kind}-{trigger}"
            body = payloads.signed(payloads.BUILDERS[kind](stream_id=stream))
            event = (
                triggers.apigw_event(body, path=f"/live/{kind.replace('_', '-')}")
                if trigger == "apigw"
                else triggers.function_url_event(body)
            )
            calls.append(
                {"kind": kind, "trigger": trigger, "load": load, "event": event, "context": triggers.context(kind)}
            )
    return calls


def test_every_handler_answers_200_from_the_isolated_package(
    local_package: tuple[Path, Path, str], stack: DevStack, tmp_path: Path
) -> None:
    unpacked, _, _ = local_package
    bucket, topic = "package-1250000000", "package-moderation"
    stack.cos.create_bucket(bucket)
    stack.tdmq.topics.add(topic)
    env = stack.env(bucket=bucket, topic=topic)

    result = run_isolated(unpacked, _calls("pkg"), env, tmp_path)

    assert not any(result["importable"].values()), result["importable"]
    assert not [p for p in result["sys_path"] if "site-packages" in p or "dist-packages" in p]
    for name, file in result["modules"].items():
        assert file is not None and Path(file).is_relative_to(unpacked), f"{name} came from {file}"
    assert result["compiled"] == [], "modules compiled at start instead of loaded from the shipped bytecode"
    answers = result["answers"]
    assert len(answers) == 2 * len(KINDS)
    for item in answers:
        assert item["answer"]["statusCode"] == 200, item
        assert json.loads(item["answer"]["body"]) == {"code": 0}
    assert {line["outcome"] for line in result["log_lines"]} <= {"stored", "published"}
    assert {line["trigger"] for line in result["log_lines"]} == {"apigw", "url"}

    stored = stack.cos.objects(bucket)
    for kind in KINDS:
        for trigger in ("apigw", "url"):
            stream = f"pkg-{kind}-{trigger}"
            assert [k for k in stored if f"/{stream}/" in k], f"nothing stored for {kind} via {trigger}"
    published = stack.tdmq.published(topic)
    assert sorted(json.loads(m["MsgContent"])["stream_id"] for m in published) == [
        "pkg-porn_detect-apigw",
        "pkg-porn_detect-url",
    ]


def test_scf_target_vendors_cpython_310_manylinux_builds(tmp_path: Path, stack: DevStack) -> None:
    out, zip_path, output = build("scf", tmp_path / "build")
    size = zip_path.stat().st_size
    assert size <= MAX_ZIP_BYTES
    assert "target scf" in output
    extensions = sorted(p.name for p in out.rglob("*.so"))
    assert any(name.startswith("_pydantic_core.cpython-310-x86_64-linux-gnu") for name in extensions)
    assert all(name.endswith((".cpython-310-x86_64-linux-gnu.so", ".abi3.so")) for name in extensions), extensions
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    assert "functions/porn_detect/index.py" in names and "shared/pipeline.py" in names
    assert not [n for n in names if n.startswith(("tests/", "devstack/", "scripts/"))]

    # SCF's interpreter, CPython 3.10, runs every handler from the unpacked zip, on the shipped
    # bytecode (nothing compiled at start) and the cp310 extensions.
    found = re.search(r"^bytecode: \d+ files for cpython3\.10 by (\S+)$", output, re.M)
    assert found, output
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(unpacked)
    bucket, topic = "package-310-1250000000", "package-310-moderation"
    stack.cos.create_bucket(bucket)
    stack.tdmq.topics.add(topic)
    result = run_isolated(unpacked, _calls("py310"), stack.env(bucket=bucket, topic=topic), tmp_path, found.group(1))
    assert result["version"] == [3, 10]
    assert result["compiled"] == []
    assert [a["answer"]["statusCode"] for a in result["answers"]] == [200] * 2 * len(KINDS)
    assert len(stack.tdmq.published(topic)) == 2
