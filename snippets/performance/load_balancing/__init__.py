"""Load balancing: spread requests over several backends so that none is
overwhelmed while another idles.

What it teaches: four ways to choose a backend (round robin, weighted round
robin, least connections, the best of d random choices), what the theory of
balls into bins says about them, a consistent hash ring that moves few keys
when a node joins, and an HTTP balancer in front of real worker processes,
one of them slow.

Three modules, read in this order:

- `pickers`: the algorithms, and balls into bins with one, two and three
  choices against Mitzenmacher's formulas.
- `hash_ring`: consistent hashing with virtual nodes, against `hash mod n`.
- `balancer`: a reverse proxy on loopback over worker processes, and the
  share each backend gets under round robin and least connections.

Read first: the queueing page (`docs/performance/queueing.md`, "Little's law
and queueing") and the app_core page (`docs/application/app_core.md`, "The
application core").

What it leaves out: health checks, retries on another backend, sticky
sessions, TLS, connection reuse to the backends, and balancing at layer 4
(see the page).

This package imports nothing at import time, so each module runs as
`python -m` without warnings.
"""
