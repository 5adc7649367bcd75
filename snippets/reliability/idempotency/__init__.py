"""Idempotency keys that survive a crash: claims, leases and one transaction.

What it teaches: the application page's `IdempotencyStore` keeps its keys in
memory, so a restart forgets them and a retry after a crash does the work a
second time. Here the keys live in SQLite beside the data they protect. A
request claims its key with an INSERT that the primary key makes unique, and
the claim carries a lease: a deadline after which a retry may take the work
over, because the process that claimed it is presumed dead. The work and its
stored response commit in one transaction, which also checks that the lease is
still this request's (a fencing token), so a request that lost its lease cannot
commit. A process killed at any point leaves either nothing, a claim whose
lease runs out, or a finished result that every retry gets back byte for byte.

Three modules, read in this order:

- `key_store`: the table of keys, `claim`, `complete` and `purge`.
- `charges_service`: `POST /charges`, a handler of the application core that
  requires a key, with checkpoints where a test can stop it.
- `server_process`: the service in a process of its own, killed with SIGKILL
  in the middle of a request and retried.

Read first: the API design page (`docs/application/api_design.md`, "API
design"): the key's syntax and the draft's 400, 409 and 422; and the
transactions page (`docs/data/transactions.md`, "Transactions"): what a killed
process leaves in SQLite.

What it leaves out: scoping keys by client (here by operation; a real service
adds the authenticated account), work that calls another service (which needs
that service's own idempotency key, see the page), and purging old keys on a
schedule (`purge` is called by hand).

This package imports nothing at import time, so each module runs as
`python -m` without warnings.
"""
