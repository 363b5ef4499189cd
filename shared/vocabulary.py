"""The project's words, defined once: function kinds, CSS event codes, suggestions, COS folders.

Imported by the pipeline, the tools, the stand-ins and the tests alike, so a new kind or folder
is a change in one place. Plain constants only: importing this costs nothing at a cold start.
"""

from __future__ import annotations

EVENT_CODES: dict[str, int] = {
    "stream_begin": 1,
    "stream_end": 0,
    "record": 100,
    "snapshot": 200,
    "porn_detect": 317,
}
"""Each function kind (= functions/<kind>/) and the CSS `event_type` it receives."""

KINDS: tuple[str, ...] = tuple(EVENT_CODES)
KIND_OF_CODE: dict[int, str] = {code: kind for kind, code in EVENT_CODES.items()}
"""The function kind that receives each CSS `event_type`."""
SESSION_KINDS = ("stream_begin", "stream_end")

SUGGESTIONS = ("Block", "Review", "Pass")
"""A moderation hit's `suggestion`, most serious first."""
DEFAULT_PUBLISHED = ("Block", "Review")
"""Suggestions published to the topic unless MODERATION_SUGGESTIONS says otherwise."""

SESSIONS, RECORDS, SNAPSHOTS, MODERATION = "sessions/", "records/", "snapshots/", "moderation/"
QUARANTINE = "quarantine/"
"""Authentic callbacks that could not be used, kept with the reason."""
CLAIMS = "claims/"
"""Create-only takeover markers of the publish-once claims (shared/claim.py)."""
FOLDERS = (SESSIONS, RECORDS, SNAPSHOTS, MODERATION, QUARANTINE)
"""Folders of stored callbacks, under the configured prefix."""
FOLDER_OF: dict[str, str] = {
    "stream_begin": SESSIONS,
    "stream_end": SESSIONS,
    "record": RECORDS,
    "snapshot": SNAPSHOTS,
    "porn_detect": MODERATION,
}


def is_event_type(value: object, kind: str) -> bool:
    """Whether a payload's `event_type` (a number, or digits as a string) is `kind`'s."""
    expected = EVENT_CODES[kind]
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == expected
    return isinstance(value, str) and value.strip() == str(expected)
