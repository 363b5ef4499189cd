"""The publish-once claim (shared/claim.py), state by state, against the COS stand-in.

absent, pending (ours / another's fresh / another's stale), published, refused, and released;
then concurrent copies at each state: exactly one may publish, the others are told the truth.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from email.utils import formatdate

import pytest

from devstack.faults import claims
from shared import claim
from shared.budget import Budget
from shared.config import load_settings
from shared.errors import ClaimInProgress
from shared.storage import CosStore
from tests.conftest import Live

FRESH = 25
"""Seconds: a claim this old may still have a live owner (SCF's timeout is 15 s; 30 s is the line)."""
STALE = 31
"""Seconds: no invocation lives this long, so the owner is gone."""
KEY = "moderation/push.example.com/live/s/2026/11/29/000000000001-abc.json"
BODY = b'{"hit":1}'


@pytest.fixture
def store(live: Live) -> CosStore:
    return CosStore(load_settings())


def _claim(store: CosStore, token: str | None = None) -> claim.Claim:
    return claim.Claim(store, KEY, token or claim.new_token(), {"request-id": "test"}, Budget())


def _put(store: CosStore, state: str, owner: str, age: float) -> None:
    """A claim as another invocation left it `age` seconds ago."""
    store.put_json(KEY, BODY, {"state": state, "owner": owner, "claimed-at": str(int(time.time() - age))})


def _meta(store: CosStore) -> dict[str, str]:
    head = store.head(KEY)
    assert head is not None
    return {k.removeprefix("x-cos-meta-"): v for k, v in head.items() if k.startswith("x-cos-meta-")}


def test_absent_claim_is_created_pending_and_owned(store: CosStore) -> None:
    mine = _claim(store)
    assert mine.acquire(BODY) == claim.ACQUIRED
    meta = _meta(store)
    assert (meta["state"], meta["owner"]) == ("pending", mine.token)
    assert abs(int(meta["claimed-at"]) - time.time()) < 5
    assert mine.taken_over_from is None


def test_our_own_pending_claim_is_ours(store: CosStore) -> None:
    """Our create's answer was lost and our retry met the object we wrote."""
    _put(store, "pending", "me", age=1)
    assert _claim(store, "me").acquire(BODY) == claim.ACQUIRED


@pytest.mark.slow
def test_our_own_create_whose_answer_is_lost_is_recognised(live: Live, store: CosStore) -> None:
    live.stack.cos.faults.set("lose_answer", when=claims, times=1)
    assert _claim(store).acquire(BODY) == claim.ACQUIRED


def test_another_fresh_pending_claim_is_in_progress_not_done(store: CosStore) -> None:
    _put(store, "pending", "other", age=FRESH)
    with pytest.raises(ClaimInProgress):
        _claim(store).acquire(BODY)
    assert _meta(store)["owner"] == "other"


def test_another_stale_pending_claim_is_taken_over(store: CosStore) -> None:
    _put(store, "pending", "crashed", age=STALE)
    mine = _claim(store)
    assert mine.acquire(BODY) == claim.ACQUIRED
    assert mine.taken_over_from == "crashed"
    meta = _meta(store)
    assert (meta["state"], meta["owner"]) == ("pending", mine.token)


def test_a_claim_without_claimed_at_is_aged_by_its_last_modified(store: CosStore) -> None:
    store.put_json(KEY, BODY, {"state": "pending", "owner": "old-version"})
    with pytest.raises(ClaimInProgress):  # just written: fresh
        _claim(store).acquire(BODY)
    stamp = formatdate(1_795_000_000, usegmt=True)
    assert claim.claimed_age({"last-modified": stamp}, now=1_795_000_031) == 31


def test_published_claim_is_a_duplicate(store: CosStore) -> None:
    _put(store, "published", "other", age=1)
    assert _claim(store).acquire(BODY) == claim.DUPLICATE
    assert _meta(store)["state"] == "published"


def test_refused_claim_is_taken_over_at_once(store: CosStore) -> None:
    _put(store, "refused", "other", age=1)
    mine = _claim(store)
    assert mine.acquire(BODY) == claim.ACQUIRED
    assert mine.taken_over_from == "other"


def test_mark_published_and_release(store: CosStore) -> None:
    mine = _claim(store)
    mine.acquire(BODY)
    mine.mark_published(BODY, "msg-1")
    meta = _meta(store)
    assert (meta["state"], meta["msg-id"], meta["owner"]) == ("published", "msg-1", mine.token)
    other = _claim(store)
    assert other.acquire(BODY) == claim.DUPLICATE
    released = _claim(store, "x")
    store.delete(KEY)
    released.acquire(BODY)
    released.release()
    assert store.head(KEY) is None


def _race(store: CosStore, copies: int) -> list[str]:
    results: list[str] = []
    lock = threading.Lock()
    gate = threading.Barrier(copies)

    def attempt() -> None:
        gate.wait()
        try:
            outcome = _claim(store).acquire(BODY)
        except ClaimInProgress:
            outcome = "in_progress"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results)


SETUPS: dict[str, Callable[[CosStore], None]] = {
    "absent": lambda store: None,
    "pending_fresh": lambda store: _put(store, "pending", "other", age=1),
    "pending_stale": lambda store: _put(store, "pending", "crashed", age=60),
    "published": lambda store: _put(store, "published", "other", age=1),
    "refused": lambda store: _put(store, "refused", "other", age=1),
}
EXPECTED = {
    "absent": 1,
    "pending_fresh": 0,
    "pending_stale": 1,
    "published": 0,
    "refused": 1,
}


@pytest.mark.parametrize("state", list(SETUPS))
def test_concurrent_copies_acquire_at_most_once_at_every_state(store: CosStore, state: str) -> None:
    SETUPS[state](store)
    results = _race(store, copies=6)
    assert results.count(claim.ACQUIRED) == EXPECTED[state], results
    expected_others = claim.DUPLICATE if state == "published" else "in_progress"
    assert results.count(expected_others) == 6 - EXPECTED[state], results


def test_a_claim_whose_age_cannot_be_read_counts_as_stale() -> None:
    for headers in ({}, {"last-modified": "yesterday"}, {"x-cos-meta-claimed-at": "soon"}):
        assert claim.claimed_age(headers, now=1_795_000_000) == float("inf")
