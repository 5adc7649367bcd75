"""Load shedding and backpressure: refuse early the work that cannot be done in
time.

What it teaches: a server has a capacity, its workers divided by the time one
request takes. Past it a queue forms, and an unbounded queue only adds waiting:
answers arrive after their clients have given up, the server spends its
capacity on work nobody reads, and the useful throughput (goodput) collapses.
Admission control bounds the queue and the wait, refuses the rest at once with
503 and Retry-After, and goodput stays near capacity.

Two modules, read in this order:

- `admission`: `Admission`, the `shedding` middleware, and backpressure with a
  bounded queue.
- `overload`: an open-loop load generator, and a real server offered twice its
  capacity with and without shedding.

Read first: the app_core page (`docs/application/app_core.md`, "The
application core") and the timeouts page (`docs/reliability/timeouts.md`,
"Timeouts and deadlines").

What it leaves out: priorities, adaptive concurrency limits, adaptive LIFO and
CoDel, and client-side throttling (see the page).

This package imports nothing at import time, so each module runs as
`python -m` without warnings.
"""
