"""Mutation check: small deliberate bugs in shared/, each of which the suite must catch.

Each mutation is applied to a copy of the working tree (never to the tree itself), the tests
that claim to guard it run there, and the mutation counts as caught when they fail. The list is
the one issue 11 asked for (a review found half of a similar list surviving). The copy's own
root comes first on the tests' import path (pytest's `pythonpath` and `python -m`), ahead of the
venv's .pth that names the original checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation(
        "stale-an-hour",
        "shared/claim.py",
        "STALE_AFTER_SECONDS = 30",
        "STALE_AFTER_SECONDS = 3600",
        (
            "tests/test_claim.py",
            "tests/test_volume.py::test_a_stale_pending_claim_is_taken_over_and_a_fresh_one_is_left_to_its_owner",
        ),
    ),
    Mutation(
        "ignore-sign-tolerance",
        "shared/pipeline.py",
        "verify_signature(payload, inst.settings.callback_keys, tolerance=inst.settings.sign_tolerance_seconds)",
        "verify_signature(payload, inst.settings.callback_keys)",
        ("tests/test_functions.py::test_the_configured_sign_tolerance_is_what_the_handler_applies",),
    ),
    Mutation(
        "ignore-min-score",
        "shared/pipeline.py",
        "event.effective_suggestion(inv.inst.settings.moderation_min_score)",
        "event.effective_suggestion(90)",
        ("tests/test_functions.py::test_the_configured_minimum_score_judges_legacy_hits_through_the_handler",),
    ),
    Mutation(
        "cos-read-timeout-raised",
        "shared/storage.py",
        "READ_TIMEOUT = 2.5",
        "READ_TIMEOUT = 6.0",
        ("tests/test_faults.py::test_a_first_cos_attempt_that_fails_is_retried_inside_the_same_invocation",),
    ),
    Mutation(
        "no-retry-after-connection-error",
        "shared/storage.py",
        "                except CosClientError as exc:\n                    failure = exc",
        "                except CosClientError as exc:\n                    raise DependencyError(str(exc)) from None",
        ("tests/test_faults.py::test_a_first_cos_attempt_that_fails_is_retried_inside_the_same_invocation",),
    ),
    Mutation(
        "timeout-answered-503",
        "shared/errors.py",
        "    status = 504",
        "    status = 503",
        ("tests/test_faults.py::test_a_short_scf_timeout_shortens_the_budget_so_scf_never_kills_a_call",),
    ),
    Mutation(
        "cos-session-token-dropped",
        "shared/storage.py",
        "Token=settings.session_token,",
        "Token=None,",
        ("tests/test_functions.py::test_authentic_callback_is_answered_200_and_stored_once",),
    ),
    Mutation(
        "topic-session-token-dropped",
        "shared/topic.py",
        "Credential(settings.secret_id, settings.secret_key, settings.session_token)",
        "Credential(settings.secret_id, settings.secret_key)",
        ("tests/test_functions.py::test_retried_moderation_hit_is_published_once",),
    ),
    Mutation(
        "tz-local",
        "shared/layout.py",
        'time.strftime("%Y/%m/%d", time.gmtime(ts))',
        'time.strftime("%Y/%m/%d", time.localtime(ts))',
        ("tests/test_layout.py",),
    ),
    Mutation(
        "video-url-before-file-id",
        "shared/events.py",
        "return self.record_file_id or self.file_id or self.video_url",
        "return self.record_file_id or self.video_url or self.file_id",
        ("tests/test_layout.py",),
    ),
    Mutation(
        "tx-secret-one-case",
        "shared/logs.py",
        "    re.IGNORECASE,\n)",
        "    0,\n)",
        ("tests/test_hostile.py::test_push_secrets_in_every_spelling_are_scrubbed_wherever_stored",),
    ),
    Mutation(
        "gateway-logs-leak",  # the local gateway's log lines must reach the secrets check
        "shared/logs.py",
        "    line = scrub(_ENCODER.encode(fields), secrets)",
        "    line = _ENCODER.encode({**fields, 'param': __import__('os').environ.get('TENCENTCLOUD_SESSIONTOKEN')})",
        ("tests/test_volume.py::test_copies_of_one_hit_arriving_together_publish_it_once",),
    ),
    Mutation(
        "later-keys-leak",  # keys configured after the harness starts must reach the secrets check
        "shared/pipeline.py",
        "        emit(log, secrets)",
        "        emit({**log, 'keys': list(inst.settings.callback_keys[:1])}, ())",
        ("tests/test_functions.py::test_rotated_keys_are_both_accepted",),
    ),
)


def _copy_tree(into: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (into / ".venv").symlink_to(ROOT / ".venv")


def run(mutation: Mutation, control: bool = False) -> tuple[bool, float]:
    """(caught, seconds): apply `mutation` to a copy of the tree and run its tests there.

    `control`: run the same tests on the unmutated copy (they must pass, or "caught" means nothing).
    """
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutation.name}-") as tmp:
        copy = Path(tmp)
        _copy_tree(copy)
        target = copy / mutation.path
        text = target.read_text(encoding="utf-8")
        if text.count(mutation.old) != 1 and not control:
            raise SystemExit(f"{mutation.name}: the text to mutate is not found once in {mutation.path}")
        if not control:
            target.write_text(text.replace(mutation.old, mutation.new), encoding="utf-8")
        started = time.monotonic()
        result = subprocess.run(
            [str(ROOT / ".venv/bin/python"), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *mutation.tests],
            cwd=copy,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        return result.returncode != 0, time.monotonic() - started
