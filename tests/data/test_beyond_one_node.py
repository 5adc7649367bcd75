"""The beyond-one-node page's claims: lag and read-your-writes on two real SQLite
databases, the CAP choice during a partition, partitioning, and the share of keys a
consistent-hash ring moves when a node joins.

Oracles: SQLite's own dump (`Connection.iterdump`) says whether a follower holds the
leader's data; a brute-force scan of every ring point says which node owns a key.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.data import beyond_one_node as b1n
from tests.helpers import TIMEOUT
from tests.site.docs_tools import ROOT

BIO = "SELECT bio FROM profiles WHERE user = 'ada'"


@pytest.fixture
def pair() -> Iterator[tuple[b1n.Leader, b1n.Follower]]:
    with contextlib.ExitStack() as stack:
        leader_db = stack.enter_context(contextlib.closing(sqlite3.connect(":memory:")))
        follower_db = stack.enter_context(
            contextlib.closing(sqlite3.connect(":memory:", check_same_thread=False))
        )
        leader = b1n.Leader(leader_db)
        leader.write("CREATE TABLE profiles (user TEXT PRIMARY KEY, bio TEXT)")
        leader.write("INSERT INTO profiles VALUES ('ada', 'mathematician')")
        follower = b1n.Follower(follower_db, leader)
        follower.replicate()
        yield leader, follower


def dump(conn: sqlite3.Connection) -> list[str]:
    return list(conn.iterdump())


# --------------------------------------------------------------------------- replication


def test_a_follower_lags_until_the_log_is_applied_then_matches_the_leader(pair) -> None:
    leader, follower = pair
    for n in range(5):
        leader.write("UPDATE profiles SET bio = ?", (f"v{n}",))
    assert (leader.position, follower.position) == (7, 2)
    assert follower.read(BIO) == [("mathematician",)]
    assert follower.replicate(max_entries=2) == 2
    assert follower.read(BIO) == [("v1",)]
    assert follower.replicate() == 3
    assert follower.replicate() == 0
    assert dump(follower.conn) == dump(leader.conn)


@settings(max_examples=50)
@given(
    st.lists(
        st.one_of(
            st.integers(0, 99), st.tuples(st.just("replicate"), st.integers(0, 3))
        ),
        max_size=25,
    )
)
def test_a_follower_at_position_p_holds_exactly_the_leaders_first_p_writes(
    steps: list[int | tuple[str, int]],
) -> None:
    with contextlib.ExitStack() as stack:
        connect = sqlite3.connect
        leader = b1n.Leader(
            stack.enter_context(contextlib.closing(connect(":memory:")))
        )
        follower = b1n.Follower(
            stack.enter_context(contextlib.closing(connect(":memory:"))), leader
        )
        leader.write("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER)")
        for step in steps:
            if isinstance(step, tuple):
                follower.replicate(step[1])
            else:
                leader.write("INSERT OR REPLACE INTO t VALUES (?, ?)", (step % 7, step))
        # the oracle: a fresh database that ran the first `position` statements
        replay = stack.enter_context(contextlib.closing(connect(":memory:")))
        for entry in leader.log[: follower.position]:
            with replay:
                replay.execute(entry.sql, entry.params)
        assert dump(follower.conn) == dump(replay)


def test_reading_the_follower_after_your_own_write_shows_old_data(pair) -> None:
    leader, follower = pair
    me = b1n.Session(leader, follower)
    me.write("UPDATE profiles SET bio = 'first programmer'")
    assert me.read_nearest(BIO) == [("mathematician",)]  # the anomaly
    assert me.read_your_writes(BIO) == [("first programmer",)]


def test_read_your_writes_uses_the_follower_once_it_has_caught_up(pair) -> None:
    leader, follower = pair
    me = b1n.Session(leader, follower)
    me.write("UPDATE profiles SET bio = 'first programmer'")
    follower.replicate()
    leader_queries: list[str] = []
    leader.conn.set_trace_callback(leader_queries.append)
    assert me.read_your_writes(BIO) == [("first programmer",)]
    leader.conn.set_trace_callback(None)
    assert leader_queries == []  # served by the follower


def test_read_after_catch_up_waits_for_the_sessions_position(pair) -> None:
    leader, follower = pair
    me = b1n.Session(leader, follower)
    me.write("UPDATE profiles SET bio = 'first programmer'")
    applier = threading.Thread(target=follower.replicate)
    applier.start()
    try:
        assert me.read_after_catch_up(BIO, timeout=TIMEOUT) == [("first programmer",)]
    finally:
        applier.join(timeout=TIMEOUT)
    assert follower.position >= me.last_write


def test_waiting_for_a_position_that_never_arrives_raises(pair) -> None:
    leader, follower = pair
    me = b1n.Session(leader, follower)
    me.write("UPDATE profiles SET bio = 'first programmer'")
    with pytest.raises(b1n.ReplicaLagTimeout, match="at 2, wanted 3"):
        me.read_after_catch_up(BIO, timeout=0.05)


def test_statement_replication_diverges_on_a_non_deterministic_statement(pair) -> None:
    """Why real systems ship rows or WAL pages, not statements like this one."""
    leader, follower = pair
    leader.write("CREATE TABLE tokens (t INTEGER)")
    leader.write("INSERT INTO tokens VALUES (random())")
    follower.replicate()
    assert follower.position == leader.position
    assert follower.read("SELECT t FROM tokens") != leader.read("SELECT t FROM tokens")


# --------------------------------------------------------------------------- CAP


def test_a_consistent_read_catches_up_and_costs_a_round_trip_each_time(pair) -> None:
    leader, follower = pair
    leader.write("UPDATE profiles SET bio = 'Countess'")
    assert b1n.consistent_read(follower, BIO) == [("Countess",)]
    assert b1n.consistent_read(follower, BIO) == [("Countess",)]
    assert follower.round_trips == 2  # the latency PACELC's "else" is about
    assert follower.position == leader.position


def test_during_a_partition_a_follower_is_either_stale_or_unavailable(pair) -> None:
    leader, follower = pair
    follower.partitioned = True
    leader.write("UPDATE profiles SET bio = 'Lovelace'")
    assert follower.replicate() == 0
    assert follower.read(BIO) == [("mathematician",)]  # available: stale
    with pytest.raises(b1n.Partitioned):
        b1n.consistent_read(follower, BIO)  # consistent: no answer
    follower.partitioned = False  # the partition heals
    assert b1n.consistent_read(follower, BIO) == [("Lovelace",)]


# --------------------------------------------------------------------------- partitioning


def test_stable_hash_is_the_same_in_every_process_and_builtin_hash_is_not() -> None:
    code = (
        "from snippets.data.beyond_one_node import stable_hash;"
        "print(stable_hash('user:42'), hash('user:42'))"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.split()
        for seed in ("1", "2")
    ]
    assert outputs[0][0] == outputs[1][0] == str(b1n.stable_hash("user:42"))
    assert outputs[0][1] != outputs[1][1]


@settings(max_examples=100)
@given(
    boundaries=st.lists(st.text(max_size=4), min_size=1, max_size=6, unique=True).map(
        sorted
    ),
    key=st.text(max_size=5),
)
def test_range_partition_puts_a_key_between_its_two_boundaries(
    boundaries: list[str], key: str
) -> None:
    p = b1n.range_partition(key, boundaries)
    assert 0 <= p <= len(boundaries)
    if p > 0:
        assert boundaries[p - 1] <= key
    if p < len(boundaries):
        assert key < boundaries[p]


def test_sequential_keys_all_hit_one_range_partition_but_spread_by_hash() -> None:
    recent = [f"2024-12-{d:02d}/order-{n}" for d in range(1, 32) for n in range(40)]
    boundaries = ["2024-04", "2024-07", "2024-10"]
    by_range = Counter(b1n.range_partition(k, boundaries) for k in recent)
    by_hash = Counter(b1n.hash_partition(k, 4) for k in recent)
    assert by_range == {3: len(recent)}
    assert all(0.2 < by_hash[p] / len(recent) < 0.3 for p in range(4))


def test_a_range_scan_touches_one_range_partition_and_every_hash_partition() -> None:
    week = [f"2024-12-{d:02d}/order-{n}" for d in range(1, 8) for n in range(40)]
    boundaries = ["2024-04", "2024-07", "2024-10", "2024-12-15"]
    assert {b1n.range_partition(k, boundaries) for k in week} == {3}
    assert {b1n.hash_partition(k, 5) for k in week} == set(range(5))


# --------------------------------------------------------------------------- the ring

KEYS = [f"user:{i}" for i in range(10_000)]


def brute_force_owner(nodes: list[str], vnodes: int, key: str) -> str:
    """Every point of every node, scanned: the first at or after the key, or wrap."""
    points = sorted(
        (b1n.stable_hash(f"{node}#{i}"), node) for node in nodes for i in range(vnodes)
    )
    h = b1n.stable_hash(key)
    return next((node for point, node in points if point >= h), points[0][1])


node_names = st.lists(
    st.text("abcdefgh", min_size=1, max_size=4), min_size=1, max_size=6, unique=True
)


@settings(max_examples=80)
@given(nodes=node_names, vnodes=st.integers(1, 8), key=st.text(max_size=8))
def test_the_ring_picks_the_same_owner_as_a_scan_of_every_point(
    nodes: list[str], vnodes: int, key: str
) -> None:
    ring = b1n.HashRing(nodes, vnodes)
    assert ring.node_for(key) == brute_force_owner(nodes, vnodes, key)


@settings(max_examples=50)
@given(nodes=node_names, newcomer=st.text("xyz", min_size=1, max_size=3))
def test_keys_that_move_on_a_join_all_move_to_the_new_node(
    nodes: list[str], newcomer: str
) -> None:
    ring = b1n.HashRing(nodes, vnodes=20)
    keys = KEYS[:500]
    before = {k: ring.node_for(k) for k in keys}
    ring.add(newcomer)
    assert {ring.node_for(k) for k in keys if ring.node_for(k) != before[k]} <= {
        newcomer
    }
    ring.remove(newcomer)  # leaving again restores the old placement exactly
    assert {k: ring.node_for(k) for k in keys} == before


@settings(max_examples=50)
@given(nodes=node_names.filter(lambda n: len(n) >= 2), data=st.data())
def test_keys_that_move_on_a_leave_are_only_the_leavers(nodes: list[str], data) -> None:
    leaver = data.draw(st.sampled_from(nodes))
    ring = b1n.HashRing(nodes, vnodes=20)
    keys = KEYS[:500]
    before = {k: ring.node_for(k) for k in keys}
    ring.remove(leaver)
    assert all(ring.node_for(k) == before[k] for k in keys if before[k] != leaver)
    assert leaver not in ring.nodes


def test_joining_a_sixth_node_moves_about_one_sixth_of_the_keys() -> None:
    """The page's figure: 5 -> 6 nodes, 100 virtual nodes each, 10,000 keys."""
    ring = b1n.HashRing([f"node{i}" for i in range(5)], vnodes=100)
    before = {k: ring.node_for(k) for k in KEYS}
    ring.add("node5")
    share = b1n.moved_share(KEYS, before.get, ring.node_for)
    assert share == pytest.approx(1 / 6, abs=0.04)
    assert share == pytest.approx(0.153, abs=0.0005)  # the number printed on the page


def test_over_many_clusters_the_moved_share_averages_one_sixth() -> None:
    keys = KEYS[:5_000]
    shares = []
    for trial in range(16):
        names = [f"db-{trial}-{i}" for i in range(6)]
        ring = b1n.HashRing(names[:5], vnodes=100)
        before = {k: ring.node_for(k) for k in keys}
        ring.add(names[5])
        shares.append(b1n.moved_share(keys, before.get, ring.node_for))
    assert all(abs(s - 1 / 6) < 0.06 for s in shares)
    assert sum(shares) / len(shares) == pytest.approx(1 / 6, abs=0.015)


def test_modulo_hashing_moves_most_keys_when_a_node_joins() -> None:
    share = b1n.moved_share(
        KEYS, lambda k: b1n.hash_partition(k, 5), lambda k: b1n.hash_partition(k, 6)
    )
    assert share == pytest.approx(5 / 6, abs=0.02)  # a key stays iff h%5 == h%6


def test_virtual_nodes_even_out_the_load() -> None:
    five = [f"node{i}" for i in range(5)]
    spreads = {}
    for vnodes in (1, 100):
        ring = b1n.HashRing(five, vnodes)
        spreads[vnodes] = b1n.load_spread(ring.node_for(k) for k in KEYS)
    assert spreads[100] < 1.25 < spreads[1]


def test_a_node_cannot_join_twice_and_an_empty_ring_owns_nothing() -> None:
    ring = b1n.HashRing(["a"], vnodes=3)
    with pytest.raises(ValueError, match="already on the ring"):
        ring.add("a")
    ring.remove("a")
    with pytest.raises(LookupError):
        ring.node_for("key")
