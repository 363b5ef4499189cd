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
        "event.effective_suggestion(settings.moderation_min_score)",
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
        "        if self._token:",
        "        if False:",
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

# Issue 21 and 26: the data-flow topic, the deadline's sockets, the COS-triggered moderation_action,
# and the policy, claim, signing and gateway boundaries a pass over the newer modules found unguarded.
NEWER = (
    Mutation(
        "topic-host-unsigned",
        "shared/topic.py",
        "source = method.upper() + host + PATH",
        "source = method.upper() + PATH",
        ("tests/test_topic.py::test_our_signature_is_the_sdks_for_the_same_parameters",),
    ),
    Mutation(
        "topic-values-url-encoded-when-signed",
        "shared/topic.py",
        "f\"{k.replace('_', '.')}={params[k]}\"",
        "f\"{k.replace('_', '.')}={__import__('urllib.parse').parse.quote(params[k])}\"",
        ("tests/test_topic.py::test_our_signature_is_the_sdks_for_the_same_parameters",),
    ),
    Mutation(
        "topic-sha1-while-naming-sha256",
        "shared/topic.py",
        'source.encode("utf-8"), hashlib.sha256)',
        'source.encode("utf-8"), hashlib.sha1)',
        ("tests/test_topic.py::test_a_hit_reaches_the_stand_in_signed_with_the_role_token_and_plain_tags",),
    ),
    Mutation(
        "topic-tags-of-64",
        "shared/topic.py",
        "MAX_TAG_LENGTH = 16",
        "MAX_TAG_LENGTH = 64",
        ("tests/test_topic.py::test_a_hit_reaches_the_stand_in_signed_with_the_role_token_and_plain_tags",),
    ),
    Mutation(
        "topic-every-tag",
        "shared/topic.py",
        "    return out[:MAX_TAGS]",
        "    return out",
        ("tests/test_topic.py::test_at_most_five_tags_leave_and_each_publish_carries_a_nonce_of_its_own",),
    ),
    Mutation(
        "topic-nonce-fixed",
        "shared/topic.py",
        '"Nonce": str(secrets.randbelow(2**31 - 1) + 1),',
        '"Nonce": "1",',
        ("tests/test_topic.py::test_at_most_five_tags_leave_and_each_publish_carries_a_nonce_of_its_own",),
    ),
    Mutation(
        "topic-every-code-permanent",
        "shared/topic.py",
        "            if code in PERMANENT_CODES:",
        "            if code >= 4000:",
        (
            "tests/test_topic.py::test_a_message_the_topic_refuses_for_what_it_is_is_permanent_every_other_code_is_retried",
        ),
    ),
    Mutation(
        "topic-4000-retried",
        "shared/topic.py",
        "PERMANENT_CODES = frozenset({4000})",
        "PERMANENT_CODES: frozenset[int] = frozenset()",
        (
            "tests/test_topic.py::test_a_message_the_topic_refuses_for_what_it_is_is_permanent_every_other_code_is_retried",
        ),
    ),
    Mutation(
        "topic-http-status-ignored",
        "shared/topic.py",
        "        if status != 200:",
        "        if status >= 600:",
        ("tests/test_topic.py::test_an_http_error_or_an_answer_that_is_not_the_apis_json_is_a_retried_fault",),
    ),
    Mutation(
        "cmq-endpoint-with-a-path",
        "shared/config.py",
        ' or parts.path not in ("", "/")',
        "",
        ("tests/test_config.py",),
    ),
    Mutation(
        "deadline-new-socket-untracked",
        "shared/deadline.py",
        "        super().connect()  # type: ignore[misc]\n"
        "        _track(self)  # type: ignore[arg-type]  # a new socket: the guard holds it"
        " whatever http.client does later",
        "        super().connect()  # type: ignore[misc]",
        ("tests/test_deadline.py",),
    ),
    Mutation(
        "deadline-late-request-not-cut",
        "shared/deadline.py",
        "        if guard.fired:  # the deadline passed before this request (or this connect) started\n"
        "            guard.cut()",
        "        pass",
        (
            "tests/test_deadline.py::test_a_request_that_starts_after_its_guard_fired_is_cut_at_once",
            "tests/test_deadline.py::test_a_request_on_a_kept_alive_connection_after_its_guard_fired_is_cut_at_once",
        ),
    ),
    Mutation(
        "deadline-earlier-guard-sleeps-on",
        "shared/deadline.py",
        "            elif earliest is None or guard.deadline < earliest:",
        "            elif False:",
        ("tests/test_deadline.py::test_an_earlier_guard_armed_after_a_later_one_still_fires_first",),
    ),
    Mutation(
        "action-any-bucket",
        "shared/enforcement.py",
        'if (where.get("name"), str(where.get("appid"))) != (name, appid) or not isinstance(key, str):',
        "if not isinstance(key, str):",
        (
            "tests/test_moderation_action.py::test_events_naming_anything_but_a_stored_hit_are_refused_loudly_and_change_nothing",
        ),
    ),
    Mutation(
        "action-any-event",
        "shared/enforcement.py",
        "if not isinstance(event_name, str) or not event_name.startswith(EVIDENCE_EVENTS):",
        "if not isinstance(event_name, str):",
        (
            "tests/test_moderation_action.py::test_events_naming_anything_but_a_stored_hit_are_refused_loudly_and_change_nothing",
        ),
    ),
    Mutation(
        "action-dot-folders",
        "shared/enforcement.py",
        "(?:(?!\\.+/)[A-Za-z0-9_.~-]+/){3}",
        "(?:[A-Za-z0-9_.~-]+/){3}",
        (
            "tests/test_moderation_action.py::test_events_naming_anything_but_a_stored_hit_are_refused_loudly_and_change_nothing",
        ),
    ),
    Mutation(
        "action-any-object-is-evidence",
        "shared/enforcement.py",
        ' or message.get("dedupe_id") != found.group(1)',
        "",
        (
            "tests/test_moderation_action.py::test_events_naming_anything_but_a_stored_hit_are_refused_loudly_and_change_nothing",
        ),
    ),
    Mutation(
        "action-gone-evidence-refused",
        "shared/enforcement.py",
        "    if sub.store.head(key, budget) is None:\n        return None",
        '    if sub.store.head(key, budget) is None:\n        raise Refused("gone")',
        ("tests/test_moderation_action.py::test_an_event_for_evidence_that_is_gone_touches_nothing_and_is_logged",),
    ),
    Mutation(
        "action-on-pass-hits",
        "shared/enforcement.py",
        '    if trusted["suggestion"] not in ACTED_ON:',
        "    if False:",
        ("tests/test_moderation_action.py::test_a_pass_hit_triggers_the_function_and_is_left_alone",),
    ),
    Mutation(
        "action-no-wait-on-a-fresh-claim",
        "shared/enforcement.py",
        "IN_PROGRESS_WAIT = 6.0",
        "IN_PROGRESS_WAIT = 0.0",
        (
            "tests/test_moderation_action.py::test_a_second_invocation_waits_for_the_one_acting_and_ends_as_its_duplicate",
        ),
    ),
    Mutation(
        "action-wait-acknowledges-in-progress",
        "shared/enforcement.py",
        "IN_PROGRESS_POLL + CALL_WORST_CASE):\n                raise",
        "IN_PROGRESS_POLL + CALL_WORST_CASE):\n                return claim.DUPLICATE",
        ("tests/test_moderation_action.py::test_the_wait_on_another_invocations_claim_ends_in_a_retry_not_a_done",),
    ),
    Mutation(
        "action-exempt-forbid-only",
        "shared/enforcement.py",
        'if wanted in ("drop", "forbid") and self.exempts(stream):',
        'if wanted == "forbid" and self.exempts(stream):',
        ("tests/test_moderation_action.py::test_an_exempt_stream_is_never_cut_whichever_the_action",),
    ),
    Mutation(
        "action-forbid-seconds-below-minimum",
        "shared/enforcement.py",
        "    if not 60 <= seconds <= MAX_FORBID_SECONDS:",
        "    if not 0 <= seconds <= MAX_FORBID_SECONDS:",
        ("tests/test_moderation_action.py::test_policy_errors_name_the_variable",),
    ),
    Mutation(
        "action-dry-run-any-value",
        "shared/enforcement.py",
        "        dry_run=dry in _TRUE,",
        "        dry_run=bool(dry),",
        ("tests/test_moderation_action.py::test_policy_errors_name_the_variable",),
    ),
    Mutation(
        "claim-unreadable-age-fresh",
        "shared/claim.py",
        '        return float("inf")',
        "        return 0.0",
        ("tests/test_claim.py::test_a_claim_whose_age_cannot_be_read_counts_as_stale",),
    ),
    Mutation(
        "sign-prefix-match",
        "shared/signing.py",
        "not _HEX32.fullmatch(given)",
        "not _HEX32.match(given)",
        ("tests/test_signing.py::test_a_valid_sign_with_anything_after_its_32_digits_is_malformed_not_merely_wrong",),
    ),
    Mutation(
        "gateway-truthy-base64-flag",
        "shared/gateway.py",
        '        if event.get("isBase64Encoded") is True:',
        '        if event.get("isBase64Encoded"):',
        ("tests/test_gateway.py::test_only_a_boolean_true_marks_the_body_base64",),
    ),
)
TEMPLATE_KINDS = (
    Mutation(
        "audio-hits-not-published",
        "shared/pipeline.py",
        "    if isinstance(event, HITS):",
        "    if isinstance(event, ModerationHit):",
        ("tests/test_template_kinds.py::test_an_audio_block_hit_is_published_once_and_banned_under_forbid",),
    ),
    Mutation(
        "record-detail-kept-as-text",
        "shared/events.py",
        "        return json_object_text(value)  # a JSON string, per the page's table",
        "        return value",
        (
            "tests/test_template_kinds.py::test_the_332_sample_is_not_json_as_printed_and_its_record_detail_is_read_as_an_object",
        ),
    ),
    Mutation(
        "push-exception-gets-the-12-s-budget",
        "shared/budget.py",
        'KIND_BUDGETS: dict[str, float] = {"push_exception": PUSH_EXCEPTION_BUDGET_SECONDS}',
        "KIND_BUDGETS: dict[str, float] = {}",
        ("tests/test_template_kinds.py::test_push_exception_answers_a_hanging_cos_inside_4_s",),
    ),
    Mutation(
        "every-recording-exception-level",
        "tooling/callbacks.py",
        'DEFAULT_EXCEPTION_LEVELS = ("error", "warning")',
        'DEFAULT_EXCEPTION_LEVELS = ("error", "warning", "info")',
        (
            "tests/test_configure_callbacks.py::test_the_field_the_live_api_does_not_read_back_is_compared_through_the_description",
        ),
    ),
    Mutation(
        "unread-field-not-fingerprinted",
        "tooling/callbacks.py",
        "    if not unread:",
        "    if True:",
        (
            "tests/test_configure_callbacks.py::test_the_field_the_live_api_does_not_read_back_is_compared_through_the_description",
        ),
    ),
)

# Issues 23-25 of 2026-12-03: reconcile at scale, the Live API's limits, the moderation effects,
# the doors' memory, the event bus. Each guarded by tests of the quick loop but the two marked.
THIS_TURN = (
    Mutation(
        "synthesised-takes-the-real-key",
        "shared/reconcile.py",
        'SYNTHESISED_SUFFIX = ".synthesised.json"',
        'SYNTHESISED_SUFFIX = ".json"',
        ("tests/test_reconcile.py::test_a_synthesised_begin_gives_way_to_the_real_one_found_later",),
    ),
    Mutation(
        "other-domains-ingested",
        "shared/reconcile.py",
        "        return domain in self.domains",
        "        return True",
        ("tests/test_reconcile.py::test_records_of_a_same_named_stream_on_another_domain_are_never_ingested",),
    ),
    Mutation(
        "throttled-run-fails",
        "shared/reconcile.py",
        "        run.timer(state, now, report)\n    except (OutOfTime, Throttled) as exc:",
        "        run.timer(state, now, report)\n    except OutOfTime as exc:",
        ("tests/test_reconcile.py::test_a_run_throttled_until_its_time_limit_stops_cleanly_and_the_next_finishes",),
    ),
    Mutation(
        "state-never-written",
        "shared/reconcile.py",
        '    store.put_json(STATE, state.as_bytes(), {"source": "reconcile"})',
        "    pass",
        ("tests/test_reconcile.py::test_a_run_throttled_until_its_time_limit_stops_cleanly_and_the_next_finishes",),
    ),
    Mutation(
        "read-past-the-14-day-edge",
        "shared/reconcile.py",
        "        start, end = max(part.start, oldest), part.end",
        "        start, end = part.start, part.end",
        ("tests/test_reconcile.py::test_the_14_day_edge_drops_what_cannot_be_read_instead_of_failing_every_run",),
    ),
    Mutation(
        "window-reaches-the-edge",
        "shared/reconcile.py",
        "MAX_WINDOW_MINUTES = 14 * 24 * 60 - 60",
        "MAX_WINDOW_MINUTES = 14 * 24 * 60",
        ("tests/test_reconcile.py::test_the_14_day_edge_drops_what_cannot_be_read_instead_of_failing_every_run",),
    ),
    Mutation(
        "departed-streams-never-closed",
        "shared/reconcile.py",
        "            if ref not in online:",
        "            if False:",
        ("tests/test_reconcile.py::test_a_stream_whose_end_never_came_is_closed_by_the_next_run",),
    ),
    Mutation(
        "overlapping-reads-not-merged",
        "shared/reconcile.py",
        "        if parts and at - SESSION_MATCH_SECONDS <= parts[-1].end:",
        "        if False:",
        ("tests/test_reconcile.py::test_a_malformed_request_in_a_record_goes_to_quarantine_not_a_crash",),
    ),
    Mutation(
        "synthesised-end-not-published",
        "shared/reconcile.py",
        "        if settings.publishes(kind) and self.inst.store.head(key, Budget(60.0)) is None:",
        "        if False:",
        ("tests/test_event_bus.py::test_a_stream_whose_end_css_never_sent_leaves_the_apps_live_set",),
    ),
    Mutation(
        "pages-of-a-thousand",
        "shared/live.py",
        "RECORDS_PAGE_SIZE = 100",
        "RECORDS_PAGE_SIZE = 1000",
        ("tests/test_reconcile.py::test_no_query_asks_for_more_than_its_documented_page_or_a_page_that_breaks_memory",),
    ),
    Mutation(
        "beijing-read-as-utc",
        "shared/live.py",
        '("%Y-%m-%d %H:%M:%S", 8 * 3600)',
        '("%Y-%m-%d %H:%M:%S", 0)',
        ("tests/test_reconcile.py::test_times_in_beijing_form_are_read_as_beijing_time",),
    ),
    Mutation(
        "retry-past-the-deadline",
        "shared/live.py",
        "                if left is not None and left <= pause:",
        "                if False:",
        ("tests/test_deadline.py::test_a_live_api_call_and_all_its_retries_end_at_the_call_deadline",),
    ),
    Mutation(
        "connect-unbounded",
        "shared/deadline.py",
        "        _connect_timeout(self)  # type: ignore[arg-type]",
        "        pass",
        ("tests/test_deadline.py::test_a_connect_that_is_never_answered_ends_at_the_deadline",),
    ),
    Mutation(
        "synthesised-shown-over-real",
        "tooling/readmodel.py",
        'if held is None or (held["_source"] == SYNTHESISED and source != SYNTHESISED):',
        "if held is None:",
        ("tests/test_reconcile.py::test_the_read_model_shows_the_real_begin_whichever_document_it_reads_first",),
    ),
    Mutation(
        "ban-made-again-on-retry",
        "shared/enforcement.py",
        "        if answered(calls, action) is not None:\n            continue  # it happened in an earlier attempt",
        "        pass",
        ("tests/test_moderation_action.py::test_a_ban_that_worked_is_not_made_again_when_the_drop_after_it_failed",),
    ),
    Mutation(
        "effects-recorded-only-at-the-end",
        "shared/enforcement.py",
        "            progress(calls)",
        "            pass",
        ("tests/test_moderation_action.py::test_an_invocation_killed_between_ban_and_drop_left_the_ban_on_record",),
    ),
    Mutation(
        "parse-before-the-signature",
        "shared/pipeline.py",
        "    if not signed_before_parsing(body, settings.callback_keys, tolerance=settings.sign_tolerance_seconds):",
        "    if False:",
        ("tests/test_hostile.py::test_a_large_unsigned_body_is_refused_before_it_is_parsed",),
    ),
    Mutation(
        "a-mebibyte-body",
        "shared/gateway.py",
        "MAX_BODY_BYTES = 256 * 1024",
        "MAX_BODY_BYTES = 1024 * 1024",
        ("tests/test_functions.py::test_bad_input_gets_a_clear_4xx_and_writes_nothing",),
    ),
    Mutation(
        "publish-failure-answered-200",
        "shared/pipeline.py",
        "    except PublishRefused as exc:  # stored; a message the topic will never take is not retried",
        "    except CallbackError as exc:  # stored; a message the topic will never take is not retried",
        ("tests/test_event_bus.py::test_a_topic_outage_answers_503_and_the_retry_publishes_the_stored_event",),
    ),
    Mutation(
        "unstable-event-id",
        "shared/notify.py",
        '        "id": message_id(where.key),',
        '        "id": message_id(where.key + str(id(event))),',
        (
            "tests/test_event_bus.py::test_the_app_hears_every_stored_event_once_and_its_live_set_matches_the_read_model",
        ),
    ),
    Mutation(
        "stand-in-ignores-filter-tags",
        "devstack/tdmq.py",
        "        return not self.filter_tags or any(t in self.filter_tags for t in tags)",
        "        return True",
        ("tests/test_event_bus.py::test_a_subscription_filters_by_tag_and_takes_the_simplified_format",),
    ),
    Mutation(
        "subscriber-never-dedupes",
        "examples/subscriber.py",
        '            if message["id"] in self.seen:',
        "            if False:",
        (
            "tests/test_event_bus.py::test_the_app_hears_every_stored_event_once_and_its_live_set_matches_the_read_model",
        ),
    ),
)
MUTATIONS = MUTATIONS + NEWER + TEMPLATE_KINDS + THIS_TURN


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
