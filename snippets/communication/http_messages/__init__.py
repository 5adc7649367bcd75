"""HTTP/1.1 messages: their anatomy, an incremental parser, and a server built
on it.

Three modules, read in this order:

- `message_anatomy`: how a request and a response are laid out as bytes, what
  methods promise (safe, idempotent) and what status classes mean.
- `message_parser`: an incremental parser that reads requests and responses from
  bytes arriving in any pieces, frames bodies by Content-Length or chunked
  coding, refuses malformed input and enforces hard limits with a typed
  `HTTPError`.
- `message_server`: a small threaded server on that parser, which `http.client`
  and `urllib.request` talk to, and which answers bad input with a 4xx and a
  close.

The application layer builds its own server on `message_parser`. This package
imports nothing at import time, so each module runs as `python -m` without
warnings.
"""
