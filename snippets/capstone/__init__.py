"""The capstone: one orders service assembled from every chapter's modules.

Modules, read in this order:

- `dependency`: the slow pricing service, a second process.
- `store`: SQLite in WAL mode, the repository, validation, the service.
- `telemetry`: spans named by route, trace ids in the logs, metrics.
- `worker`: the outbox relay and consumer, as a thread or a process.
- `app`: the middleware stack, the routes, `build`.
- `server`: the process, drained on SIGTERM; the gunicorn entry point.
- `load`: open-loop load at 25, 50 and 75% of the peak, wrk and gunicorn.

Run it: `python -m snippets.capstone`, which prints its address and a token.
"""
