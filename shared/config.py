"""Configuration of a function instance, read from environment variables (the SCF way).

Read once per warm instance and validated up front, so a missing or malformed variable gives
one clear answer that names it instead of a failure deep inside an SDK call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shared.errors import ConfigurationError
from shared.signing import DEFAULT_SIGN_TOLERANCE_SECONDS
from shared.vocabulary import DEFAULT_PUBLISHED, HIT_KINDS, KINDS, SUGGESTIONS

DEFAULT_MODERATION_MIN_SCORE = 90


@dataclass(frozen=True)
class Settings:
    callback_keys: tuple[str, ...]
    sign_tolerance_seconds: int
    cos_bucket: str
    cos_region: str
    cos_prefix: str = ""
    cos_scheme: str = "https"
    cos_proxy: str | None = None
    moderation_topic: str | None = None
    moderation_suggestions: frozenset[str] = frozenset(DEFAULT_PUBLISHED)
    moderation_min_score: int = DEFAULT_MODERATION_MIN_SCORE
    cmq_endpoint: str | None = None
    """The topic's data-flow address (`CMQ_ENDPOINT`), e.g. http://gz.mqadapter.cmq.tencentyun.com."""
    notify_kinds: frozenset[str] = frozenset(HIT_KINDS)
    """The kinds whose stored events are published to the topic (`NOTIFY_KINDS`; shared/notify.py)."""
    secret_id: str = field(default="", repr=False)
    secret_key: str = field(default="", repr=False)
    session_token: str | None = field(default=None, repr=False)

    def require_topic(self) -> str:
        """The moderation topic, for the function that publishes to it; a clear error without one."""
        if not self.moderation_topic:
            raise ConfigurationError("MODERATION_TOPIC is not set: name the TDMQ CMQ topic for moderation hits")
        return self.moderation_topic

    def publishes(self, kind: str) -> bool:
        return kind in self.notify_kinds

    def require_cmq_endpoint(self) -> str:
        """Where the topic's data-flow API answers, for the functions that publish to it."""
        if not self.cmq_endpoint:
            raise ConfigurationError(
                "CMQ_ENDPOINT is not set: copy the topic's API request address from the TDMQ console"
                " (the private http://<region>.mqadapter.cmq.tencentyun.com from inside Tencent Cloud)"
            )
        return self.cmq_endpoint

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a log line."""
        values = (*self.callback_keys, self.secret_id, self.secret_key, self.session_token or "")
        return tuple(v for v in values if len(v) >= 4)


def _required(env: Mapping[str, str], name: str, hint: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is not set: {hint}")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, lowest: int, highest: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if not lowest <= value <= highest:
        raise ConfigurationError(f"{name} must be between {lowest} and {highest}, got {value}")
    return value


def _scheme(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip().lower() or "https"
    if value not in ("http", "https"):
        raise ConfigurationError(f"{name} must be 'http' or 'https', got {value!r}")
    return value


def endpoint_parts(endpoint: str) -> tuple[str, str]:
    """`(scheme, host[:port])` of a data-flow endpoint such as https://cmq-gz.public.tencenttdmq.com."""
    parts = urlsplit(endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") or parts.query:
        raise ConfigurationError(
            "CMQ_ENDPOINT must be the topic's API request address from the TDMQ console, such as"
            f" http://gz.mqadapter.cmq.tencentyun.com; got {endpoint[:80]!r}"
        )
    return parts.scheme, parts.netloc


def load_settings(env: Mapping[str, str] | None = None, *, callbacks: bool = True) -> Settings:
    """Read and validate the configuration (the topic is checked by `Settings.require_topic`).

    `callbacks=False` for functions that receive no callback (reconcile): no key is needed.
    """
    env = os.environ if env is None else env
    keys = tuple(k.strip() for k in env.get("LIVE_CALLBACK_KEYS", "").split(",") if k.strip())
    if not keys and callbacks:
        raise ConfigurationError(
            "LIVE_CALLBACK_KEYS is not set: give the CSS callback key(s), comma-separated;"
            " no callback is accepted without one"
        )
    bucket = _required(env, "COS_BUCKET", "name the COS bucket as name-appid")
    if "-" not in bucket or not bucket.rsplit("-", 1)[1].isdigit():
        raise ConfigurationError(f"COS_BUCKET must look like name-appid, got {bucket!r}")
    region = _required(env, "COS_REGION", "name the bucket's region, e.g. ap-guangzhou")
    prefix = env.get("COS_PREFIX", "").strip().strip("/")
    suggestions = frozenset(
        s.strip().capitalize()
        for s in env.get("MODERATION_SUGGESTIONS", ",".join(DEFAULT_PUBLISHED)).split(",")
        if s.strip()
    )
    unknown = suggestions - set(SUGGESTIONS)
    if unknown:
        raise ConfigurationError(
            f"MODERATION_SUGGESTIONS may hold {', '.join(SUGGESTIONS)}; got {', '.join(sorted(unknown))}"
        )
    topic = env.get("MODERATION_TOPIC", "").strip() or None
    cmq_endpoint = env.get("CMQ_ENDPOINT", "").strip().rstrip("/") or None
    if cmq_endpoint:
        endpoint_parts(cmq_endpoint)
    notify_kinds = notify_kinds_of(env)
    secret_id = _required(env, "TENCENTCLOUD_SECRETID", "give the function an execution role (SCF sets it)")
    secret_key = _required(env, "TENCENTCLOUD_SECRETKEY", "give the function an execution role (SCF sets it)")
    return Settings(
        callback_keys=keys,
        sign_tolerance_seconds=_integer(env, "LIVE_SIGN_TOLERANCE_SECONDS", DEFAULT_SIGN_TOLERANCE_SECONDS, 0, 86400),
        cos_bucket=bucket,
        cos_region=region,
        cos_prefix=f"{prefix}/" if prefix else "",
        cos_scheme=_scheme(env, "COS_SCHEME"),
        cos_proxy=env.get("COS_PROXY", "").strip() or None,
        moderation_topic=topic,
        moderation_suggestions=suggestions,
        moderation_min_score=_integer(env, "MODERATION_MIN_SCORE", DEFAULT_MODERATION_MIN_SCORE, 0, 100),
        cmq_endpoint=cmq_endpoint,
        notify_kinds=notify_kinds,
        secret_id=secret_id,
        secret_key=secret_key,
        session_token=env.get("TENCENTCLOUD_SESSIONTOKEN", "").strip() or None,
    )


def notify_kinds_of(env: Mapping[str, str]) -> frozenset[str]:
    """`NOTIFY_KINDS`: kinds, comma-separated, `all`, or `none`; unset or empty means the moderation
    hits (as before: a deploy file passes an unset variable as empty)."""
    names = {k.strip().lower() for k in env.get("NOTIFY_KINDS", "").split(",") if k.strip()}
    if not names:
        return frozenset(HIT_KINDS)
    if names == {"all"}:
        return frozenset(KINDS)
    if names == {"none"}:
        return frozenset()
    unknown = names - set(KINDS)
    if unknown:
        raise ConfigurationError(
            f"NOTIFY_KINDS may hold {', '.join(KINDS)}, 'all' or 'none'; got {', '.join(sorted(unknown))[:200]}"
        )
    return frozenset(names)
