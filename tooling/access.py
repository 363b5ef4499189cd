"""Where an operator tool finds the bucket and the callback key: one way for every tool.

`--local` reads the running local stack's settings from .local/stack.env (./scripts/local.sh
writes it, with the gateway's URL, and removes it when it stops); otherwise the functions' own variables (COS_BUCKET,
COS_REGION, COS_PREFIX, TENCENTCLOUD_SECRETID/SECRETKEY[/SESSIONTOKEN], LIVE_CALLBACK_KEYS) or
the flags --bucket, --region, --prefix, --key. Anything missing is one `SetupError` whose message
names it and how to give it; the command lines print that message, never a traceback.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from devstack.dev import DEV_CALLBACK_KEY
from shared.config import Settings, load_settings
from shared.errors import ConfigurationError

ROOT = Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    """The local stack's state (stack.env, logs, messages); LIVE_LOCAL_STATE_DIR moves it (the tests do).
    Read when asked, not at import, so that a tool run again in one process sees the current value."""
    return Path(os.environ.get("LIVE_LOCAL_STATE_DIR") or ROOT / ".local")


def stack_env() -> Path:
    """Written by the running local stack: its COS stand-in's variables and LOCAL_GATEWAY_URL."""
    return state_dir() / "stack.env"


GATEWAY_VARIABLE = "LOCAL_GATEWAY_URL"
LOCAL_URL = "http://127.0.0.1:9000"
"""The local stack's gateway by default (./scripts/local.sh)."""
FLAGS = {"bucket": "COS_BUCKET", "region": "COS_REGION", "prefix": "COS_PREFIX"}
NOT_RUNNING = " (is ./scripts/local.sh running?)"
HOW_TO_REACH = (
    "; for the running local stack add --local, for a real bucket set the functions' variables"
    " (COS_BUCKET, COS_REGION, TENCENTCLOUD_SECRETID, TENCENTCLOUD_SECRETKEY) or give --bucket and --region"
)


class SetupError(Exception):
    """Something the tool needs is missing or unusable; the message says what and how to give it."""


def add_arguments(parser: argparse.ArgumentParser, key: bool = False, again: bool = False) -> None:
    """The flags that say where the stored data is (and, with `key`, which callback key signs).

    `again`: the same flags once more, on a subcommand's parser, so they are accepted after the
    subcommand too (`moderation.py review --local`); they default to nothing there, so a flag given
    before the subcommand is not reset by the subcommand's own default."""
    quiet: dict[str, object] = {"default": argparse.SUPPRESS} if again else {}
    group = parser.add_argument_group("where the bucket is (default: the functions' variables)")
    local_help = f"the running local stack ({_shown(stack_env())})"
    group.add_argument("--local", action="store_true", help=local_help, **quiet)
    group.add_argument("--env-file", type=Path, help="read NAME=value settings from this file", **quiet)
    group.add_argument("--bucket", help="COS bucket as name-appid (default: $COS_BUCKET)", **quiet)
    group.add_argument("--region", help="the bucket's region (default: $COS_REGION)", **quiet)
    group.add_argument("--prefix", help="key prefix the functions write under (default: $COS_PREFIX)", **quiet)
    if key:
        parser.add_argument("--key", help="callback key to sign with (default: the first of $LIVE_CALLBACK_KEYS)")


def read_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines (as the local stack writes them); blank lines and # comments skipped."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def environment(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, str]:
    """`env`, then the local stack's or `--env-file`'s settings, then the flags."""
    merged = dict(env)
    local = bool(getattr(args, "local", False))
    env_file = getattr(args, "env_file", None)
    path = stack_env() if local and env_file is None else env_file
    if path is not None:
        if not path.is_file():
            raise SetupError(f"{_shown(path)} not found" + (NOT_RUNNING if local else ""))
        merged.update(read_env_file(path))
    for flag, name in FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            merged[name] = value
    return merged


def bucket_settings(env: Mapping[str, str], local: bool = False) -> Settings:
    """The functions' settings, for reading and writing their bucket (no callback key needed)."""
    try:
        return load_settings({**env, "LIVE_CALLBACK_KEYS": env.get("LIVE_CALLBACK_KEYS") or "not-needed-here"})
    except ConfigurationError as exc:
        raise SetupError(exc.reason + (NOT_RUNNING if local else HOW_TO_REACH)) from None


def callback_key(explicit: str | None, env: Mapping[str, str], development: bool) -> tuple[str, str]:
    """The key to sign with and where it came from: `--key`, else the newest of LIVE_CALLBACK_KEYS,
    else (`development`: the local stack) the development key."""
    if explicit:
        return explicit, "--key"
    keys = [k.strip() for k in env.get("LIVE_CALLBACK_KEYS", "").split(",") if k.strip()]
    if keys:
        return keys[0], "LIVE_CALLBACK_KEYS"
    if development:
        return DEV_CALLBACK_KEY, "the development key"
    raise SetupError("no callback key: give --key or set LIVE_CALLBACK_KEYS (the functions' key list)")


def local_url(env: Mapping[str, str]) -> str:
    """The running local stack's gateway (from its stack.env), else the default address."""
    return env.get(GATEWAY_VARIABLE) or LOCAL_URL


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)
