"""Background work that survives crashes: a job queue, the outbox, and sagas.

What it teaches: work that happens after the answer (an email, a shipment, a
call to another service) must not be lost when a process dies, and must not be
done twice when it is retried. A durable queue delivers each job at least once;
applying a job and deleting it in one transaction makes its effect happen once.
The transactional outbox records an event in the same transaction as the data
it describes, and a relay publishes it later; a consumer that remembers what it
has seen drops the duplicates the relay may send. A saga runs a sequence of
steps in different services and undoes the completed ones, in reverse, when a
later step fails.

Three modules, read in this order:

- `job_queue`: a SQLite queue with visibility timeouts, receive counts and a
  dead-letter table, checked against SQS as moto emulates it.
- `outbox`: orders with an outbox, a relay and a consumer with an inbox, each a
  process a test kills with SIGKILL at every step.
- `saga`: steps and their compensations.

Read first: the transactions page (`docs/data/transactions.md`,
"Transactions") and the idempotency page (`docs/reliability/idempotency.md`,
"Idempotency keys").

What it leaves out: a real broker (RabbitMQ, Kafka, SQS itself), scheduling
jobs for later, and sagas whose progress survives a crash of the orchestrator.

This package imports nothing at import time, so each module runs as
`python -m` without warnings.
"""
