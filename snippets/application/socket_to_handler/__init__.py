"""From socket to handler: a small HTTP server that hosts WSGI and ASGI
applications.

What it teaches: where the line runs between a server and an application. A
threaded server accepts TCP connections on loopback, reads one HTTP/1.1 request
per connection (with limits on the head, the headers, the body and the time it
may take), turns it into a WSGI `environ` dict, calls the application with
`start_response`, sends the head once, streams the iterable body and always
calls its `close()` (PEP 3333). An asyncio server does the same for an ASGI
application through `scope`, `receive` and `send`. The same applications run on
`wsgiref.simple_server` in the tests, with identical answers, and
`wsgiref.validate` checks both sides of the WSGI contract.

Four modules, read in this order:

- `request_reading`: read one request off a socket within limits and one
  deadline, refuse bad input with a status code, and build the WSGI environ.
- `wsgi_server`: `start_response`, the iterable body and `close()`, errors
  turned into 4xx, 408 or 500, and a threaded server with a cap on connections.
- `wsgi_apps`: applications written against the bare contract, run on our server
  and on `wsgiref.simple_server` under `wsgiref.validate`, with the same
  answers.
- `asgi_server`: the same contract made asynchronous, `scope`, `receive` and
  `send`, on an asyncio server that reuses the request reading.

Read first: the journey page (`snippets/journey.py`), and the HTTP/1.1 messages
page for the full parser (this package keeps a deliberately small one).

What it leaves out: keep-alive (every response ends with `Connection: close`),
chunked request and response bodies, `Expect: 100-continue`, streaming request
bodies to the application (the body is read into memory first, up to a limit),
TLS, graceful draining on shutdown, and the ASGI lifespan and WebSocket
protocols.

This package imports nothing at import time, so each module runs as `python -m`
without warnings.
"""
