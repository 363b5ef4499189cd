"""CSS callback signature: `sign = md5(callback_key + str(t))`, `t` being the expiry time.

Usable on its own (`verify_signature(payload, keys)`), in the spirit of Stripe's
`construct_event`: every failure is a typed `SignatureError` with a reason a person can act on.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from shared.errors import ExpiredSignature, InvalidSignature, MissingSignature

DEFAULT_SIGN_TOLERANCE_SECONDS = 300
"""How long after `t` a callback is still accepted.

CSS sets `t` to the event time + 600 s and retries every minute up to 12 times, so the last
retry arrives around event + 13 min = t + 3 min. 300 s covers that schedule plus a minute or two
of clock skew, while a captured `sign`/`t` pair stops working 15 minutes after the event.
"""

_DIGITS = re.compile(r"[0-9]{1,12}")
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")


def sign(key: str, t: int | str) -> str:
    """The signature CSS computes for expiry `t` with callback key `key` (lower-case hex)."""
    return hashlib.md5(f"{key}{t}".encode()).hexdigest()


def _expiry_digits(t: Any) -> str:
    """The decimal digits of `t` as CSS signed them; `t` may arrive as a number or a digit string."""
    if isinstance(t, bool):
        raise MissingSignature("field 't' must be a Unix time in seconds, got a boolean")
    if isinstance(t, int):
        digits = str(t)
    elif isinstance(t, str):
        digits = t
    elif t is None:
        raise MissingSignature("field 't' (signature expiry) is missing")
    else:
        raise MissingSignature(f"field 't' must be a Unix time in seconds, got {type(t).__name__}")
    if not _DIGITS.fullmatch(digits):
        raise MissingSignature("field 't' must be a Unix time in seconds (up to 12 digits)")
    return digits


def verify_signature(
    payload: Mapping[str, Any],
    keys: Sequence[str],
    *,
    now: float | None = None,
    tolerance: int = DEFAULT_SIGN_TOLERANCE_SECONDS,
) -> int:
    """Check `payload["sign"]` against every key and `payload["t"]` against the clock.

    Returns the index of the matching key (0 is the newest). Raises `MissingSignature` (401) when
    `sign` or `t` is absent or malformed, `InvalidSignature` (403) when no key matches, and
    `ExpiredSignature` (403) when `now > t + tolerance`.
    """
    if not keys:
        raise InvalidSignature("no callback key is configured; every callback is refused")
    given = payload.get("sign")
    if given is None:
        raise MissingSignature("field 'sign' is missing")
    if not isinstance(given, str) or not _HEX32.fullmatch(given):
        raise MissingSignature("field 'sign' must be 32 hexadecimal characters")
    digits = _expiry_digits(payload.get("t"))
    given_bytes = given.lower().encode()
    matched = -1
    # Compare against every key, without stopping early, so timing does not tell which matched.
    for index, key in enumerate(keys):
        if hmac.compare_digest(given_bytes, sign(key, digits).encode()) and matched < 0:
            matched = index
    if matched < 0:
        raise InvalidSignature("field 'sign' does not match any configured callback key")
    now = time.time() if now is None else now
    if now > int(digits) + tolerance:
        raise ExpiredSignature(f"signature expired {int(now - int(digits))} s ago (tolerance {tolerance} s)")
    return matched


UNPARSED_CHECK_BYTES = 16 * 1024
"""Bodies larger than this are checked for a signature before they are parsed (`signed_before_parsing`);
every callback CSS sends is far smaller, so the check costs the normal path nothing."""
_RAW_SIGN = re.compile(rb'"sign"\s*:\s*"([0-9a-fA-F]{32})"')
_RAW_T = re.compile(rb'"t"\s*:\s*"?([0-9]{1,12})\b')
_RAW_CANDIDATES = 32


def signed_before_parsing(
    body: bytes, keys: Sequence[str], *, now: float | None = None, tolerance: int = DEFAULT_SIGN_TOLERANCE_SECONDS
) -> bool:
    """Whether the raw body holds a `sign` and a `t` that verify (in any of the first 32 of each).

    A gate, not the check: parsing a body of a MiB of tiny JSON values takes a door past its
    64 MB, and the signature sits inside the JSON, so anyone without the key could push instances
    over their memory by sending such bodies. The gate passes every authentic body (its own `sign`
    and `t` are among the members it finds); `verify_signature` on the parsed payload stays the
    authority for what passes it."""
    if not keys:
        return False
    signs = [m.group(1).lower() for m in itertools.islice(_RAW_SIGN.finditer(body), _RAW_CANDIDATES)]
    times = [m.group(1).decode() for m in itertools.islice(_RAW_T.finditer(body), _RAW_CANDIDATES)]
    now = time.time() if now is None else now
    for digits in times:
        if now > int(digits) + tolerance:
            continue
        expected = {sign(key, digits).encode() for key in keys}
        if any(given in expected for given in signs):
            return True
    return False
