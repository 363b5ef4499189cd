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
    "audio_moderation": 315,
    "push_exception": 321,
    "record_status": 332,
    "record_exception": 341,
}
"""Each function kind (= functions/<kind>/) and the CSS `event_type` it receives: the nine URLs of
a callback template (CreateLiveCallbackTemplate, tencentcloud-sdk-python-live 3.1.195)."""

KINDS: tuple[str, ...] = tuple(EVENT_CODES)
KIND_OF_CODE: dict[int, str] = {code: kind for kind, code in EVENT_CODES.items()}
"""The function kind that receives each CSS `event_type`."""
SESSION_KINDS = ("stream_begin", "stream_end")

HIT_KINDS = ("porn_detect", "audio_moderation")
"""Moderation hits (image and audio): evidence under moderation/, published once, acted on."""

SUGGESTIONS = ("Block", "Review", "Pass")
"""A moderation hit's `suggestion`, most serious first."""
DEFAULT_PUBLISHED = ("Block", "Review")
"""Suggestions published to the topic unless MODERATION_SUGGESTIONS says otherwise."""

SESSIONS, RECORDS, SNAPSHOTS, MODERATION = "sessions/", "records/", "snapshots/", "moderation/"
HEALTH = "health/"
"""Push exceptions (event 321): a stream in trouble."""
RECORDING_STATUS, RECORDING_EXCEPTIONS = "recording-status/", "recording-exceptions/"
"""Recording status changes (332) and recording exceptions (341), beside the recordings."""
QUARANTINE = "quarantine/"
"""Authentic callbacks that could not be used, kept with the reason."""
CLAIMS = "claims/"
"""Create-only takeover markers of the publish-once claims (shared/claim.py)."""
FOLDERS = (SESSIONS, RECORDS, SNAPSHOTS, MODERATION, HEALTH, RECORDING_STATUS, RECORDING_EXCEPTIONS, QUARANTINE)
"""Folders of stored callbacks, under the configured prefix."""
FOLDER_OF: dict[str, str] = {
    "stream_begin": SESSIONS,
    "stream_end": SESSIONS,
    "record": RECORDS,
    "snapshot": SNAPSHOTS,
    "porn_detect": MODERATION,
    "audio_moderation": MODERATION,
    "push_exception": HEALTH,
    "record_status": RECORDING_STATUS,
    "record_exception": RECORDING_EXCEPTIONS,
}


def is_event_type(value: object, kind: str) -> bool:
    """Whether a payload's `event_type` (a number, or digits as a string) is `kind`'s."""
    expected = EVENT_CODES[kind]
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == expected
    return isinstance(value, str) and value.strip() == str(expected)
