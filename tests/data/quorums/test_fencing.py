"""What the quorums page claims about leases and fencing tokens, asserted over
generated schedules of clients that take the lease and then stall (a GC
pause, a partition) for a generated time.

The oracle is the counter itself: every accepted write is a read-modify-write
of + 1, so the counter must equal the number of accepted writes unless an
update was lost; and accepted tokens must never go down.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from snippets.data.quorums.fencing import (
    Job,
    LockService,
    StaleToken,
    Storage,
    simulate,
)

jobs = st.lists(
    st.builds(
        Job,
        client=st.sampled_from("ABCD"),
        start=st.integers(0, 30),
        pause=st.integers(0, 20),
    ),
    max_size=8,
)
ttls = st.integers(1, 10)
# Searches for a counterexample: any one disproves the claim; no shrinking.
QUICK = settings(max_examples=2000, database=None, phases=[Phase.generate])


def lost_updates(storage: Storage) -> int:
    return len(storage.accepted) - storage.value


def tokens_go_down(storage: Storage) -> bool:
    return any(b < a for a, b in itertools.pairwise(storage.accepted))


@settings(max_examples=300)
@given(jobs, ttls)
def test_with_fencing_no_stale_token_is_accepted_and_no_update_is_lost(
    schedule, ttl
) -> None:
    storage = simulate(schedule, ttl, Storage(fencing=True))
    assert not tokens_go_down(storage)
    assert lost_updates(storage) == 0


def test_without_fencing_a_paused_leader_overwrites_a_newer_one() -> None:
    def split_brain(case) -> bool:
        storage = simulate(*case, Storage(fencing=False))
        # an older leader wrote after a newer one, and an update was lost
        return tokens_go_down(storage) and lost_updates(storage) > 0

    schedule, ttl = find(st.tuples(jobs, ttls), split_brain, settings=QUICK)
    assert lost_updates(simulate(schedule, ttl, Storage(fencing=True))) == 0


def test_fencing_only_writes_still_loses_an_update() -> None:
    schedule, ttl = find(
        st.tuples(jobs, ttls),
        lambda case: lost_updates(simulate(*case, Storage(fence_reads=False))),
        settings=settings(max_examples=2000, database=None, phases=[Phase.generate]),
    )
    storage = simulate(schedule, ttl, Storage(fence_reads=False))
    assert not tokens_go_down(storage)  # writes alone are in token order
    assert lost_updates(storage) > 0


def test_the_lease_is_exclusive_until_it_expires() -> None:
    lock = LockService(ttl=5)
    assert lock.acquire("A", now=0) == 1
    assert lock.acquire("B", now=4) is None  # A's lease runs until 5
    assert lock.acquire("B", now=5) == 2  # expired: B leads, token 2
    assert lock.acquire("A", now=6) is None  # A must wait for B's lease


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from("ABC"), st.integers(0, 5))), ttls)
def test_every_grant_carries_a_higher_token(requests, ttl) -> None:
    lock, now, tokens = LockService(ttl), 0, []
    for client, wait in requests:
        now += wait
        token = lock.acquire(client, now)
        if token is not None:
            tokens.append(token)
    assert tokens == list(range(1, len(tokens) + 1))


def test_the_storage_refuses_a_token_older_than_one_it_has_seen() -> None:
    storage = Storage()
    storage.write(34, 1)
    with pytest.raises(StaleToken, match="token 33 < 34"):
        storage.write(33, 2)
    storage.write(34, 3)  # the same leader may write again
    assert (storage.value, storage.accepted) == (3, [34, 34])
