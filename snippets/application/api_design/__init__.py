"""API design: pagination, filters, sorting, idempotent POST and an OpenAPI
description.

What it teaches: offset pagination (`LIMIT ? OFFSET ?`) shows an item twice when
a row is inserted between two page requests, and skips one when a row is
deleted; keyset pagination with an opaque cursor (base64url of the last row's
sort key and id, used in `WHERE (created, id) < (?, ?)`) stays correct while
rows come and go. Filters and sort orders come from allow-lists, so no byte of
the query string ever becomes SQL text. `POST` is made safe to retry with an
`Idempotency-Key` header (an IETF Internet-Draft, not yet an RFC): the first
response is stored and replayed. The whole API is described in OpenAPI 3.1,
built here as a Python dict and served at `/openapi.json`; the tests validate
the description with `openapi-spec-validator` and the server's real responses
against its schemas.

Four modules, read in this order:

- `pagination`: the items table, offset pagination and its bug, `ApiError` (a
  4xx answered as a problem document), opaque cursors, list parameters parsed
  against allow-lists, and the keyset query that pages with them.
- `idempotency_keys`: `IdempotencyStore`, which claims a key, replays the first
  response to every retry, and answers 422 and 409; and `parse_new_item`, the
  strict parser of a new item's body.
- `openapi_description`: the OpenAPI 3.1 description of the whole API, as a
  dict.
- `items_server`: `ItemsApi` and `route`, one branch per operation of the
  description, made a handler of the application core and called over HTTP.

Read first: the app_core page (docs/application/app_core.md, "The application
core"): the API here is one of its handlers, its errors are its problem
documents, and it is served with its `serving`. Then the APIs over HTTP page
(resources, methods, status codes), the validation page (problem details) and
the indexes page (why a keyset query is fast).

What it leaves out: authentication (and so per-client idempotency keys), expiry
of stored keys, total counts, Link headers (RFC 8288) for next pages, and more
than one API version actually served side by side.

This package imports nothing at import time, so each module runs as `python -m`
without warnings.
"""
