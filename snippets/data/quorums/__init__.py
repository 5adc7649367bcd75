"""Quorums, leaders and fencing: what replicas without a leader promise, and
how a leader that lost its lease is stopped.

Two modules, read in this order:

- `leaderless`: N replicas with read and write quorums (R + W > N), failure
  schedules on a logical clock, read repair, sloppy quorums and hinted handoff,
  and the cases where a quorum read still returns stale data.
- `fencing`: a lock service that grants leases with fencing tokens, and a
  storage node that refuses a paused leader's late writes.

Read first: the beyond-one-node page (`docs/data/beyond_one_node.md`, "Beyond
one node"), which introduces replication, its lag and CAP.

What it leaves out: real networks and clocks, timeouts and retries, vector
clocks and siblings for concurrent writes, anti-entropy with Merkle trees,
consensus (Raft, Paxos) for electing the leader, and replicas that lose their
disk.

This package imports nothing at import time, so each module runs as
`python -m` without warnings.
"""
