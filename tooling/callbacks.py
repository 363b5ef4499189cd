"""Pointing CSS live callbacks at the deployed functions: one callback template, bound by one rule.

Reads the account's templates and rules through the Live API (tencentcloud-sdk-python-live),
plans the writes that bring it to the wanted state (create or update the template with the nine
notify URLs and the callback key, bind it to the push domain + AppName) and sends them, or prints
them with the key masked. Running it again changes nothing. Errors are `SetupError`s whose message
says what to do.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.live.v20180801 import live_client, models

from deploy import endpoints
from deploy.spec import default_spec
from tooling import access
from tooling.access import SetupError

DEFAULT_TEMPLATE_NAME = "live-callbacks"
DEFAULT_APP_NAME = "live"
DESCRIPTION = "live-callbacks_SCF_managed-by_configure_callbacks"
"""The Live API takes only Chinese, letters, digits, `_` and `-` here (at most 1024 bytes; the
console: 100 characters): see DESCRIPTION_PATTERN."""
DESCRIPTION_PATTERN = re.compile(r"[\u4e00-\u9fffA-Za-z0-9_-]{1,100}")
"""CreateLiveCallbackTemplate's documented rule for TemplateName and Description: 仅支持中文、英文、数字、_、-."""
MASK = "********"
READ_BACK = frozenset(name[1:] for name in vars(models.CallBackTemplateInfo()) if name.startswith("_"))
"""What DescribeLiveCallbackTemplates answers per template (the SDK's CallBackTemplateInfo, 3.1.195):
it has no RecordStatusNotifyUrl, so that field cannot be compared with what is set."""
EXCEPTION_LEVELS = ("error", "warning", "info")
"""RecordExceptionLevels' choices (CreateLiveCallbackTemplate: 可选择 error、warning、info)."""
DEFAULT_EXCEPTION_LEVELS = ("error", "warning")
"""What a recording exception must be to be called back, by default: the ones an operator acts on.
`info` (e.g. "video ts deviation") is frequent and informational, and every callback is a paid
invocation; --record-exception-levels error,warning,info asks for it too."""

# kind -> (route under an API Gateway base URL; template field), from deploy/functions.yml
ROUTES: dict[str, tuple[str, str]] = {f.kind: (f.route, f.template_field) for f in default_spec().functions}


@dataclass
class Desired:
    template_name: str
    urls: dict[str, str]  # template field -> URL
    callback_key: str = field(repr=False)
    domain: str
    app_name: str
    exception_levels: tuple[str, ...] = DEFAULT_EXCEPTION_LEVELS

    def template_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"TemplateName": self.template_name, **self.urls, "CallbackKey": self.callback_key}
        if "RecordExceptionNotifyUrl" in self.urls:
            params["RecordExceptionLevels"] = sorted(self.exception_levels)
        unread = {k: v for k, v in params.items() if k not in READ_BACK}
        params["Description"] = description(unread)
        return params


def description(unread: Mapping[str, Any]) -> str:
    """The template's Description: ours, plus a fingerprint of the fields the Live API does not read
    back (RecordStatusNotifyUrl), so a second run can tell whether they changed. The Description is
    read back, and takes letters, digits, `_` and `-`."""
    if not unread:
        return DESCRIPTION
    text = "\n".join(f"{k}={json.dumps(unread[k], sort_keys=True)}" for k in sorted(unread))
    return f"{DESCRIPTION}_set-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


@dataclass
class Step:
    action: str
    params: dict[str, Any]
    done: str  # what to print once sent; {TemplateId} is filled in


def masked(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (MASK if k == "CallbackKey" and v else v) for k, v in params.items()}


def notify_urls(
    base_url: str | None, overrides: Mapping[str, str | None], urls_from: Path | None = None
) -> dict[str, str]:
    """Template field -> URL, from the API Gateway base URL, one URL per function, or a deploy's output."""
    per_kind: dict[str, str | None] = {}
    try:
        if urls_from is not None:
            per_kind.update(endpoints.urls_from_text(urls_from.read_text(encoding="utf-8")))
        per_kind.update({kind: url for kind, url in overrides.items() if url})
        urls = endpoints.resolve(base_url, per_kind)
    except OSError as exc:
        raise SetupError(f"cannot read {urls_from}: {exc.strerror}") from None
    except ValueError as exc:
        raise SetupError(str(exc)) from None
    return {ROUTES[kind][1]: url for kind, url in urls.items()}


CREDENTIAL_VARIABLES = (
    ("TENCENTCLOUD_SECRETID", "TENCENTCLOUD_SECRETKEY", "TENCENTCLOUD_SESSIONTOKEN"),
    ("TENCENT_SECRET_ID", "TENCENT_SECRET_KEY", "TENCENT_TOKEN"),
)
"""SCF's spelling first, as every tool reads it (README, tooling/access.py); then the deployer's
.env spelling that the Serverless CLI reads (deploy/.env.example), so step 8 of docs/DEPLOY.md
works with the same .env loaded."""


class CallFailed(Exception):
    """A Live API call was answered with an error (exit 1; missing set-up is a SetupError, exit 2)."""


def credentials(env: Mapping[str, str]) -> Credential | None:
    for id_name, key_name, token_name in CREDENTIAL_VARIABLES:
        secret_id, secret_key = env.get(id_name, "").strip(), env.get(key_name, "").strip()
        if secret_id and secret_key:
            return Credential(secret_id, secret_key, env.get(token_name, "").strip() or None)
    return None


def make_client(credential: Credential, region: str, endpoint: str | None) -> live_client.LiveClient:
    protocol, host = "https", None
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        protocol, host = parts.scheme, parts.netloc
    http = HttpProfile(protocol=protocol, endpoint=host, reqTimeout=30)
    return live_client.LiveClient(credential, region, ClientProfile(httpProfile=http))


def _call(client: live_client.LiveClient, action: str, params: Mapping[str, Any]) -> Any:
    request = getattr(models, f"{action}Request")()
    request.from_json_string(json.dumps(dict(params)))
    try:
        return getattr(client, action)(request)
    except TencentCloudSDKException as exc:
        raise CallFailed(f"{action} failed: {exc.get_code()}: {exc.get_message()}") from None


def plan(
    desired: Desired, templates: Sequence[Mapping[str, Any]], rules: Sequence[Mapping[str, Any]], replace_rule: bool
) -> tuple[list[Step], list[str]]:
    """The writes that bring the account to `desired`, and notes on what is already right."""
    steps: list[Step] = []
    notes: list[str] = []
    same_name = sorted(
        (t for t in templates if t.get("TemplateName") == desired.template_name), key=lambda t: int(t["TemplateId"])
    )
    wanted = desired.template_params()
    template_id: int | str
    if not same_name:
        template_id = "<TemplateId from CreateLiveCallbackTemplate>"
        steps.append(
            Step(
                "CreateLiveCallbackTemplate",
                wanted,
                f"template {desired.template_name}: created, TemplateId {{TemplateId}}",
            )
        )
    else:
        current = same_name[0]
        template_id = int(current["TemplateId"])
        if len(same_name) > 1:
            others = ", ".join(str(t["TemplateId"]) for t in same_name[1:])
            notes.append(f"warning: templates {others} share the name {desired.template_name}; using {template_id}")

        def same(name: str, value: Any) -> bool:
            if name not in READ_BACK:  # not read back: the Description's fingerprint stands for it
                return (current.get("Description") or "") == wanted["Description"]
            found = current.get(name)
            return sorted(found or []) == value if isinstance(value, list) else (found or "") == value

        changed = {k: v for k, v in wanted.items() if not same(k, v)}
        if changed:
            names = ", ".join(sorted(changed))
            steps.append(
                Step(
                    "ModifyLiveCallbackTemplate",
                    {"TemplateId": template_id, **wanted},
                    f"template {desired.template_name} ({template_id}): updated {names}",
                )
            )
        else:
            notes.append(f"template {desired.template_name} ({template_id}): unchanged")

    rule = next(
        (r for r in rules if r.get("DomainName") == desired.domain and r.get("AppName") == desired.app_name), None
    )
    where = f"{desired.domain}/{desired.app_name}"
    bind = {"DomainName": desired.domain, "AppName": desired.app_name, "TemplateId": template_id}
    if rule is None:
        steps.append(Step("CreateLiveCallbackRule", bind, f"rule {where} -> template {{TemplateId}}: created"))
    elif rule.get("TemplateId") == template_id:
        notes.append(f"rule {where} -> {template_id}: unchanged")
    elif not replace_rule:
        raise SetupError(
            f"{where} is already bound to callback template {rule.get('TemplateId')}; "
            "re-run with --replace-rule to bind it to this template instead"
        )
    else:
        steps.append(
            Step(
                "DeleteLiveCallbackRule",
                {"DomainName": desired.domain, "AppName": desired.app_name},
                f"rule {where}: unbound from template {rule.get('TemplateId')}",
            )
        )
        steps.append(Step("CreateLiveCallbackRule", bind, f"rule {where} -> template {{TemplateId}}: created"))
    return steps, notes


def configure(
    desired: Desired,
    client: live_client.LiveClient | None,
    *,
    dry_run: bool,
    replace_rule: bool,
    out: TextIO,
) -> list[Step]:
    """Read the current templates and rules, then send (or with `dry_run` print) the writes."""
    if client is None:
        templates: list[dict[str, Any]] = []
        rules: list[dict[str, Any]] = []
        print("no credentials: planning for an account with no callback template or rule", file=out)
    else:
        found = _call(client, "DescribeLiveCallbackTemplates", {})
        templates = [json.loads(t.to_json_string()) for t in found.Templates or []]
        found_rules = _call(client, "DescribeLiveCallbackRules", {})
        rules = [json.loads(r.to_json_string()) for r in found_rules.Rules or []]

    steps, notes = plan(desired, templates, rules, replace_rule)
    for note in notes:
        print(note, file=out)
    if dry_run:
        for step in steps:
            print(json.dumps({"Action": step.action, "Params": masked(step.params)}, ensure_ascii=False), file=out)
        print(f"dry run: {len(steps)} request(s) not sent", file=out)
        return steps

    assert client is not None
    created_id: int | None = None
    for step in steps:
        params = dict(step.params)
        if step.action == "CreateLiveCallbackRule" and not isinstance(params["TemplateId"], int):
            params["TemplateId"] = created_id
        answer = _call(client, step.action, params)
        if step.action == "CreateLiveCallbackTemplate":
            created_id = int(answer.TemplateId)
        print(step.done.format(TemplateId=params.get("TemplateId", created_id)), file=out)
    if not steps:
        print("nothing to change", file=out)
    return steps


def exception_levels(text: str) -> tuple[str, ...]:
    levels = tuple(dict.fromkeys(level.strip().lower() for level in text.split(",") if level.strip()))
    unknown = [level for level in levels if level not in EXCEPTION_LEVELS]
    if unknown or not levels:
        raise SetupError(f"--record-exception-levels takes {', '.join(EXCEPTION_LEVELS)}; got {text!r}")
    return levels


def callback_key(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    """--key, else $LIVE_CALLBACK_KEY, else the first of $LIVE_CALLBACK_KEYS (tooling/access.py);
    for the local stack (`--local`) the development key when none is set."""
    explicit = args.key or env.get("LIVE_CALLBACK_KEY", "").strip() or None
    return access.callback_key(explicit, env, development=bool(getattr(args, "local", False)))[0]


# The command line (scripts/configure_callbacks.py)


def parse_args(argv: Sequence[str] | None, env: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="configure_callbacks",
        description="Point CSS live callbacks at the deployed functions: one callback template, bound by one rule.",
    )
    parser.add_argument(
        "--base-url", "--url", dest="base_url", help="base URL; the nine routes of deploy/functions.yml are appended"
    )
    parser.add_argument(
        "--urls-from",
        type=Path,
        metavar="FILE",
        help="the nine URLs from a file: JSON {kind: URL} or the saved output of `scf deploy` / `scf info`",
    )
    for key in ROUTES:
        parser.add_argument(f"--{key.replace('_', '-')}-url", dest=f"{key}_url", help=f"{key} URL (Function URL)")
    parser.add_argument(
        "--domain", default=env.get("PUSH_DOMAIN"), help="push domain the callbacks are for (default: $PUSH_DOMAIN)"
    )
    parser.add_argument(
        "--app-name",
        default=env.get("APP_NAME") or DEFAULT_APP_NAME,
        help="push path AppName (default: $APP_NAME, live)",
    )
    parser.add_argument(
        "--key",
        help="callback key (CallbackKey); default: the first of $LIVE_CALLBACK_KEYS (or $LIVE_CALLBACK_KEY)",
    )
    parser.add_argument(
        "--template-name", default=DEFAULT_TEMPLATE_NAME, help="template to create or update (letters, digits, _, -)"
    )
    parser.add_argument("--region", default=env.get("REGION") or "ap-guangzhou", help="API region (default: $REGION)")
    parser.add_argument("--endpoint", help="API endpoint, e.g. http://127.0.0.1:PORT for the local stand-in")
    parser.add_argument(
        "--local",
        action="store_true",
        help="the running local stack: its Live API stand-in, its gateway's routes, its push domain",
    )
    parser.add_argument("--replace-rule", action="store_true", help="rebind a domain/AppName bound to another template")
    parser.add_argument(
        "--record-exception-levels",
        default=",".join(DEFAULT_EXCEPTION_LEVELS),
        help="recording exceptions called back: error, warning, info (default: error,warning)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the write requests (key masked), send none")
    return parser.parse_args(argv)


def main(
    argv: Sequence[str] | None, env: Mapping[str, str], out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """scripts/configure_callbacks.py: 0 when the template and rule are as wanted, 2 when set-up is
    missing (one line says what), 1 when the Live API refused a call."""
    out = out or sys.stdout
    args = parse_args(argv, env)
    try:
        if args.local:  # the local stack's stack.env fills what the flags leave open
            env = {**env, **access.environment(argparse.Namespace(local=True), {})}
            args.endpoint = args.endpoint or f"{env.get('LIVE_API_SCHEME', 'http')}://{env['LIVE_API_ENDPOINT']}"
            has_url = args.urls_from or any(getattr(args, f"{key}_url") for key in ROUTES)
            args.base_url = args.base_url or (None if has_url else access.local_url(env))
            args.domain = args.domain or env.get("PUSH_DOMAIN")
        if not args.domain:
            raise SetupError("no push domain: give --domain or set PUSH_DOMAIN")
        if not DESCRIPTION_PATTERN.fullmatch(args.template_name):
            raise SetupError("--template-name may hold only Chinese, letters, digits, _ and - (Live API rule)")
        overrides = {key: getattr(args, f"{key}_url") for key in ROUTES}
        desired = Desired(
            template_name=args.template_name,
            urls=notify_urls(args.base_url, overrides, args.urls_from),
            callback_key=callback_key(args, env),
            domain=args.domain,
            app_name=args.app_name,
            exception_levels=exception_levels(args.record_exception_levels),
        )
        credential = credentials(env)
        if credential is None and not args.dry_run:
            raise SetupError(
                "no credentials: set TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY "
                "(or TENCENT_SECRET_ID and TENCENT_SECRET_KEY, as in .env)"
            )
        client = make_client(credential, args.region, args.endpoint) if credential else None
        configure(desired, client, dry_run=args.dry_run, replace_rule=args.replace_rule, out=out)
    except SetupError as exc:
        print(f"configure_callbacks: {exc}", file=err or sys.stderr)
        return 2
    except CallFailed as exc:
        print(f"configure_callbacks: {exc}", file=err or sys.stderr)
        return 1
    return 0
