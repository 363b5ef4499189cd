"""House rules a newcomer can rely on (issue 13), checked so they cannot quietly erode."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts]


def test_no_function_in_shared_takes_more_than_five_parameters() -> None:
    too_many = []
    for path in _python("shared"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                names = [*a.posonlyargs, *a.args, *a.kwonlyargs, *([a.vararg] if a.vararg else [])]
                names += [a.kwarg] if a.kwarg else []
                count = len([n for n in names if n.arg not in ("self", "cls")])
                if count > 5:
                    too_many.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({count})")
    assert too_many == []


def test_no_script_or_test_edits_the_import_path_and_no_script_imports_another() -> None:
    edits = re.compile(r"sys\.path\s*(\[|\.insert|\.append|\.extend|=|\+=)")
    for path in _python("scripts", "tests", "tooling", "deploy"):
        text = path.read_text(encoding="utf-8")
        assert not edits.search(text), f"{path.relative_to(ROOT)} edits sys.path"
        loads_a_script = re.search(r"spec_from_file_location\([^)]*[\"'/]scripts\b", text)
        assert not loads_a_script, f"{path.relative_to(ROOT)} loads a script as a module"
    for path in _python("scripts"):
        assert not re.search(r"^\s*(from|import) scripts\b", path.read_text(encoding="utf-8"), re.M), path


def test_the_function_kinds_are_written_out_once() -> None:
    spelled = re.compile(r"""["']stream_begin["'],\s*["']stream_end["'],\s*["']record["']""")
    found = [
        p.relative_to(ROOT)
        for p in _python("shared", "devstack", "tooling", "scripts", "tests")
        if spelled.search(p.read_text(encoding="utf-8"))
    ]
    assert found == [Path("shared/vocabulary.py")] or found == [], found


@pytest.mark.xdist_group("house")
def test_xdist_groups_take_effect_when_the_suite_runs_on_workers(request: pytest.FixtureRequest) -> None:
    """scripts/test.sh relies on --dist loadgroup: the package build, the browser and the fault tests
    that wait for timeouts each keep to one worker. With pytest 9.2 and pytest-xdist 3.8 the groups
    silently stopped working (requirements-dev.txt); under xdist this fails if that comes back."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None or not request.config.getvalue("loadgroup"):
        return  # one process (`-n 0`): nothing is distributed, so there is no group to check
    assert request.node.nodeid.endswith("@house"), request.node.nodeid


def test_every_mutation_still_finds_its_text_once_and_names_tests_that_exist() -> None:
    """scripts/mutations.py stops on a mutation whose text moved; this says so at once instead."""
    from tooling.mutations import MUTATIONS

    assert len({m.name for m in MUTATIONS}) == len(MUTATIONS) >= 45
    for mutation in MUTATIONS:
        text = (ROOT / mutation.path).read_text(encoding="utf-8")
        assert text.count(mutation.old) == 1, f"{mutation.name}: its text is not found once in {mutation.path}"
        for test in mutation.tests:
            path, _, name = test.partition("::")
            assert (ROOT / path).is_file(), f"{mutation.name}: {path}"
            if name:
                assert f"def {name}(" in (ROOT / path).read_text(encoding="utf-8"), f"{mutation.name}: {test}"


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "scripts").glob("*.py")))
def test_a_script_run_without_the_venv_says_which_python_to_use_in_one_line(script: str) -> None:
    import subprocess
    import sys

    # -S: no site-packages, so no .pth puts the repository root on the path (as with a system python3)
    done = subprocess.run(
        [sys.executable, "-S", str(ROOT / "scripts" / script), "--help"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and ".venv/bin/python" in done.stderr, done.stderr
