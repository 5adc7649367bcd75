"""What the quorums page claims about leaderless replication, asserted over
generated failure schedules (nodes down and up, partitions, lost messages).

The oracle is the overlap argument itself, checked from outside the cluster:
`stale_reads` replays the history and flags any successful read that returned
a version older than a write acknowledged before it. With R + W > N no
schedule may produce one; with R + W <= N hypothesis must find one.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from snippets.data.quorums.leaderless import (
    Cluster,
    Network,
    backward_reads,
    hand_off,
    read,
    run,
    stale_reads,
    trial,
    write,
)

NODES = ["a", "b", "c", "d", "e"]
KEYS = ["k1", "k2"]


def schedules_on(nodes: list[str], keys: list[str] = KEYS):
    """Generated failure schedules: operations, crashes, partitions."""
    node = st.sampled_from(nodes)
    operation = st.tuples(
        st.sampled_from(["write", "read"]), st.sampled_from(keys), node
    )
    crash = st.tuples(st.sampled_from(["down", "up"]), node)
    cut = st.lists(node, min_size=1, max_size=2, unique=True).map(
        lambda side: ("cut", *side)
    )
    # one_of picks each branch equally often: operations and crashes twice
    # as often as partitions.
    step = st.one_of(operation, crash, operation, crash, cut, st.just(("heal",)))
    return st.lists(step, max_size=20)


schedules = schedules_on(NODES)
# Searches for a counterexample look at one key on three nodes: a smaller
# space, so hypothesis finds one in fewer examples.
small = schedules_on(["a", "b", "c"], ["k"])
seeds = st.integers(0, 2**16)
losses = st.sampled_from([0.0, 0.2])


def quorums(overlapping: bool):
    """(N, R, W) with N up to 5 and R + W > N, or R + W <= N. Half the
    draws sit on the boundary (R + W = N + 1, or = N), where one
    acknowledgement fewer would break the claim."""
    every = [
        (n, r, w)
        for n in range(1, 6)
        for r, w in itertools.product(range(1, n + 1), repeat=2)
        if (r + w > n) == overlapping
    ]
    edge = [(n, r, w) for n, r, w in every if r + w in (n, n + 1)]
    return st.one_of(st.sampled_from(edge), st.sampled_from(every))


def play(config, schedule, seed=0, loss=0.0, nodes=NODES, **options):
    n, r, w = config
    cluster = Cluster(nodes, n, r, w, net=Network(seed, loss), **options)
    return cluster, run(cluster, schedule)


def cases(overlapping: bool):
    """A quorum configuration and a schedule on a cluster of exactly N nodes
    with one key: the small space where a stale read is easiest to find."""
    return quorums(overlapping).flatmap(
        lambda c: st.tuples(st.just(c), schedules_on(NODES[: c[0]], ["k"]))
    )


@settings(max_examples=600)
@given(cases(overlapping=True), seeds, losses)
def test_with_r_plus_w_over_n_every_read_sees_the_last_acknowledged_write(
    case, seed, loss
) -> None:
    config, schedule = case
    _, history = play(config, schedule, seed, loss, nodes=NODES[: config[0]])
    assert stale_reads(history) == []


@settings(max_examples=100)
@given(quorums(overlapping=True), schedules, seeds, losses)
def test_on_five_nodes_with_two_keys_no_read_is_stale_either(
    config, schedule, seed, loss
) -> None:
    _, history = play(config, schedule, seed, loss)
    assert stale_reads(history) == []


def search(condition, strategy=small):
    """The first generated schedule that meets `condition` (or a failure)."""
    # No shrinking: any counterexample disproves the claim, and shrinking one
    # costs more than finding it.
    quick = settings(max_examples=5000, database=None, phases=[Phase.generate])
    return find(strategy, condition, settings=quick)


@pytest.mark.parametrize("config", [(3, 1, 2), (3, 1, 1), (5, 2, 3), (4, 2, 2)])
def test_with_r_plus_w_at_most_n_hypothesis_finds_a_stale_read(config) -> None:
    own = NODES[: config[0]]  # a cluster of exactly N nodes, one key
    found = search(
        lambda s: stale_reads(play(config, s, nodes=own)[1]),
        schedules_on(own, ["k"]),
    )
    assert stale_reads(play(config, found, nodes=own)[1])


@pytest.mark.parametrize(
    "config",
    [
        (n, r, w)
        for n in range(1, 6)
        for r, w in itertools.product(range(1, n + 1), repeat=2)
    ],
)
def test_the_write_then_swap_schedule_is_stale_exactly_when_r_plus_w_le_n(
    config,
) -> None:
    # A write reaches exactly W home nodes; then those go down and the others
    # come back. A read must either fail (R + W > N) or miss the write.
    n, r, w = config
    cluster = Cluster(NODES, n, r, w)
    home = cluster.preference("k")[:n]
    via = next((x for x in NODES if x not in home[:w]), home[0])
    history = run(
        cluster,
        [("down", x) for x in home[w:]]
        + [("write", "k", home[0])]
        + [("up", x) for x in home[w:]]
        + [("down", x) for x in home[:w]]
        + [("read", "k", via)],
    )
    assert history[0][2] == 1  # acknowledged by W
    if r + w > n:
        assert history[1][2] is None  # fewer than R replies: no answer
    else:
        assert stale_reads(history) == [1]


@pytest.mark.parametrize("config", [(3, 1, 1), (3, 2, 2), (5, 3, 3)])
def test_the_demo_table_is_stale_only_below_the_overlap(config) -> None:
    n, r, w = config
    totals = trial(n, r, w, runs=100, seed=7)
    assert totals["acked"] > 0
    assert totals["reads"] > 0
    assert (totals["stale"] == 0) == (r + w > n)


@settings(max_examples=100)
@given(quorums(overlapping=True), schedules, seeds, losses)
def test_read_repair_at_read_all_makes_the_home_replicas_converge(
    config, schedule, seed, loss
) -> None:
    cluster, _ = play(config, schedule, seed, loss, read_repair=True)
    cluster.net.down.clear()  # the failures end
    cluster.net.side, cluster.net.loss = {}, 0.0
    cluster.r = cluster.n  # one read that waits for every replica
    for key in KEYS:
        home = cluster.preference(key)[: cluster.n]
        newest = max(cluster.replicas[x].get(key) for x in home)
        assert read(cluster, key, "a") == newest
        assert {cluster.replicas[x].get(key) for x in home} == {newest}


@settings(max_examples=150)
@given(st.sampled_from([(3, 2, 2), (5, 3, 3), (5, 3, 1), (3, 2, 1)]), schedules)
def test_with_read_repair_majority_reads_never_go_backwards(config, schedule) -> None:
    # 2R > N and no lost repair messages: the repaired value is on R nodes,
    # and the next read of R overlaps them.
    _, history = play(config, schedule, read_repair=True)
    assert backward_reads(history) == []


@pytest.mark.parametrize("n", [3, 5])
@pytest.mark.parametrize("repair", [False, True])
def test_a_failed_write_seen_once_vanishes_without_read_repair(n, repair) -> None:
    # A write reaches only home[0] and fails. A read that includes home[0]
    # returns it; then home[0] goes down and a read of the others follows.
    r = w = n // 2 + 1
    cluster = Cluster(NODES[:n], n, r, w, read_repair=repair)
    home = cluster.preference("k")
    history = run(
        cluster,
        [("down", x) for x in home[1:]]
        + [("write", "k", home[0])]
        + [("up", x) for x in home[1:r]]
        + [("read", "k", home[0])]
        + [("down", home[0])]
        + [("up", x) for x in home[r:]]
        + [("read", "k", home[1])],
    )
    assert [v for _, _, v in history] == [None, 1, 1 if repair else 0]
    assert backward_reads(history) == ([] if repair else [2])


def test_a_sloppy_quorum_returns_stale_data_though_r_plus_w_over_n() -> None:
    config = (3, 2, 2)
    found = search(lambda s: stale_reads(play(config, s, sloppy=True)[1]), schedules)
    assert stale_reads(play(config, found, sloppy=True)[1])
    assert stale_reads(play(config, found)[1]) == []  # strict: none


@settings(max_examples=100)
@given(schedules, seeds)
def test_hinted_handoff_empties_the_hints_into_their_home_nodes(schedule, seed) -> None:
    cluster, _ = play((3, 2, 2), schedule, seed, sloppy=True)
    hints = [
        (home, key, item)
        for holder in cluster.replicas.values()
        for (home, key), item in holder.hints.items()
    ]
    cluster.net.down.clear()
    cluster.net.side = {}
    assert hand_off(cluster) == len(hints)
    assert all(not r.hints for r in cluster.replicas.values())
    for home, key, item in hints:
        assert cluster.replicas[home].get(key) >= item


@pytest.mark.parametrize("skew", [-2, -5, -100])
def test_last_write_wins_on_a_slow_clock_drops_an_acknowledged_write(
    skew,
) -> None:
    cluster = Cluster(["a", "b", "c"], 3, 2, 2)
    cluster.skew["c"] = skew
    write(cluster, "bio", "first", via="a")
    later = write(cluster, "bio", "second", via="c")
    assert later is not None  # acknowledged by a quorum
    assert read(cluster, "bio", via="b").value == "first"
    cluster.skew["c"] = 0  # a correct clock: the later write wins
    write(cluster, "bio", "third", via="c")
    assert read(cluster, "bio", via="b").value == "third"
