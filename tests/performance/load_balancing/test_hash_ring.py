"""What the consistent hashing section of the load balancing page claims,
asserted: growing from n to n + 1 nodes moves about 1 / (n + 1) of the keys
on the ring (with 100 points per node and 20,000 keys, 0.92 to 1.06 times
1 / (n + 1) for n = 5, 10, 20; the test allows 35% either way, since the
share a new node takes depends on where its points land) and about
n / (n + 1) with `hash mod n`; every key that moves goes to the new node;
more virtual nodes even out the shares.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from snippets.performance.load_balancing.hash_ring import (
    HashRing,
    imbalance,
    mod_n,
    moved,
    point,
)
from tests.site.docs_tools import ROOT

KEYS = [f"user:{number}" for number in range(20_000)]


@pytest.mark.parametrize("n", [5, 10, 20])
def test_a_new_node_takes_about_one_in_n_plus_one_keys(n) -> None:
    nodes = [f"node{number}" for number in range(n)]
    before, after = HashRing(nodes), HashRing([*nodes, "new"])
    fraction = moved(before.node_for, after.node_for, KEYS)
    assert abs(fraction * (n + 1) - 1) < 0.35


def test_keys_move_only_to_the_new_node() -> None:
    nodes = [f"node{number}" for number in range(10)]
    before, after = HashRing(nodes), HashRing([*nodes, "new"])
    for key in KEYS:
        if before.node_for(key) != after.node_for(key):
            assert after.node_for(key) == "new"


@pytest.mark.parametrize("n", [5, 10])
def test_mod_n_moves_about_n_over_n_plus_one_keys(n) -> None:
    nodes = [f"node{number}" for number in range(n)]
    fraction = moved(mod_n(nodes), mod_n([*nodes, "new"]), KEYS)
    assert fraction == pytest.approx(n / (n + 1), abs=0.02)


def test_virtual_nodes_even_out_the_shares() -> None:
    nodes = [f"node{number}" for number in range(10)]
    one = imbalance(HashRing(nodes, vnodes=1).node_for, KEYS)
    many = imbalance(HashRing(nodes, vnodes=1000).node_for, KEYS)
    assert one > 1.5
    assert many < 1.15


def test_a_key_gets_the_same_point_in_every_process() -> None:
    # Python's hash() of a str changes with PYTHONHASHSEED; the ring's must not.
    code = (
        "from snippets.performance.load_balancing.hash_ring import point;"
        "print(point('user:1'), hash('user:1'))"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
        for seed in ("1", "2")
    ]
    assert runs[0][0] == runs[1][0] == str(point("user:1"))
    assert runs[0][1] != runs[1][1]  # while hash() differed
