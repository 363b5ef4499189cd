"""Publish-once claims: a side effect (a topic publish) happens once per key however often, and
however concurrently, the same callback is delivered.

The evidence object is the claim. Its states, kept in the object's metadata:

- absent: nobody has tried; a create-only PUT (`x-cos-forbid-overwrite`) makes it `pending`;
- `pending`, owned by this invocation (its token): ours, also when our create's answer was lost
  and our own retry met the object;
- `pending`, another owner, fresh: another delivery is working on it: `ClaimInProgress` (5xx),
  never 200, since CSS does not come back after a 200;
- `pending`, stale (claimed `STALE_AFTER_SECONDS` ago; no invocation lives that long) or
  `refused` (the topic refused the message for good): taken over by exactly one delivery, the one
  whose create-only takeover marker for that owner wins;
- `published`: done; every later delivery is a duplicate.

Modelled on Powertools' idempotency layer (a record per key with a status written by a
conditional put; another owner's in-progress record is an error, not a success).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from shared.budget import Budget
from shared.errors import ClaimInProgress
from shared.storage import CosStore
from shared.vocabulary import CLAIMS

STALE_AFTER_SECONDS = 30
"""A `pending` claim older than this belongs to an invocation that has ended (SCF timeout 15 s)."""

PENDING, PUBLISHED, REFUSED = "pending", "published", "refused"

ACQUIRED, DUPLICATE = "acquired", "duplicate"


def new_token() -> str:
    """An owner token unique to one invocation."""
    return uuid.uuid4().hex


def claimed_age(headers: Mapping[str, str], now: float | None = None) -> float:
    """Seconds since the claim was made: its `claimed-at` metadata, else its Last-Modified."""
    now = time.time() if now is None else now
    stamp = headers.get("x-cos-meta-claimed-at", "")
    if stamp.isdigit():
        return now - int(stamp)
    try:
        return now - parsedate_to_datetime(headers.get("last-modified", "")).timestamp()
    except (TypeError, ValueError):
        return float("inf")


@dataclass
class Claim:
    """One invocation's claim on `key` in `store`; `metadata` goes on every write of the object."""

    store: CosStore
    key: str
    token: str
    metadata: Mapping[str, str]
    budget: Budget
    taken_over_from: str | None = None
    keep_previous: bool = False
    """On a takeover, read the body being taken over first (into `previous`): what the failed
    owner recorded of its work (moderation_action's effects), which the new owner continues."""
    previous: bytes | None = None
    claimed_at: str = ""

    def _meta(self, state: str, **extra: str) -> dict[str, str]:
        return {**self.metadata, "state": state, "owner": self.token, **extra}

    def _create_or_own(self, key: str, body: bytes, meta: Mapping[str, str]) -> dict[str, str] | None:
        """Create `key` if absent; None when it is ours (created now or by our lost attempt), else its headers."""
        if self.store.create(key, body, meta, self.budget):
            return None
        headers = self.store.head(key, self.budget)
        if headers is None:  # released between our create and our head: try once more
            if self.store.create(key, body, meta, self.budget):
                return None
            headers = self.store.head(key, self.budget)
            if headers is None:
                raise ClaimInProgress("the claim changes hands too fast; retry")
        if headers.get("x-cos-meta-owner") == self.token:
            return None
        return headers

    def acquire(self, body: bytes) -> str:
        """`ACQUIRED` (this invocation may publish) or `DUPLICATE`; raises `ClaimInProgress`."""
        self.claimed_at = str(int(time.time()))
        meta = self._meta(PENDING, **{"claimed-at": self.claimed_at})
        headers = self._create_or_own(self.key, body, meta)
        if headers is None:
            return ACQUIRED
        state = headers.get("x-cos-meta-state")
        if state == PUBLISHED:
            return DUPLICATE
        if state == PENDING and claimed_age(headers) < STALE_AFTER_SECONDS:
            raise ClaimInProgress("another delivery of this hit is publishing it; retry")
        # Stale or refused: of all deliveries that see this owner's claim, one takes it over.
        previous = headers.get("x-cos-meta-owner") or headers.get("etag", "").strip('"') or "unknown"
        marker = f"{CLAIMS}{self.key.removesuffix('.json')}/{previous}"
        record = json.dumps({"from": previous, "state": state, "by": self.token}).encode()
        if self._create_or_own(marker, record, self._meta("takeover")) is not None:
            raise ClaimInProgress("another delivery is taking over this hit's stale claim; retry")
        if self.keep_previous:
            self.previous = self.store.get_bytes(self.key, self.budget)
        self.store.put_json(self.key, body, meta, self.budget)
        self.taken_over_from = previous
        return ACQUIRED

    def mark_progress(self, body: bytes) -> None:
        """Record work done so far; the claim stays ours and `pending`, as old as when it was made."""
        self.store.put_json(self.key, body, self._meta(PENDING, **{"claimed-at": self.claimed_at}), self.budget)

    def mark_published(self, body: bytes, msg_id: str) -> None:
        self.store.put_json(self.key, body, self._meta(PUBLISHED, **{"msg-id": msg_id}), self.budget)

    def mark_done(self, body: bytes, **extra: str) -> None:
        """The effect happened (any effect, not only a publish): every later delivery is a duplicate.

        Same state as `mark_published`, so one protocol serves publish-once and act-once alike.
        """
        self.store.put_json(self.key, body, self._meta(PUBLISHED, **extra), self.budget)

    def mark_refused(self, body: bytes) -> None:
        """Keep the evidence, marked: the next delivery (a replay) takes the claim over and tries again."""
        self.store.put_json(self.key, body, self._meta(REFUSED), self.budget)

    def release(self) -> None:
        """Give the claim up after a failed publish, so CSS's retry publishes at once.

        If this fails too, the claim goes stale after STALE_AFTER_SECONDS, well before CSS's next
        retry (a minute later).
        """
        self.store.delete(self.key, self.budget)
