"""Where the five deployed functions answer: one URL per callback kind.

Every operator script that sends to, or points CSS at, the deployed functions (smoke.py,
simulate.py, replay_quarantine.py, configure_callbacks.py) accepts the same three forms:

- `--url BASE`: one base URL with the five routes of deploy/functions.yml below it (the local
  gateway, or an API Gateway service that holds all five APIs);
- `--stream-begin-url URL ... --porn-detect-url URL`: one URL per function (Function URLs, or the
  five API Gateway services of deploy/apigw/); each overrides `--url` for its kind;
- `--urls-from FILE`: a JSON object {kind or instance name: URL}, or the text `scf deploy` /
  `scf info` printed, read per instance section (see `urls_from_text`).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from deploy.spec import Spec, default_spec

URL = re.compile(r"""https?://[^\s"'\\,;<>{}\[\]]+""")


class EndpointError(ValueError):
    """The URLs given do not name all five functions; the message says which flag to add."""


def flag(kind: str) -> str:
    return "--" + kind.replace("_", "-") + "-url"


def add_arguments(parser: argparse.ArgumentParser, spec: Spec | None = None, base_help: str | None = None) -> None:
    spec = spec or default_spec()
    group = parser.add_argument_group("where the functions answer (a base URL, five URLs, or a deploy's output)")
    group.add_argument("--url", help=base_help or "base URL; the routes of deploy/functions.yml are appended")
    for kind in spec.kinds:
        group.add_argument(flag(kind), dest=f"{kind}_url", metavar="URL", help=f"URL of {kind} (e.g. its Function URL)")
    group.add_argument(
        "--urls-from",
        type=Path,
        metavar="FILE",
        help="JSON {kind: URL}, or the saved output of `scf deploy` / `scf info` (one URL per instance)",
    )


def _check(kind: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EndpointError(f"the {kind} URL must be an absolute http(s) URL, got {url!r}")
    return url


def resolve(
    base_url: str | None,
    per_kind: Mapping[str, str | None] | None = None,
    spec: Spec | None = None,
) -> dict[str, str]:
    """kind -> URL: each kind's own URL, else the base URL + its route."""
    spec = spec or default_spec()
    per_kind = per_kind or {}
    if base_url:
        _check("--url", base_url)
    urls: dict[str, str] = {}
    for function in spec.functions:
        own = per_kind.get(function.kind)
        if own:
            urls[function.kind] = _check(function.kind, own)
        elif base_url:
            urls[function.kind] = base_url.rstrip("/") + function.route
        else:
            raise EndpointError(
                f"no URL for {function.kind}: give --url (base URL with the five routes),"
                f" {flag(function.kind)} (its Function URL) or --urls-from"
            )
    return urls


def urls_from_text(text: str, spec: Spec | None = None) -> dict[str, str]:
    """kind -> URL found in a JSON object or in the output of `scf deploy` / `scf info`.

    JSON: keys are kinds or instance names. Text: Tencent's CLI prints each instance's outputs
    below a line naming the instance (`<instance> 部署成功:` after a deploy, `<instance>` in
    `scf info`); the first http(s) URL in a section is that instance's, preferring a Function URL
    host (`*.tencentscf.com`) or a URL ending in the function's route.
    """
    spec = spec or default_spec()
    names = {spec.url_instance(k): k for k in spec.kinds} | {spec.apigw_instance(k): k for k in spec.kinds}
    names |= {k: k for k in spec.kinds}
    stripped = text.strip()
    if stripped.startswith("{"):
        data = json.loads(stripped)
        if not isinstance(data, dict):
            raise EndpointError("the URL file's JSON must be an object {kind: URL}")
        found = {}
        for key, value in data.items():
            if key in names and isinstance(value, str):
                found[names[key]] = _check(names[key], value)
        return found
    by_name = sorted(names, key=len, reverse=True)
    candidates: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        words = set(re.split(r"[\s:：]+", line.strip()))
        named = next((n for n in by_name if n in words), None)
        if named is not None and not URL.search(line):
            current = names[named]
            continue
        if current is not None:
            candidates.setdefault(current, []).extend(URL.findall(line))
    found = {}
    for kind, urls in candidates.items():
        route = spec.function(kind).route
        preferred = [u for u in urls if urlsplit(u).hostname and str(urlsplit(u).hostname).endswith(".tencentscf.com")]
        preferred += [u for u in urls if u.rstrip("/").endswith(route)]
        if preferred or urls:
            found[kind] = (preferred or urls)[0]
    return found


def from_args(args: argparse.Namespace, spec: Spec | None = None) -> dict[str, str]:
    """kind -> URL from the flags `add_arguments` defined (raises EndpointError)."""
    spec = spec or default_spec()
    per_kind: dict[str, str | None] = {}
    if args.urls_from is not None:
        try:
            text = args.urls_from.read_text(encoding="utf-8")
        except OSError as exc:
            raise EndpointError(f"cannot read {args.urls_from}: {exc.strerror}") from None
        per_kind.update(urls_from_text(text, spec))
    for kind in spec.kinds:
        own = getattr(args, f"{kind}_url", None)
        if own:
            per_kind[kind] = own
    return resolve(args.url, per_kind, spec)
