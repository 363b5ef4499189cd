"""Errors the pipeline answers with, each carrying its HTTP status.

The status of every failure is decided here and nowhere else: the gateway turns any
`CallbackError` into `{"code": status, "message": reason}`.
"""

from __future__ import annotations


class CallbackError(Exception):
    """Base of every error the pipeline answers; `status` is the HTTP status it maps to."""

    status = 500
    outcome = "failed"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadRequest(CallbackError):
    """The body is not a usable JSON object (not JSON, not an object, bad encoding)."""

    status = 400
    outcome = "rejected"


class MethodNotAllowed(CallbackError):
    status = 405
    outcome = "rejected"


class PayloadTooLarge(CallbackError):
    status = 413
    outcome = "rejected"


class SignatureError(CallbackError):
    """The callback is not authentic; nothing it carries may be written anywhere."""

    status = 403
    outcome = "forbidden"


class MissingSignature(SignatureError):
    """`sign` or `t` is absent or malformed: the request carries no usable credential."""

    status = 401


class InvalidSignature(SignatureError):
    """`sign` matches none of the configured callback keys."""


class ExpiredSignature(SignatureError):
    """`t` (the signature's expiry) lies further in the past than the tolerance allows."""


class ConfigurationError(CallbackError):
    """The function's environment is incomplete or invalid; it names the variable."""

    status = 500
    outcome = "misconfigured"


class DependencyError(CallbackError):
    """COS or the topic failed; CSS will retry and the retry completes the work."""

    status = 503


class DependencyTimeout(DependencyError):
    """COS or the topic did not answer in time."""

    status = 504


class PublishRefused(DependencyError):
    """The topic refused the message itself (too large, invalid): every retry would be refused too."""


class ClaimInProgress(CallbackError):
    """Another delivery holds a fresh claim on this effect; answering 200 would tell CSS it is done.

    CSS retries any answer but 200, and by its next retry (a minute later) the owner has either
    finished (the retry is a duplicate) or failed (its claim is stale and the retry takes it over).
    """

    status = 503
    outcome = "in_progress"
