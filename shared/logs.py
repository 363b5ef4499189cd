"""Structured logging: one JSON line per invocation, scrubbed of secrets.

SCF collects stdout into the function's log. Callback keys, credentials and push-auth values
(`txSecret` in `stream_param`) are removed from every line before it is written.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

# The value after `txSecret=` (any case); the lookbehind keeps the name, so the replacement is a
# literal string and `sub` needs no template expansion per match.
_TX_SECRET = re.compile(r"(?<=txSecret=)[^&\s\"'\\]*", re.IGNORECASE)
REDACTED = "***"
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def scrub_stream_param(value: str | None) -> str | None:
    """`stream_param` with its push-auth `txSecret` value replaced (the push URL's credential)."""
    return _TX_SECRET.sub(REDACTED, value) if value else value


def scrub(text: str, secrets: Iterable[str]) -> str:
    text = _TX_SECRET.sub(REDACTED, text)
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def emit(fields: Mapping[str, Any], secrets: Iterable[str] = ()) -> str:
    """Write one JSON log line to stdout and return it."""
    # ASCII only: a stream id holding U+2028 or U+0085 must not split the line in a log viewer.
    line = scrub(_ENCODER.encode(fields), secrets)
    sys.stdout.write(line + "\n")
    return line
