"""Structured logging: one JSON line per invocation, scrubbed of secrets.

SCF collects stdout into the function's log. Callback keys, credentials and push-auth values
(`txSecret`, from `stream_param`) are removed from every line before it is written; the same
scrub runs over every document the functions store or publish (`scrub_json`).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "***"
_GAP = r"(?:\s|\+|%20)*"  # spaces, as sent or URL-encoded
_NAME = rf"tx{_GAP}secret"
_TX_SECRET = re.compile(
    # 1. as a JSON member, any value but a container: "txSecret": "..." | 12 | true | ["a", 1]
    rf"(\"{_NAME}\"\s*:\s*)(?:\"(?:[^\"\\]|\\.)*\"|\[[^\[\]{{}}]*\]|[-+.0-9A-Za-z]+)"
    # 2. as a query parameter, plain, URL-encoded once or twice: txSecret=..., txSecret%3D...
    rf"|({_NAME}{_GAP}(?:=|%3D|%253D|:){_GAP})(?:\\[\"\\/bfu]|%(?!26|2526)[0-9A-Fa-f]{{2}}|[^&\s\"\\%,;#])*",
    re.IGNORECASE,
)
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def _redact(match: re.Match[str]) -> str:
    member = match.group(1)
    return f'{member}"{REDACTED}"' if member is not None else match.group(2) + REDACTED


def _name_start(lowered: str, at: int) -> int:
    """Where the name ending in the `secret` at `at` starts (its `tx`, or a quote before it); -1 if none."""
    i = at
    while True:
        if lowered.startswith("%20", i - 3):
            i -= 3
        elif i > 0 and lowered[i - 1] in " \t\n\r+":
            i -= 1
        else:
            break
    if i < 2 or lowered[i - 2 : i] != "tx":
        return -1
    return i - 3 if i >= 3 and lowered[i - 3] == '"' else i - 2


def scrub_json(text: str) -> str:
    """JSON text (or any text) with every `txSecret` value replaced, in every spelling a push URL,
    an encoded push URL or a client's object could give it; JSON stays JSON.

    The pattern is tried only where a `secret` (found by a case-folded `str.find`) ends a name: a
    regex scan of every position would cost ~35 us per stored document.
    """
    lowered = text.lower()
    at = lowered.find("secret")
    if at < 0:
        return text
    parts: list[str] = []
    done = 0
    while at >= 0:
        start = _name_start(lowered, at)
        match = _TX_SECRET.match(text, start) if start >= done else None
        if match is None and start >= done and text[start] == '"':
            match = _TX_SECRET.match(text, start + 1)
        if match is not None:
            parts += (text[done : match.start()], _redact(match))
            done = match.end()
        at = lowered.find("secret", max(done, at + 6))
    parts.append(text[done:])
    return "".join(parts)


def scrub(text: str, secrets: Iterable[str]) -> str:
    text = scrub_json(text)
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
